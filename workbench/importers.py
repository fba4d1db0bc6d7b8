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
  a column for `=`. Its `config`, optimizer state and loss lists are read too (`workbench.paperrun`):
  settings the file records win over the family's values, `--set` wins over both, and the
  variant record keeps what was read, set and assumed, with the file's checksum.
Files are read with `torch.load(weights_only=True)`: no pickled code is ever run.
"""
from __future__ import annotations

import json
import hashlib
import re
import zipfile
from pathlib import Path

import torch
from safetensors.torch import load_file

from workbench import paperrun, resources, tasks
from workbench.errors import BadInputError
from workbench.files import MAX_NAME, NAME_RE, check_name
from workbench.families import load_family
from workbench.familyschema import MAX_EPOCHS, SCHEMA, FamilyError
from workbench.model import ModelConfig, Transformer, WeightsError, check_weights, load_model
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
    data = load_torch(path, "torch.save(m.state_dict() if hasattr(m, 'state_dict') else m, 'OUT.pt')")
    if not isinstance(data, dict):
        raise CheckpointImportError(f"{path} holds a {type(data).__name__}, not a state dict")
    return data


PICKLED_OBJECTS = re.compile(r"[Uu]nsupported (GLOBAL|global|class)")


def load_torch(path: Path, resave: str, error=CheckpointImportError):
    """`torch.load(path, weights_only=True)`, with each failure in one line: an empty file, a file
    that is not PyTorch's (neither a zip archive nor a pickle), a damaged one, or one that needs
    pickled Python objects - only then the one-line conversion (`resave`: how to save `m` again)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head:
        raise error(f"{path} is empty (0 bytes): not a PyTorch file")
    if not head.startswith(b"PK\x03\x04") and head[:1] != b"\x80":
        raise error(f"{path} is not a PyTorch file (neither the zip archive torch.save writes nor a pickle; "
                    f"it starts with {head!r}); check that it is the file you meant")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        text = str(err)
        reason = next((line.strip() for line in text.splitlines() if PICKLED_OBJECTS.search(line)), None)
        if reason is None:
            lines = [line.strip() for line in text.split("WeightsUnpickler error:")[-1].splitlines() if line.strip()]
            shown = f"{type(err).__name__}: {lines[0][:200]}" if lines else type(err).__name__
            raise error(f"{path} is a damaged or unsupported PyTorch file ({shown})") from None
        raise error(f"{path} could not be loaded safely ({reason[:300]}). Only tensors, numbers, lists and dicts are "
                    "accepted: a file that needs pickled Python objects could run code. If you trust its source, "
                    "convert it once: python -c \"import torch; m = torch.load('IN', weights_only=False); "
                    f"{resave}\" (or save it as safetensors)") from None


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


def check_zip_directory(path: Path, limit: int | None = None) -> int:
    """A .pt file is a zip archive: refuse one that would unpack to more than `limit` bytes
    (default MAX_FILE_BYTES) - a few megabytes of compressed zeros can claim gigabytes. Returns
    the bytes it unpacks to (the file's size for the legacy, unzipped format)."""
    limit = limit or MAX_FILE_BYTES
    if not zipfile.is_zipfile(path):
        return path.stat().st_size  # the legacy format: torch reads it as it goes, bounded by the file size
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointImportError(f"{path} is a damaged zip archive ({err})") from None
    if unpacked > limit:
        raise CheckpointImportError(f"{path} would unpack to {unpacked / 2**20:,.0f} MiB; checkpoints over "
                                    f"{limit / 2**20:,.0f} MiB are refused")
    return unpacked


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


def _snapshots(raw: dict, epoch: int | None) -> list[tuple[int, dict]]:
    """[(epoch, state_dict)] from any of the accepted file shapes, each state dict checked to
    hold only named floating-point tensors; a file's final `model` beside its `checkpoints` is
    added when it is newer than the last of them."""
    final_epoch = epoch
    if final_epoch is None and _is_int(raw.get("epoch")):
        final_epoch = raw["epoch"]
    if isinstance(raw.get("checkpoints"), (list, tuple)):
        states = raw["checkpoints"]
        epochs = raw.get("checkpoint_epochs") or list(range(len(states)))
        if not states:
            raise CheckpointImportError("'checkpoints' is empty: there is no model to import")
        if not isinstance(epochs, (list, tuple)) or len(epochs) != len(states):
            raise CheckpointImportError("'checkpoint_epochs' and 'checkpoints' have different lengths")
        out = [(_epoch(e), _state(s, f"checkpoint {i}")) for i, (e, s) in enumerate(zip(epochs, states))]
        if isinstance(raw.get("model"), dict) and final_epoch is not None and _epoch(final_epoch) > out[-1][0]:
            out.append((final_epoch, _state(raw["model"], "the final model")))
        return out
    state = raw.get("model", raw.get("state_dict", raw))
    if not isinstance(state, dict):
        raise CheckpointImportError("expected a state dict, or a dict with a 'model' state dict")
    if final_epoch is None:
        losses = raw.get("train_losses")
        final_epoch = len(losses) if isinstance(losses, (list, tuple)) else 0
    return [(_epoch(final_epoch), _state(state, "the state dict"))]


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
    """Create a variant of `family` from a foreign checkpoint file, with the settings and history
    the file records (`workbench.paperrun`), `overrides` (`--set`) for what it does not say and
    the family's values for the rest; returns a summary of what was read, set and assumed, the
    final model's accuracy on the full grid and a check of its losses on the imported split."""
    store, path = store or Store(), Path(path)
    raw = read_file(path)
    snapshots = _snapshots(raw, epoch)
    fmt = detect_format(snapshots[0][1]) if format == "auto" else format
    converted = [(e, convert(s, fmt)) for e, s in snapshots]
    shapes = infer_overrides(converted[-1][1])
    try:
        from_file, read, ignored, history, sources, notes = _read_run(raw, shapes, converted[-1][0])
    except paperrun.PaperRunError as err:
        raise CheckpointImportError(f"{path}: {err}") from None
    user = {_dotted(k): v for k, v in (overrides or {}).items()}
    values = {**{_dotted(k): v for k, v in shapes.items()}, **from_file, **user}
    fam = load_family(family)
    try:
        variant = fam.variant(values)
    except FamilyError as err:
        raise CheckpointImportError(f"{path}: {err}") from None
    notes += [f"--set {k}={user[k]!r} replaces the file's {from_file[k]!r} ({read[k]})" for k in user
              if k in from_file and from_file[k] != user[k]]
    assumed = {f"{s}.{k}": v for s in ("domain", "model", "training") for k, v in variant.spec[s].items()
               if f"{s}.{k}" not in values and f"{s}.{k}" != "model.n_layers"}
    cfg = ModelConfig.from_spec(variant.spec)
    vid = id or "imported-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem)
    if id is None and (len(vid) > MAX_NAME or not NAME_RE.fullmatch(vid)):
        raise CheckpointImportError(f"{path}: the id made from its file name, {vid[:40]!r}..., is not a valid variant "
                                    f"name ({len(vid)} characters; at most {MAX_NAME}); name it with --id")
    ref = VariantRef(family, check_name("variant", vid))
    if store.exists(ref):
        raise CheckpointImportError(f"variant {ref} already exists; choose another id with --id")
    resources.check(resources.checkpoint_import(variant.spec, path.stat().st_size, f"importing {path.name} "
                                                f"(p = {cfg.p}, d_model = {cfg.d_model}, d_mlp = {cfg.d_mlp})"),
                    "A model this size cannot be checked (or analyzed) on this machine: import it on a larger one")
    checked = []
    for e, weights in converted:
        try:
            checked.append((e, check_weights(cfg, weights, f"{path} (epoch {e})")))
        except WeightsError as err:
            raise CheckpointImportError(str(err)) from None
    checks = _split_checks(raw, history, variant.spec, checked[-1][1])
    source = {"kind": "imported", "path": str(path.resolve()), "sha256": _sha256(path), "bytes": path.stat().st_size,
              "format": fmt, "read": read, "shapes": "p, d_model, n_heads, d_head, d_mlp from the weights' shapes",
              "set": user, "assumed": assumed, "ignored": ignored, "history": sources,
              "checks": [text for text, _ in checks], "notes": notes}
    accuracy = grid_accuracy(load_model(cfg, checked[-1][1]), variant.spec["domain"]["operation"], cfg.p)
    with store.creating(ref, "importing", keep_checkpointed=False):  # a failed import leaves nothing behind
        store.write_info(ref, {"family": family, "id": vid, "spec": variant.spec, "overrides": variant.overrides,
                               "status": "training", "created": timestamp(), "source": source})
        if len(history):
            store.save_history(ref, history)
        for e, weights in checked:
            store.save_checkpoint(ref, e, {k: v.numpy() for k, v in weights.items()})
        store.update_info(ref, status="trained", final={"grid_acc": accuracy})
    return {"variant": ref, "format": fmt, "epochs": [e for e, _ in checked], "grid_accuracy": accuracy,
            "p": cfg.p, "history": sources, "read": read, "set": user, "assumed": assumed, "ignored": ignored,
            "checks": [text for text, _ in checks], "notes": notes}


def _read_run(raw: dict, shapes: dict, last_checkpoint: int):
    """What the file records: (settings {spec key: value}, {spec key: where it came from},
    {file key: value read but not used}, its History, {series: where it came from}, notes).
    Besides `paperrun`'s config and optimizer reading, the test loss's cadence gives
    `training.eval_every`, and the last epoch the file holds gives `training.epochs` when no
    setting states it."""
    settings, read, ignored = paperrun.read_settings(raw, shapes)
    config = raw.get("config") if isinstance(raw.get("config"), dict) else {}
    stated = [v for v in (config.get("num_epochs"), raw.get("epoch")) if _is_int(v)]
    history, sources, notes = paperrun.read_history(raw, max(stated, default=None))
    if "test_loss" in history and len(history.x("test_loss")) > 1:
        every = int(history.x("test_loss")[1] - history.x("test_loss")[0])
        if every > 1:
            settings["training.eval_every"] = every
            read["training.eval_every"] = f"the test loss's cadence ({sources['test_loss'].split(':')[0]})"
    if "training.epochs" not in settings:
        settings["training.epochs"] = max([1, last_checkpoint] + [int(history.x(k)[-1]) for k in history
                                                                  if len(history.x(k))])
        read["training.epochs"] = "the last epoch the file holds (checkpoint or history)"
    return settings, read, ignored, history, sources, notes


def _dotted(key: str) -> str:
    """`data_seed` -> `domain.data_seed` (an unknown key is left for the family to refuse)."""
    if "." in key:
        return key
    return next((f"{section}.{key}" for section, keys in SCHEMA.items() if key in keys), key)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _split_checks(raw: dict, history, spec: dict, weights: dict) -> list[tuple[str, bool]]:
    """The final model's train and test loss on the imported split, beside the file's own."""
    from workbench.training import Split, cross_entropy_f64
    model = Transformer(ModelConfig.from_spec(spec), weights).eval()
    split = Split.for_variant(spec, "cpu")
    with torch.no_grad():
        train = float(cross_entropy_f64(model.last_logits(split.train_a, split.train_b), split.train_y))
        test = float(cross_entropy_f64(model.last_logits(split.test_a, split.test_b), split.test_y))
    return [paperrun.check_split(paperrun.recorded_final(raw, "train_loss", history, "train_loss"), train,
                                 "final train loss"),
            paperrun.check_split(paperrun.recorded_final(raw, "test_loss", history, "test_loss"), test,
                                 "final test loss")]
