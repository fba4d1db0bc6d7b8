"""Loss dynamics: when did memorization end, when did the run turn, are its wobbles a rhythm or
noise, and did anything go wrong? One series of the run (any of its metrics, or an imported
log's) with its phases and alerts, its oscillation analysis, the user's gates, the compared runs,
and the list of alerts; clicking an alert or any point moves the epoch."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import ALL, Input, Output, State, ctx, html

from workbench import selection as sel
from workbench.alerts import Alert
from workbench.analyzers import dynamics
from workbench.app import store
from workbench.gates import EXAMPLE, GateError, evaluate_all
from workbench.pages._common import FigureSpec, message_figure, page_layout, ref_of, register_figures, run_phases, series
from workbench.pages._compared import compared, ref
from workbench.phases import roles
from workbench.renderers import dynamics as figures
from workbench.store import StoreError

dash.register_page(__name__, path="/dynamics", name="Loss dynamics", order=7)

DEFAULT_WINDOW = 100


def run_series_names(variant_ref) -> list[str]:
    return sorted(dynamics.run_series(store(), variant_ref))


def chosen_series(variant_ref, selection: dict) -> str:
    """The series picked in the dropdown, else the held-out loss, else the train loss, else the first."""
    names = run_series_names(variant_ref)
    if selection.get("series") in names:
        return selection["series"]
    role = roles(names)
    return role.get("test_loss") or role.get("train_loss") or names[0]


def x_name(variant_ref) -> str:
    info = store().info(variant_ref)
    return info.get("log", {}).get("x", "epoch")


def analysis(variant_ref, selection: dict) -> dict:
    window = int(selection.get("window") or DEFAULT_WINDOW)
    data = dynamics.oscillations(store(), variant_ref, chosen_series(variant_ref, selection), max(8, window))
    return {**data, "x_name": x_name(variant_ref)}


def stored_alerts(variant_ref) -> list[Alert]:
    return dynamics.stored_alerts(series(variant_ref, dynamics.NAME))


def _series_figure(variant_ref, selection):
    name = chosen_series(variant_ref, selection)
    try:
        alerts = stored_alerts(variant_ref)
    except StoreError:
        alerts = []
    return figures.series_figure(analysis(variant_ref, selection), selection.get("epoch"), name=name, alerts=alerts,
                                 phases=run_phases(variant_ref))


def _oscillation_figure(render):
    return lambda variant_ref, selection: render(analysis(variant_ref, selection), selection.get("epoch"),
                                                 phases=run_phases(variant_ref))


def _gates_figure(variant_ref, selection):
    text = selection.get("gates") or ""
    if not text.strip():
        return message_figure(f"No gates: type one per line above, {EXAMPLE}")
    try:
        results = evaluate_all(text, dynamics.run_series(store(), variant_ref))
    except GateError as err:
        return message_figure(str(err))
    return figures.gate_timeline(results, selection.get("epoch"), phases=run_phases(variant_ref),
                                 x_name=x_name(variant_ref))


def _compared_figure(variant_ref, selection):
    """The chosen series (matched by role, e.g. held-out loss ↔ val_loss) across compared runs."""
    name = chosen_series(variant_ref, selection)
    role = next((r for r, n in roles(run_series_names(variant_ref)).items() if n == name), None)
    runs = []
    for variant in compared(selection):
        try:
            own = dynamics.run_series(store(), ref(variant))
        except StoreError:
            continue
        match = name if name in own else roles(own).get(role) if role else None
        if match is None:
            continue
        phases = run_phases(ref(variant))
        runs.append({"label": variant.split("/", 1)[-1], "x": own[match][0], "y": own[match][1],
                     "onset": phases.onset if phases else None})
    if len(runs) < 2:
        return message_figure("Pick other runs under “compare with” in the sidebar to overlay this series")
    return figures.compared_runs_figure(runs, selection.get("epoch"), name=name)


SERIES_DEPENDS = ("series", "window")
SPECS = [
    FigureSpec("series", "The series with its phases, trend and alerts", _series_figure, width=12,
               depends=SERIES_DEPENDS),
    FigureSpec("decomposition", "Trend + oscillation", _oscillation_figure(figures.decomposition_figure),
               depends=SERIES_DEPENDS),
    FigureSpec("spacing", "Spacing between peaks, per phase", _oscillation_figure(figures.peak_spacing_figure),
               depends=SERIES_DEPENDS),
    FigureSpec("periodogram", "Sliding periodogram", _oscillation_figure(figures.periodogram_figure),
               depends=SERIES_DEPENDS),
    FigureSpec("autocorrelation", "Sliding autocorrelation", _oscillation_figure(figures.autocorrelation_figure),
               depends=SERIES_DEPENDS),
    FigureSpec("gates", "Gates", _gates_figure, depends=("gates",)),
    FigureSpec("compare", "Compared runs", _compared_figure, depends=("series", "compare")),
]


def layout(**_query):
    controls = html.Div(className="d-flex flex-wrap gap-3 align-items-end mb-2", children=[
        html.Div([dbc.Label("series", html_for="dynamics-series"),
                  dash.dcc.Dropdown(id="dynamics-series", clearable=False, style={"minWidth": "18rem"})]),
        html.Div([dbc.Label("window (samples)", html_for="dynamics-window"),
                  dbc.Input(id="dynamics-window", type="number", min=8, max=100000, step=1, value=DEFAULT_WINDOW,
                            debounce=True, size="sm", style={"width": "8rem"})]),
        html.Div(className="flex-grow-1", children=[
            dbc.Label("gates (one per line)", html_for="dynamics-gates"),
            dbc.Textarea(id="dynamics-gates", rows=2, debounce=True, placeholder=EXAMPLE, size="sm")])])
    alerts = html.Div([html.H6("Alerts", className="mt-2"), html.Div(id="dynamics-alerts", className="mb-3")])
    return page_layout("dynamics", SPECS, "Phases are shaded on every summary figure; alerts are red markers and "
                       "listed below the controls. Click an alert or any point to move the epoch. Import a log "
                       "from another project with `workbench import-log FILE`.",
                       controls=[controls, alerts, dash.dcc.Store(id="dynamics-variant")])


register_figures("dynamics", SPECS, controls={"series": ("dynamics-series", "value"),
                                               "window": ("dynamics-window", "value"),
                                               "gates": ("dynamics-gates", "value")})


@dash.callback(Output("dynamics-series", "options"), Output("dynamics-series", "value"),
               Output("dynamics-gates", "value"), Output("dynamics-variant", "data"),
               Input("selection", "data"), State("dynamics-series", "value"), State("dynamics-variant", "data"))
def on_variant(selection, current, shown_for):
    """A new run: its series in the dropdown and its declared gates (`import-log --gates`)."""
    variant_ref = ref_of(selection)
    if variant_ref is None or str(variant_ref) == shown_for:
        return dash.no_update, dash.no_update, dash.no_update, dash.no_update
    try:
        names = run_series_names(variant_ref)
        gates = "\n".join(store().info(variant_ref).get("gates", []))
    except StoreError:
        return [], None, "", str(variant_ref)
    value = current if current in names else chosen_series(variant_ref, {})
    return [{"label": n, "value": n} for n in names], value, gates, str(variant_ref)


@dash.callback(Output("dynamics-alerts", "children"), Input("selection", "data"))
def alert_list(selection):
    """Every alert of the run, latest analysis; each is a button that moves the epoch there."""
    variant_ref = ref_of(selection)
    if variant_ref is None:
        return html.P("No run yet: `workbench demo` or `workbench import-log FILE`.", className="text-muted")
    try:
        alerts = stored_alerts(variant_ref)
    except StoreError:
        return html.P(f"Not analyzed yet: run  workbench analyze {variant_ref}", className="text-muted")
    if not alerts:
        return html.P("No alerts: no non-finite values, sustained rises, divergence, abrupt changes, weak gradients "
                      "or exploding weights.", className="text-muted small")
    epoch = (selection or {}).get("epoch")
    items = [dbc.ListGroupItem(
        [html.Strong(f"{a.kind} · {a.series} · at {a.epoch:,.0f}"), html.Span(f" — {a.cause}"),
         html.Div(", ".join(f"{k}: {v:.4g}" for k, v in a.evidence.items()), className="small text-muted")],
        id={"type": "dynamics-alert", "index": i, "epoch": float(a.epoch)}, action=True, n_clicks=0,
        active=epoch is not None and abs(a.epoch - epoch) < 1, className="py-1")
        for i, a in enumerate(alerts)]
    return dbc.ListGroup(items, style={"maxHeight": "14rem", "overflowY": "auto"})


@dash.callback(Output("url", "search", allow_duplicate=True),
               Input({"type": "dynamics-alert", "index": ALL, "epoch": ALL}, "n_clicks"),
               State("selection", "data"), prevent_initial_call=True)
def go_to_alert(clicks, selection):
    """Clicking an alert sets the epoch through the URL, as a copied link would."""
    trigger = ctx.triggered_id
    if not trigger or not ctx.triggered[0].get("value"):  # a list re-rendered, not a click
        return dash.no_update
    return sel.to_query({**(selection or {}), "epoch": int(np.round(trigger["epoch"]))})
