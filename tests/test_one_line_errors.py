"""Hard inputs (issue 18), continued: a bad value, option or file is one line naming it and the
fix, never a traceback, and leaves nothing in the store; guidance that was silent or wrong now
says what to do. Memory, alerts and orphaned workers: test_hard_inputs.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from refusals import copy_of, nothing_stored, one_line_error

from workbench.cli import main
from workbench.errors import DataError
from workbench.families import FamilyError, load_family
from workbench.store import read_arrays


# -- 1. one-line errors instead of tracebacks ---------------------------------------------------------

@pytest.mark.parametrize("argv, expected", [
    (["train", "tiny_addition", "--p", "2"], "domain.p = 2 is invalid; it must be prime and at most 10,007, and not 2"),
    (["train", "tiny_addition", "--set", "train_fraction=0.0001"], "leaves no training pairs of the 961 at p = 31"),
    (["train", "a" * 300], "invalid family name 'aaaa"),
    (["train", "tiny_addition", "--device", "bogus"], "--device 'bogus' is not a device here"),
    (["serve", "--port", "99999"], "--port 99999 is not a TCP port; use 1-65535"),
    (["train", "tiny_addition", "--set", "lr=inf"], "training.lr = inf is invalid; it must be a finite number"),
    (["train", "tiny_addition", "--set", "lr=nan"], "training.lr = nan is invalid"),
    (["train", "tiny_addition", "--set", "lr=1\n[model]"], "--set lr: value '1\\n[model]' has a line break"),
    (["train", "tiny_addition", "--p", "37", "--set", "p=41"], "p is given twice: --p 37 and --set p=41"),
    (["train", "tiny_addition", "--set", f"checkpoints.extra={list(range(0, 400, 3))}"],
     "the id these values make"),
    (["analyze", "tiny_addition", "--workers", "-1"], "--workers -1: give a positive number"),
    (["analyze", "tiny_addition", "--workers", "0"], "--workers 0: give a positive number"),
    (["analyze", "tiny_addition", "--epochs", "100-50"], "--epochs 100-50: the range runs backwards; write it 50-100"),
    (["train", "tiny_addition", "--set", "every=1:1000000000", "epochs=1000000000"], "at most 100,000 are allowed"),
    (["jobs", "--limit", "-3"], "--limit -3: give a positive number"),
    (["train", "tiny_addition", "--epochs", "5"], "unrecognized arguments: --epochs 5"),
])
def test_each_bad_value_is_one_line_naming_it_and_leaves_nothing(argv, expected, capsys, store):
    try:
        code = main(argv)
    except SystemExit as exit_:  # a mistake in the options themselves: argparse's exit 2
        code = exit_.code
    assert code in (1, 2)
    one_line_error(capsys, expected)
    nothing_stored(store.root)


def test_main_exits_with_one_line_for_option_mistakes(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "tiny_addition", "--p", "abc"])
    assert exit_.value.code == 2
    one_line_error(capsys, "argument --p: invalid int value: 'abc'", "`workbench train --help`")


def test_cuda_without_cuda_is_one_line_and_leaves_nothing(capsys, store):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["train", "tiny_addition", "--device", "cuda", "--quiet"]) == 1
    one_line_error(capsys, "--device cuda: CUDA is not available here", "use --device cpu")
    nothing_stored(store.root)


def test_a_family_file_that_is_not_utf8_is_one_line_here_and_in_the_train_form(write_family, capsys):
    from workbench.pages import train as train_page
    write_family("latin", b'extends = "tiny_addition"\ndescription = "caf\xe9"\n')
    assert main(["train", "latin"]) == 1
    one_line_error(capsys, "latin.toml: not UTF-8 text", "save it as UTF-8")
    *_, message = train_page.family_defaults("latin")
    assert "not UTF-8 text" in message and "Something went wrong" not in message


def test_a_huge_integer_in_a_probe_rule_is_refused(tiny_trained, tmp_path, capsys):
    from workbench.probes import ProbeError, definition, probe_mask
    store, variant = tiny_trained
    for rule in ("a < 99999999999999999999999", "a * 100000000000000000000 > b", "-999999999999999999999 < a"):
        with pytest.raises(ProbeError, match="integers"):
            probe_mask(definition(rule=rule), variant.spec)
    copy = copy_of(store, tmp_path)
    assert main(["probe", "add", str(variant.ref), "big", "--rule", "a < 99999999999999999999999",
                 "--data", str(copy.root)]) == 1
    one_line_error(capsys, "probe rule 'a < 99999999999999999999999'")
    assert copy.probes(variant.ref) == {}


def test_a_deeply_nested_json_log_is_one_line(tmp_path, capsys, store):
    for name, text in (("deep.json", "[" * 100_000 + "]" * 100_000),
                       ("deep.jsonl", '{"a": ' * 5_000 + "1" + "}" * 5_000 + "\n")):
        (tmp_path / name).write_text(text)
        assert main(["import-log", str(tmp_path / name)]) == 1
        one_line_error(capsys, "nested deeper than it can be read")
    nothing_stored(store.root)


@pytest.mark.parametrize("blob, expected", [(b"", "is empty (0 bytes): not a PyTorch file"),
                                            (b"\x8b\x1f junk that is not a checkpoint", "is not a PyTorch file"),
                                            (b"\x80\x02junk", "is a damaged or unsupported PyTorch file")])
def test_empty_or_random_pth_files_are_not_told_to_load_with_pickles(blob, expected, tmp_path, capsys, store):
    path = tmp_path / "model.pth"
    path.write_bytes(blob)
    for argv in (["import", str(path)], ["import-log", str(path)]):
        assert main(argv) == 1
        err = one_line_error(capsys, expected)
        assert "weights_only=False" not in err
    nothing_stored(store.root)


# -- 2. silent or wrong guidance ------------------------------------------------------------------------

def test_the_p_given_twice_is_refused_in_the_api_too():
    family = load_family("tiny_addition")
    with pytest.raises(FamilyError, match=r"domain.p is given twice, as p=\[37\] and as an override p=41"):
        family.sweep({"p": 41}, p=[37])
    with pytest.raises(FamilyError, match="given twice"):
        family.variant({"domain.p": 41}, p=37)


def test_epochs_ranges_stay_ranges_and_must_hold_a_checkpoint(tiny_trained, capsys):
    """`--epochs 0-1000000000000` is two numbers, not a list of a trillion epochs."""
    from workbench.cli import epochs_in, parse_epochs
    store, variant = tiny_trained
    checkpoints = store.checkpoint_epochs(variant.ref)
    assert epochs_in(parse_epochs(["0-1000000000000"]), checkpoints, variant.ref) == checkpoints
    assert epochs_in(parse_epochs(["10", "20-30"]), checkpoints, variant.ref) == [10, 20, 30]
    with pytest.raises(Exception, match="has no checkpoint at epoch 11"):
        epochs_in(parse_epochs(["11"]), checkpoints, variant.ref)


def test_a_damaged_checkpoint_names_the_command_that_recreates_it_and_that_command_does(tiny_trained, tmp_path,
                                                                                      capsys):
    """The message said "delete it and run workbench train", which does not recreate it."""
    store, variant = tiny_trained
    copy = copy_of(store, tmp_path)
    ref, epoch = variant.ref, 300
    path = copy.variant_dir(ref) / "checkpoints" / f"epoch_{epoch:08d}.safetensors"
    original = read_arrays(path)[0]
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="checksum mismatch") as caught:
        copy.load_weights(ref, epoch)
    command = f"workbench extend {ref} --window {epoch}-{epoch} --every 1"
    assert f"delete it, then `{command}` replays training" in str(caught.value)
    path.unlink()
    assert main([*command.split()[1:], "--data", str(copy.root), "--quiet"]) == 0
    assert all(np.array_equal(original[k], v) for k, v in read_arrays(path)[0].items())


def test_a_checkpoint_without_its_checksum_is_an_error_not_a_pass(tiny_trained, tmp_path):
    from safetensors.numpy import save
    store, variant = tiny_trained
    copy = copy_of(store, tmp_path)
    path = copy.variant_dir(variant.ref) / "checkpoints" / "epoch_00000100.safetensors"
    arrays, meta = read_arrays(path)
    path.write_bytes(save(arrays, metadata={k: v for k, v in meta.items() if k != "crc32"}))
    for read in (lambda: copy.load_weights(variant.ref, 100), lambda: copy.checkpoint_fingerprint(variant.ref, 100)):
        with pytest.raises(DataError, match="has no checksum"):
            read()


def test_the_app_answers_without_the_servers_paths(store, monkeypatch):
    """Figures and messages carried absolute server paths (`no variant x in /home/...`, a damaged
    file's path) to the browser."""
    from flask import jsonify

    from workbench.app import create_app
    app = create_app(store.root)
    secret = str(store.root / "fam" / "v" / "checkpoints" / "epoch_00000001.safetensors")
    app.server.add_url_rule("/_probe", "probe", lambda: jsonify({"message": f"{secret} is corrupt", "home":
                                                                  str(Path.home() / "x.csv")}))
    text = app.server.test_client().get("/_probe").get_data(as_text=True)
    assert str(store.root) not in text and str(Path.home()) + "/" not in text
    assert "<data root>/fam/v/checkpoints/epoch_00000001.safetensors is corrupt" in text and "~/x.csv" in text


def test_an_auto_generated_id_that_is_too_long_says_why_and_what_to_do():
    with pytest.raises(FamilyError, match=r"too long for a folder name .*family file of your own") as caught:
        load_family("tiny_addition").variant({"checkpoints.extra": list(range(0, 400, 3))})
    assert "invalid variant name" not in str(caught.value)
