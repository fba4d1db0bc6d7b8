"""Loss dynamics: when did memorization end, when did the run turn, are its wobbles a rhythm or
noise, and did anything go wrong? One series of the run (any of its metrics, or an imported
log's) with its phases and alerts, its oscillation analysis, the user's gates, the compared runs,
and the list of alerts; clicking an alert or any point moves the epoch."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import ALL, Input, Output, State, ctx, dcc, html

from workbench import selection as sel
from workbench.analyzers import dynamics
from workbench.errors import MissingError, UserError
from workbench.figures import message_figure
from workbench.gates import EXAMPLE, GateError, evaluate_all
from workbench.pages._common import FigurePage, FigureSpec, ref_of
from workbench.phases import roles
from workbench.renderers import dynamics as figures

PATH, NAME = "/dynamics", "Loss dynamics"
DEFAULT_WINDOW = 100


def chosen_series(store, ref, selection: dict) -> str:
    """The series picked in the dropdown, else the run's default (held-out loss, train loss, ...)."""
    names = dynamics.run_series(store, ref)
    return selection["series"] if selection.get("series") in names else dynamics.default_series(names)


def analysis(store, ref, selection: dict) -> dict:
    window = max(8, int(selection.get("window") or DEFAULT_WINDOW))
    data = dynamics.oscillations(store, ref, chosen_series(store, ref, selection), window)
    return {**data, "x_name": dynamics.x_name(store, ref)}


def stored_alerts(store, ref) -> list:
    return dynamics.stored_alerts(store.cached_series(ref, dynamics.NAME))


def _series_figure(store, ref, selection):
    try:
        alerts = stored_alerts(store, ref)
    except MissingError:
        alerts = []
    return figures.series_figure(analysis(store, ref, selection), selection.get("epoch"),
                                 name=chosen_series(store, ref, selection), alerts=alerts,
                                 phases=dynamics.run_phases(store, ref))


def _oscillation_figure(render):
    return lambda store, ref, selection: render(analysis(store, ref, selection), selection.get("epoch"),
                                                phases=dynamics.run_phases(store, ref))


def _gates_figure(store, ref, selection):
    text = selection.get("gates") or ""
    if not text.strip():
        return message_figure(f"No gates: type one per line above, {EXAMPLE}")
    try:
        results = evaluate_all(text, dynamics.run_series(store, ref))
    except GateError as err:
        return message_figure(str(err))
    return figures.gate_timeline(results, selection.get("epoch"), phases=dynamics.run_phases(store, ref),
                                 x_name=dynamics.x_name(store, ref))


def _compared_figure(store, ref, selection):
    """The chosen series (matched by role, e.g. held-out loss ↔ val_loss) across compared runs."""
    name = chosen_series(store, ref, selection)
    role = next((r for r, n in roles(dynamics.run_series(store, ref)).items() if n == name), None)
    runs = dynamics.compared_runs(store, sel.compared(selection), name, role)
    if len(runs) < 2:
        return message_figure("Pick other runs under “compare with” in the sidebar to overlay this series")
    return figures.compared_runs_figure(runs, selection.get("epoch"), name=name)


SERIES_DEPENDS = ("series", "window")
FIGURES = FigurePage("dynamics", [
    FigureSpec("series", "The series with its phases, trend and alerts", _series_figure, width=12,
               click="epoch", depends=SERIES_DEPENDS),
    FigureSpec("decomposition", "Trend + oscillation", _oscillation_figure(figures.decomposition_figure),
               click="epoch", depends=SERIES_DEPENDS),
    FigureSpec("spacing", "Spacing between peaks, per phase", _oscillation_figure(figures.peak_spacing_figure),
               click="epoch", depends=SERIES_DEPENDS),
    FigureSpec("periodogram", "Sliding periodogram", _oscillation_figure(figures.periodogram_figure),
               click="epoch", depends=SERIES_DEPENDS),
    FigureSpec("autocorrelation", "Sliding autocorrelation", _oscillation_figure(figures.autocorrelation_figure),
               click="epoch", depends=SERIES_DEPENDS),
    FigureSpec("gates", "Gates", _gates_figure, click="epoch", depends=("gates",)),
    FigureSpec("compare", "Compared runs", _compared_figure, click="epoch", depends=("series", "compare")),
], controls={"series": ("dynamics-series", "value"), "window": ("dynamics-window", "value"),
             "gates": ("dynamics-gates", "value")})


def layout(store, config, **_variables):
    controls = html.Div(className="d-flex flex-wrap gap-3 align-items-end mb-2", children=[
        html.Div([dbc.Label("series", html_for="dynamics-series"),
                  dcc.Dropdown(id="dynamics-series", clearable=False, style={"minWidth": "18rem"})]),
        html.Div([dbc.Label("window (samples)", html_for="dynamics-window"),
                  dbc.Input(id="dynamics-window", type="number", min=8, max=100000, step=1, value=DEFAULT_WINDOW,
                            debounce=True, size="sm", style={"width": "8rem"})]),
        html.Div(className="flex-grow-1", children=[
            dbc.Label("gates (one per line)", html_for="dynamics-gates"),
            dbc.Textarea(id="dynamics-gates", rows=2, debounce=True, placeholder=EXAMPLE, size="sm")])])
    alerts = html.Div([html.H6("Alerts", className="mt-2"), html.Div(id="dynamics-alerts", className="mb-3")])
    return FIGURES.layout("Phases are shaded on every summary figure; alerts are red markers and listed below the "
                          "controls. Click an alert or any point to move the epoch. Import a log from another "
                          "project with `workbench import-log FILE`.", config,
                          controls=[controls, alerts, dcc.Store(id="dynamics-variant")])


def on_variant(store, selection, current, shown_for):
    """A new run: its series in the dropdown and its declared gates (`import-log --gates`)."""
    ref = ref_of(selection)
    if ref is None or str(ref) == shown_for:
        return dash.no_update, dash.no_update, dash.no_update, dash.no_update
    try:
        names = sorted(dynamics.run_series(store, ref))
        gates = "\n".join(store.info(ref).get("gates", []))
    except UserError:
        return [], None, "", str(ref)
    value = current if current in names else dynamics.default_series(names)
    return [{"label": n, "value": n} for n in names], value, gates, str(ref)


def alert_list(store, selection):
    """Every alert of the run, latest analysis; each is a button that moves the epoch there."""
    ref = ref_of(selection)
    if ref is None:
        return html.P("No run yet: `workbench demo` or `workbench import-log FILE`.", className="text-muted")
    try:
        alerts = stored_alerts(store, ref)
    except UserError:
        return html.P(f"Not analyzed yet: run  workbench analyze {ref}", className="text-muted")
    if not alerts:
        return html.P("No alerts: no non-finite values, sustained rises, divergence, abrupt changes, weak gradients "
                      "or exploding weights.", className="text-muted small")
    epoch = (selection or {}).get("epoch")
    items = [dbc.ListGroupItem(
        [html.Strong(f"{a.kind} · {a.series} · at {a.epoch:,.0f}"), html.Span(f" — {a.cause}"),
         html.Div(", ".join(f"{k}: {v:.4g}" for k, v in a.evidence.items()), className="small text-muted")],
        id={"type": "dynamics-alert", "index": i, "epoch": float(a.epoch)}, action=True, n_clicks=0,
        active=epoch is not None and abs(a.epoch - epoch) < 1, className="py-1")
        for i, a in enumerate(alerts[:SHOWN_ALERTS])]
    if len(alerts) > SHOWN_ALERTS:  # a page of thousands of buttons would stall the browser
        items.append(dbc.ListGroupItem(f"… and {len(alerts) - SHOWN_ALERTS:,} more: `workbench alerts {ref} --all` "
                                       "lists them all", className="py-1 small text-muted"))
    return dbc.ListGroup(items, style={"maxHeight": "14rem", "overflowY": "auto"})


SHOWN_ALERTS = 200


def go_to_alert(clicks, selection):
    """Clicking an alert sets the epoch through the URL, as a copied link would."""
    trigger = ctx.triggered_id
    if not trigger or not ctx.triggered[0].get("value"):  # a list re-rendered, not a click
        return dash.no_update
    return sel.to_query({**(selection or {}), "epoch": int(np.round(trigger["epoch"]))})


def register(app, store) -> None:
    FIGURES.register(app, store)
    app.callback(Output("dynamics-series", "options"), Output("dynamics-series", "value"),
                 Output("dynamics-gates", "value"), Output("dynamics-variant", "data"),
                 Input("selection", "data"), State("dynamics-series", "value"), State("dynamics-variant", "data"),
                 )(lambda *args: on_variant(store, *args))
    app.callback(Output("dynamics-alerts", "children"), Input("selection", "data"))(
        lambda selection: alert_list(store, selection))
    app.callback(Output("url", "search", allow_duplicate=True),
                 Input({"type": "dynamics-alert", "index": ALL, "epoch": ALL}, "n_clicks"),
                 State("selection", "data"), prevent_initial_call=True)(go_to_alert)
