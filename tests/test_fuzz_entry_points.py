"""Fuzzing every entry point a user (or a hostile file, URL or form) reaches: the command line
and its `--set`, the Python API, family files, log imports, URL selections, probe rules and the
Train form. Each answer is success or one clear error of the taxonomy (`workbench.errors`) -
one line on the command line - never a traceback, and a refused command leaves nothing behind.
(The checkpoint and log importers' own fuzzing is `test_fuzz_importers.py`.)"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench.cli import main
from workbench.errors import UserError

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
TESTS = Path(__file__).resolve().parent / "families"


def _cli(argv: list[str], capsys) -> int:
    """Run the CLI; a failure must be one line on stderr starting `error:`."""
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse: a mistake in the options themselves
        code = exit_.code
    err = capsys.readouterr().err
    if code != 0:
        assert code in (1, 2) and err.startswith("error: ") and err.count("\n") == 1, (argv, code, err)
    return code


def _variants_on_disk(root: Path) -> list[Path]:
    return [p for p in root.glob("*/*")] if root.is_dir() else []


# -- the command line: --set, and every option of the cheap commands --------------------------------

set_values = st.one_of(
    st.text(max_size=12), st.integers(-10**30, 10**30).map(str), st.floats().map(repr),
    st.sampled_from(["inf", "-inf", "nan", "1e999", "[0.9, 0.98]", "[[1, 10]]", "1:10,2:20", "\"relu\"", "[",
                     "1\n[model]", "{a = 1}", "0x10", "1_000", "true", "[1, [2]]", "1" * 400, "[" * 300]))
set_keys = st.sampled_from(["p", "seed", "data_seed", "lr", "train_fraction", "epochs", "d_model", "d_mlp",
                            "n_heads", "d_head", "act_fn", "betas", "checkpoints.every", "checkpoints.extra",
                            "warmup_epochs", "weight_decay", "eval_every", "lr_schedule", "training.lr", "bogus", ""])


@FUZZ
@given(items=st.lists(st.tuples(set_keys, set_values), min_size=1, max_size=3))
def test_train_with_any_set_trains_or_refuses_in_one_line_leaving_nothing(items, capsys, monkeypatch, tmp_path):
    """Training itself is replaced by a stand-in (what is fuzzed is everything before it: parsing,
    validation, the memory estimate, the variant record); a refusal leaves no variant."""
    import workbench.training as training
    monkeypatch.setattr(training, "_run", lambda store, ref, spec, *a: store.update_info(ref, status="trained"))
    with tempfile.TemporaryDirectory() as tmp:
        argv = ["train", "tiny_addition", "--data", tmp, "--quiet", "--set", *(f"{k}={v}" for k, v in items)]
        if _cli(argv, capsys) != 0:
            assert not _variants_on_disk(Path(tmp)), argv


words = st.one_of(st.text(max_size=8), st.sampled_from(["-1", "0", "99999999999999999999", "1-0", "0-99999999999",
                                                        "tiny_addition", "a/b", "../x", "--force", "--all", "nan",
                                                        "a,b", "x" * 300, "\x00", "--workers", "--epochs"]))


@FUZZ
@given(command=st.sampled_from([["analyze", "tiny_addition"], ["alerts"], ["list"], ["probe", "list"],
                                ["probe", "add", "tiny_addition/p31-s0-d598", "n", "--rule"], ["jobs"],
                                ["export"], ["import-log"], ["import"], ["extend", "tiny_addition", "--window"],
                                ["analyze", "x", "--epochs"], ["analyze", "x", "--workers"], ["jobs", "--limit"]]),
       extra=st.lists(words, max_size=3))
def test_any_options_of_the_cheap_commands_answer_in_one_line(command, extra, capsys, store):
    _cli([*command, *extra], capsys)
    assert not _variants_on_disk(store.root)


# -- the Python API -----------------------------------------------------------------------------------

api_values = st.one_of(st.integers(-10**20, 10**20), st.floats(), st.text(max_size=6), st.none(), st.booleans(),
                       st.lists(st.integers(-3, 10**6), max_size=3))


@FUZZ
@given(name=st.one_of(st.text(max_size=20), st.sampled_from(["tiny_addition", "tiny_addition/x", "a" * 300, "../x"])),
       params=st.dictionaries(set_keys, api_values, max_size=3))
def test_the_api_finds_a_variant_or_raises_a_user_error(name, params, store):
    import workbench as wb
    try:
        wb.variant(name, data=store.root, **params)
    except UserError as err:
        assert str(err) and "\n" not in str(err)


# -- family files ---------------------------------------------------------------------------------------

@FUZZ
@given(blob=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                      st.sampled_from([b'extends = "tiny_addition"\n[domain]\np = 2\n',
                                       b'extends = "tiny_addition"\n[training]\nlr = inf\n',
                                       b'extends = "tiny_addition"\n[training]\ntrain_fraction = 1e-9\n',
                                       b'extends = "tiny_addition"\n[model]\nd_model = 65536\nd_mlp = 65536\n',
                                       b'extends = "fuzzed"\n', b"a = " + b"[" * 2000,
                                       b'extends = "tiny_addition"\n[checkpoints]\nevery = [[1, 1000000000]]\n'])),
       name=st.sampled_from(["fuzzed", "f" * 250]))
def test_any_family_file_trains_or_is_refused_in_one_line(blob, name, capsys, monkeypatch):
    import workbench.training as training
    monkeypatch.setattr(training, "_run", lambda store, ref, spec, *a: store.update_info(ref, status="trained"))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            (Path(tmp) / f"{name}.toml").write_bytes(blob)
        except OSError:  # the file system's own limit on names: the CLI is fuzzed with the name anyway
            pass
        monkeypatch.setenv("WORKBENCH_FAMILIES", f"{tmp}{os.pathsep}{TESTS}")
        data = Path(tmp) / "data"
        if _cli(["train", name, "--data", str(data), "--quiet"], capsys) != 0:
            assert not _variants_on_disk(data)


# -- log imports ------------------------------------------------------------------------------------------

def _nested(depth: int, leaf) -> object:
    value = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


log_records = st.lists(st.dictionaries(
    st.sampled_from(["step", "epoch", "loss", "val_loss", "acc", "time", "x"]),
    st.one_of(st.integers(-10**400, 10**400), st.floats(), st.text(max_size=5), st.none(), st.booleans()),
    max_size=4), max_size=12)


@FUZZ
@given(rows=log_records, suffix=st.sampled_from([".csv", ".jsonl", ".json", ".tsv"]),
       depth=st.one_of(st.none(), st.integers(1, 5000)))
def test_import_log_of_any_records_imports_or_refuses_in_one_line_leaving_nothing(rows, suffix, depth, capsys):
    if depth:  # a record nested `depth` levels deep (built here: hypothesis cannot print one)
        rows = [*rows, {"step": len(rows), "deep": _nested(depth, 1.0)}]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"log{suffix}"
        try:
            if suffix in (".csv", ".tsv"):
                sep = "," if suffix == ".csv" else "\t"
                names = sorted({k for r in rows for k in r})
                text = "\n".join([sep.join(names)] + [sep.join(str(r.get(k, "")) for k in names) for r in rows])
            else:
                text = "\n".join(json.dumps(r) for r in rows) if suffix == ".jsonl" else json.dumps(rows)
        except (RecursionError, ValueError):
            return  # Python itself cannot even write it
        path.write_text(text)
        data = Path(tmp) / "data"
        if _cli(["import-log", str(path), "--data", str(data)], capsys) != 0:
            assert not _variants_on_disk(data)


# -- URL selections ------------------------------------------------------------------------------------------

query_parts = st.lists(st.tuples(st.sampled_from(["variant", "epoch", "neuron", "head", "input", "probe", "compare",
                                                  "token", "junk"]),
                                 st.one_of(st.text(max_size=12), st.integers(-10**30, 10**30).map(str),
                                           st.sampled_from(["1e999", "nan", "../../etc", "a/b,c/d", "%00", "%2C"]))),
                       max_size=6)


@FUZZ
@given(parts=query_parts, state=st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                                       st.text(max_size=5)),
                                             lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                     st.dictionaries(st.sampled_from(
                                                                         ["variant", "epoch", "compare", "input"]),
                                                                         inner, max_size=4)), max_leaves=10))
def test_any_url_or_forged_state_becomes_a_valid_selection(parts, state):
    from urllib.parse import urlencode

    from workbench import selection as sel
    query = "?" + urlencode(parts)
    for chosen in (sel.parse_query(query), sel.sanitize(state), sel.sanitize(sel.parse_query(query))):
        assert set(chosen) <= set(sel.FIELDS)
        assert all(isinstance(chosen[k], int) and 0 <= chosen[k] <= sel.MAX_INT for k in sel.INT_FIELDS if k in chosen)
        given = {k: v for k, v in sel.sanitize(chosen).items() if v != ""}  # an empty value is not written
        assert sel.parse_query(sel.to_query(chosen)) == given or "compare" in chosen
        assert len(sel.compared(chosen)) <= sel.MAX_COMPARED


# -- probe rules -----------------------------------------------------------------------------------------------

atoms = st.one_of(st.sampled_from(["a", "b", "answer", "c", "p", "train", "test", "x", "__import__", "()"]),
                  st.integers(-10**25, 10**25).map(str))
rules = st.recursive(atoms, lambda inner: st.one_of(
    st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%", "<", "==", "!=", ">=", " and ", " or ", "**", "."]),
              inner).map("".join),
    inner.map(lambda r: f"({r})"), inner.map(lambda r: f"not {r}"), inner.map(lambda r: f"-{r}")), max_leaves=12)


@FUZZ
@given(rule=st.one_of(rules, st.text(max_size=40)))
def test_any_probe_rule_selects_inputs_or_is_refused(rule):
    import numpy as np

    from workbench.probes import ProbeError, definition, probe_mask
    spec = {"domain": {"p": 31, "operation": "add", "data_seed": 1}, "training": {"train_fraction": 0.5}}
    try:
        mask = probe_mask(definition(rule=rule), spec)
    except ProbeError as err:
        assert str(err)
    else:
        assert mask.dtype == np.bool_ and mask.shape == (31 * 31,)


# -- the Train form (its callbacks, called as a browser would) -----------------------------------------------

form_values = st.one_of(st.none(), st.text(max_size=10), st.integers(-10**15, 10**15), st.floats(),
                        st.sampled_from(["59, 97", "1:10,5:50", "1e999", "3" * 50, "", "inf"]))


@FUZZ
@given(values=st.lists(form_values, min_size=14, max_size=14), extension=st.lists(form_values, min_size=5, max_size=5),
       mode=st.sampled_from(["new", "extend", None, "bogus"]),
       family=st.sampled_from(["tiny_addition", "no_such", "../x", None]))
def test_the_train_forms_plan_answers_any_values_with_a_plan_or_a_message(values, extension, mode, family, store):
    from workbench.pages import train as train_page
    plan, figure, caption, disabled = train_page.plan(store, family, mode, *values, *extension)
    assert isinstance(disabled, bool)
    assert not _variants_on_disk(store.root)


@pytest.mark.parametrize("name", ["no_such", "a" * 300, "../x", None])
def test_the_train_forms_family_defaults_answer_any_name(name):
    from workbench.pages import train as train_page
    answer = train_page.family_defaults(name)
    assert isinstance(answer[-1], str)
