"""What a refused input must leave (tests/test_hard_inputs.py, tests/test_one_line_errors.py): one
line on stderr and nothing in the store; and a copy of the session's store for a test to damage."""
from __future__ import annotations

import shutil
from pathlib import Path

from workbench.store import Store


def one_line_error(capsys, *expected: str) -> str:
    """The captured stderr, asserted to be one `error: ` line holding every `expected` text."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for text in expected:
        assert text in err, err
    return err


def nothing_stored(root: Path) -> None:
    """No variant, no husk directory, no leftover temporary file under the data root."""
    leftovers = [p for p in root.rglob("*") if not p.relative_to(root).parts[0].startswith(".")] \
        if root.is_dir() else []
    assert not leftovers, leftovers


def copy_of(store: Store, tmp_path: Path) -> Store:
    shutil.copytree(store.root, tmp_path / "copy")
    return Store(tmp_path / "copy")
