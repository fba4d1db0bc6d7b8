"""Analyze: which analyzers are missing or stale for which variants, and run them as jobs.

One row per variant with checkpoints, one column per analyzer: "✓" when every checkpoint is
up to date, else how many are missing or stale (an analyzer whose version changed, or a
checkpoint rewritten since). Tick variants, pick analyzers (none = what each needs), Run:
one job per variant. The table refreshes every 3 s; a variant's status is recomputed only when its
files changed (`pipeline.status` is kept until then), so open tabs do not re-read checkpoints.
"""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html

from workbench import jobs, pipeline
from workbench.analyzers import all_analyzers
from workbench.errors import UserError
from workbench.pages._jobs import panel, start
from workbench.store import VariantRef

PATH, NAME = "/analyze", "Analyze"


def layout(store, config, **_variables):
    return html.Div([
        html.P("What is analyzed for each variant. Tick variants and run all missing analyzers, or pick some "
               "(with 'recompute' to redo up-to-date ones too). One job per variant.", className="text-muted"),
        html.Div(id="analyze-table"),
        dbc.Row(className="my-2", children=[
            dbc.Col(md=6, children=[dbc.Label("analyzers (empty: whatever is missing or stale)",
                                              html_for="analyze-analyzers", className="small mb-0"),
                                    dcc.Dropdown(id="analyze-analyzers", multi=True,
                                                 options=[a.name for a in all_analyzers()])]),
            dbc.Col(md=2, children=dbc.Checkbox(id="analyze-force", label="recompute", value=False, className="mt-4")),
            dbc.Col(md=4, className="mt-3", children=[
                dbc.Button("Run", id="analyze-run", color="primary", className="me-2"),
                html.Span(id="analyze-message", className="small")])]),
        dcc.Interval(id="analyze-refresh", interval=3000), dcc.Store(id="analyze-digest"),
        panel(["analyze"], title="Analysis jobs")])


def status_rows(store) -> list[dict]:
    rows = []
    for listing in store.listing():
        if not listing.checkpoints:
            continue
        try:
            report = pipeline.status(listing.ref, store)
        except UserError as err:
            report = {"error": {"kind": "error", "done": 0, "missing": 0, "stale": 0, "message": str(err)}}
        rows.append({"variant": str(listing.ref), "status": listing.status, "report": report})
    return rows


def _cell(entry: dict) -> html.Td:
    if entry.get("message"):
        return html.Td(entry["message"], className="text-danger small")
    if not entry["missing"] and not entry["stale"]:
        return html.Td("✓", className="text-success text-center", title=f"{entry['done']} up to date")
    parts = [f"{entry['missing']} missing" if entry["missing"] else "", f"{entry['stale']} stale" if entry["stale"] else ""]
    return html.Td(", ".join(p for p in parts if p), className="text-warning small text-center")


def table(store, _n, picked, ids, digest):
    """Re-rendered only when a status changed, so ticks are not lost to the refresh."""
    rows = status_rows(store)
    new_digest = repr(rows)
    if new_digest == digest:
        return dash.no_update, dash.no_update
    if not rows:
        return html.P("No trained variants yet: start one on the Train page.", className="text-muted"), new_digest
    ticked = {i["variant"] for i, v in zip(ids or [], picked or []) if v}
    names = sorted({name for row in rows for name in row["report"]})
    header = html.Thead(html.Tr([html.Th(""), html.Th("variant"), html.Th("status"),
                                 *[html.Th(name, className="small") for name in names]]))
    body = [html.Tr([html.Td(dbc.Checkbox(id={"type": "analyze-pick", "variant": row["variant"]},
                                          value=row["variant"] in ticked)),
                     html.Td(html.Code(row["variant"])), html.Td(row["status"], className="small"),
                     *[_cell(row["report"][n]) if n in row["report"] else html.Td("") for n in names]])
            for row in rows]
    return dbc.Table([header, html.Tbody(body)], size="sm", hover=True, className="mb-0"), new_digest


def run(store, n_clicks, picked, ids, analyzers, force):
    selected = [i["variant"] for i, v in zip(ids or [], picked or []) if v]
    analyzers = [a for a in analyzers if isinstance(a, str)] if isinstance(analyzers, list) else None
    if not n_clicks:
        return dash.no_update, dash.no_update, dash.no_update
    if not selected:
        return dash.no_update, html.Span("tick one or more variants first", className="text-danger"), dash.no_update
    submitted, refused = [], []
    for variant in selected:
        try:
            submitted.append(jobs.submit_analyze(store, VariantRef.parse(variant), analyzers or None, bool(force)))
        except UserError as err:
            refused.append(str(err))
    message = f"started {len(submitted)} job(s)" + (f"; refused: {' '.join(refused)}" if refused else "")
    return start(submitted), message, None


def register(app, store) -> None:
    app.callback(Output("analyze-table", "children"), Output("analyze-digest", "data"),
                 Input("analyze-refresh", "n_intervals"), State({"type": "analyze-pick", "variant": ALL}, "value"),
                 State({"type": "analyze-pick", "variant": ALL}, "id"), State("analyze-digest", "data"),
                 )(lambda *args: table(store, *args))
    app.callback(Output("job-runners", "children", allow_duplicate=True), Output("analyze-message", "children"),
                 Output("jobs-digest", "data", allow_duplicate=True),
                 Input("analyze-run", "n_clicks"), State({"type": "analyze-pick", "variant": ALL}, "value"),
                 State({"type": "analyze-pick", "variant": ALL}, "id"),
                 State("analyze-analyzers", "value"), State("analyze-force", "value"), prevent_initial_call=True,
                 )(lambda *args: run(store, *args))
