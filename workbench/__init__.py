"""workbench: train, analyze and browse how small transformers learn.

`import workbench as wb` stays cheap (no torch, no plotly): the API's names below are loaded
from `workbench.api`, `workbench.export` and `workbench.reports` on first use. See docs/api.md
and the notebooks in notebooks/.

How the modules depend on each other, layer by layer, is docs/architecture.md.
"""
import importlib

from workbench import threads as _threads

_threads.prepare_environment()  # before torch or NumPy load: OpenMP's spin, NumPy's BLAS threads

__version__ = "0.1.0"

_LAZY = {
    "variants": "api", "variant": "api", "Variant": "api", "Artifact": "api", "figure": "api",
    "figure_names": "api", "analyze": "api", "train": "api", "import_checkpoint": "api", "import_log": "api",
    "export_run": "api",
    "save_figure": "export", "animate": "export", "export_report": "export",
    "save_report": "reports", "load_report": "reports", "report_names": "reports", "export_saved_report": "reports",
    "register_analyzer": "analyzers", "register_renderer": "renderers", "UserError": "errors",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    module = importlib.import_module(f"workbench.{_LAZY[name]}")
    value = getattr(module, {"register_analyzer": "register", "register_renderer": "register"}.get(name, name))
    globals()[name] = value
    return value
