"""Fuzzing the importers: whatever a downloaded file holds, importing it ends in success or the
importer's own clear error - never another exception, never a hang, never pickled code run."""
from __future__ import annotations

import io
import json
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.families import FamilyError, load_family
from workbench.importers import CheckpointImportError, import_checkpoint
from workbench.logimport import read_log
from workbench.logrules import LogImportError
from workbench.store import Store

# Bounded: a few dozen examples each, no per-example deadline (the first import loads torch).
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
KEYS = ["embed.W_E", "pos_embed.W_pos", "blocks.0.attn.W_Q", "blocks.0.attn.W_K", "blocks.0.attn.W_V",
        "blocks.0.attn.W_O", "blocks.0.mlp.W_in", "blocks.0.mlp.b_in", "blocks.0.mlp.W_out", "blocks.0.mlp.b_out",
        "unembed.W_U", "blocks.0.attn.b_Q", "unembed.b_U", "ln_final.w", "model", "checkpoints", "train_losses",
        "checkpoint_epochs", "epoch"]
shapes = st.lists(st.integers(0, 9), min_size=0, max_size=4)
tensors = shapes.flatmap(lambda s: st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool]).map(
    lambda dtype: torch.zeros(s, dtype=dtype) if dtype == torch.bool else torch.randn(s).to(dtype)))
leaves = st.one_of(tensors, st.integers(-10**20, 10**20), st.floats(allow_nan=True), st.text(max_size=5),
                   st.none(), st.booleans())
values = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
                      max_leaves=12)
state_dicts = st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), values, max_size=8)


def _import(blob: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"run{suffix}"
        path.write_bytes(blob)
        try:
            import_checkpoint(path, "tiny_addition", Store(Path(tmp) / "data"))
        except CheckpointImportError as err:
            assert str(err)
            assert not list((Path(tmp) / "data").glob("*/*")), "a refused import left a variant behind"


@FUZZ
@given(state=state_dicts)
def test_any_torch_file_of_tensors_lists_and_dicts_imports_or_is_refused_clearly(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    _import(buffer.getvalue(), ".pt")


@FUZZ
@given(blob=st.binary(max_size=2048), suffix=st.sampled_from([".pt", ".pth", ".safetensors"]))
def test_random_bytes_as_a_checkpoint_are_refused_clearly(blob, suffix):
    _import(blob, suffix)


@FUZZ
@given(header=st.dictionaries(st.sampled_from(KEYS + ["__metadata__"]), st.fixed_dictionaries(
    {"dtype": st.sampled_from(["F32", "F64", "I64", "BOOL", "U8", "F16", 7]),
     "shape": st.lists(st.integers(-2, 2**40), max_size=5), "data_offsets": st.lists(st.integers(-5, 2**40),
                                                                                      max_size=3)}), max_size=5),
       body=st.binary(max_size=512))
def test_safetensors_headers_that_lie_about_shapes_and_sizes_are_refused_before_allocating(header, body):
    text = json.dumps(header).encode()
    _import(struct.pack("<Q", len(text)) + text + body, ".safetensors")


def test_a_pickle_that_would_run_code_is_refused_with_how_to_convert_it(tmp_path):
    class Payload:
        def __reduce__(self):
            return (Path(tmp_path / "pwned").touch, ())
    torch.save({"model": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointImportError, match=r"could run code.*weights_only=False"):
        import_checkpoint(tmp_path / "evil.pt", "tiny_addition", Store(tmp_path / "data"))
    assert not (tmp_path / "pwned").exists()


def test_a_zip_bomb_checkpoint_is_refused_before_unpacking(tmp_path, monkeypatch):
    import workbench.importers as importers
    monkeypatch.setattr(importers, "MAX_FILE_BYTES", 16 << 20)  # the real limit is 4 GiB: too slow to build
    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("bomb/data.pkl", b"")
        info = zipfile.ZipInfo("bomb/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w") as entry:
            for _ in range(4):
                entry.write(b"\0" * (8 << 20))  # 32 MiB of zeros, 32 kB on disk
    assert path.stat().st_size < 1 << 20
    with pytest.raises(CheckpointImportError, match="would unpack to 32 MiB; checkpoints over 16 MiB are refused"):
        import_checkpoint(path, "tiny_addition", Store(tmp_path / "data"))


def test_a_huge_log_is_refused_by_its_size_without_reading_it(tmp_path):
    path = tmp_path / "metrics.csv"
    with open(path, "wb") as f:
        f.truncate(50 << 30)  # a sparse 50 GB "log"
    with pytest.raises(LogImportError, match="50.0 GiB; logs over 1 GiB are refused"):
        read_log(path)


records = st.lists(st.dictionaries(st.sampled_from(["step", "epoch", "loss", "val/acc", "time", "x"]),
                                   st.one_of(st.integers(-10**30, 10**30), st.floats(), st.text(max_size=4),
                                             st.none(), st.booleans(), st.lists(st.integers(), max_size=2)),
                                   max_size=5), max_size=6)


def _read(blob: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"log{suffix}"
        path.write_bytes(blob)
        try:
            read_log(path)
        except LogImportError as err:
            assert str(err)


@FUZZ
@given(rows=records, suffix=st.sampled_from([".json", ".jsonl", ".csv", ".pt"]), as_columns=st.booleans())
def test_any_log_of_records_or_columns_imports_or_is_refused_clearly(rows, suffix, as_columns):
    data = rows
    if as_columns:
        data = {k: [r.get(k) for r in rows] for r in rows for k in r}
    if suffix == ".jsonl":
        blob = "\n".join(json.dumps(r) for r in rows).encode()
    elif suffix == ".csv":
        names = sorted({k for r in rows for k in r})
        blob = "\n".join([",".join(names)] + [",".join(str(r.get(k, "")) for k in names) for r in rows]).encode()
    elif suffix == ".pt":
        buffer = io.BytesIO()
        torch.save(data, buffer)
        blob = buffer.getvalue()
    else:
        blob = json.dumps(data).encode()
    _read(blob, suffix)


@FUZZ
@given(blob=st.binary(max_size=1024), suffix=st.sampled_from([".json", ".jsonl", ".csv", ".tsv", ".pt"]))
def test_random_bytes_as_a_log_are_refused_clearly(blob, suffix):
    _read(blob, suffix)


toml_values = st.one_of(st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False), st.text(max_size=6),
                        st.booleans(), st.lists(st.integers(-5, 10**12), max_size=3),
                        st.lists(st.lists(st.integers(-5, 10**12), max_size=3), max_size=3))
SECTIONS = {"domain": ["operation", "p", "seed", "data_seed", "junk"],
            "model": ["n_layers", "d_model", "n_heads", "d_head", "d_mlp", "act_fn"],
            "training": ["lr", "weight_decay", "betas", "warmup_epochs", "train_fraction", "epochs", "lr_schedule"],
            "checkpoints": ["every", "extra", "keep_optimizer"], "llc": ["chains", "draws", "lr"]}
specs = st.dictionaries(st.sampled_from(list(SECTIONS) + ["task", "name", "extends", "analyzers"]),
                        st.one_of(toml_values, st.just("modular_addition"), st.just("fuzzed")), max_size=4)
section_values = st.fixed_dictionaries({s: st.dictionaries(st.sampled_from(keys), toml_values, max_size=4)
                                        for s, keys in SECTIONS.items()})


def _toml(value) -> str:
    return repr(value) if isinstance(value, float) else json.dumps(value)  # repr: TOML spells inf as inf


@FUZZ
@given(top=specs, sections=section_values, extends=st.booleans())
def test_any_family_file_loads_or_is_refused_with_a_family_error(top, sections, extends, monkeypatch):
    lines = ['extends = "modular_addition"'] if extends else []
    lines += [f"{k} = {_toml(v)}" for k, v in top.items() if k not in SECTIONS and k != "extends"]
    for section, table in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "fuzzed.toml").write_text("\n".join(lines))
        monkeypatch.setenv("WORKBENCH_FAMILIES", tmp)
        try:
            family = load_family("fuzzed")
            family.variant()
        except FamilyError as err:
            assert str(err)
