"""Variants: every run in the data root side by side, with the numbers that tell them apart.

A sortable, filterable table (one row per variant of every family): status, when it memorized,
grokked and began to grok, final losses, key frequencies, neuron clusters, the participation
ratio of W_E and whether its analysis is complete (definitions in `workbench.compare`).
Clicking a row selects that variant; ticking rows and pressing "compare" opens them in Compare.
"""
from __future__ import annotations

import warnings

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dash_table, html
from dash.dash_table.Format import Format, Scheme

from workbench import compare
from workbench import selection as sel
from workbench.app import store
from workbench.pages._compared import metrics_row
from workbench.phases import ONSET_RULE
from workbench.store import StoreError

dash.register_page(__name__, path="/variants", name="Variants", order=-1)

NUMBER, EPOCH = Format(precision=3, scheme=Scheme.decimal_or_exponent), Format(group=",")
COLUMNS = [  # (row key, header, type, format, header tooltip)
    ("family", "family", "text", None, ""),
    ("variant_id", "variant", "text", None, "the variant id: p, seed, data seed and what differs from the family"),
    ("p", "p", "numeric", None, "the prime modulus"),
    ("seed", "seed", "numeric", None, "model (initialization) seed"),
    ("data_seed", "data seed", "numeric", None, "seed of the train/test split"),
    ("status", "status", "text", None, ""),
    ("checkpoints", "ckpts", "numeric", None, "checkpoints on disk"),
    ("memorized_epoch", "memorized", "numeric", EPOCH, "memorization epoch: first epoch with train loss ≤ 0.05 nats"),
    ("onset_epoch", "onset", "numeric", EPOCH, "grokking " + ONSET_RULE),
    ("grokked_epoch", "grokked", "numeric", EPOCH, "grok epoch: first epoch with test accuracy ≥ 99%"),
    ("final_train_loss", "train loss", "numeric", NUMBER, "final train loss (nats)"),
    ("final_test_loss", "test loss", "numeric", NUMBER, "final test loss (nats)"),
    ("key_frequencies", "key k", "text", None, "key frequencies of W_E at the final epoch (1-based k)"),
    ("n_clusters", "clusters", "numeric", None, f"neuron clusters at the final epoch: frequencies with ≥ "
                                                f"{compare.MIN_CLUSTER_FRACTION:.0%} of the MLP's neurons "
                                                "explained ≥ 85% by that frequency"),
    ("fraction_explained", "in clusters", "numeric", Format(precision=0, scheme=Scheme.percentage),
     "fraction of neurons explained ≥ 85% by one frequency (final epoch)"),
    ("participation_ratio_W_E", "PR W_E", "numeric", Format(precision=3),
     "participation ratio (Σσ²)²/Σσ⁴ of W_E at the final epoch (dimensions)"),
    ("analysis", "analysis", "text", None, "whether every analyzer is up to date for every checkpoint"),
]


def table_rows() -> list[dict]:
    rows = []
    for ref in store().variants():
        try:
            row = metrics_row(str(ref))
        except StoreError as err:
            row = {"variant": str(ref), "family": ref.family, "id": ref.id, "status": "unreadable",
                   "analysis": str(err)}
        keys = row.get("key_frequencies")
        rows.append({**row, "id": str(ref), "variant_id": ref.id,
                     "key_frequencies": ", ".join(map(str, keys)) if keys else ("none" if keys == [] else None)})
    return rows


def variant_table() -> dash_table.DataTable:
    columns = [{"id": key, "name": name, "type": kind, **({"format": fmt} if fmt else {})}
               for key, name, kind, fmt, _ in COLUMNS]
    with warnings.catch_warnings():  # "DataTable will leave dash's built-ins": still the simplest sortable table
        warnings.simplefilter("ignore", DeprecationWarning)
        return dash_table.DataTable(
            id="variants-table", data=table_rows(), columns=columns, sort_action="native", filter_action="native",
            row_selectable="multi", selected_rows=[], page_action="none", sort_mode="single",
            style_table={"overflowX": "auto"}, style_header={"fontWeight": "600", "whiteSpace": "normal"},
            style_cell={"fontSize": "0.85rem", "padding": "4px 8px", "whiteSpace": "normal", "height": "auto",
                        "fontFamily": "inherit", "maxWidth": "16rem"},
            style_cell_conditional=[{"if": {"column_type": "text"}, "textAlign": "left"},
                                    {"if": {"column_id": "key_frequencies"}, "minWidth": "7rem"}],
            tooltip_header={key: tip for key, _, _, _, tip in COLUMNS if tip}, tooltip_delay=300)


def layout(**_query):
    return html.Div([
        html.P("Every variant in the data root. Sort by a column header, filter in the row under it "
               "(e.g. > 300 or s1), click a row to select that variant, tick rows and press compare.",
               className="text-muted"),
        html.Div(className="d-flex gap-2 align-items-center mb-2", children=[
            dbc.Button("compare selected", id="variants-compare", size="sm", color="primary"),
            html.Span(id="variants-hint", className="small text-muted")]),
        variant_table()])


@dash.callback(Output("url", "search", allow_duplicate=True), Input("variants-table", "active_cell"),
               State("url", "search"), prevent_initial_call=True)
def select_clicked_variant(cell, search):
    """Clicking a cell selects its row's variant (the sidebar and the URL follow)."""
    state = sel.parse_query(search)
    if not cell or not cell.get("row_id") or cell["row_id"] == state.get("variant"):
        return dash.no_update
    return sel.to_query({**state, "variant": cell["row_id"]})


@dash.callback(Output("url", "pathname", allow_duplicate=True), Output("url", "search", allow_duplicate=True),
               Output("variants-hint", "children"),
               Input("variants-compare", "n_clicks"), State("variants-table", "selected_row_ids"),
               State("url", "search"), prevent_initial_call=True)
def compare_selected(_n, chosen, search):
    """Open the ticked variants in Compare: the first as the selection, the others compared with it."""
    chosen = list(chosen or [])
    if not 2 <= len(chosen) <= compare.MAX_COMPARED:
        return dash.no_update, dash.no_update, f"tick 2 to {compare.MAX_COMPARED} rows to compare"
    state = {**sel.parse_query(search), "variant": chosen[0], "compare": chosen[1:]}
    return "/compare", sel.to_query(state), ""


@dash.callback(Output("variants-table", "style_data_conditional"), Input("selection", "data"))
def highlight_selected(selection):
    selection = selection or {}
    marks = [{"if": {"filter_query": f'{{id}} = "{selection.get("variant")}"'}, "backgroundColor": "#e7f1ff",
              "fontWeight": "600"}]
    return marks + [{"if": {"filter_query": f'{{id}} = "{v}"'}, "backgroundColor": "#f3f8ff"}
                    for v in selection.get("compare") or []]
