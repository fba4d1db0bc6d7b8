"""The command line: every user error is one clear line and a non-zero exit."""
from __future__ import annotations

import subprocess
import sys

from workbench.cli import main


def test_help_lists_the_commands():
    result = subprocess.run([sys.executable, "-m", "workbench.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("demo", "train", "list", "import"):
        assert command in result.stdout


def test_unknown_family_is_one_line_and_exit_1(capsys):
    assert main(["train", "no_such_family"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no family named 'no_such_family'") and err.count("\n") == 1


def test_composite_prime_is_refused_before_training(capsys):
    assert main(["train", "tiny_addition", "--p", "91"]) == 1
    assert "domain.p = 91 is invalid; it must be prime" in capsys.readouterr().err


def test_bad_set_syntax_is_explained(capsys):
    assert main(["train", "tiny_addition", "--set", "epochs"]) == 1
    assert "--set expects key=value" in capsys.readouterr().err


def test_train_then_list_shows_the_trained_variant(capsys):
    assert main(["train", "tiny_addition", "--seed", "0", "1", "--set", "epochs=20", "--set",
                 "checkpoints.every=10:20", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "tiny_addition/p31-s0-d598-every=10x20-epochs=20: trained" in out
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "p31-s1-d598-every=10x20-epochs=20" in listing and "trained" in listing and "3 checkpoints" in listing


def test_import_of_a_missing_file_says_so(capsys, tmp_path):
    assert main(["import", str(tmp_path / "nope.pt")]) == 1
    assert "nope.pt does not exist" in capsys.readouterr().err


def test_analyze_command_accepts_a_family_and_reports_unknown_analyzers(capsys):
    assert main(["train", "tiny_addition", "--set", "epochs=20", "--set", "checkpoints.every=10:20", "--quiet"]) == 0
    assert main(["analyze", "tiny_addition", "--analyzers", "fourier_embedding", "--quiet"]) == 0
    assert "analyzed 3 checkpoint(s)" in capsys.readouterr().out
    assert main(["analyze", "tiny_addition", "--analyzers", "fourier_embeding"]) == 1
    assert "unknown analyzer 'fourier_embeding'" in capsys.readouterr().err
    assert main(["analyze", "tiny_addition", "--epochs", "ten"]) == 1
    assert "--epochs expects epochs and ranges" in capsys.readouterr().err
    assert main(["analyze", "tiny_addition", "--analyzers", "fourier_embedding", "dimensionality",
                 "--epochs", "0", "10-20", "--quiet"]) == 0
    assert "analyzed 3 checkpoint(s) and 0 series (fourier_embedding, dimensionality)" in capsys.readouterr().out


def test_every_list_option_takes_space_separated_values_and_refuses_commas(capsys):
    """One list syntax (`--analyzers a b`, `--epochs 0 100 1000-2000`, `--page overview fourier`):
    a comma-separated value, the old syntax, is refused with the spaced form to type instead."""
    assert main(["analyze", "tiny_addition", "--analyzers", "fourier_embedding,dimensionality"]) == 1
    assert "--analyzers takes values separated by spaces, e.g. --analyzers fourier_embedding dimensionality" in (
        capsys.readouterr().err)
    assert main(["analyze", "tiny_addition", "--epochs", "0,100"]) == 1
    assert "e.g. --epochs 100 200 1000-2000; got '0,100'" in capsys.readouterr().err
    assert main(["export", "tiny_addition", "--page", "overview,fourier"]) == 1
    assert "--page takes values separated by spaces, e.g. --page overview fourier" in capsys.readouterr().err


def test_extend_takes_to_epoch_or_a_window(capsys):
    assert main(["extend", "tiny_addition"]) == 1
    assert "give either --to-epoch N (train on to epoch N) or --window START-STOP --every K" in capsys.readouterr().err


def test_demo_trains_and_analyzes_what_is_missing_and_a_second_run_redoes_nothing(monkeypatch, tiny_analyzed,
                                                                                   tmp_path):
    import workbench.cli as cli
    monkeypatch.setattr(cli, "DEMO_FAMILY", "tiny_addition")
    monkeypatch.setattr(cli, "DEMO_SEEDS", (0, 1))
    store, done = _copy(tiny_analyzed, tmp_path)  # seed 0 analyzed already: the demo trains seed 1 only
    kept = (store.info(done)["train_seconds"], store.read_manifest(done))

    def state():
        return {r: (store.info(r)["train_seconds"], store.read_manifest(r)) for r in store.variants("tiny_addition")}
    assert main(["demo", "--no-serve", "--quiet"]) == 0
    refs = store.variants("tiny_addition")
    assert [r.id for r in refs] == ["p31-s0-d598", "p31-s1-d598"]
    assert all(store.info(r)["status"] == "analyzed" for r in refs)
    assert state()[done] == kept
    before = state()
    assert main(["demo", "--no-serve", "--quiet"]) == 0
    assert state() == before


# Run `workbench` commands in a fresh interpreter and name the heavy libraries they loaded.
LOADED = """
import sys
from workbench.cli import main
for command in sys.argv[1].split(";"):
    assert main(command.split()) == 0, command
print(" ".join(m for m in ("torch", "transformer_lens", "dash", "plotly", "pandas") if m in sys.modules))
"""


def _loaded(commands: list[str], data) -> list[str]:
    result = subprocess.run([sys.executable, "-c", LOADED, ";".join(f"{c} --data {data}" for c in commands)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.splitlines()[-1].split()


def _copy(tiny_analyzed, tmp_path):
    """The tiny analyzed variant copied into a data root of this test's own: (store, ref)."""
    import shutil

    from workbench.store import Store
    store, ref = tiny_analyzed
    copy = Store(tmp_path / "data")
    shutil.copytree(store.variant_dir(ref), copy.variant_dir(ref))
    return copy, ref


def test_commands_that_read_records_import_neither_torch_nor_dash(tiny_analyzed, tmp_path):
    """`list`, `alerts`, `probe list`, `jobs` and `import-log` start in a fraction of a second:
    they read files, so they must not pay seconds for torch, TransformerLens or Dash."""
    store, ref = _copy(tiny_analyzed, tmp_path)
    log = tmp_path / "run.csv"
    log.write_text("epoch,train_loss,test_loss\n1,3.0,3.1\n2,2.0,3.2\n3,1.0,3.0\n")
    commands = ["list", f"alerts {ref}", f"probe list {ref}", "jobs", f"import-log {log}"]
    assert _loaded(commands, store.root) == []


def test_analyze_of_one_checkpoint_loads_torch_but_not_transformer_lens(tiny_analyzed, tmp_path):
    """TransformerLens (seconds to import: transformers, datasets, pandas) is only for the hooked
    model of notebooks (`workbench.hooked`); analysis runs the model with torch alone, in this
    process (no worker pool for one checkpoint)."""
    store, ref = _copy(tiny_analyzed, tmp_path)
    last = store.checkpoint_epochs(ref)[-1]
    assert _loaded([f"analyze {ref} --epochs {last} --force --quiet"], store.root) == ["torch"]
