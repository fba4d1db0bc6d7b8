"""The shell around every page: the collapsible sidebar (variant, compared variants, epoch, neuron,
head, input, probe, download format) and the one callback that owns the selection.

The selection lives in the browser (`workbench.selection`): whatever changes - the URL, a
control, a click on a figure - `sync_selection` brings the URL, the selection store and every
control back in step. The epochs it can stop at are the variant's checkpoints, or for an
imported log its x positions.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import ALL, Input, Output, State, ctx, dcc, html

from workbench import live
from workbench import selection as sel
from workbench.caching import StampedMemo
from workbench.errors import UserError
from workbench.pages import _run
from workbench.pages._common import variant_options
from workbench.renderers.cursor import clicked
from workbench.store import Store, VariantRef

MAX_LOG_STOPS = 500  # the slider draws at most 500 marks
LIVE_POLL_MS = 1000  # how often an open page asks whether its variant changed
_LOG_STOPS = StampedMemo(32)


def sidebar(store: Store, pages) -> html.Div:
    nav = [dbc.NavLink(page.NAME, id={"type": "nav", "path": page.PATH}, href=page.PATH, active="exact")
           for page in pages]
    button = {"size": "sm", "color": "secondary", "outline": True}
    options = variant_options(store)
    return html.Div(id="sidebar", className="wb-sidebar", children=[
        html.Div(className="d-flex align-items-center mb-2", children=[
            html.H5("workbench", className="mb-0 me-auto"),
            dbc.Button("⟨⟨", id="sidebar-toggle", title="collapse / expand the sidebar", **button)]),
        html.Div(id="sidebar-body", children=[
            dbc.Nav(nav, vertical=True, pills=True, className="mb-2"),
            html.Div(id="reports-nav", className="wb-reports-nav small mb-3"),
            dbc.Label("variant", html_for="variant"),
            dcc.Dropdown(id="variant", options=options, clearable=False, className="mb-1"),
            html.Div(id="run-state", className="wb-run-state small text-muted mb-1"),
            dbc.Switch(id="follow-latest", label="follow the latest epoch", value=False, className="small mb-3"),
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
        ])])


def layout(store: Store, pages) -> html.Div:
    return html.Div(className="wb-shell", children=[
        dcc.Location(id="url", refresh="callback-nav"),
        dcc.Store(id="selection", storage_type="memory"),
        dcc.Store(id="graph-click", storage_type="memory"),  # the last click on a figure: {click, data}
        # Live pages: the variant's stamp is polled; `live` changes only when something did.
        dcc.Interval(id="live-interval", interval=LIVE_POLL_MS), dcc.Store(id="live"), dcc.Store(id="live-stamp"),
        dcc.Store(id="shown-epochs"),
        sidebar(store, pages),
        html.Main(className="wb-main", children=[
            _run.layout(),
            dbc.Alert(id="app-error", color="danger", is_open=False, dismissable=True, className="mb-2"),
            html.Div(id="page-content")]),
        html.Div(id="job-runners", hidden=True),  # jobs started here run on across pages
    ])


def selection_epochs(store: Store, variant: str | None) -> list[int]:
    """The epochs the selection can stop at: the checkpoints, or for an imported log its x
    positions (rounded; at most MAX_LOG_STOPS, spread evenly over the run)."""
    try:
        ref = VariantRef.parse(variant)
        return store.checkpoint_epochs(ref) or (log_stops(store, ref) if store.is_log(ref) else [])
    except UserError:
        return []


def log_stops(store: Store, ref: VariantRef) -> list[int]:
    def compute():
        xs = np.unique(np.round(np.concatenate([x for x, _ in store.load_log(ref).values()])).astype(np.int64))
        if len(xs) > MAX_LOG_STOPS:
            xs = xs[np.unique(np.linspace(0, len(xs) - 1, MAX_LOG_STOPS).round().astype(np.int64))]
        return xs.tolist()
    return _LOG_STOPS.get((str(store.root), ref), store.variant_stamp(ref), compute)


def variant_facts(store: Store, variant: str | None) -> tuple[int, int, int, list[str]]:
    """(number of heads, MLP neurons, p, probe names) of a variant; zeros and no probes when unreadable."""
    try:
        ref = VariantRef.parse(variant)
        spec = store.info(ref)["spec"]
        return (int(spec["model"]["n_heads"]), int(spec["model"]["d_mlp"]), int(spec["domain"]["p"]),
                sorted(store.probes(ref)))
    except (UserError, KeyError):
        return 0, 0, 0, []


def poll_live(store: Store, _n, selection, stamp):
    """Once a second: the selected variant's stamp (`live.stamp`, a few `stat` calls); only when
    it changed, its state for the sidebar and a new `live` value, which live pages act on."""
    variant = sel.sanitize(selection).get("variant")
    try:
        ref = VariantRef.parse(variant)
        token = f"{ref}:{live.stamp(store, ref)}"
        if token == stamp:
            return dash.no_update, dash.no_update, dash.no_update
        state = live.state(store, ref)
    except UserError:
        return dash.no_update, dash.no_update, dash.no_update
    return {"variant": str(ref), "stamp": token, "state": state}, token, live.describe(state)


def _slider_only(epochs: list, current: dict, shown) -> list:
    """The selection callback's answer when a live run gained epochs and the selection stays."""
    now = [current.get("variant"), len(epochs), epochs[-1] if epochs else None]
    out = [dash.no_update] * 18
    if now == shown:
        return out
    epoch = current.get("epoch")
    out[3], out[4], out[5] = epochs[0] if epochs else 0, epochs[-1] if epochs else 1, sel.slider_marks(epochs)
    out[8] = f"{epochs.index(epoch) + 1} / {len(epochs)}" if epoch in epochs else dash.no_update
    out[17] = now
    return out


def sync_selection(store: Store, search, variant, slider_epoch, typed_epoch, _prev, _next, neuron, _nprev, _nnext,
                   head, typed_input, probe, compare_with, graph_click, live_data=None, follow=False, current=None,
                   options=(), shown=None):
    """One callback owns the selection: whatever changed (URL, a control, a click on a figure),
    the URL, the store and every control are brought back in step. When the variant changed on
    disk (`live_data`), the epochs are those it has now, and with `follow` on the selection moves
    to the newest; nothing is sent when neither changed."""
    trigger = ctx.triggered_id
    current = sel.sanitize(current)
    # The URL holds news the selection lacks when the request that carried it was dropped: Dash
    # drops a callback's request in flight when the callback is asked again (a live run's poll,
    # a quick second click), and the new one names only its own trigger.
    url_news = bool(current) and (search if isinstance(search, str) else "") != sel.to_query(current)
    if trigger in ("live", "follow-latest") and not url_news:
        if not current or (trigger == "live" and (live_data or {}).get("variant") != current.get("variant")):
            return [dash.no_update] * 18
        epochs = selection_epochs(store, current.get("variant"))
        newest = epochs[-1] if follow and epochs else current.get("epoch")
        if newest == current.get("epoch"):
            # The selection stays: only the slider's stops may change. Nothing else is sent, so a
            # poll answered late never undoes what the user chose meanwhile.
            return _slider_only(epochs, current, shown)
        slider_epoch, trigger = newest, "epoch-slider"
    if trigger in (None, "url") or not current:
        # A fresh page (controls announcing their initial values count too) starts from the URL.
        state, trigger = sel.parse_query(search if isinstance(search, str) else ""), None
    elif url_news:
        state = sel.parse_query(search)  # then this trigger's change on top
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
    errors = []
    known = [o["value"] for o in options or []]
    if state.get("variant") not in known:
        if state.get("variant"):
            errors.append(f"No run {state['variant']!r} in this data root"
                          + (f"; showing {known[0]} instead (pick another in the sidebar)." if known else "."))
        state["variant"] = known[0] if known else None
    compare = [v for v in dict.fromkeys(state.get("compare") or []) if v in known and v != state["variant"]]
    state["compare"] = compare[:sel.MAX_COMPARED - 1]
    epochs = selection_epochs(store, state["variant"])
    if trigger in ("epoch-prev", "epoch-next"):
        state["epoch"] = sel.step(state.get("epoch"), epochs, -1 if trigger == "epoch-prev" else 1)
    if trigger in ("neuron-prev", "neuron-next"):
        state["neuron"] = max(0, (state.get("neuron") or 0) + (-1 if trigger == "neuron-prev" else 1))
    if trigger == "graph-click" and isinstance(graph_click, dict):
        state.update(clicked(graph_click.get("click"), graph_click.get("data")))
    state["epoch"] = sel.snap(state.get("epoch"), epochs)
    n_heads, d_mlp, p, probes = variant_facts(store, state["variant"])
    state["neuron"] = max(0, int(state.get("neuron") or 0))
    if d_mlp and state["neuron"] >= d_mlp:
        errors.append(f"Neuron {state['neuron']}: this model has {d_mlp} MLP neurons (0–{d_mlp - 1}); "
                      f"showing neuron {d_mlp - 1}.")
        state["neuron"] = d_mlp - 1
    state["head"] = min(max(0, int(state.get("head") or 0)), max(n_heads - 1, 0))
    if state.get("frequency") is not None and not 1 <= state["frequency"] <= (p - 1) // 2:
        state["frequency"] = None  # frequencies are k = 1 .. (p - 1) / 2
    if trigger == "input-pair":
        try:
            state["input"] = sel.parse_pair(typed_input, p)
        except ValueError as err:
            errors.append(str(err))
    if state.get("input") is not None and not 0 <= int(state["input"]) < p * p:
        state["input"] = None
    if state.get("probe") not in probes:
        state["probe"] = None
    state = {k: v for k, v in state.items() if k in sel.FIELDS and not (k in sel.OPTIONAL_FIELDS and v is None)}
    readout = f"{epochs.index(state['epoch']) + 1} / {len(epochs)}" if epochs else "no checkpoints"
    # A notice stays until the user changes something. Reruns that change nothing must not wipe it
    # before it is read: the URL echoing the corrected selection back.
    unchanged = trigger in (None, "url") or state == current
    notice = " ".join(errors) if errors else (dash.no_update if unchanged else "")
    now = [state["variant"], len(epochs), epochs[-1] if epochs else None]
    if (trigger in ("epoch-prev", "epoch-next", "epoch-slider", "epoch-input") and now == shown
            and {**current, "epoch": None} == {**state, "epoch": None}):
        # An epoch step: only what shows the epoch is sent; the browser keeps the rest (the slider's
        # marks, the other controls and their options), and Dash has that much less to redraw.
        return (sel.to_query(state), state, *[dash.no_update] * 4, state["epoch"], state["epoch"], readout,
                *[dash.no_update] * 7, notice, dash.no_update)
    return (sel.to_query(state), state, state["variant"], epochs[0] if epochs else 0,
            epochs[-1] if epochs else 1, sel.slider_marks(epochs), state["epoch"], state["epoch"], readout,
            state["neuron"],
            state["head"], [{"label": f"head {h}", "value": h} for h in range(n_heads)],
            sel.pair_text(state.get("input"), p), [{"label": "full grid", "value": ""}]
            + [{"label": name, "value": name} for name in probes], state.get("probe") or "", state["compare"],
            notice, now)


def list_reports(store: Store) -> list:
    """The saved reports under the page list, fresh on every navigation (a new one appears once saved)."""
    names = store.report_names()
    return [html.Div("saved reports", className="text-muted")] + [
        dcc.Link(name, href=f"/reports/{name}", className="d-block ms-2") for name in names] if names else []


def register(app: dash.Dash, store: Store) -> None:
    """The shell's callbacks, on `app` (each app has its own)."""
    app.callback(
        Output("url", "search"), Output("selection", "data"), Output("variant", "value"),
        Output("epoch-slider", "min"), Output("epoch-slider", "max"), Output("epoch-slider", "marks"),
        Output("epoch-slider", "value"), Output("epoch-input", "value"), Output("epoch-readout", "children"),
        Output("neuron", "value"),
        Output("head", "value"), Output("head", "options"),
        Output("input-pair", "value"), Output("probe", "options"), Output("probe", "value"),
        Output("compare-with", "value"), Output("selection-error", "children"), Output("shown-epochs", "data"),
        Input("url", "search"), Input("variant", "value"), Input("epoch-slider", "value"),
        Input("epoch-input", "value"), Input("epoch-prev", "n_clicks"), Input("epoch-next", "n_clicks"),
        Input("neuron", "value"),
        Input("neuron-prev", "n_clicks"), Input("neuron-next", "n_clicks"), Input("head", "value"),
        Input("input-pair", "value"), Input("probe", "value"), Input("compare-with", "value"),
        Input("graph-click", "data"), Input("live", "data"), Input("follow-latest", "value"),
        State("selection", "data"), State("variant", "options"), State("shown-epochs", "data"),
    )(lambda *args: sync_selection(store, *args))
    # A click on any figure reaches the selection through a store, set only for a real click: with
    # the figures themselves as its inputs, every page switch (new figures mounting) would ask the
    # server for the selection first and hold the page's own callbacks until it answered.
    app.clientside_callback(
        """function(_clicks) {
            const context = window.dash_clientside.callback_context, trigger = context.triggered_id;
            const value = context.triggered.length ? context.triggered[0].value : null;
            if (!trigger || value === null || value === undefined) { return window.dash_clientside.no_update; }
            return {click: trigger.click, data: value, at: Date.now()};
        }""",
        Output("graph-click", "data"), Input({"type": "wb-graph", "click": ALL, "name": ALL}, "clickData"),
        prevent_initial_call=True)
    app.callback(Output("live", "data"), Output("live-stamp", "data"), Output("run-state", "children"),
                 Input("live-interval", "n_intervals"), State("selection", "data"), State("live-stamp", "data"),
                 )(lambda *args: poll_live(store, *args))
    app.callback(Output("reports-nav", "children"), Input("url", "pathname"))(lambda _path: list_reports(store))
    # The sidebar's links carry the selection's query: done in the browser, one request fewer per step.
    app.clientside_callback(
        """function(search, ids) {
            return ids.map(function (id) { return id.path + (search || ""); });
        }""",
        Output({"type": "nav", "path": ALL}, "href"), Input("url", "search"), State({"type": "nav", "path": ALL}, "id"))
    app.clientside_callback(
        """function(n, cls) {
            if (!n) { return window.dash_clientside.no_update; }
            const collapsed = !(cls || "").includes("collapsed");
            return collapsed ? "wb-sidebar collapsed" : "wb-sidebar";
        }""",
        Output("sidebar", "className"), Input("sidebar-toggle", "n_clicks"), State("sidebar", "className"))
    # ◀/▶ beside the head selector just step its value; the selection callback takes it from there.
    app.clientside_callback(
        """function(_prev, _next, head, options) {
            const trigger = window.dash_clientside.callback_context.triggered_id;
            const n = (options || []).length;
            if (!n || !trigger) { return window.dash_clientside.no_update; }
            const step = trigger === "head-prev" ? -1 : 1;
            return Math.min(Math.max((head || 0) + step, 0), n - 1);
        }""",
        Output("head", "value", allow_duplicate=True), Input("head-prev", "n_clicks"), Input("head-next", "n_clicks"),
        State("head", "value"), State("head", "options"), prevent_initial_call=True)
