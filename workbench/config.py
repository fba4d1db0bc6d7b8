"""Where things live: the data root and the family search path.

Everything else asks `workbench.store` about the on-disk layout; this module only answers
"which directory is the root" so that the CLI, the app and notebooks agree.
"""
from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from workbench.errors import BadInputError

# The built-in families: `families/` beside the package in a checkout, package data in an
# installed wheel (pyproject.toml maps one onto the other).
_PACKAGE = Path(__file__).resolve().parent
BUILTIN_FAMILIES = (_PACKAGE / "builtin_families" if (_PACKAGE / "builtin_families").is_dir()
                    else _PACKAGE.parent / "families")


def data_root(override: str | os.PathLike | None = None) -> Path:
    """The data root: `override`, else $WORKBENCH_DATA, else ./workbench-data."""
    return Path(override or os.environ.get("WORKBENCH_DATA") or "workbench-data").resolve()


def family_dirs() -> list[Path]:
    """Directories searched for `<family>.toml`, first match wins.

    $WORKBENCH_FAMILIES (os.pathsep-separated) comes first so users can add families
    without touching the repository; the built-in families come last.
    """
    extra = os.environ.get("WORKBENCH_FAMILIES", "")
    return [Path(p) for p in extra.split(os.pathsep) if p] + [BUILTIN_FAMILIES]


class PluginError(BadInputError):
    """A module named in $WORKBENCH_PLUGINS that cannot be imported."""


def load_plugins() -> list[str]:
    """Import the modules named in $WORKBENCH_PLUGINS (comma-separated, importable from the
    current directory or the Python path), where users register their own analyzers and
    renderers, so `workbench serve`, `analyze` and `export` know them. Returns their names."""
    names = [n.strip() for n in os.environ.get("WORKBENCH_PLUGINS", "").split(",") if n.strip()]
    if names and "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise PluginError(f"cannot import plugin {name!r} from $WORKBENCH_PLUGINS: {err}") from err
    return names
