"""Variants: every run in the data root side by side, with the numbers that tell them apart.

A sortable, filterable table (one row per variant of every family): status, when it memorized,
grokked and began to grok, final losses, key frequencies, neuron clusters, the participation
ratio of W_E and whether its analysis is complete (definitions in `workbench.compare`).
Clicking a row selects that variant; ticking rows and pressing "compare" opens them in Compare.
"""
from __future__ import annotations

import json

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, html

from workbench import compare
from workbench import selection as sel
from workbench.errors import UserError
from workbench.phases import ONSET_RULE
from workbench.vocabulary import FVE_THRESHOLD

PATH, NAME = "/variants", "Variants"

# d3-format value formatters (dash-ag-grid evaluates these in the browser)
NUMBER, EPOCH = ".3~g", ","
COLUMNS = [  # (row key, header, number format or None for text, header tooltip)
    ("family", "family", None, ""),
    ("variant_id", "variant", None, "the variant id: p, seed, data seed and what differs from the family"),
    ("p", "p", "d", "the prime modulus"),
    ("seed", "seed", "d", "model (initialization) seed"),
    ("data_seed", "data seed", "d", "seed of the train/test split"),
    ("status", "status", None, ""),
    ("checkpoints", "ckpts", "d", "checkpoints on disk"),
    ("memorized_epoch", "memorized", EPOCH, "memorization epoch: first epoch with train loss ≤ 0.05 nats"),
    ("onset_epoch", "onset", EPOCH, "grokking " + ONSET_RULE),
    ("grokked_epoch", "grokked", EPOCH, "grok epoch: first epoch with test accuracy ≥ 99% "
     "(a run that logged no accuracy: test loss ≤ 0.05 nats)"),
    ("final_train_loss", "train loss", NUMBER, "final train loss (nats)"),
    ("final_test_loss", "test loss", NUMBER, "final test loss (nats)"),
    ("key_frequencies", "key k", None, "the model's key frequencies at the final epoch (1-based k): "
     "those at least two of W_E, W_L and the neuron clusters agree on"),
    ("n_clusters", "clusters", "d", f"neuron clusters at the final epoch: frequencies with ≥ "
                                   f"{compare.MIN_CLUSTER_FRACTION:.0%} of the MLP's neurons "
                                   f"explained ≥ {FVE_THRESHOLD:.0%} by that frequency"),
    ("fraction_explained", "in clusters", ".0%", f"fraction of neurons explained ≥ {FVE_THRESHOLD:.0%} by one "
                                                 "frequency (final epoch)"),
    ("participation_ratio_W_E", "PR W_E", NUMBER,
     "participation ratio (Σσ²)²/Σσ⁴ of W_E at the final epoch (dimensions)"),
    ("analysis", "analysis", None, "whether every analyzer is up to date for every checkpoint"),
]


def table_rows(store) -> list[dict]:
    rows = []
    for ref in store.variants():
        try:
            row = compare.variant_metrics(store, ref)
        except UserError as err:
            row = {"variant": str(ref), "family": ref.family, "id": ref.id, "status": "unreadable",
                   "analysis": str(err)}
        keys = row.get("key_frequencies")
        rows.append({**row, "id": str(ref), "variant_id": ref.id,
                     "key_frequencies": ", ".join(map(str, keys)) if keys else ("none" if keys == [] else None)})
    return rows


def _column(key: str, header: str, number: str | None, tip: str) -> dict:
    column = {"field": key, "headerName": header, "headerTooltip": tip or None}
    if number:
        column.update(filter="agNumberColumnFilter", type="numericColumn", valueFormatter={
            "function": f"params.value == null ? '' : d3.format('{number}')(params.value)"})
    return column


def variant_table(store) -> dag.AgGrid:
    return dag.AgGrid(
        id="variants-table", rowData=table_rows(store), columnDefs=[_column(*c) for c in COLUMNS],
        getRowId="params.data.id", columnSize="autoSize",
        defaultColDef={"sortable": True, "filter": True, "floatingFilter": True, "resizable": True,
                       "wrapHeaderText": True, "autoHeaderHeight": True},
        dashGridOptions={"rowSelection": {"mode": "multiRow", "enableClickSelection": False},
                         "suppressColumnVirtualisation": True, "domLayout": "autoHeight", "tooltipShowDelay": 300},
        style={"width": "100%"})


def layout(store, config, **_variables):
    return html.Div([
        html.P("Every variant in the data root. Sort by a column header, filter in the row under it (e.g. "
               "grokked > 300), click a row to select that variant, tick rows and press compare.",
               className="text-muted"),
        html.Div(className="d-flex gap-2 align-items-center mb-2", children=[
            dbc.Button("compare selected", id="variants-compare", size="sm", color="primary"),
            html.Span(id="variants-hint", className="small text-muted")]),
        variant_table(store)])


def select_clicked_variant(cell, search):
    """Clicking a cell selects its row's variant (the sidebar and the URL follow)."""
    state = sel.parse_query(search)
    row = cell.get("rowId") if isinstance(cell, dict) else None
    if not isinstance(row, str) or cell.get("colId") == "ag-Grid-SelectionColumn" or row == state.get("variant"):
        return dash.no_update
    return sel.to_query({**state, "variant": row})


def compare_selected(_n, chosen, search):
    """Open the ticked variants in Compare: the first as the selection, the others compared with it."""
    if not _n:  # the button was just drawn
        return dash.no_update, dash.no_update, dash.no_update
    chosen = [row["id"] for row in chosen or [] if isinstance(row, dict) and isinstance(row.get("id"), str)]
    if not 2 <= len(chosen) <= sel.MAX_COMPARED:
        return dash.no_update, dash.no_update, f"tick 2 to {sel.MAX_COMPARED} rows to compare"
    state = {**sel.parse_query(search), "variant": chosen[0], "compare": chosen[1:]}
    return "/compare", sel.to_query(state), ""


def highlight_selected(selection):
    """The selected variant's row in bold blue, the compared ones light blue."""
    selection = selection or {}
    marks = [{"condition": f"params.data.id === {json.dumps(selection.get('variant'))}",
              "style": {"backgroundColor": "#e7f1ff", "fontWeight": "600"}}]
    marks += [{"condition": f"params.data.id === {json.dumps(v)}", "style": {"backgroundColor": "#f3f8ff"}}
              for v in selection.get("compare") or []]
    return {"styleConditions": marks}


def register(app, store) -> None:
    app.callback(Output("url", "search", allow_duplicate=True), Input("variants-table", "cellClicked"),
                 State("url", "search"), prevent_initial_call=True)(select_clicked_variant)
    app.callback(Output("url", "pathname", allow_duplicate=True), Output("url", "search", allow_duplicate=True),
                 Output("variants-hint", "children"),
                 Input("variants-compare", "n_clicks"), State("variants-table", "selectedRows"),
                 State("url", "search"), prevent_initial_call=True)(compare_selected)
    app.callback(Output("variants-table", "getRowStyle"), Input("selection", "data"))(highlight_selected)
