"""Reports: pages the user builds around their own question - any variant's figures in a grid.

`/reports` lists the saved reports and builds a new one; `/reports/<name>` shows one (figures at
"the selected epoch" follow the sidebar's epoch) and edits it. Reports are saved in the data root
(`workbench.reports`), so they survive restarting the app and open from a shared link."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html

from workbench import reports
from workbench.errors import UserError
from workbench.pages._common import caption, for_browser, graph_config, variant_options
from workbench.renderers import CATALOG

PATH, NAME, PATH_TEMPLATE = "/reports", "Reports", "/reports/<name>"


def layout(store, config, name: str | None = None, **_variables):
    if not name:
        saved = store.report_names()
        listing = (html.Ul([html.Li(dcc.Link(n, href=f"/reports/{n}")) for n in saved]) if saved
                   else html.P("No reports yet.", className="text-muted"))
        return html.Div([html.H3("Reports"), html.P("Build a page around your question: pick figures of any "
                                                   "variants, fix their epochs or let them follow the sidebar's "
                                                   "epoch, and save it under a name.", className="text-muted"),
                         listing, html.H4("New report", className="mt-4"), editor(store, None, None),
                         dcc.Store(id="report-name", data=None)])
    try:
        report = store.load_report(name)
    except UserError as err:
        return html.Div([html.H3("No such report"), html.P(str(err)), dcc.Link("all reports", href="/reports"),
                         dcc.Store(id="report-name", data=None)])
    return html.Div([
        dcc.Store(id="report-name", data=name),
        html.Div(className="d-flex align-items-center gap-2", children=[
            html.H3(report["title"], id="report-title-shown", className="me-auto"),
            dbc.Button("export HTML", id="report-export", size="sm", color="secondary", outline=True),
            dcc.Download(id="report-download")]),
        html.P(report.get("notes", ""), className="wb-report-notes", style={"whiteSpace": "pre-wrap"}),
        html.Div(id="report-view"),
        html.Details([html.Summary("edit this report"), editor(store, name, report)], className="mt-4")])


def editor(store, name: str | None, report: dict | None) -> html.Div:
    report = report or {}
    figure_options = [{"label": f"{n} - {CATALOG[n].description}", "value": n} for n in sorted(CATALOG)]
    return html.Div(className="wb-report-editor", children=[
        dbc.Row(className="g-2 mb-2", children=[
            dbc.Col([dbc.Label("name (in the link)", html_for="report-save-name"),
                     dbc.Input(id="report-save-name", value=name or "", placeholder="e.g. seeds-at-the-turn")], lg=3),
            dbc.Col([dbc.Label("title", html_for="report-title"),
                     dbc.Input(id="report-title", value=report.get("title", ""))], lg=6),
            dbc.Col([dbc.Label("columns", html_for="report-columns"),
                     dbc.Input(id="report-columns", type="number", min=1, max=reports.MAX_COLUMNS, step=1,
                               value=report.get("columns", 2))], lg=3)]),
        dbc.Label("notes", html_for="report-notes"),
        dbc.Textarea(id="report-notes", value=report.get("notes", ""), className="mb-3"),
        dbc.Row(className="g-2 align-items-end", children=[
            dbc.Col([dbc.Label("variant"), dcc.Dropdown(id="report-add-variant", options=variant_options(store))],
                    lg=4),
            dbc.Col([dbc.Label("figure"), dcc.Dropdown(id="report-add-figure", options=figure_options)], lg=4),
            dbc.Col([dbc.Label("epoch", html_for="report-add-epoch"),
                     dbc.Input(id="report-add-epoch", type="number", min=0, step=1,
                               placeholder="the selected epoch")], lg=2),
            dbc.Col(dbc.Button("add figure", id="report-add", color="secondary"), lg=2)]),
        html.Div(id="report-add-error", className="small text-danger"),
        html.Ol(id="report-items", className="mt-2"),
        dcc.Store(id="report-draft", data=report.get("figures", [])),
        dbc.Button("save report", id="report-save", color="primary"),
        html.Div(id="report-saved", className="mt-2")])


def edit_draft(_add, removes, variant, figure, epoch, draft):
    draft = list(draft or [])
    trigger = ctx.triggered_id
    if isinstance(trigger, dict):
        if not any(removes):  # the remove buttons were just drawn, not clicked
            return dash.no_update, dash.no_update
        return [item for i, item in enumerate(draft) if i != trigger["index"]], ""
    if not variant or not figure:
        return dash.no_update, "pick a variant and a figure first"
    draft.append({"variant": variant, "figure": figure, "epoch": reports.CURSOR if epoch is None else int(epoch)})
    return draft, ""


def show_draft(draft):
    return [html.Li([reports.cell_title(item), " ", dbc.Button("remove", id={"type": "report-remove", "index": i},
                                                               size="sm", color="link")])
            for i, item in enumerate(draft or [])]


def save(store, _clicks, name, title, notes, columns, draft):
    try:
        reports.save_report((name or "").strip(), data=store.root, title=title, notes=notes,
                            columns=int(columns) if columns is not None else 2, figures=draft)
    except (UserError, ValueError) as err:  # ValueError: a forged, non-numeric column count
        return html.Span(str(err), className="text-danger")
    name = name.strip()
    return html.Span(["saved: ", dcc.Link(f"/reports/{name}", href=f"/reports/{name}", id="report-saved-link")])


def show_report(store, selection, name, download_format):
    if not name:
        return dash.no_update
    try:
        report = store.load_report(name)
    except UserError as err:
        return html.P(str(err), className="text-danger")
    cursor = (selection or {}).get("epoch")
    width = 12 // report.get("columns", 2)
    cells = []
    for i, item in enumerate(report["figures"]):
        fig = reports.cell_figure(store, item, cursor)
        cells.append(dbc.Col(width=12, lg=width, className="wb-card", children=[
            html.H6(reports.cell_title(item, cursor)),
            dcc.Graph(id={"type": "report-graph", "index": i}, figure=for_browser(fig),
                      config=graph_config(download_format)),
            html.P(caption(fig), className="wb-caption")]))
    return dbc.Row(cells)


def export(store, _clicks, name, selection):
    return dcc.send_string(reports.report_html(store, name, (selection or {}).get("epoch")), f"{name}.html")


def register(app, store) -> None:
    app.callback(Output("report-draft", "data"), Output("report-add-error", "children"),
                 Input("report-add", "n_clicks"), Input({"type": "report-remove", "index": ALL}, "n_clicks"),
                 State("report-add-variant", "value"), State("report-add-figure", "value"),
                 State("report-add-epoch", "value"), State("report-draft", "data"), prevent_initial_call=True,
                 )(edit_draft)
    app.callback(Output("report-items", "children"), Input("report-draft", "data"))(show_draft)
    app.callback(Output("report-saved", "children"), Input("report-save", "n_clicks"),
                 State("report-save-name", "value"), State("report-title", "value"), State("report-notes", "value"),
                 State("report-columns", "value"), State("report-draft", "data"), prevent_initial_call=True,
                 )(lambda *args: save(store, *args))
    app.callback(Output("report-view", "children"), Input("selection", "data"), Input("report-name", "data"),
                 State("download-format", "value"))(lambda *args: show_report(store, *args))
    app.callback(Output("report-download", "data"), Input("report-export", "n_clicks"),
                 State("report-name", "data"), State("selection", "data"), prevent_initial_call=True,
                 )(lambda *args: export(store, *args))
