"""What every page shares: graphs that navigate on click, figure cards, and `FigurePage` - a page
of catalog figures around the selection, whose summaries move their cursors by Patch and, while
a run trains, grow by Patch (`_extend`).

A page module defines `PATH`, `NAME`, `layout(store, config, **path_variables)` and
`register(app, store)`; `workbench.app` routes to the layout and calls `register` once per app,
so the page's callbacks close over that app's store and several apps live in one process. Pages
lay out and route: what they show is computed by `workbench.figures`, `workbench.compare` and
the analyzers, read through the store and its caches.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import dash
import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import ALL, ClientsideFunction, Input, Output, State, dcc, html

from workbench import figures, live
from workbench.caching import StampedMemo
from workbench.errors import UserError
from workbench.pages import _extend, _patches
from workbench.figures import is_missing, message_figure, safe_figure
from workbench.renderers import CATALOG
from workbench.renderers.cursor import graph_click, move_cursor
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


def graph(name: str, config: dict, click: str | None = "epoch", height: int | None = None) -> dcc.Graph:
    """A graph whose clicks the sidebar turns into a selection (`click`: what the figure declares,
    `cursor.CLICK_KINDS`; None selects nothing)."""
    # Reserve the space while the figure loads; the figure's own height then decides (a fixed
    # height would clip a taller figure or shift the page when they disagree).
    style = {"minHeight": f"{height}px"} if height else None
    return dcc.Graph(id=graph_id(name, click), config=config, style=style, figure=_loading())


@lru_cache(maxsize=1)
def _loading() -> dict:
    """The placeholder every graph shows until its figure comes (built once: a plotly figure
    costs ~6 ms to build, and a page has up to 15 graphs; Dash only reads it)."""
    return message_figure("loading…").to_plotly_json()


def card(name: str, title: str, config: dict, click: str | None = "epoch", height: int | None = None,
         width: int = 6, lazy: bool = False) -> dbc.Col:
    """A titled figure with its caption underneath (the caption comes from the figure's meta).
    A `lazy` one reports whether it is on screen (assets/lazy.js) into the store `visible_id(name)`."""
    return dbc.Col(width=12, lg=width, className="wb-card", children=[
        html.Div(graph(name, config, click, height), title=title, **({"data-wb-lazy": name} if lazy else {})),
        html.P(id={"type": "wb-caption", "name": name}, className="wb-caption")])


def graph_id(name: str, click: str | None = "epoch") -> dict:
    return {"type": "wb-graph", "click": graph_click(click), "name": name}


def caption_id(name: str) -> dict:
    return {"type": "wb-caption", "name": name}


def page_key_id(page: str) -> str:
    """The store of the page's key: the selection without the epoch (assets/cursor.js)."""
    return f"{page}-page-key"


def register_page_key(app: dash.Dash, key: str, rendered=None) -> None:
    """The store `key` holds the selection without its epoch (assets/cursor.js `newPageKey`); with
    `rendered` (a store's id), with the epoch too while that store says `per_epoch`."""
    app.clientside_callback(ClientsideFunction("workbench", "newPageKey"), Output(key, "data"),
                            Input("selection", "data"), State(key, "data"),
                            *([State(rendered, "data")] if rendered is not None else []))


def register_cursor(app: dash.Dash, graph: dict, rendered: dict) -> None:
    """Graph `graph`'s cursors follow the selected epoch in the browser (assets/cursor.js
    `moveCursor`), as the store `rendered` beside it describes them. A pattern id with ALL in it
    moves every graph it matches."""
    many = any(value is ALL for value in graph.values())
    app.clientside_callback(ClientsideFunction("workbench", "moveCursors" if many else "moveCursor"),
                            Output(graph, "figure", allow_duplicate=True),
                            Input("selection", "data"), Input(rendered, "data"), State(graph, "figure"),
                            prevent_initial_call=True)


def rendered_id(name: str) -> dict:
    """The store of what summary `name` shows: {"key", "cursors", "epoch", "page_key"} (see
    `FigurePage.summary`; assets/cursor.js reads it)."""
    return {"type": "wb-rendered", "name": name}


def visible_id(name: str) -> dict:
    """The store saying whether lazy figure `name` is on screen (set by assets/lazy.js; None until
    it has looked: a lazy figure is drawn only once it is on screen)."""
    return {"type": "wb-visible", "name": name}


def shown_id(name: str) -> dict:
    """The store of what the browser shows of figure `name` (its prints, `_patches.prints`)."""
    return {"type": "wb-shown", "name": name}


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


FROM_BUILD = "from-build"


@dataclass(frozen=True)
class FigureSpec:
    """One figure on a page. `build(store, ref, selection) -> Figure`. Summary figures (x = epoch)
    are built once per variant and then only their cursor moves; detail figures are rebuilt on
    every selection change (their data comes from small per-epoch files or the cache). What a
    click selects is the builder's `click` (a catalog figure's, as its entry declares), unless
    `click` is given (builders of one's own)."""
    name: str
    title: str
    build: Build
    summary: bool = True
    click: str | None = FROM_BUILD
    width: int = 6
    height: int | None = None
    depends: tuple[str, ...] = ()  # selection or control keys a summary is rebuilt for (besides the variant)
    lazy: bool = False  # below the fold: drawn once seen; a detail then follows the epoch only while seen

    @property
    def selects(self) -> str | None:
        """What a click on this figure selects: `click`, or what its builder declares."""
        return self.build.click if self.click == FROM_BUILD else self.click


def catalog_figure(name: str, **options) -> Build:
    """A builder for catalog figure `name` (`workbench.figures.build`). Options given as callables
    are called with (store, ref, selection) (e.g. the selected neuron's cluster). Its `reads`
    says what it is drawn from (a live page redraws it only when that changed)."""
    def build(store: Store, ref: VariantRef, selection: dict) -> go.Figure:
        opts = {k: (v(store, ref, selection) if callable(v) else v) for k, v in options.items()}
        return figures.build(store, ref, name, selection, **opts)
    build.click = CATALOG[name].click
    build.reads = CATALOG[name].reads
    return build


class FigurePage:
    """A page of figures around the selection, one callback per figure. Summaries are rebuilt for a
    new variant or a change of what each depends on; otherwise only their cursors move, by Patch,
    and not at all when the epoch stayed. Details are rebuilt for every selection and sent as what
    changed (`_patches.update`: a heatmap's z, a title; nothing when they did not change). What
    each figure shows is recorded in a store beside it (`rendered_id`, `shown_id`).

    Pages are live: every figure's callback also fires when the shell's `live` store says the
    variant changed on disk (a run training, being analyzed, a log being written). A summary is
    then drawn again only when what it reads changed (`live.data_stamp`), and a line figure of the
    history whose only change is a longer history gets its new points appended by Patch
    (`_extend`); a detail is built again only when the analysis moved on (`live.analysis_stamp`).
    `controls` maps a key to a page component's (id, property); its value joins the selection
    passed to the builders under that key."""

    def __init__(self, page: str, specs: list[FigureSpec], controls: dict[str, tuple[str, str]] | None = None):
        self.page, self.specs, self.controls = page, specs, controls or {}
        self.summary_specs = [s for s in specs if s.summary]
        self.detail_specs = [s for s in specs if not s.summary]

    def layout(self, intro: str, config: dict, controls=()) -> html.Div:
        cards = [card(self._name(s), s.title, config, s.selects, s.height, s.width, s.lazy)
                 for s in self.specs]
        return html.Div([html.P(intro, className="text-muted"), *controls, dbc.Row(cards),
                         dcc.Store(id=page_key_id(self.page)),
                         *[dcc.Store(id=rendered_id(self._name(s)), storage_type="memory") for s in self.summary_specs],
                         *[dcc.Store(id=shown_id(self._name(s)), storage_type="memory") for s in self.detail_specs],
                         *[dcc.Store(id=visible_id(self._name(s))) for s in self.specs if s.lazy]])

    def _name(self, spec: FigureSpec) -> str:
        return f"{self.page}-{spec.name}"

    def _selection(self, selection, values) -> dict:
        return {**sanitize(selection), **dict(zip(self.controls, values))}

    def figure(self, store: Store, spec: FigureSpec, selection: dict, kept: tuple | None = None) -> dict:
        """The figure as sent to the browser. With `kept` (the key of what it shows) it is drawn once
        for every user while the files it comes from are unchanged (`_FIGURES`; read-only)."""
        ref = ref_of(selection)

        def draw() -> dict:  # lines a live run may extend travel as plain lists (`_extend`)
            built = safe_figure(ref, lambda: spec.build(store, ref, selection))
            return _extend.as_plain_lists(built, for_browser(built))
        return draw() if kept is None else kept_figure(store, selection, (self.page, spec.name, kept), draw)

    def summary(self, store: Store, spec: FigureSpec, selection, *values_and_rendered, page_key=None,
                visible=True) -> list:
        """One summary: [the figure when its key (variant and `depends`) or what it reads changed;
        else a Patch of its cursor and of a live run's new points (no update when neither the
        epoch nor the data moved); its caption; what is rendered now]. A lazy one not yet drawn
        for its key waits until it is on screen (`visible`)."""
        *values, rendered = values_and_rendered
        selection = self._selection(selection, values)
        ref, epoch = ref_of(selection), selection.get("epoch")
        rendered = rendered if isinstance(rendered, dict) else {}
        key = [str(ref)] + [str(selection.get(k)) for k in spec.depends]
        if not visible and rendered.get("key") != key:
            return [dash.no_update] * 3
        stamp = live.data_stamp(store, ref, getattr(spec.build, "reads", None)) if ref is not None else None
        if ref is not None and epoch is not None and rendered.get("key") == key:
            old, patch, lines = rendered.get("stamp"), None, rendered.get("lines")
            if stamp != old and old and lines and stamp[1] == old[1]:  # only the history grew
                patch, lines = _extend.appended(store, ref, lines)
            if stamp == old or patch is not None:
                if stamp == old and rendered.get("epoch") == epoch:  # (the key the browser moves cursors for)
                    return [dash.no_update, dash.no_update,
                            dash.no_update if rendered.get("page_key") == page_key else {**rendered, "page_key": page_key}]
                return [move_cursor(patch or dash.Patch(), epoch, rendered.get("cursors", 0)), dash.no_update,
                        {**rendered, "epoch": epoch, "stamp": stamp, "lines": lines, "page_key": page_key}]
        if epoch is None:
            figure = self.figure(store, spec, selection)
        else:  # drawn once per key for every user, each gets a copy with the cursors at their epoch
            figure = cursors_at(self.figure(store, spec, selection, kept=tuple(key)), epoch)
        return [figure, caption(figure), {"key": key, "cursors": cursor_count(figure), "epoch": epoch,
                                          "stamp": stamp, "lines": _extend.lines(figure), "page_key": page_key}]

    def _summary_for(self, store: Store, spec: FigureSpec, page_key, *values_selection_rendered) -> list:
        """The registered summary callback: asked when the page key (the selection but its epoch),
        a live run, a control or (a lazy one) whether it is on screen changed; nothing before the
        browser computed the key."""
        *values, selection, rendered = values_selection_rendered
        visible = values.pop() if spec.lazy else True
        if page_key is None:
            return [dash.no_update] * 3
        return self.summary(store, spec, selection, *values, rendered, page_key=page_key, visible=visible)

    def summaries(self, store: Store, selection, *values_and_rendered) -> list:
        """Every summary as `summary` sends it: figures, captions, then {name: rendered}
        (`rendered` is such a dict, or None)."""
        *values, rendered = values_and_rendered
        rendered = rendered if isinstance(rendered, dict) else {}
        out = [self.summary(store, spec, selection, *values, rendered.get(spec.name)) for spec in self.summary_specs]
        now = {s.name: (rendered.get(s.name) if o[2] is dash.no_update else o[2])
               for s, o in zip(self.summary_specs, out)}
        return [o[0] for o in out] + [o[1] for o in out] + [now]

    def detail(self, store: Store, spec: FigureSpec, selection, *values_and_shown, visible=True) -> list:
        """One detail figure: [what changed since the browser's copy (`_patches.update`), its caption
        (no update when unchanged), the prints of what the browser now shows]. Nothing while a lazy
        figure is off screen or not yet looked at (`visible` None): it is drawn once it is seen."""
        *values, shown = values_and_shown
        if not visible:
            return [dash.no_update] * 3
        selection = self._selection(selection, values)
        ref, before = ref_of(selection), shown if isinstance(shown, dict) else {}
        # What it is drawn for: a live update that moved neither leaves it (no rebuild, no prints).
        drawn_for = [json.dumps(selection, sort_keys=True, default=str),
                     live.analysis_stamp(store, ref) if ref is not None else None]
        if before.get("figure") and before.get("drawn_for") == drawn_for:
            return [dash.no_update] * 3
        figure = self.figure(store, spec, selection, kept=(drawn_for[0],))
        send, prints = _patches.update(figure, before.get("figure"))
        text = caption(figure)
        return [send, dash.no_update if send is not figure and before.get("caption") == text else text,
                {"figure": prints, "caption": text, "drawn_for": drawn_for}]

    def details(self, store: Store, selection, *values_and_shown) -> list:
        """Every detail figure as `detail` sends it: figures, captions, then {name: prints}
        (`shown` is such a dict, or None)."""
        *values, shown = values_and_shown
        shown = shown if isinstance(shown, dict) else {}
        out = [self.detail(store, spec, selection, *values, shown.get(spec.name)) for spec in self.detail_specs]
        return [o[0] for o in out] + [o[1] for o in out] + [{s.name: o[2] for s, o in zip(self.detail_specs, out)}]

    def register(self, app: dash.Dash, store: Store) -> None:
        """One callback per figure: each answers as soon as its figure is built, so the browser draws
        the first while the server builds the next. Each also listens to the shell's `live` store
        (what changed is read from disk, not from it)."""
        control_inputs = [Input(cid, prop) for cid, prop in self.controls.values()]
        if self.summary_specs:  # an epoch step moves summary cursors in the browser (assets/cursor.js)
            register_page_key(app, page_key_id(self.page))
        for spec in self.summary_specs:
            name = self._name(spec)
            app.callback(Output(graph_id(name, spec.selects), "figure"), Output(caption_id(name), "children"),
                         Output(rendered_id(name), "data"), Input(page_key_id(self.page), "data"), Input("live", "data"),
                         *control_inputs, *([Input(visible_id(name), "data")] if spec.lazy else []),
                         State("selection", "data"), State(rendered_id(name), "data"),
                         )(lambda page_key, _live, *rest, spec=spec: self._summary_for(store, spec, page_key, *rest))
            register_cursor(app, graph_id(name, spec.selects), rendered_id(name))
        for spec in self.detail_specs:
            name = self._name(spec)
            outputs = [Output(graph_id(name, spec.selects), "figure"), Output(caption_id(name), "children"),
                       Output(shown_id(name), "data")]
            if spec.lazy:
                app.callback(*outputs, Input("selection", "data"), Input("live", "data"), *control_inputs,
                             Input(visible_id(name), "data"), State(shown_id(name), "data"))(
                    lambda selection, _live, *rest, spec=spec: self.detail(store, spec, selection, *rest[:-2], rest[-1],
                                                                           visible=rest[-2]))
            else:
                app.callback(*outputs, Input("selection", "data"), Input("live", "data"), *control_inputs,
                             State(shown_id(name), "data"),
                             )(lambda selection, _live, *rest, spec=spec: self.detail(store, spec, selection, *rest))


# Figures as sent to the browser, per (data root, page, figure, what it shows), while the files of
# the variants it shows are unchanged: users stepping through the same run draw each summary once
# per variant and each epoch's detail figure once (at p = 113 a detail figure is 0.1-0.5 s of
# plotly and up to 2 MB, so 64 of them bound the memory).
_FIGURES = StampedMemo(64)


def _files_stamp(store: Store, ref: VariantRef | None, selection: dict) -> tuple | None:
    """The stamp of the files the figures for `selection` are drawn from (the variant and those
    compared with it, and the rows of a run while it trains: `live.stamp`); None: not kept (no
    variant, or one that does not exist)."""
    if ref is None:
        return None
    try:
        compared = [VariantRef.parse(v) for v in selection.get("compare") or [] if isinstance(v, str) and "/" in v]
        return tuple((store.variant_stamp(r), live.stamp(store, r)) for r in [ref, *compared])
    except (UserError, OSError):
        return None


def kept_figure(store: Store, selection: dict, key: tuple, draw: Callable[[], dict]) -> dict:
    """`draw()` (a figure as sent to the browser; read-only), drawn once per `key` (what it shows:
    page, figure, selection) for every user while the files of the variants `selection` names are
    unchanged (`_FIGURES`); drawn every time when those are unknown."""
    stamp = _files_stamp(store, ref_of(selection), selection)
    return draw() if stamp is None else _FIGURES.get((str(store.root), *key), stamp, draw)


def cursors_at(figure: dict, epoch: int, offsets=()) -> dict:
    """A copy of a kept figure with its cursors at `epoch` (each minus its offset, `move_cursor`;
    only what the cursors change is copied)."""
    n = cursor_count(figure)
    if not n:
        return figure
    layout = {**figure["layout"], "shapes": [dict(shape) for shape in figure["layout"]["shapes"]]}
    return move_cursor({**figure, "layout": layout}, epoch, n, offsets)
