"""Import checkpoints trained by other tools as a variant of a family.

Two layouts are understood (the model must be the same one-layer, LayerNorm-free architecture):
- TransformerLens `HookedTransformer` state dicts: `embed.W_E` [d_vocab, d_model],
  `blocks.0.attn.W_Q` [n_heads, d_model, d_head], `W_O` [n_heads, d_head, d_model],
  `blocks.0.mlp.W_in` [d_model, d_mlp], `unembed.W_U` [d_model, d_vocab_out]; attention and
  unembedding biases, if present, must be zero (our model has none).
- The progress-measures paper's code (Nanda et al. 2023): a `.pth` holding `{"model": state_dict}`
  (or its full-run file `{"checkpoints": [...], "checkpoint_epochs": [...]}`), with `embed.W_E`
  [d_model, d_vocab], `W_Q` [n_heads, d_head, d_model], `W_O` [d_model, n_heads * d_head],
  `W_in` [d_mlp, d_model], `W_out` [d_model, d_mlp], `unembed.W_U` [d_model, d_vocab] including
  a column for `=`; optional `train_losses` / `test_losses` lists become the history.
Files are read with `torch.load(weights_only=True)`: no pickled code is ever run.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from workbench import tasks
from workbench.errors import BadInputError
from workbench.families import MAX_EPOCHS, FamilyError, load_family
from workbench.model import ModelConfig, WeightsError, check_weights, load_model
from workbench.store import Store, VariantRef, timestamp

IGNORED = re.compile(r"(\.mask|\.IGNORE|hook_.*)$")
ZERO_BIASES = ("blocks.0.attn.b_Q", "blocks.0.attn.b_K", "blocks.0.attn.b_V", "blocks.0.attn.b_O", "unembed.b_U")


class CheckpointImportError(BadInputError):
    """The file cannot be imported; the message says why and what would work."""


MAX_FILE_BYTES = 4 << 30      # a full progress-measures run at p = 113 is ~0.3 GB
MAX_HEADER_BYTES = 100 << 20  # a safetensors header is a few kB of JSON per thousand tensors
FLOAT_DTYPES = {"F16", "BF16", "F32", "F64"}


def read_file(path: Path) -> dict:
    """The raw contents of a .pt/.pth (weights only) or .safetensors file, after checking from
    its header and directory that it holds no more than its size promises."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointImportError(f"{path} does not exist")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise CheckpointImportError(f"{path} is {size / 2**30:.1f} GiB; checkpoints over "
                                    f"{MAX_FILE_BYTES / 2**30:.0f} GiB are refused (a one-layer model is megabytes)")
    if path.suffix == ".safetensors":
        _check_safetensors_header(path, size)
        try:
            return load_file(str(path))
        except Exception as err:
            raise CheckpointImportError(f"{path} is not a readable safetensors file ({err})") from err
    check_zip_directory(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        raise CheckpointImportError(
            f"{path} could not be loaded safely ({reason[:300]}). Only tensors, numbers, lists and dicts are "
            "accepted: a file that needs pickled Python objects could run code. If you trust its source, convert "
            "it once: python -c \"import torch; m = torch.load('IN', weights_only=False); "
            "torch.save(m.state_dict() if hasattr(m, 'state_dict') else m, 'OUT.pt')\" (or save it as "
            "safetensors)") from err
    if not isinstance(data, dict):
        raise CheckpointImportError(f"{path} holds a {type(data).__name__}, not a state dict")
    return data


def _check_safetensors_header(path: Path, size: int) -> None:
    """Dtypes, shapes and offsets of every tensor, read from the header before any is loaded."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8):
            raise CheckpointImportError(f"{path} is not a safetensors file (its header length {n:,} does not fit "
                                        f"its {size:,} bytes)")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CheckpointImportError(f"{path} is not a safetensors file (header: {err})") from None
    if not isinstance(header, dict):
        raise CheckpointImportError(f"{path} is not a safetensors file (its header is not a JSON object)")
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or entry.get("dtype") not in FLOAT_DTYPES:
            raise CheckpointImportError(f"{path}: tensor {name!r} has dtype "
                                        f"{entry.get('dtype') if isinstance(entry, dict) else entry!r}; "
                                        "weights must be floating point (F16, BF16, F32, F64)")
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not (isinstance(shape, list) and all(isinstance(d, int) and 0 <= d <= 1 << 31 for d in shape)
                and len(shape) <= 4 and isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and 0 <= o <= size for o in offsets)):
            raise CheckpointImportError(f"{path}: tensor {name!r} has an impossible shape or place in the file "
                                        f"({shape}, {offsets}); the file is damaged")


def check_zip_directory(path: Path, limit: int | None = None) -> None:
    """A .pt file is a zip archive: refuse one that would unpack to more than `limit` bytes
    (default MAX_FILE_BYTES) - a few megabytes of compressed zeros can claim gigabytes."""
    limit = limit or MAX_FILE_BYTES
    if not zipfile.is_zipfile(path):
        return  # the legacy format: torch reads it as it goes, bounded by the file size
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointImportError(f"{path} is a damaged zip archive ({err})") from None
    if unpacked > limit:
        raise CheckpointImportError(f"{path} would unpack to {unpacked / 2**20:,.0f} MiB; checkpoints over "
                                    f"{limit / 2**20:,.0f} MiB are refused")


def detect_format(state: dict) -> str:
    """'transformer_lens' or 'progress_measures', told apart by the layout of W_O."""
    w_o = state.get("blocks.0.attn.W_O")
    if w_o is None:
        raise CheckpointImportError("no blocks.0.attn.W_O in the state dict: not a one-layer transformer checkpoint "
                           "from TransformerLens or the progress-measures code")
    return "transformer_lens" if w_o.ndim == 3 else "progress_measures"


def convert(state: dict, fmt: str) -> dict[str, torch.Tensor]:
    """Rename and transpose a foreign state dict into the workbench's (TransformerLens) layout."""
    state = {k: v for k, v in state.items() if not IGNORED.search(k)}
    norms = [k for k in state if k.startswith(("ln", "blocks.0.ln"))]
    if norms:
        raise CheckpointImportError(f"the checkpoint has LayerNorm parameters ({', '.join(norms)}); the workbench "
                           f"model has no LayerNorm, so it cannot reproduce this model")
    if fmt == "transformer_lens":
        for key in ZERO_BIASES:
            bias = state.pop(key, None)
            if bias is not None and bias.abs().max() > 0:
                raise CheckpointImportError(f"{key} is non-zero; the workbench model (Nanda et al. recipe) has "
                                   f"biases only in the MLP, so it cannot reproduce this model")
        return state
    if fmt != "progress_measures":
        raise CheckpointImportError(f"unknown format {fmt!r}; use transformer_lens or progress_measures")
    out = dict(state)
    try:
        out["embed.W_E"] = state["embed.W_E"].T
        for name in ("W_Q", "W_K", "W_V"):
            out[f"blocks.0.attn.{name}"] = state[f"blocks.0.attn.{name}"].transpose(1, 2)
        n_heads, d_head = state["blocks.0.attn.W_Q"].shape[:2]
        out["blocks.0.attn.W_O"] = state["blocks.0.attn.W_O"].T.reshape(n_heads, d_head, -1)
        out["blocks.0.mlp.W_in"] = state["blocks.0.mlp.W_in"].T
        out["blocks.0.mlp.W_out"] = state["blocks.0.mlp.W_out"].T
        w_u = state["unembed.W_U"]
        d_vocab = out["embed.W_E"].shape[0]
        out["unembed.W_U"] = w_u[:, : d_vocab - 1] if w_u.shape[1] == d_vocab else w_u
    except KeyError as err:
        raise CheckpointImportError(f"missing parameter {err} for the progress-measures layout") from None
    except (RuntimeError, IndexError, ValueError) as err:
        raise CheckpointImportError(f"parameter shapes do not fit the progress-measures layout ({err})") from None
    return {k: v.contiguous() for k, v in out.items()}


def infer_overrides(weights: dict[str, torch.Tensor]) -> dict:
    """Domain and architecture read off the shapes: p, d_model, n_heads, d_head, d_mlp."""
    try:
        d_vocab, d_model = weights["embed.W_E"].shape
        n_heads, _, d_head = weights["blocks.0.attn.W_Q"].shape
        d_mlp = weights["blocks.0.mlp.W_in"].shape[1]
    except (KeyError, ValueError) as err:
        raise CheckpointImportError(f"cannot read the architecture from the state dict ({err})") from None
    return {"p": int(d_vocab) - 1, "d_model": int(d_model), "n_heads": int(n_heads),
            "d_head": int(d_head), "d_mlp": int(d_mlp)}


def _snapshots(raw: dict, epoch: int | None) -> tuple[list[tuple[int, dict]], dict]:
    """[(epoch, state_dict)] and loss lists, from any of the accepted file shapes, each state
    dict checked to hold only named floating-point tensors."""
    losses = {k: raw[k] for k in ("train_losses", "test_losses") if isinstance(raw.get(k), (list, tuple))}
    for name, values in losses.items():
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise CheckpointImportError(f"'{name}' must be a list of numbers")
    if isinstance(raw.get("checkpoints"), (list, tuple)):
        states = raw["checkpoints"]
        epochs = raw.get("checkpoint_epochs") or list(range(len(states)))
        if not states:
            raise CheckpointImportError("'checkpoints' is empty: there is no model to import")
        if not isinstance(epochs, (list, tuple)) or len(epochs) != len(states):
            raise CheckpointImportError("'checkpoint_epochs' and 'checkpoints' have different lengths")
        return [(_epoch(e), _state(s, f"checkpoint {i}")) for i, (e, s) in enumerate(zip(epochs, states))], losses
    state = raw.get("model", raw.get("state_dict", raw))
    if not isinstance(state, dict):
        raise CheckpointImportError("expected a state dict, or a dict with a 'model' state dict")
    if epoch is None:
        epoch = raw.get("epoch") if isinstance(raw.get("epoch"), int) else len(losses.get("train_losses", ()))
    return [(_epoch(epoch), _state(state, "the state dict"))], losses


def _epoch(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_EPOCHS:
        raise CheckpointImportError(f"epoch {value!r} is not a whole number in 0..{MAX_EPOCHS:,}")
    return value


def _state(state, where: str) -> dict:
    """The entries of a state dict the import uses, each a floating-point tensor of at most 4 dims."""
    if not isinstance(state, dict):
        raise CheckpointImportError(f"{where} is a {type(state).__name__}, not a dict of named tensors")
    out = {}
    for key, value in state.items():
        if not isinstance(key, str):
            raise CheckpointImportError(f"{where} has a key {key!r} that is not a parameter name")
        if IGNORED.search(key):
            continue
        if not (isinstance(value, torch.Tensor) and value.is_floating_point() and value.ndim <= 4):
            shown = f"a {value.dtype} tensor of shape {list(value.shape)}" if isinstance(value, torch.Tensor) \
                else f"a {type(value).__name__}"
            raise CheckpointImportError(f"{where}: {key!r} is {shown}; parameters must be floating-point tensors "
                                        "of at most 4 dimensions")
        out[key] = value
    return out


def grid_accuracy(model, operation: str, p: int) -> float:
    grid = torch.as_tensor(tasks.probe_inputs(p))
    with torch.no_grad():
        predicted = model.last_logits(grid[:, 0], grid[:, 1]).argmax(-1).numpy()
    return float((predicted == tasks.answers(operation, p)).mean())


def import_checkpoint(path: str | Path, family: str, store: Store | None = None, *, id: str | None = None,
                      format: str = "auto", epoch: int | None = None, overrides: dict | None = None) -> dict:
    """Create a variant of `family` from a foreign checkpoint file; returns a summary with the
    variant, its checkpoints and the final model's accuracy on the full grid."""
    store, path = store or Store(), Path(path)
    raw = read_file(path)
    snapshots, losses = _snapshots(raw, epoch)
    fmt = detect_format(snapshots[0][1]) if format == "auto" else format
    converted = [(e, convert(s, fmt)) for e, s in snapshots]
    fam = load_family(family)
    try:
        variant = fam.variant({**infer_overrides(converted[-1][1]), **(overrides or {})})
    except FamilyError as err:
        raise CheckpointImportError(f"{path}: {err}") from None
    cfg = ModelConfig.from_spec(variant.spec)
    vid = id or "imported-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem)
    ref = VariantRef(family, vid)
    if store.exists(ref):
        raise CheckpointImportError(f"variant {ref} already exists; choose another id with --id")
    checked = []
    for e, weights in converted:
        try:
            checked.append((e, check_weights(cfg, weights, f"{path} (epoch {e})")))
        except WeightsError as err:
            raise CheckpointImportError(str(err)) from None
    with store.lock(ref, "importing"):
        store.write_info(ref, {"family": family, "id": vid, "spec": variant.spec, "overrides": variant.overrides,
                               "status": "training", "created": timestamp(),
                               "source": {"kind": "imported", "path": str(path.resolve()), "format": fmt}})
        if losses:
            n = max(len(v) for v in losses.values())
            history = {k.replace("_losses", "_loss"): np.pad(np.asarray(v, float), (0, n - len(v)), constant_values=np.nan)
                       for k, v in losses.items()}
            store.save_history(ref, history)
        for e, weights in checked:
            store.save_checkpoint(ref, e, {k: v.numpy() for k, v in weights.items()})
        accuracy = grid_accuracy(load_model(cfg, checked[-1][1]), variant.spec["domain"]["operation"], cfg.p)
        store.update_info(ref, status="trained", final={"grid_acc": accuracy})
    return {"variant": ref, "format": fmt, "epochs": [e for e, _ in checked], "grid_accuracy": accuracy,
            "p": cfg.p, "history": sorted(losses)}
