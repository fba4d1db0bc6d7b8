"""Overview: how did this run learn? Loss and accuracy, the headline numbers, and the most
telling summaries, all sharing one epoch cursor."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, html

from workbench.compare import overview_numbers
from workbench.errors import UserError
from workbench.pages._common import FigurePage, FigureSpec, catalog_figure, ref_of

PATH, NAME = "/", "Overview"

FIGURES = FigurePage("overview", [
    FigureSpec("loss", "Loss and accuracy", catalog_figure("loss_and_accuracy"), width=12, height=420),
    FigureSpec("fourier", "Embedding: norm per frequency over epochs", catalog_figure("embedding_fourier_over_epochs")),
    FigureSpec("clusters", "Neuron frequency clusters over epochs", catalog_figure("cluster_sizes")),
    # below the fold at 1600×1000 and smaller: drawn once scrolled to
    FigureSpec("progress", "Progress measures", catalog_figure("progress_losses"), lazy=True),
    FigureSpec("fourier-at", "Embedding: norm per frequency at the epoch", catalog_figure("embedding_fourier_norms"),
               summary=False, lazy=True),
    FigureSpec("neurons", "Neurons × frequencies at the epoch (click a neuron)", catalog_figure("neuron_clusters"),
               summary=False, width=12, height=360, lazy=True),
])


def layout(store, config, **_variables):
    metrics = html.Div(id="overview-metrics", className="mb-2")
    return FIGURES.layout("How this run learned: memorization, the turn, grokking, cleanup. "
                          "Click any summary to move the epoch.", config, controls=[metrics])


def metric(label: str, value, note: str = "") -> dbc.Col:
    return dbc.Col(dbc.Card(dbc.CardBody([html.Div(label, className="small text-muted"),
                                          html.Div(value, className="wb-metric"),
                                          html.Div(note, className="small text-muted")])), width=6, lg=2)


def _epoch(value) -> str:
    return f"epoch {value:,}" if value is not None else "not yet"


def headline_metrics(store, selection) -> html.Div | dbc.Row:
    ref = ref_of(selection)
    if ref is None:
        return html.P("No variant yet: run `workbench demo`.")
    try:
        numbers = overview_numbers(store, ref, (selection or {}).get("epoch"))
    except UserError as err:
        return html.P(str(err), className="text-muted")
    final = numbers["final_test_acc"]
    cards = [metric("memorized (train loss ≤ 0.05)", _epoch(numbers["memorized_epoch"])),
             metric("grokking onset", _epoch(numbers["onset_epoch"])),
             metric(f"grokked ({numbers['grok_rule']})", _epoch(numbers["grokked_epoch"])),
             metric("final test accuracy", f"{final:.3f}" if final is not None else "–",
                    numbers["final_test_acc_note"] or ("" if final is not None else "not logged" if numbers["log"]
                                                       else "not logged; analyze the run to compute it"))]
    if numbers["analyzed"]:
        cards += [metric("key frequencies (final)", ", ".join(map(str, numbers["key_frequencies"])) or "none"),
                  metric("neurons in a cluster", f"{numbers['fraction_explained']:.0%}",
                         f"at epoch {numbers['neurons_epoch']:,}")]
    elif numbers["log"]:
        cards.append(metric("analysis", "none", "an imported log has no model"))
    else:
        cards.append(metric("analysis", "not run", f"workbench analyze {ref}"))
    return dbc.Row(cards, className="g-2")


def register(app, store) -> None:
    FIGURES.register(app, store)
    app.callback(Output("overview-metrics", "children"), Input("selection", "data"), Input("live", "data"))(
        lambda selection, _live: headline_metrics(store, selection))
