"""Overview: how did this run learn? Loss and accuracy, the headline numbers, and the most
telling summaries, all sharing one epoch cursor."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, html

from workbench.compare import history_phases
from workbench.pages._common import FigureSpec, catalog_figure, history, page_layout, ref_of, register_figures, series
from workbench.store import StoreError

dash.register_page(__name__, path="/", name="Overview", order=0)

SPECS = [
    FigureSpec("loss", "Loss and accuracy", catalog_figure("loss_and_accuracy"), width=12, height=420),
    FigureSpec("fourier", "Embedding: norm per frequency over epochs", catalog_figure("embedding_fourier_over_epochs")),
    FigureSpec("clusters", "Neuron frequency clusters over epochs", catalog_figure("cluster_sizes")),
    FigureSpec("progress", "Progress measures", catalog_figure("progress_losses")),
    FigureSpec("fourier-at", "Embedding: norm per frequency at the epoch", catalog_figure("embedding_fourier_norms"),
               summary=False),
    FigureSpec("neurons", "Neurons × frequencies at the epoch (click a neuron)", catalog_figure("neuron_clusters"),
               summary=False, click="neuron", width=12, height=360),
]


def layout(**_query):
    metrics = html.Div(id="overview-metrics", className="mb-2")
    return page_layout("overview", SPECS, "How this run learned: memorization, the turn, grokking, cleanup. "
                       "Click any summary to move the epoch.", controls=[metrics])


register_figures("overview", SPECS)


def metric(label: str, value, note: str = "") -> dbc.Col:
    return dbc.Col(dbc.Card(dbc.CardBody([html.Div(label, className="small text-muted"),
                                          html.Div(value, className="wb-metric"),
                                          html.Div(note, className="small text-muted")])), width=6, lg=2)


@dash.callback(Output("overview-metrics", "children"), Input("selection", "data"))
def headline_metrics(selection):
    ref = ref_of(selection)
    if ref is None:
        return html.P("No variant yet: run `workbench demo`.")
    try:
        h = history(ref)
    except StoreError as err:
        return html.P(str(err), className="text-muted")
    events = history_phases(h)
    memorized, onset, grokked = (events[k] for k in ("memorized_epoch", "onset_epoch", "grokked_epoch"))
    cards = [metric("memorized (train loss ≤ 0.05)", f"epoch {memorized:,}" if memorized is not None else "not yet"),
             metric("grokking onset", f"epoch {onset:,}" if onset is not None else "not yet"),
             metric("grokked (test acc ≥ 99%)", f"epoch {grokked:,}" if grokked is not None else "not yet"),
             metric("final test accuracy", f"{np.nan_to_num(h['test_acc'][-1]):.3f}" if "test_acc" in h else "–")]
    try:
        keys = np.flatnonzero(series(ref, "fourier_embedding")["key_mask"][-1]) + 1
        neurons = series(ref, "neuron_frequencies")
        i = list(neurons["epochs"]).index(selection["epoch"]) if selection.get("epoch") in neurons["epochs"] else -1
        cards += [metric("key frequencies (final)", ", ".join(map(str, keys)) or "none"),
                  metric("neurons in a cluster", f"{neurons['fraction_explained'][i]:.0%}",
                         f"at epoch {int(neurons['epochs'][i]):,}")]
    except StoreError:
        cards.append(metric("analysis", "not run", f"workbench analyze {ref}"))
    return dbc.Row(cards, className="g-2")
