"""Where things live: the data root and the family search path.

Everything else asks `workbench.store` about the on-disk layout; this module only answers
"which directory is the root" so that the CLI, the app and notebooks agree.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_FAMILIES = Path(__file__).resolve().parent.parent / "families"


def data_root(override: str | os.PathLike | None = None) -> Path:
    """The data root: `override`, else $WORKBENCH_DATA, else ./workbench-data."""
    return Path(override or os.environ.get("WORKBENCH_DATA") or "workbench-data").resolve()


def family_dirs() -> list[Path]:
    """Directories searched for `<family>.toml`, first match wins.

    $WORKBENCH_FAMILIES (os.pathsep-separated) comes first so users can add families
    without touching the repository; the repository's own `families/` comes last.
    """
    extra = os.environ.get("WORKBENCH_FAMILIES", "")
    return [Path(p) for p in extra.split(os.pathsep) if p] + [REPO_FAMILIES]
