"""What every page shares: reading artifacts for the selection, graphs that navigate on click,
cursors moved by Patch, and the message a figure shows when its data is missing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import dash
import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, Patch, State, dcc, html

from workbench import figures
from workbench.app import store
from workbench.figures import is_missing, message_figure, missing_message, safe_figure  # noqa: F401 (pages use them)
from workbench.selection import sanitize
from workbench.store import VariantRef


def graph_config() -> dict:
    """Plotly's toolbar; its download button saves PNG or SVG, as chosen in the sidebar."""
    from flask import g
    return {"displaylogo": False, "toImageButtonOptions": {"format": g.get("download_format", "png"), "scale": 2}}


def ref_of(selection: dict | None) -> VariantRef | None:
    variant = sanitize(selection).get("variant")
    return VariantRef(*variant.split("/", 1)) if variant and "/" in variant else None


def series(ref: VariantRef, analyzer: str) -> dict:
    """An analyzer's stacked series from the app's store (cached until its file changes)."""
    return figures.series(store(), ref, analyzer)


def history(ref: VariantRef) -> dict:
    return figures.history(store(), ref)


def move_cursors(epoch: int, figure_meta_cursors: int = 1) -> Patch:
    """A Patch that moves a summary figure's cursor line(s) (its first shapes) to `epoch`."""
    patch = Patch()
    for i in range(figure_meta_cursors):
        patch["layout"]["shapes"][i]["x0"] = epoch
        patch["layout"]["shapes"][i]["x1"] = epoch
    return patch


def graph(name: str, click: str = "epoch", height: int | None = None) -> dcc.Graph:
    """A graph whose clicks the sidebar turns into a selection (`click`: epoch, neuron or head)."""
    # Reserve the space while the figure loads; the figure's own height then decides (a fixed
    # height would clip a taller figure or shift the page when they disagree).
    style = {"minHeight": f"{height}px"} if height else None
    return dcc.Graph(id={"type": "wb-graph", "click": click, "name": name}, config=graph_config(), style=style,
                     figure=message_figure("loading…"))


def card(name: str, title: str, click: str = "epoch", height: int | None = None, width: int = 6) -> dbc.Col:
    """A titled figure with its caption underneath (the caption comes from the figure's meta)."""
    return dbc.Col(width=12, lg=width, className="wb-card", children=[
        html.Div(graph(name, click, height), title=title),
        html.P(id={"type": "wb-caption", "name": name}, className="wb-caption")])


def _meta(figure) -> dict:
    meta = figure["layout"].get("meta") if isinstance(figure, dict) else figure.layout.meta
    return meta if isinstance(meta, dict) else {}


def caption(figure) -> str:
    return _meta(figure).get("caption", "")


def cursor_count(figure) -> int:
    return _meta(figure).get("cursor_shapes", 1)


def for_browser(figure) -> dict:
    """The figure as Dash sends it, with 1-D click ids (customdata) as plain lists: Dash builds
    clickData by indexing the customdata of the figure prop itself, and cannot index a packed
    (typed) array, which is how NumPy arrays travel. Heatmap clicks are unaffected."""
    data = figure.to_plotly_json()
    for trace, source in zip(data["data"], figure.data):
        custom = getattr(source, "customdata", None)
        if isinstance(custom, np.ndarray) and custom.ndim == 1:
            trace["customdata"] = custom.tolist()
    return data


@dataclass(frozen=True)
class FigureSpec:
    """One figure on a page. `build(ref, selection) -> Figure`. Summary figures (x = epoch) are
    built once per variant and then only their cursor moves; detail figures are rebuilt on
    every selection change (their data comes from small per-epoch files or the cache)."""
    name: str
    title: str
    build: Callable[[VariantRef, dict], go.Figure]
    summary: bool = True
    click: str = "epoch"
    width: int = 6
    height: int | None = None
    depends: tuple[str, ...] = ()  # selection or control keys a summary is rebuilt for (besides the variant)


def page_layout(page: str, specs: list[FigureSpec], intro: str, controls=None) -> html.Div:
    cards = [card(f"{page}-{s.name}", s.title, s.click, s.height, s.width) for s in specs]
    return html.Div([html.P(intro, className="text-muted"), *(controls or []), dbc.Row(cards),
                     dcc.Store(id=f"{page}-rendered", storage_type="memory")])


# page -> {"summaries": fn, "details": fn}: the undecorated callbacks, for export and benchmarks
CALLBACKS: dict[str, dict[str, Callable]] = {}
SPECS: dict[str, list[FigureSpec]] = {}


def register_figures(page: str, specs: list[FigureSpec], controls: dict[str, tuple[str, str]] | None = None) -> None:
    """The page's two callbacks: summaries (full render on a new variant or a change of what
    they depend on, else a cursor Patch) and details (rebuilt for every selection).
    `controls` maps a key to a page component's (id, property); its value joins the selection
    passed to the builders under that key."""
    SPECS[page] = specs
    controls = controls or {}
    control_inputs = [Input(cid, prop) for cid, prop in controls.values()]

    def merged(selection, values):
        return {**sanitize(selection), **dict(zip(controls, values))}

    def graph_id(spec):
        return {"type": "wb-graph", "click": spec.click, "name": f"{page}-{spec.name}"}

    def caption_id(spec):
        return {"type": "wb-caption", "name": f"{page}-{spec.name}"}

    summaries = [s for s in specs if s.summary]
    details = [s for s in specs if not s.summary]
    if summaries:
        def render_summaries(selection, *rest):
            *values, rendered = rest
            selection = merged(selection, values)
            ref, epoch = ref_of(selection), selection.get("epoch")
            key = [str(ref)] + [str(selection.get(k)) for s in summaries for k in s.depends]
            if rendered and ref is not None and rendered.get("key") == key and epoch is not None:
                cursors = rendered.get("cursors", {})
                return ([move_cursors(epoch, cursors.get(s.name, 0)) for s in summaries]
                        + [dash.no_update] * len(summaries) + [dash.no_update])
            figures = [for_browser(safe_figure(ref, lambda s=s: s.build(ref, selection))) for s in summaries]
            cursors = {s.name: (0 if is_missing(f) else cursor_count(f)) for s, f in zip(summaries, figures)}
            return figures + [caption(f) for f in figures] + [{"key": key, "cursors": cursors}]

        CALLBACKS.setdefault(page, {})["summaries"] = render_summaries
        dash.callback([Output(graph_id(s), "figure") for s in summaries]
                      + [Output(caption_id(s), "children") for s in summaries]
                      + [Output(f"{page}-rendered", "data")],
                      [Input("selection", "data"), *control_inputs], State(f"{page}-rendered", "data"))(render_summaries)

    if details:
        def render_details(selection, *values):
            selection = merged(selection, values)
            ref = ref_of(selection)
            figures = [for_browser(safe_figure(ref, lambda s=s: s.build(ref, selection))) for s in details]
            return figures + [caption(f) for f in figures]

        CALLBACKS.setdefault(page, {})["details"] = render_details
        dash.callback([Output(graph_id(s), "figure") for s in details]
                      + [Output(caption_id(s), "children") for s in details],
                      [Input("selection", "data"), *control_inputs])(render_details)


def catalog_figure(name: str, **options) -> Callable[[VariantRef, dict], go.Figure]:
    """A builder for catalog figure `name` (see `workbench.figures.build`). Options given as
    callables are called with the selection (e.g. the neuron's cluster)."""
    def build(ref: VariantRef, selection: dict) -> go.Figure:
        opts = {k: (v(ref, selection) if callable(v) else v) for k, v in options.items()}
        return figures.build(store(), ref, name, selection, **opts)
    return build


def run_phases(ref: VariantRef):
    """The run's phases from its `loss_dynamics` artifact; None until it is analyzed."""
    return figures.run_phases(store(), ref)
