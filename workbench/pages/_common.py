"""What every page shares: graphs that navigate on click, figure cards, and `FigurePage` - a page
of catalog figures around the selection, whose summaries move their cursors by Patch.

A page module defines `PATH`, `NAME`, `layout(store, config, **path_variables)` and
`register(app, store)`; `workbench.app` routes to the layout and calls `register` once per app,
so the page's callbacks close over that app's store and several apps live in one process. Pages
lay out and route: what they show is computed by `workbench.figures`, `workbench.compare` and
the analyzers, read through the store and its caches.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import dash
import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from workbench import figures
from workbench.figures import is_missing, message_figure, safe_figure
from workbench import live
from workbench.renderers import CATALOG
from workbench.renderers.cursor import move_cursor
from workbench.selection import sanitize
from workbench.store import Store, VariantRef

DOWNLOAD_FORMATS = ("png", "svg")


def graph_config(download_format: str | None = "png") -> dict:
    """Plotly's toolbar; its download button saves PNG or SVG, as chosen in the sidebar."""
    fmt = download_format if download_format in DOWNLOAD_FORMATS else "png"
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "scale": 2}}


def ref_of(selection: dict | None) -> VariantRef | None:
    variant = sanitize(selection).get("variant")
    return VariantRef.parse(variant) if variant and "/" in variant else None


def variant_options(store: Store) -> list[dict]:
    return [{"label": f"{row.ref.family} / {row.ref.id}  ({row.status})", "value": str(row.ref)}
            for row in store.listing()]


def graph(name: str, config: dict, click: str = "epoch", height: int | None = None) -> dcc.Graph:
    """A graph whose clicks the sidebar turns into a selection (`click`: epoch, neuron, head or input)."""
    # Reserve the space while the figure loads; the figure's own height then decides (a fixed
    # height would clip a taller figure or shift the page when they disagree).
    style = {"minHeight": f"{height}px"} if height else None
    return dcc.Graph(id={"type": "wb-graph", "click": click, "name": name}, config=config, style=style,
                     figure=message_figure("loading…"))


def card(name: str, title: str, config: dict, click: str = "epoch", height: int | None = None,
         width: int = 6) -> dbc.Col:
    """A titled figure with its caption underneath (the caption comes from the figure's meta)."""
    return dbc.Col(width=12, lg=width, className="wb-card", children=[
        html.Div(graph(name, config, click, height), title=title),
        html.P(id={"type": "wb-caption", "name": name}, className="wb-caption")])


def graph_id(name: str, click: str = "epoch") -> dict:
    return {"type": "wb-graph", "click": click, "name": name}


def caption_id(name: str) -> dict:
    return {"type": "wb-caption", "name": name}


def _meta(figure) -> dict:
    meta = figure["layout"].get("meta") if isinstance(figure, dict) else figure.layout.meta
    return meta if isinstance(meta, dict) else {}


def caption(figure) -> str:
    return _meta(figure).get("caption", "")


def cursor_count(figure) -> int:
    """How many cursor shapes lead the figure's shapes (none on a message figure)."""
    return 0 if is_missing(figure) else _meta(figure).get("cursor_shapes", 1)


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


Build = Callable[[Store, VariantRef, dict], go.Figure]


@dataclass(frozen=True)
class FigureSpec:
    """One figure on a page. `build(store, ref, selection) -> Figure`. Summary figures (x = epoch)
    are built once per variant and then only their cursor moves; detail figures are rebuilt on
    every selection change (their data comes from small per-epoch files or the cache)."""
    name: str
    title: str
    build: Build
    summary: bool = True
    click: str = "epoch"
    width: int = 6
    height: int | None = None
    depends: tuple[str, ...] = ()  # selection or control keys a summary is rebuilt for (besides the variant)


def catalog_figure(name: str, **options) -> Build:
    """A builder for catalog figure `name` (`workbench.figures.build`). Options given as callables
    are called with (store, ref, selection) (e.g. the selected neuron's cluster). Its `reads`
    says what it is drawn from (a live page redraws it only when that changed)."""
    def build(store: Store, ref: VariantRef, selection: dict) -> go.Figure:
        opts = {k: (v(store, ref, selection) if callable(v) else v) for k, v in options.items()}
        return figures.build(store, ref, name, selection, **opts)
    build.reads = CATALOG[name].reads
    return build


MAX_APPENDED = 5000  # points appended to a live figure's lines at once; more: it is drawn again


def extendable(figure: go.Figure) -> list | None:
    """[[trace index, "series" | "checkpoints_on", series name, last x shown], ...] when every
    trace of the figure draws a history series as it is (or its checkpoints), so a live run's new
    points can be appended to it; None otherwise."""
    traces = []
    for i, trace in enumerate(figure.data):
        meta = trace.meta
        kind = next((k for k in ("series", "checkpoints_on") if isinstance(meta, dict) and meta.get(k)), None)
        if kind is None:
            return None
        x = np.asarray(trace.x if trace.x is not None else [])
        traces.append([i, kind, meta[kind], x[-1].item() if len(x) else None])
    return traces or None


def appended(store: Store, ref: VariantRef, traces: list) -> tuple[dash.Patch | None, list | None]:
    """The Patch appending a live run's new points to the lines `extendable` listed, and the
    list updated; (None, None) when there are too many to append (draw the figure again)."""
    history, patch, updated, count = live.history(store, ref), dash.Patch(), [], 0
    epochs = store.checkpoint_epochs(ref)
    for index, kind, name, last in traces:
        if kind == "series":
            xs, ys = live.new_points(history, name, last)
        else:
            xs = [e for e in epochs if last is None or e > last]
            xs = [e for e in xs if name in history and len(history.x(name)) and e <= history.x(name)[-1]]
            ys = [history.value_at(name, e) for e in xs]
            ys = [y if np.isfinite(y) else None for y in ys]
        if xs:
            for key, values in (("x", xs), ("y", ys), ("customdata", xs)):
                patch["data"][index][key].extend(values)
            count += len(xs)
        updated.append([index, kind, name, xs[-1] if xs else last])
    return (patch, updated) if count <= MAX_APPENDED else (None, None)


class FigurePage:
    """A page of figures around the selection, with its two callbacks: summaries (rebuilt for a
    new variant or a change of what they depend on, else their cursors move by Patch) and details
    (rebuilt for every selection). `controls` maps a key to a page component's (id, property); its
    value joins the selection passed to the builders under that key.

    Pages are live: both callbacks also fire when the shell's `live` store says the variant
    changed on disk (a run training, being analyzed or a log being written). A summary is then
    drawn again only when what it reads changed (`live.data_stamp`), and a line figure of the
    history whose only change is a longer history gets its new points appended by Patch; a
    detail is drawn again when the analysis moved on."""

    def __init__(self, page: str, specs: list[FigureSpec], controls: dict[str, tuple[str, str]] | None = None):
        self.page, self.specs, self.controls = page, specs, controls or {}
        self.summary_specs = [s for s in specs if s.summary]
        self.detail_specs = [s for s in specs if not s.summary]

    def layout(self, intro: str, config: dict, controls=()) -> html.Div:
        cards = [card(self._name(s), s.title, config, s.click, s.height, s.width) for s in self.specs]
        return html.Div([html.P(intro, className="text-muted"), *controls, dbc.Row(cards),
                         dcc.Store(id=f"{self.page}-rendered", storage_type="memory"),
                         dcc.Store(id=f"{self.page}-details-rendered", storage_type="memory")])

    def _name(self, spec: FigureSpec) -> str:
        return f"{self.page}-{spec.name}"

    def _selection(self, selection, values) -> dict:
        return {**sanitize(selection), **dict(zip(self.controls, values))}

    def figures(self, store: Store, specs: list[FigureSpec], selection: dict, lines: dict | None = None) -> list[dict]:
        """The figures as the browser gets them (and, into `lines`, what `extendable` says of each)."""
        ref, out = ref_of(selection), []
        for spec in specs:
            figure = safe_figure(ref, lambda s=spec: s.build(store, ref, selection))
            data = for_browser(figure)
            if lines is not None:
                lines[spec.name] = extendable(figure)
                for index, *_ in lines[spec.name] or ():  # a Patch appends to plain lists, not packed arrays
                    trace = data["data"][index]
                    for key in ("x", "y", "customdata"):
                        if isinstance(getattr(figure.data[index], key), np.ndarray):
                            trace[key] = [None if isinstance(v, float) and v != v else v
                                          for v in getattr(figure.data[index], key).tolist()]
            out.append(data)
        return out

    def _stamp(self, store: Store, ref: VariantRef | None, spec: FigureSpec) -> list[str] | None:
        return live.data_stamp(store, ref, getattr(spec.build, "reads", None)) if ref is not None else None

    def summaries(self, store: Store, selection, *values_and_rendered, live_data=None) -> list:
        """Figures, captions and what was rendered; Patches where only the cursor moved or a live
        run's lines grew; only what changed is sent."""
        *values, rendered = values_and_rendered
        selection = self._selection(selection, values)
        ref, epoch = ref_of(selection), selection.get("epoch")
        key = [str(ref)] + [str(selection.get(k)) for s in self.summary_specs for k in s.depends]
        if not (rendered and ref is not None and rendered.get("key") == key and epoch is not None):
            lines = {}
            shown = self.figures(store, self.summary_specs, selection, lines)
            return shown + [caption(f) for f in shown] + [self._rendered(store, ref, key, shown, lines)]
        rendered = {**rendered, "stamps": dict(rendered.get("stamps", {})), "cursors": dict(rendered.get("cursors", {})),
                    "extend": dict(rendered.get("extend", {}))}
        figures_out, captions, changed = [], [], False
        for spec in self.summary_specs:
            stamp, old = self._stamp(store, ref, spec), rendered["stamps"].get(spec.name)
            patch, traces = None, rendered["extend"].get(spec.name)
            if stamp != old and old and traces and stamp[1] == old[1]:
                patch, traces = appended(store, ref, traces)
            if stamp == old or patch is not None:
                figures_out.append(move_cursor(patch or dash.Patch(), epoch, rendered["cursors"].get(spec.name, 0)))
                captions.append(dash.no_update)
                changed |= stamp != old
                rendered["stamps"][spec.name], rendered["extend"][spec.name] = stamp, traces
                continue
            figure = self.figures(store, [spec], selection, rendered["extend"])[0]
            figures_out.append(figure)
            captions.append(caption(figure))
            rendered["stamps"][spec.name], rendered["cursors"][spec.name] = stamp, cursor_count(figure)
            changed = True
        return figures_out + captions + [rendered if changed else dash.no_update]

    def _rendered(self, store, ref, key, shown, lines) -> dict:
        return {"key": key, "cursors": {s.name: cursor_count(f) for s, f in zip(self.summary_specs, shown)},
                "stamps": {s.name: self._stamp(store, ref, s) for s in self.summary_specs}, "extend": lines}

    def details(self, store: Store, selection, *values, rendered=None, live_data=None) -> list:
        """The detail figures and their captions (and, when `rendered` is given - the app's
        callback - what they were drawn for: a live update redraws them only when that changed)."""
        selection = self._selection(selection, values)
        ref = ref_of(selection)
        drawn_for = [json.dumps(selection, sort_keys=True, default=str),
                     live.analysis_stamp(store, ref) if ref is not None else None]
        if rendered is not None and rendered == drawn_for:
            return [dash.no_update] * (2 * len(self.detail_specs)) + [dash.no_update]
        shown = self.figures(store, self.detail_specs, selection)
        out = shown + [caption(f) for f in shown]
        return out if rendered is None and live_data is None else out + [drawn_for]

    def register(self, app: dash.Dash, store: Store) -> None:
        control_inputs = [Input(cid, prop) for cid, prop in self.controls.values()]
        if self.summary_specs:
            app.callback([Output(graph_id(self._name(s), s.click), "figure") for s in self.summary_specs]
                         + [Output(caption_id(self._name(s)), "children") for s in self.summary_specs]
                         + [Output(f"{self.page}-rendered", "data")],
                         [Input("selection", "data"), Input("live", "data"), *control_inputs],
                         State(f"{self.page}-rendered", "data"),
                         )(lambda selection, live_data, *rest: self.summaries(store, selection, *rest,
                                                                              live_data=live_data))
        if self.detail_specs:
            app.callback([Output(graph_id(self._name(s), s.click), "figure") for s in self.detail_specs]
                         + [Output(caption_id(self._name(s)), "children") for s in self.detail_specs]
                         + [Output(f"{self.page}-details-rendered", "data")],
                         [Input("selection", "data"), Input("live", "data"), *control_inputs],
                         State(f"{self.page}-details-rendered", "data"),
                         )(lambda selection, live_data, *rest: self.details(
                             store, selection, *rest[:-1], rendered=rest[-1] or [], live_data=live_data))
