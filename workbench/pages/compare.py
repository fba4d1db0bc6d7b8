"""Compare: how do the prime, the seeds and the recipe change training? The selected variant and
the ones chosen under "compare with" in the sidebar (2–6 in all, in the URL as compare=a/b,c/d):
metrics overlaid on shared axes (raw epochs, or aligned on each run's grokking onset), one
figure side by side per variant, parameter paths in one PCA frame, and a table of differences.
Every figure shares the epoch cursor (side by side can instead put each variant's cursor at the
same point relative to its grokking onset); clicking any of them sets the epoch."""
from __future__ import annotations

import json

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import ALL, Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from workbench import compare
from workbench.analyzers import OPTIONAL
from workbench.errors import UserError
from workbench.figures import load, message_figure, safe_figure
from workbench.pages._common import (caption, caption_id, card, catalog_figure, cursor_count, cursors_at, for_browser,
                                     graph_config, graph_id, kept_figure, page_key_id, register_cursor,
                                     register_page_key, rendered_id, visible_id)
from workbench.pages._differences import differences
from workbench.phases import ONSET_RULE
from workbench.renderers import CATALOG
from workbench.renderers.compare import OVERLAY_HEIGHT, TRAJECTORY_HEIGHT, metric_overlay, shared_trajectory_paths
from workbench.renderers.cursor import move_rings
from workbench.selection import MAX_COMPARED, compared, parse_query, to_query
from workbench.store import VariantRef
from workbench.vocabulary import PARAMETER_GROUPS

PATH, NAME = "/compare", "Compare"

OVERLAYS = list(compare.OVERLAY_METRICS)
# Every catalog figure of a variant (what traces one input needs an input: not offered); each
# slot's graph selects what its figure declares (`Renderer.click`).
SIDE_BY_SIDE = [name for name, entry in CATALOG.items() if entry.reads != "derived.input_trace"]
FREQUENCY_AXIS = {"embedding_fourier_over_epochs", "logit_map_fourier_over_epochs", "unembedding_fourier_over_epochs",
                  "embedding_fourier_norms", "unembedding_fourier_norms", "logit_map_fourier_norms",
                  "neuron_clusters", "head_fve", "cluster_sizes"}
SLOTS = range(MAX_COMPARED)
DEFAULTS = {"align": "epoch", "cursors": "shared", "side": "loss_curves"}  # the modes when the URL names none
CHOICES = {"align": ("epoch", "onset"), "cursors": ("shared", "onset"), "side": tuple(SIDE_BY_SIDE)}
MODE_CONTROLS = {"align": "compare-align", "cursors": "compare-side-cursor", "side": "compare-side-kind"}
# Every figure's epoch marks move in the browser (assets/cursor.js), as the store beside it says
# (`rendered_id`); the server draws a figure again only for a new page key: the selection without
# its epoch (`SIDE_KEY`: with it too while side by side shows a figure at the epoch).
PAGE, SIDE_KEY = "compare", "compare-side-key"
RENDERED = [f"compare-{name}" for name in OVERLAYS] + [f"compare-side-{i}" for i in SLOTS] + ["compare-trajectory"]
# Every figure is drawn once it is on screen (assets/lazy.js; the first rows at once): side by
# side as one section (its unused slots are hidden).
LAZY = [f"compare-{name}" for name in OVERLAYS] + ["compare-side", "compare-trajectory"]


def side_options(store, variants: list[str]) -> list[dict]:
    """The figures side by side can show, by what they show; an optional analysis (LLC) only
    when one of the variants has it."""
    def computed(reads: str) -> bool:
        for variant in variants:
            try:
                store.cached_series(VariantRef.parse(variant), reads)
                return True
            except UserError:
                continue
        return False
    return [{"label": CATALOG[name].description, "value": name} for name in SIDE_BY_SIDE
            if CATALOG[name].reads not in OPTIONAL or computed(CATALOG[name].reads)]


def layout(store, config, **_variables):
    align = dbc.RadioItems(id="compare-align", inline=True, value="epoch", options=[
        {"label": "raw epoch", "value": "epoch"}, {"label": "epochs since grokking onset", "value": "onset"}])
    cursors = dbc.RadioItems(id="compare-side-cursor", inline=True, value="shared", options=[
        {"label": "one shared epoch", "value": "shared"},
        {"label": "per variant: the same point relative to its grokking onset", "value": "onset"}])
    kind = dcc.Dropdown(id="compare-side-kind", value=DEFAULTS["side"], clearable=False, style={"minWidth": "22rem"},
                        options=side_options(store, []))
    group = dbc.RadioItems(id="compare-group", inline=True, value="all",
                           options=[{"label": g, "value": g} for g in PARAMETER_GROUPS]
                           + [{"label": "outputs (essential dynamics)", "value": compare.OUTPUTS}])
    slots = [html.Div(id={"type": "compare-slot", "index": i}, className="d-none" if i else "col-12",
                      children=None if i else side_card(i, config, CATALOG[DEFAULTS["side"]].click)) for i in SLOTS]
    return html.Div([
        html.P("The selected variant and those chosen under “compare with” in the sidebar (or ticked in the "
               "Variants table). Click any figure to move the shared epoch.", className="text-muted"),
        html.Div(id="compare-note", className="small text-primary mb-2"),
        html.H5("Overlays"),
        html.Div(className="d-flex gap-2 align-items-center mb-2", children=[
            dbc.Label("align by", className="mb-0"), align,
            html.Span(ONSET_RULE, className="small text-muted")]),
        dbc.Row([card(f"compare-{name}", compare.OVERLAY_METRICS[name].title, config, height=OVERLAY_HEIGHT,
                      lazy=True) for name in OVERLAYS]),
        html.Div(**{"data-wb-lazy": "compare-side"}, children=[
            html.H5("Side by side"),
            html.Div(className="mb-2", children=kind),
            html.Div(className="d-flex gap-2 align-items-center mb-2", children=[
                dbc.Label("cursors", className="mb-0"), cursors]),
            dbc.Row(slots)]),
        html.H5("Trajectories in one frame"),
        html.Div(className="d-flex gap-2 align-items-center mb-2", children=[
            dbc.Label("parameters or outputs", className="mb-0"), group]),
        dbc.Row([card("compare-trajectory", "Parameter or output paths in one PCA frame", config,
                      height=TRAJECTORY_HEIGHT, width=12, lazy=True)]),
        html.H5("Differences"),
        html.Div(id="compare-differences"),
        dcc.Store(id=page_key_id(PAGE)), dcc.Store(id=SIDE_KEY), dcc.Store(id="compare-side-rendered"),
        *[dcc.Store(id=rendered_id(name)) for name in RENDERED], dcc.Store(id="compare-differences-shown"),
        *[dcc.Store(id=visible_id(name)) for name in LAZY]])


def render_overlays(store, selection, rendered, visible=None, page_key=None):
    """Every overlay on screen (`visible`, per overlay; None: all): drawn when the variants or the
    alignment change (once per such key for every user, `kept_figure`), else nothing is sent: the
    browser moves the cursors (each by its run's onset offset, aligned). One off screen waits until
    it is seen. `rendered`: the overlays' stores, as `rendered_id` holds them."""
    variants, epoch, align = compared(selection), (selection or {}).get("epoch"), mode(selection, "align")
    key = [variants, align]
    rendered = [r if isinstance(r, dict) else {} for r in (rendered or [None] * len(OVERLAYS))]
    drawn = [r.get("key") == key or not shown for r, shown in zip(rendered, visible or [True] * len(OVERLAYS))]
    onsets = None if all(drawn) else compare.grokking_onsets(store, variants)

    def draw(name):
        data = compare.overlay_data(name, variants, lambda v, reads: load(store, VariantRef.parse(v), reads, {}),
                                    onsets)
        if not data["variants"]:
            return for_browser(message_figure(nothing_to_overlay(name, variants)))
        return for_browser(metric_overlay(data, epoch, metric=name, align=align))
    figures, captions, stores = [], [], []
    for name, r, done in zip(OVERLAYS, rendered, drawn):
        if done:  # up to date (its page key noted for the browser's cursors), or off screen
            update = r.get("key") == key and r.get("page_key") != page_key
            figures.append(dash.no_update), captions.append(dash.no_update)
            stores.append({**r, "page_key": page_key} if update else dash.no_update)
            continue
        figure = kept_figure(store, selection or {}, (PAGE, name, json.dumps(key)), lambda name=name: draw(name))
        offsets = (figure["layout"].get("meta") or {}).get("cursor_offsets", [])
        figures.append(figure if epoch is None else cursors_at(figure, epoch, offsets))
        captions.append(caption(figure))
        stores.append({"key": key, "cursors": cursor_count(figure), "offsets": offsets, "page_key": page_key})
    return figures + captions + stores


def nothing_to_overlay(metric: str, variants: list[str]) -> str:
    """What an empty overlay says: the command that computes its data (with `--analyzers` for an
    optional analysis), one line per part so that it fits a half-width card."""
    if not variants:
        return "Nothing to overlay yet: pick variants in the sidebar"
    optional = sorted({reads for _, reads, _ in compare.OVERLAY_METRICS[metric].lines if reads in OPTIONAL})
    flag = f" --analyzers {','.join(optional)}" if optional else ""
    labels = compare.short_labels(variants)  # the ids alone when the variants share a family
    if labels[0] != variants[0]:
        family = variants[0].split("/", 1)[0]
        return (f"Nothing to overlay yet{' (an optional analysis)' if optional else ''}: run<br>"
                f"workbench analyze {family}/ID{flag}<br>for ID = {', '.join(labels)}")
    return "Nothing to overlay yet: run<br>" + "<br>".join(f"workbench analyze {v}{flag}" for v in variants)


def side_card(i: int, config: dict, click: str | None, figure=None, text: str = "") -> dbc.Col:
    """Slot i of side by side: a card whose graph selects what its figure declares."""
    column = card(f"compare-side-{i}", "the chosen figure for this variant", config, click, width=12)
    if figure is not None:
        column.children[0].children.figure = figure
        column.children[1].children = text
    return column


def _side_figure(store, variant, kind, selection, primes, shift=0, side_key=None):
    """`kind` for one variant with its cursor at the selected epoch + `shift` (its onset offset
    in per-variant mode); its click ids are shifted back, so a click picks the equivalent
    epoch of the selected variant. Its own `uirevision`: switching the figure resets the axes.
    Drawn once per side key (what it shows) for every user (`kept_figure`)."""
    def draw():
        return _draw_side_figure(store, variant, kind, selection, primes, shift)
    epoch = selection.get("epoch")
    if side_key is None or epoch is None:
        return draw()
    figure = kept_figure(store, selection, (PAGE, "side", variant, side_key, shift), draw)
    return figure if CATALOG[kind].kind != "summary" else cursors_at(figure, epoch, [-shift] * cursor_count(figure))


def _draw_side_figure(store, variant, kind, selection, primes, shift=0):
    ref = VariantRef.parse(variant)
    own = {**selection, "variant": variant, "epoch": (selection.get("epoch") or 0) + shift}
    figure = safe_figure(ref, lambda: catalog_figure(kind)(store, ref, own))
    if (figure.layout.meta or {}).get("missing"):
        return for_browser(figure)
    if shift and CATALOG[kind].click == "epoch":
        for trace in figure.data:
            if trace.customdata is not None and getattr(trace.customdata, "ndim", 2) == 1:
                trace.customdata = np.asarray(trace.customdata) - shift
    title = figure.layout.title.text or ""
    figure.update_layout(title_text=f"{ref.id} (p = {primes[variant]}): {title}", uirevision=f"{variant}:{kind}")
    if kind in FREQUENCY_AXIS and len(set(primes.values())) > 1:
        figure.add_annotation(text=f"different primes: k = 1…{(primes[variant] - 1) // 2} here is k/{primes[variant]} "
                                   "of a turn; the same k is another frequency at another p",
                              xref="paper", yref="paper", x=0, y=1.0, yanchor="bottom", showarrow=False,
                              font=dict(size=11, color="#b02a37"))
    if shift:
        figure.update_layout(title_text=f"{figure.layout.title.text} · cursor {shift:+d} epochs (onset offset)")
    return for_browser(figure)


def mode(selection, key: str) -> str:
    """The Compare mode `key` ("align", "cursors", "side") the selection (the URL) names, else the default."""
    value = (selection or {}).get(key)
    return value if value in CHOICES[key] else DEFAULTS[key]


def page_key_of(side_key: str | None) -> str | None:
    """The page key in a side-by-side key (which ends "@<epoch>" while the figure follows the epoch;
    a page key, JSON, ends in "]")."""
    return side_key[:side_key.rindex("]") + 1] if isinstance(side_key, str) and "]" in side_key else side_key


def render_side_by_side(store, selection, download_format, rendered, visible=True, side_key=None):
    """The chosen catalog figure for each variant in its own column: one shared epoch cursor, or
    per-variant cursors at the same point relative to each variant's grokking onset. A new
    figure kind or new variants redraw the slots (each graph's id carries its figure's click), as
    does a new epoch for a figure at the epoch (`per_epoch`: the side key then holds the epoch); a
    summary's cursors move in the browser. Nothing while the section is off screen (`visible`):
    it catches up once seen. Returns the slots' cards and classes, what is drawn ({key,
    per_epoch, side_key}) and each slot's store for the browser's cursors (`rendered_id`)."""
    if not visible:
        raise PreventUpdate
    selection = selection or {}
    variants, epoch = compared(selection), selection.get("epoch")
    kind, cursor_mode = mode(selection, "side"), mode(selection, "cursors")
    key, page_key = [variants, kind, cursor_mode], page_key_of(side_key)
    per_epoch = CATALOG[kind].kind != "summary"
    n = len(variants)
    rendered = rendered if isinstance(rendered, dict) else {}
    if rendered.get("key") == key and epoch is not None and (not per_epoch or rendered.get("side_key") == side_key):
        slots = rendered.get("slots") or [{} for _ in SLOTS]
        return [dash.no_update] * (2 * len(SLOTS) + 1) + [
            dash.no_update if slot.get("page_key") == page_key else {**slot, "page_key": page_key} for slot in slots]
    primes = {v: compare.prime(store, v) for v in variants}
    shifts = (compare.onset_offsets(compare.grokking_onsets(store, variants), variants) if cursor_mode == "onset"
              else [0] * n)
    figures = [_side_figure(store, variants[i], kind, selection, primes, shifts[i], side_key) for i in range(n)]
    config = graph_config(download_format)
    cards = [side_card(i, config, CATALOG[kind].click, figures[i], caption(figures[i])) if i < n else None
             for i in SLOTS]  # an unused slot holds no graph
    width = 12 if n == 1 else 6 if n == 2 else 4                     # three per row at most
    classes = [f"col-12 col-lg-{width}" if i < n else "d-none" for i in SLOTS]
    counts = [0 if per_epoch or i >= n else cursor_count(figures[i]) for i in SLOTS]
    slots = [{"cursors": counts[i], "offsets": [-shifts[i]] * counts[i] if i < n else [], "page_key": page_key}
             for i in SLOTS]
    return cards + classes + [{"key": key, "per_epoch": per_epoch, "side_key": side_key, "slots": slots}] + slots


def sync_modes(store, selection, align, cursors, side, options=None):
    """The URL names the Compare modes: the controls follow it (a copied link reopens them), and
    the side-by-side list offers what these variants have (sent only when that changed: new
    options make the list set its value again, which asks the server to write the URL)."""
    values = [mode(selection, key) for key in MODE_CONTROLS]
    current, offered = [align, cursors, side], side_options(store, compared(selection))
    return [v if v != c else dash.no_update for v, c in zip(values, current)] + [
        offered if offered != options else dash.no_update]


def modes_to_url(align, cursors, side, search):
    """A changed control writes its mode into the URL (defaults are left out)."""
    state = parse_query(search)
    for key, value in zip(MODE_CONTROLS, (align, cursors, side)):
        state[key] = value if value in CHOICES[key] and value != DEFAULTS[key] else None
    query = to_query(state)
    return query if query != (search or "") else dash.no_update


def render_trajectory(store, selection, group, rendered, visible=True, page_key=None):
    """All compared paths projected into one PCA basis fitted on all their checkpoints: drawn for
    new variants or a new group (once per such key for every user, `kept_figure`, its rings then
    moved to this epoch); an epoch step moves the rings in the browser (their positions for every
    checkpoint are in the store beside it, `rendered_id`). Nothing while off screen (`visible`)."""
    if not visible:
        raise PreventUpdate
    variants = compared(selection)
    key = [variants, group]
    rendered = rendered if isinstance(rendered, dict) else {}
    if rendered.get("key") == key and (selection or {}).get("epoch") is not None:
        return dash.no_update, dash.no_update, (
            dash.no_update if rendered.get("page_key") == page_key else {**rendered, "page_key": page_key})
    epoch = (selection or {}).get("epoch")

    def draw() -> dict:
        if not variants:
            return for_browser(message_figure("No variant yet: run `workbench demo`"))
        try:
            data = compare.shared_trajectory(store, [VariantRef.parse(v) for v in variants], group)
            return for_browser(shared_trajectory_paths(data, epoch, labels=compare.short_labels(variants)))
        except UserError as err:
            return for_browser(message_figure(str(err)))
    figure = kept_figure(store, selection or {}, (PAGE, "trajectory", json.dumps(key)), draw)
    # The rings' places travel in the store beside the figure, not twice.
    meta = dict(figure["layout"].get("meta") or {})
    rings = meta.pop("rings", [])
    figure = {**figure, "layout": {**figure["layout"], "meta": meta}}
    if epoch is not None and rings:  # drawn for another epoch (another user's): its rings at this one
        figure = move_rings(figure, rings, epoch, meta.get("epoch_title"))
    return figure, caption(figure), {"key": key, "rings": rings, "title": meta.get("epoch_title"),
                                     "page_key": page_key}


def render_differences(store, selection, shown):
    """The table of differences and the note, sent again only when the compared variants change."""
    variants = compared(selection)
    if shown == variants:
        return dash.no_update, dash.no_update, dash.no_update
    note = "" if len(variants) >= 2 else (f"Pick 1 to {MAX_COMPARED - 1} variants under “compare with” in the "
                                          "sidebar (or tick rows in the Variants table and press compare) to see "
                                          "them side by side.")
    return differences(store, variants), note, variants


def register(app, store) -> None:
    key = page_key_id(PAGE)
    register_page_key(app, key)
    register_page_key(app, SIDE_KEY, "compare-side-rendered")
    for name in RENDERED:
        slot = name.startswith("compare-side-")
        register_cursor(app, {"type": "wb-graph", "click": ALL, "name": name} if slot else graph_id(name),
                        rendered_id(name))

    def on_key(render):
        """A callback asked when its key changed: `render(selection, *states, key)` (the selection is
        its last state); nothing before the browser computed the key."""
        def answer(key_value, *rest):
            if key_value is None:
                raise PreventUpdate
            *states, selection = rest
            return render(selection, *states, key_value)
        return answer
    app.callback([Output(graph_id(f"compare-{name}"), "figure") for name in OVERLAYS]
                 + [Output(caption_id(f"compare-{name}"), "children") for name in OVERLAYS]
                 + [Output(rendered_id(f"compare-{name}"), "data") for name in OVERLAYS],
                 Input(key, "data"), *[Input(visible_id(f"compare-{name}"), "data") for name in OVERLAYS],
                 *[State(rendered_id(f"compare-{name}"), "data") for name in OVERLAYS], State("selection", "data"))(
        on_key(lambda selection, *rest: render_overlays(store, selection, list(rest[len(OVERLAYS):-1]),
                                                        list(rest[:len(OVERLAYS)]), rest[-1])))
    app.callback([Output({"type": "compare-slot", "index": i}, "children") for i in SLOTS]
                 + [Output({"type": "compare-slot", "index": i}, "className") for i in SLOTS]
                 + [Output("compare-side-rendered", "data")]
                 + [Output(rendered_id(f"compare-side-{i}"), "data") for i in SLOTS],
                 Input(SIDE_KEY, "data"), Input(visible_id("compare-side"), "data"), State("download-format", "value"),
                 State("compare-side-rendered", "data"), State("selection", "data"))(
        on_key(lambda selection, visible, download_format, rendered, side_key: render_side_by_side(
            store, selection, download_format, rendered, visible, side_key)))
    app.callback([Output(control, "value") for control in MODE_CONTROLS.values()]
                 + [Output("compare-side-kind", "options")],
                 Input(key, "data"), *[State(control, "value") for control in MODE_CONTROLS.values()],
                 State("compare-side-kind", "options"), State("selection", "data"))(
        on_key(lambda selection, *rest: sync_modes(store, selection, *rest[:-1])))
    app.callback(Output("url", "search", allow_duplicate=True),
                 *[Input(control, "value") for control in MODE_CONTROLS.values()], State("url", "search"),
                 prevent_initial_call=True)(modes_to_url)
    app.callback(Output(graph_id("compare-trajectory"), "figure"), Output(caption_id("compare-trajectory"), "children"),
                 Output(rendered_id("compare-trajectory"), "data"), Input(key, "data"), Input("compare-group", "value"),
                 Input(visible_id("compare-trajectory"), "data"), State(rendered_id("compare-trajectory"), "data"),
                 State("selection", "data"))(
        on_key(lambda selection, group, visible, rendered, page_key: render_trajectory(
            store, selection, group, rendered, visible, page_key)))
    app.callback(Output("compare-differences", "children"), Output("compare-note", "children"),
                 Output("compare-differences-shown", "data"), Input(key, "data"),
                 State("compare-differences-shown", "data"), State("selection", "data"))(
        on_key(lambda selection, shown, _page_key: render_differences(store, selection, shown)))
