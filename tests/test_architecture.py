"""How the package holds together: imports run one way, no private Dash, several apps in one
process, one error taxonomy turned into each front end's words by type, one cursor module."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from dash import Patch

import workbench
from workbench.errors import BadInputError, BusyError, MissingError, NotAnalyzedError, UserError
from workbench.renderers import cursor

PACKAGE = Path(workbench.__file__).parent
# What a function may import for itself: libraries that take seconds to load or are optional,
# and our modules that load one of them. Everything else is imported at the top of its module.
HEAVY = ("torch", "transformer_lens", "scipy", "devinterp", "celery", "kaleido", "dash", "plotly", "pandas", "tqdm",
         "safetensors.torch")


def _modules() -> dict[str, Path]:
    return {".".join(("workbench", *f.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"): f
            for f in PACKAGE.rglob("*.py")}


def _imports(path: Path, module: str):
    """(imported name, inside a function?) for every import statement of a module."""
    tree = ast.parse(path.read_text())
    inner = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
             for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    base = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            prefix = ".".join(base.split(".")[: len(base.split(".")) - node.level + 1]) if node.level else ""
            root = ".".join(p for p in (prefix, node.module or "") if p)
            names = [root] + [f"{root}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            yield name, id(node) in inner


def _graph(top_level_only: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in it, or only when it loads)."""
    modules = _modules()

    def resolve(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None
    graph = {}
    for module, path in modules.items():
        targets = {resolve(n) for n, inner in _imports(path, module)
                   if n.startswith("workbench") and not (inner and top_level_only)}
        # a module importing its own package's __init__ is how Python runs it, not a dependency
        graph[module] = {t for t in targets if t and t != module and not module.startswith(t + ".")}
    return graph


def heavy_modules() -> set[str]:
    """Our modules that load a HEAVY library when imported, directly or through another of ours."""
    modules, loads = _modules(), _graph(top_level_only=True)
    heavy = {m for m, p in modules.items() if any(n.startswith(HEAVY) for n, inner in _imports(p, m) if not inner)}
    while True:
        more = {m for m in modules if m not in heavy and loads[m] & heavy}
        if not more:
            return heavy
        heavy |= more


def test_the_import_graph_has_no_circle():
    graph, state, cycles = _graph(), {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"
    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, f"import circles: {cycles}"


# The layers of docs/architecture.md: a module imports only from its own layer or those before it.
LAYERS = [
    {"errors", "vocabulary", "config", "threads", "resources"},
    {"files", "caching", "history", "store"},
    {"familyschema", "families", "tasks", "fourier", "spectra", "spatial", "trajectory", "phases", "alerts", "gates", "oscillation",
     "probes", "selection", "model", "hooked"},
    {"training", "importers", "paperrun", "logrules", "logstream", "logdocuments", "logimport", "analyzers",
     "workerpool", "pipeline", "derived", "llc", "jobs", "worker", "compare", "live", "watch", "following"},
    {"renderers", "figures"},
    {"api", "export", "reports", "pages", "app", "serving", "cli", "cli_runs", "cli_analysis"},
]


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else "api"  # the package's __init__ is its API facade
    return next(i for i, layer in enumerate(LAYERS) if top in layer)


def test_every_import_goes_to_the_same_layer_or_a_lower_one():
    upward = [(m, t) for m, targets in _graph().items() for t in targets if _layer(t) > _layer(m)]
    assert not upward, f"upward imports: {upward}"


def test_no_private_or_deprecated_dash_module_is_imported():
    used = {name for module, path in _modules().items() for name, _ in _imports(path, module)}
    assert not [n for n in used if n.startswith(("dash._", "dash.dash_table"))]


def test_functions_import_only_heavy_libraries_and_the_modules_that_load_them():
    modules, heavy = _modules(), heavy_modules()

    def is_heavy(name):
        return name.startswith(HEAVY) or name in heavy

    light = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        for function in (f for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in (n for n in ast.walk(function) if isinstance(n, (ast.Import, ast.ImportFrom))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                    ok = all(is_heavy(n) for n in names)
                else:  # `from x import a, b`: the modules a and b when they are modules, else x
                    imported = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
                    names = imported or [node.module]
                    ok = all(is_heavy(n) for n in names)
                if not ok:
                    light.append((module, node.lineno, names))
    assert not light, f"imports inside functions of modules that are cheap to load: {light}"
    assert {"workbench.model", "workbench.hooked", "workbench.training", "workbench.importers", "workbench.serving"} <= heavy
    assert not {"workbench.store", "workbench.cli", "workbench.jobs", "workbench.pipeline", "workbench.compare",
                "workbench.live", "workbench.watch", "workbench.following"} & heavy


def test_two_apps_in_one_process_each_serve_every_callback_from_their_own_data(tmp_path):
    from workbench.app import create_app
    from workbench.store import Store
    Store(tmp_path / "one").save_report("seeds-at-the-turn", {"title": "t", "figures": []})
    first, second = create_app(tmp_path / "one"), create_app(tmp_path / "two")

    def callbacks(app):
        return {c["output"] for c in app.server.test_client().get("/_dash-dependencies").get_json()}
    assert callbacks(first) == callbacks(second)
    assert any("jobs-list.children" in o for o in callbacks(first)) and "page-content.children" in callbacks(first)

    def reports_nav(app):
        body = {"output": "reports-nav.children", "outputs": {"id": "reports-nav", "property": "children"},
                "inputs": [{"id": "url", "property": "pathname", "value": "/"}], "state": [],
                "changedPropIds": ["url.pathname"]}
        response = app.server.test_client().post("/_dash-update-component", data=json.dumps(body),
                                                  content_type="application/json")
        return json.dumps(response.get_json()["response"]) if response.status_code == 200 else ""
    assert "seeds-at-the-turn" in reports_nav(first) and "seeds-at-the-turn" not in reports_nav(second)


def test_the_cli_prints_a_users_error_in_one_line_and_lets_a_bug_show_its_traceback(monkeypatch, capsys):
    from workbench import cli
    for error in (BadInputError("the prime 91 is not prime; pick 89 or 97"), BusyError("variant x is busy: training")):
        monkeypatch.setattr(cli, "cmd_list", lambda args, error=error: (_ for _ in ()).throw(error))
        assert cli.main(["list"]) == 1
        assert capsys.readouterr().err == f"error: {error}\n"
    monkeypatch.setattr(cli, "cmd_list", lambda args: {}["bug"])
    with pytest.raises(KeyError):
        cli.main(["list"])


def test_the_api_names_the_call_that_fixes_missing_analysis(tiny_trained, tmp_path):
    import workbench as wb
    from workbench.families import load_family
    from workbench.training import train
    store, _ = tiny_trained
    variant = load_family("tiny_addition").variant(epochs=10, every=[[10, 10]], seed=5)
    train(variant, store, progress=False)
    with pytest.raises(NotAnalyzedError, match=rf"wb\.analyze\('{variant.ref}'\)") as raised:
        wb.figure("neuron_clusters", str(variant.ref), data=store.root)
    assert raised.value.analyzer == "neuron_frequencies" and raised.value.ref == variant.ref
    with pytest.raises(NotAnalyzedError, match=r"analyzers=\['llc'\]"):
        wb.variant(str(variant.ref), data=store.root).artifact("llc").series()


def test_a_figure_says_what_is_missing_but_a_renderer_bug_is_an_error(tiny_analyzed):
    from workbench.figures import missing_message, safe_figure
    store, ref = tiny_analyzed
    shown = safe_figure(ref, lambda: store.load_artifact(ref, "no_such_analyzer"))
    assert "Not analyzed yet: run  workbench analyze" in shown.layout.annotations[0].text
    assert "Cannot show this: gone" in missing_message(ref, MissingError("gone")).layout.annotations[0].text
    with pytest.raises(IndexError):
        safe_figure(ref, lambda: np.zeros(2)[5])
    assert issubclass(BadInputError, ValueError) and issubclass(NotAnalyzedError, UserError)


def test_one_cursor_module_moves_cursors_reads_clicks_and_snaps_epochs():
    patch = cursor.move_cursor(Patch(), 300, 2, offsets=[20, -5])
    values = [op["params"]["value"] for op in patch.to_plotly_json()["operations"]]
    assert values == [280, 280, 305, 305]
    figure = {"layout": {"shapes": [{"x0": 0, "x1": 0}, {"x0": 1, "x1": 1}, {"x0": 9, "x1": 9}]}}
    assert [s["x0"] for s in cursor.move_cursor(figure, 40, 2)["layout"]["shapes"]] == [40, 40, 9]
    assert cursor.clicked("neuron", {"points": [{"x": 3, "customdata": 17}]}) == {"neuron": 17}
    assert cursor.clicked("epoch", {"points": [{"x": 1200.0}]}) == {"epoch": 1200}   # an epoch axis' x
    assert cursor.clicked("neuron", {"points": [{"x": 1200.0}]}) == {}              # x is no neuron id
    assert cursor.clicked("epoch", {"points": [{"customdata": -3}]}) == {}          # forged ids are dropped
    assert cursor.clicked("variant", {"points": [{"customdata": 1}]}) == {}
    epochs = np.array([0, 100, 200, 400])
    assert [cursor.epoch_index(epochs, e) for e in (None, 0, 149, 150, 151, 380, 9999)] == [3, 0, 1, 1, 2, 3, 3]


def test_every_built_in_analyzer_writes_what_the_vocabulary_declares(tiny_analyzed):
    from workbench.analyzers import BUILTINS, get
    from workbench.vocabulary import ARTIFACTS
    store, ref = tiny_analyzed
    assert set(BUILTINS) <= set(ARTIFACTS)
    for name in BUILTINS:
        per_epoch = get(name).kind == "epoch"
        arrays = store.load_artifact(ref, name, store.artifact_epochs(ref, name)[0] if per_epoch else None)
        assert set(arrays) == set(ARTIFACTS[name]), name
        assert {k: str(v.dtype) for k, v in arrays.items()} == {k: d for k, (d, _, _) in ARTIFACTS[name].items()}, name
