"""Overview: how did this run learn? Loss, the headline numbers, and the most telling summaries."""
from __future__ import annotations

import dash

from workbench.pages._common import FigureSpec, history, page_layout, register_figures

dash.register_page(__name__, path="/", name="Overview", order=0)


def loss(ref, selection):
    import plotly.graph_objects as go
    h = history(ref)
    fig = go.Figure([go.Scatter(y=h["train_loss"], name="train"), go.Scatter(y=h["test_loss"], name="test")])
    e = selection.get("epoch")
    fig.add_shape(type="line", xref="x", yref="paper", x0=e, x1=e, y0=0, y1=1, name="cursor")
    fig.update_layout(meta={"caption": "loss", "cursor_shapes": 1})
    return fig


SPECS = [FigureSpec("loss", "Loss", loss)]


def layout(**_query):
    return page_layout("overview", SPECS, "How this run learned.")


register_figures("overview", SPECS)
