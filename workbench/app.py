"""The Dash app: a collapsible sidebar (variant, epoch, neuron, head) around one page per question.

The app holds no mutable server state: the selection is in the browser (see `selection`), data
is in the store and its caches, and the data root is fixed when the app is created. Pages live
in `workbench/pages/`, one module per question, registered with `dash.register_page`. The app
imports neither torch nor TransformerLens at start-up; only a page that needs per-input maps
not yet in the cache loads them.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import ALL, MATCH, Input, Output, State, ctx, dcc, html

from workbench import selection as sel
from workbench.serving import callback_error
from workbench.store import Store, StoreError, VariantRef

PACKAGE = Path(__file__).resolve().parent
PAGE_ORDER = ["/variants", "/", "/fourier", "/neurons", "/attention", "/trajectories", "/dimensionality", "/progress",
              "/dynamics", "/inputs", "/compare", "/reports", "/train", "/analyze", "/jobs"]
MAX_COMPARED_WITH = 5  # the selected variant and up to five others


def create_app(data_root: str | Path | None = None, *, broker: str | None = None, celery=None) -> dash.Dash:
    """The app on one data root. Jobs (train, extend, analyze) run as background callbacks: in a
    process on this machine (`DiskcacheManager`), or on Celery workers when a `broker` URL (or a
    ready `celery` app) is given - workers that share this data root."""
    _start_callbacks_afresh()
    from workbench.config import load_plugins
    load_plugins()  # users' analyzers and renderers, for the report pages
    root = str(Store(data_root).root)
    if celery is None and broker:
        from workbench.worker import celery_app
        celery = celery_app(broker, root)
    app = dash.Dash(
        __name__, use_pages=True, pages_folder=str(PACKAGE / "pages"), assets_folder=str(PACKAGE / "assets"),
        title="workbench", suppress_callback_exceptions=True, update_title=None,
        # Everything is served from the package: the app works offline.
        serve_locally=True, external_stylesheets=[], external_scripts=[],
        background_callback_manager=_background_manager(root, celery),
        on_error=callback_error)  # a failing callback shows a message, never a traceback
    app.server.config["WORKBENCH_DATA"] = root
    app.layout = layout
    _register_job_runner(app, root, in_process=celery is not None)
    return app


def _background_manager(root: str, celery):
    if celery is not None:
        from dash import CeleryManager
        return CeleryManager(celery)
    import diskcache
    from dash import DiskcacheManager
    return DiskcacheManager(diskcache.Cache(str(Store(root).cache_dir / "background")))


def _register_job_runner(app: dash.Dash, root: str, in_process: bool) -> None:
    """One background callback per job: a runner (see `pages._jobs.runner`) mounted in the
    shell starts it, so it keeps running while the user moves between pages. On Celery every
    job is its own task (a sweep fans out over the workers); on this machine each job gets a
    fresh Python process, and `jobs.local_slots()` of them run at once."""
    @app.callback(Output({"type": "job-finished", "job": MATCH}, "data"),
                  Input({"type": "job-runner", "job": MATCH}, "data"), background=True)
    def run_job(job_id):
        from workbench import jobs
        if in_process:
            return jobs.execute(Store(root), job_id)["state"]
        jobs.execute_in_subprocess(root, job_id)
        return Store(root).load_job(job_id)["state"]


_SHELL_CALLBACKS: list[tuple] = []  # this module's callback registrations, as first seen


def _start_callbacks_afresh() -> None:
    """`dash.callback` collects callbacks in module-level lists that the first app to serve a
    request takes for itself, so a second app in one process (tests, export, benchmarks) would
    get its pages' callbacks (Dash re-imports the pages for every app) but none of the shell's.
    Every new app starts from the shell's own registrations instead, and any left behind by
    an earlier app that never served are dropped. (The app created last is the one to serve.)"""
    from dash import _callback
    registries = (_callback.GLOBAL_CALLBACK_LIST, _callback.GLOBAL_CALLBACK_MAP, _callback.GLOBAL_INLINE_SCRIPTS)
    if not _SHELL_CALLBACKS:
        # The job panel is shared by the Train, Analyze and Jobs pages: Dash re-imports pages, not
        # the modules they share, so its callbacks (registered once, on import) count as the shell's.
        import workbench.pages._jobs  # noqa: F401
        _SHELL_CALLBACKS.append(tuple(r.copy() for r in registries))
    for registry, saved in zip(registries, _SHELL_CALLBACKS[0]):
        registry.clear()
        registry.update(saved) if isinstance(registry, dict) else registry.extend(saved)


def store() -> Store:
    """The store of the app serving the current request."""
    from flask import current_app
    return Store(current_app.config["WORKBENCH_DATA"])


def variant_options() -> list[dict]:
    rows = store().listing()
    return [{"label": f"{row.ref.family} / {row.ref.id}  ({row.status})", "value": str(row.ref)} for row in rows]


def sidebar() -> html.Div:
    pages = {p["path"]: p for p in dash.page_registry.values()}
    nav = [dbc.NavLink(pages[path]["name"], id={"type": "nav", "path": path}, href=path, active="exact")
           for path in PAGE_ORDER if path in pages]
    button = {"size": "sm", "color": "secondary", "outline": True}
    options = variant_options()
    return html.Div(id="sidebar", className="wb-sidebar", children=[
        html.Div(className="d-flex align-items-center mb-2", children=[
            html.H5("workbench", className="mb-0 me-auto"),
            dbc.Button("⟨⟨", id="sidebar-toggle", title="collapse / expand the sidebar", **button)]),
        html.Div(id="sidebar-body", children=[
            dbc.Nav(nav, vertical=True, pills=True, className="mb-2"),
            html.Div(id="reports-nav", className="wb-reports-nav small mb-3"),
            dbc.Label("variant", html_for="variant"),
            dcc.Dropdown(id="variant", options=options, clearable=False, className="mb-3"),
            dbc.Label("compare with", html_for="compare-with"),
            dcc.Dropdown(id="compare-with", options=options, multi=True, placeholder="other variants (Compare page)",
                         className="mb-3"),
            dbc.Label("epoch", html_for="epoch-slider"),
            dcc.Slider(id="epoch-slider", min=0, max=1, step=None, marks={}, value=None, allow_direct_input=False,
                       updatemode="mouseup", className="mb-1"),
            html.Div(className="d-flex gap-1 mb-3", children=[
                dbc.Button("◀", id="epoch-prev", title="previous checkpoint (←)", **button),
                dbc.Input(id="epoch-input", type="number", min=0, step=1, size="sm", debounce=True,
                          placeholder="epoch"),
                dbc.Button("▶", id="epoch-next", title="next checkpoint (→)", **button),
                html.Span(id="epoch-readout", className="small text-muted align-self-center text-nowrap")]),
            dbc.Label("neuron", html_for="neuron"),
            html.Div(className="d-flex gap-1 mb-3", children=[
                dbc.Button("◀", id="neuron-prev", title="previous neuron", **button),
                dbc.Input(id="neuron", type="number", min=0, step=1, value=0, size="sm", debounce=True),
                dbc.Button("▶", id="neuron-next", title="next neuron", **button)]),
            dbc.Label("head", html_for="head"),
            html.Div(className="d-flex gap-1 mb-3", children=[
                dbc.Button("◀", id="head-prev", title="previous head", **button),
                html.Div(dcc.Dropdown(id="head", options=[], value=0, clearable=False), className="flex-grow-1"),
                dbc.Button("▶", id="head-next", title="next head", **button)]),
            dbc.Label("input (a, b)", html_for="input-pair"),
            dbc.Input(id="input-pair", type="text", size="sm", debounce=True, placeholder="a, b  (or click the grid)",
                      className="mb-3"),
            dbc.Label("probe", html_for="probe"),
            dcc.Dropdown(id="probe", options=[], value="", clearable=False, className="mb-3",
                         placeholder="full grid"),
            dbc.Label("figure toolbar downloads", html_for="download-format"),
            dbc.RadioItems(id="download-format", options=[{"label": "PNG", "value": "png"},
                                                          {"label": "SVG", "value": "svg"}],
                           value="png", inline=True, className="mb-3"),
            html.Div(id="selection-error", className="small text-danger"),
        ])])


def layout() -> html.Div:
    return html.Div(className="wb-shell", children=[
        dcc.Location(id="url", refresh="callback-nav"),
        dcc.Store(id="selection", storage_type="memory"),
        sidebar(),
        html.Main(className="wb-main", children=[
            dbc.Alert(id="app-error", color="danger", is_open=False, dismissable=True, className="mb-2"),
            html.Div(id="page-content")]),
        html.Div(id="job-runners", hidden=True),  # jobs started here run on across pages
    ])


def checkpoint_epochs(variant: str | None) -> list[int]:
    """The epochs the selection can stop at: the checkpoints, or for an imported log its x positions."""
    if not variant or "/" not in variant:
        return []
    try:
        ref = VariantRef(*variant.split("/", 1))
        return store().checkpoint_epochs(ref) or (log_positions(ref) if store().is_log(ref) else [])
    except StoreError:
        return []


MAX_LOG_STOPS = 500  # the slider draws at most 500 marks


def log_positions(ref: VariantRef) -> list[int]:
    """An imported log's x positions (rounded), at most MAX_LOG_STOPS spread evenly over the run."""
    return _log_positions(str(store().root), ref, store().info(ref).get("updated"))


@lru_cache(maxsize=32)
def _log_positions(root: str, ref: VariantRef, _stamp) -> list[int]:
    xs = np.unique(np.round(np.concatenate([x for x, _ in Store(root).load_log(ref).values()])).astype(np.int64))
    if len(xs) > MAX_LOG_STOPS:
        xs = xs[np.unique(np.linspace(0, len(xs) - 1, MAX_LOG_STOPS).round().astype(np.int64))]
    return xs.tolist()


def sync_selection(search, variant, slider_epoch, typed_epoch, _prev, _next, neuron, _nprev, _nnext, head,
                   typed_input, probe, compare_with, _clicks, current, options):
    """One callback owns the selection: whatever changed (URL, a control, a click on a figure),
    the URL, the store and every control are brought back in step."""
    trigger = ctx.triggered_id
    current = sel.sanitize(current)
    if trigger in (None, "url") or not current:
        # A fresh page (controls announcing their initial values count too) starts from the URL.
        state, trigger = sel.parse_query(search if isinstance(search, str) else ""), None
    else:
        state = dict(current)
    variant = variant if isinstance(variant, str) else None
    slider_epoch, typed_epoch, neuron, head = (sel.as_int(v) for v in (slider_epoch, typed_epoch, neuron, head))
    typed_input = typed_input if isinstance(typed_input, str) else None
    probe = probe if isinstance(probe, str) else None
    compare_with = sel.sanitize({"compare": compare_with}).get("compare")
    options = [o for o in options if isinstance(o, dict) and isinstance(o.get("value"), str)] \
        if isinstance(options, list) else []
    if trigger == "variant":
        # Picking one of the compared variants swaps it with the one it replaces.
        swap = {variant: state.get("variant")} if state.get("variant") else {}
        state = {**state, "variant": variant, "compare": [swap.get(v, v) for v in state.get("compare") or []]}
    elif trigger == "epoch-slider" and slider_epoch is not None:
        state["epoch"] = slider_epoch
    elif trigger == "epoch-input" and typed_epoch is not None:
        state["epoch"] = typed_epoch
    elif trigger == "neuron":
        state["neuron"] = neuron
    elif trigger == "head":
        state["head"] = head
    elif trigger == "compare-with":
        state["compare"] = list(compare_with or [])
    elif trigger == "probe":
        state["probe"] = probe or None
    error = ""
    known = [o["value"] for o in options or []]
    if state.get("variant") not in known:
        if state.get("variant"):
            error = f"no variant {state['variant']!r} in this data root; showing another"
        state["variant"] = known[0] if known else None
    compare = [v for v in dict.fromkeys(state.get("compare") or []) if v in known and v != state["variant"]]
    state["compare"] = compare[:MAX_COMPARED_WITH]
    epochs = checkpoint_epochs(state["variant"])
    if trigger in ("epoch-prev", "epoch-next"):
        state["epoch"] = sel.step(state.get("epoch"), epochs, -1 if trigger == "epoch-prev" else 1)
    if trigger in ("neuron-prev", "neuron-next"):
        state["neuron"] = max(0, (state.get("neuron") or 0) + (-1 if trigger == "neuron-prev" else 1))
    if isinstance(trigger, dict) and trigger.get("type") == "wb-graph":
        state.update(_clicked(trigger["click"], ctx.triggered[0]["value"]))
    state["epoch"] = sel.snap(state.get("epoch"), epochs)
    state["neuron"] = max(0, int(state.get("neuron") or 0))
    n_heads, p, probes = _variant_facts(state["variant"])
    state["head"] = min(max(0, int(state.get("head") or 0)), max(n_heads - 1, 0))
    if trigger == "input-pair":
        try:
            state["input"] = sel.parse_pair(typed_input, p)
        except ValueError as err:
            error = str(err)
    if state.get("input") is not None and not 0 <= int(state["input"]) < p * p:
        state["input"] = None
    if state.get("probe") not in probes:
        state["probe"] = None
    state = {k: v for k, v in state.items() if k in sel.FIELDS and not (k in ("input", "probe") and v is None)}
    readout = f"{epochs.index(state['epoch']) + 1} / {len(epochs)}" if epochs else "no checkpoints"
    return (sel.to_query(state), state, state["variant"], epochs[0] if epochs else 0,
            epochs[-1] if epochs else 1, sel.slider_marks(epochs), state["epoch"], state["epoch"], readout,
            state["neuron"],
            state["head"], [{"label": f"head {h}", "value": h} for h in range(n_heads)],
            sel.pair_text(state.get("input"), p), [{"label": "full grid", "value": ""}]
            + [{"label": name, "value": name} for name in probes], state.get("probe") or "", state["compare"], error)


# Registered undecorated, so benchmarks and tests can call the function itself.
dash.callback(
    Output("url", "search"), Output("selection", "data"), Output("variant", "value"),
    Output("epoch-slider", "min"), Output("epoch-slider", "max"), Output("epoch-slider", "marks"),
    Output("epoch-slider", "value"), Output("epoch-input", "value"), Output("epoch-readout", "children"),
    Output("neuron", "value"),
    Output("head", "value"), Output("head", "options"),
    Output("input-pair", "value"), Output("probe", "options"), Output("probe", "value"),
    Output("compare-with", "value"), Output("selection-error", "children"),
    Input("url", "search"), Input("variant", "value"), Input("epoch-slider", "value"),
    Input("epoch-input", "value"), Input("epoch-prev", "n_clicks"), Input("epoch-next", "n_clicks"),
    Input("neuron", "value"),
    Input("neuron-prev", "n_clicks"), Input("neuron-next", "n_clicks"), Input("head", "value"),
    Input("input-pair", "value"), Input("probe", "value"), Input("compare-with", "value"),
    Input({"type": "wb-graph", "click": ALL, "name": ALL}, "clickData"),
    State("selection", "data"), State("variant", "options"),
)(sync_selection)


def _clicked(kind: str, click: dict | None) -> dict:
    """What a click on a figure selects: figures put the id in customdata (epoch clicks fall
    back to the point's x, which summary figures put on an epoch axis)."""
    points = click.get("points") if isinstance(click, dict) else None
    if kind not in sel.INT_FIELDS or not isinstance(points, list) or not points or not isinstance(points[0], dict):
        return {}
    custom = points[0].get("customdata")
    value = custom[0] if isinstance(custom, list) and custom else custom
    if value is None and kind == "epoch":
        value = points[0].get("x")
    try:
        value = sel.as_int(round(float(value)))
    except (TypeError, ValueError, OverflowError):
        return {}
    return {kind: value} if value is not None else {}


def _variant_facts(variant: str | None) -> tuple[int, int, list[str]]:
    """(number of heads, p, probe names) of a variant; zeros and no probes when unreadable."""
    if not variant or "/" not in variant:
        return 0, 0, []
    ref = VariantRef(*variant.split("/", 1))
    try:
        spec = store().info(ref)["spec"]
        return int(spec["model"]["n_heads"]), int(spec["domain"]["p"]), sorted(store().probes(ref))
    except (StoreError, KeyError):
        return 0, 0, []


@dash.callback(Output("page-content", "children"), Input("url", "pathname"), Input("download-format", "value"))
def route(pathname, download_format):
    """Render the page for the path. Our own router, not Dash's page_container: that one also
    re-renders the whole page when the query string changes, i.e. on every epoch step, which
    would throw away every figure instead of moving cursors. The figure-download format is
    part of each graph's config, so changing it re-renders the page."""
    from flask import g
    g.download_format = download_format if download_format in ("png", "svg") else "png"
    for page in dash.page_registry.values():
        variables = _path_variables(page, pathname or "/")
        if variables is not None:
            return page["layout"](**variables) if callable(page["layout"]) else page["layout"]
    return html.Div([html.H3("No such page"), html.P(f"{pathname} is not a page of the workbench; "
                                                     "pick one in the sidebar.")])


def _path_variables(page: dict, pathname: str) -> dict | None:
    """{} when `pathname` is the page's path, the values of its `path_template` variables
    (`/reports/<name>`) when it matches that, else None."""
    from urllib.parse import unquote
    if page["path"] == pathname:
        return {}
    template = page.get("path_template")
    parts, wanted = pathname.strip("/").split("/"), (template or "").strip("/").split("/")
    if not template or len(parts) != len(wanted):
        return None
    variables = {}
    for part, want in zip(parts, wanted):
        if want.startswith("<") and want.endswith(">"):
            variables[want[1:-1]] = unquote(part)
        elif part != want:
            return None
    return variables


@dash.callback(Output("reports-nav", "children"), Input("url", "pathname"))
def list_reports(_pathname):
    """The saved reports under the page list, fresh on every navigation (a new one appears once saved)."""
    names = store().report_names()
    return [html.Div("saved reports", className="text-muted")] + [
        dcc.Link(name, href=f"/reports/{name}", className="d-block ms-2") for name in names] if names else []


@dash.callback(Output({"type": "nav", "path": ALL}, "href"), Input("url", "search"),
               State({"type": "nav", "path": ALL}, "id"))
def keep_query_across_pages(search, ids):
    return [i["path"] + (search or "") for i in ids]


dash.clientside_callback(
    """function(n, cls) {
        if (!n) { return window.dash_clientside.no_update; }
        const collapsed = !(cls || "").includes("collapsed");
        return collapsed ? "wb-sidebar collapsed" : "wb-sidebar";
    }""",
    Output("sidebar", "className"), Input("sidebar-toggle", "n_clicks"), State("sidebar", "className"))


# ◀/▶ beside the head selector just step its value; the selection callback takes it from there.
dash.clientside_callback(
    """function(_prev, _next, head, options) {
        const trigger = window.dash_clientside.callback_context.triggered_id;
        const n = (options || []).length;
        if (!n || !trigger) { return window.dash_clientside.no_update; }
        const step = trigger === "head-prev" ? -1 : 1;
        return Math.min(Math.max((head || 0) + step, 0), n - 1);
    }""",
    Output("head", "value", allow_duplicate=True), Input("head-prev", "n_clicks"), Input("head-next", "n_clicks"),
    State("head", "value"), State("head", "options"), prevent_initial_call=True)

