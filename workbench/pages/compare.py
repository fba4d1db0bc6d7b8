"""Compare: how do the prime, the seeds and the recipe change training? The selected variant and
the ones chosen under "compare with" in the sidebar (2–6 in all, in the URL as compare=a/b,c/d):
metrics overlaid on shared axes (raw epochs, or aligned on each run's grokking onset), one
figure side by side per variant, parameter paths in one PCA frame, and a table of differences.
Every figure shares the epoch cursor (side by side can instead put each variant's cursor at the
same point relative to its grokking onset); clicking any of them sets the epoch."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, dcc, html

from workbench import compare
from workbench.errors import UserError
from workbench.figures import load, message_figure, safe_figure
from workbench.pages import _patches
from workbench.pages._common import caption, caption_id, card, catalog_figure, cursor_count, for_browser, graph_id
from workbench.pages._differences import differences
from workbench.phases import ONSET_RULE
from workbench.renderers import CATALOG
from workbench.renderers.compare import metric_overlay, shared_trajectory_paths
from workbench.renderers.cursor import move_cursor
from workbench.selection import MAX_COMPARED, compared
from workbench.store import VariantRef
from workbench.vocabulary import PARAMETER_GROUPS

PATH, NAME = "/compare", "Compare"

OVERLAYS = list(compare.OVERLAY_METRICS)
SIDE_BY_SIDE = ["loss_curves", "accuracy_curves", "embedding_fourier_over_epochs", "cluster_sizes",
                "trajectory_projections", "participation_ratio", "progress_losses", "gini", "trajectory_velocity",
                "logit_map_fourier_over_epochs", "head_specialization", "llc_over_epochs",
                "essential_dynamics"]  # figures whose clicks pick an epoch
FREQUENCY_AXIS = {"embedding_fourier_over_epochs", "logit_map_fourier_over_epochs", "cluster_sizes"}
SLOTS = range(MAX_COMPARED)


def layout(store, config, **_variables):
    align = dbc.RadioItems(id="compare-align", inline=True, value="epoch", options=[
        {"label": "raw epoch", "value": "epoch"}, {"label": "epochs since grokking onset", "value": "onset"}])
    cursors = dbc.RadioItems(id="compare-side-cursor", inline=True, value="shared", options=[
        {"label": "one shared epoch", "value": "shared"},
        {"label": "per variant: the same point relative to its grokking onset", "value": "onset"}])
    kind = dcc.Dropdown(id="compare-side-kind", value="loss_curves", clearable=False, style={"minWidth": "22rem"},
                        options=[{"label": f"{name}: {CATALOG[name].description}", "value": name}
                                 for name in SIDE_BY_SIDE])
    group = dbc.RadioItems(id="compare-group", inline=True, value="all",
                           options=[{"label": g, "value": g} for g in PARAMETER_GROUPS]
                           + [{"label": "outputs (essential dynamics)", "value": compare.OUTPUTS}])
    slots = [html.Div(id={"type": "compare-slot", "index": i}, className="d-none", children=[
        card(f"compare-side-{i}", "the chosen figure for this variant", config, width=12)]) for i in SLOTS]
    return html.Div([
        html.P("The selected variant and those chosen under “compare with” in the sidebar (or ticked in the "
               "Variants table). Click any figure to move the shared epoch.", className="text-muted"),
        html.Div(id="compare-note", className="small text-primary mb-2"),
        html.H5("Overlays"),
        html.Div(className="d-flex gap-2 align-items-center mb-2", children=[
            dbc.Label("align by", className="mb-0"), align,
            html.Span(ONSET_RULE, className="small text-muted")]),
        dbc.Row([card(f"compare-{name}", compare.OVERLAY_METRICS[name].title, config) for name in OVERLAYS]),
        html.H5("Side by side"),
        html.Div(className="mb-2", children=kind),
        html.Div(className="d-flex gap-2 align-items-center mb-2", children=[
            dbc.Label("cursors", className="mb-0"), cursors]),
        dbc.Row(slots),
        html.H5("Trajectories in one frame"),
        html.Div(className="d-flex gap-2 align-items-center mb-2", children=[
            dbc.Label("parameters or outputs", className="mb-0"), group]),
        dbc.Row([card("compare-trajectory", "Parameter or output paths in one PCA frame", config, width=12)]),
        html.H5("Differences"),
        html.Div(id="compare-differences"),
        dcc.Store(id="compare-overlays-rendered"), dcc.Store(id="compare-side-rendered"),
        dcc.Store(id="compare-details"), dcc.Store(id="compare-differences-shown")])


def render_overlays(store, selection, align, rendered):
    """Every overlay: rebuilt when the variants or the alignment change, else its cursors move."""
    variants, epoch = compared(selection), (selection or {}).get("epoch")
    key = [variants, align]
    if rendered and rendered.get("key") == key and epoch is not None:
        return ([move_cursor(dash.Patch(), epoch, len(rendered["offsets"][name]), rendered["offsets"][name])
                 for name in OVERLAYS] + [dash.no_update] * (len(OVERLAYS) + 1))
    onsets = compare.grokking_onsets(store, variants)
    figures = []
    for name in OVERLAYS:
        data = compare.overlay_data(name, variants, lambda v, reads: load(store, VariantRef.parse(v), reads, {}),
                                    onsets)
        if not data["variants"]:
            hint = f"run  workbench analyze {' '.join(variants)}" if variants else "pick variants in the sidebar"
            figures.append(message_figure(f"Nothing to overlay yet: {hint}"))
        else:
            figures.append(metric_overlay(data, epoch, metric=name, align=align))
    offsets = {name: (f.layout.meta or {}).get("cursor_offsets", []) for name, f in zip(OVERLAYS, figures)}
    return figures + [caption(f) for f in figures] + [{"key": key, "offsets": offsets}]


def _side_figure(store, variant, kind, selection, primes, shift=0):
    """`kind` for one variant with its cursor at the selected epoch + `shift` (its onset offset
    in per-variant mode); its click ids are shifted back, so a click picks the equivalent
    epoch of the selected variant."""
    ref = VariantRef.parse(variant)
    own = {**selection, "variant": variant, "epoch": (selection.get("epoch") or 0) + shift}
    figure = safe_figure(ref, lambda: catalog_figure(kind)(store, ref, own))
    if (figure.layout.meta or {}).get("missing"):
        return for_browser(figure)
    if shift:
        for trace in figure.data:
            if trace.customdata is not None and getattr(trace.customdata, "ndim", 2) == 1:
                trace.customdata = np.asarray(trace.customdata) - shift
    title = figure.layout.title.text or ""
    figure.update_layout(title_text=f"{ref.id} (p = {primes[variant]}): {title}")
    if kind in FREQUENCY_AXIS and len(set(primes.values())) > 1:
        figure.add_annotation(text=f"different primes: k = 1…{(primes[variant] - 1) // 2} here is k/{primes[variant]} "
                                   "of a turn; the same k is another frequency at another p",
                              xref="paper", yref="paper", x=0, y=1.0, yanchor="bottom", showarrow=False,
                              font=dict(size=11, color="#b02a37"))
    if shift:
        figure.update_layout(title_text=f"{figure.layout.title.text} · cursor {shift:+d} epochs (onset offset)")
    return for_browser(figure)


def render_side_by_side(store, selection, kind, cursor_mode, rendered):
    """The chosen catalog figure for each variant in its own column: one shared epoch cursor, or
    per-variant cursors at the same point relative to each variant's grokking onset. A summary
    only moves its cursor on an epoch step; a figure of one epoch is sent as what changed."""
    selection = selection or {}
    variants, epoch = compared(selection), selection.get("epoch")
    key = [variants, kind, cursor_mode]
    n = len(variants)
    same = isinstance(rendered, dict) and rendered.get("key") == key and epoch is not None
    if same and CATALOG[kind].kind == "summary":
        counts, shifts = rendered["cursors"], rendered["shifts"]
        figures = [move_cursor(dash.Patch(), epoch + shifts[i], counts[i]) if i < n else dash.no_update for i in SLOTS]
        return figures + [dash.no_update] * (2 * len(SLOTS)) + [dash.no_update]
    primes = {v: compare.prime(store, v) for v in variants}
    shifts = (compare.onset_offsets(compare.grokking_onsets(store, variants), variants) if cursor_mode == "onset"
              else [0] * n)
    figures = [_side_figure(store, variants[i], kind, selection, primes, shifts[i]) if i < n
               else for_browser(message_figure("")) for i in SLOTS]
    before = rendered.get("prints") if same else None
    sent, prints = zip(*(_patches.update(f, before[i] if before else None) for i, f in enumerate(figures)))
    captions = [caption(f) for f in figures]
    width = 12 if n == 1 else 6 if n == 2 else 4                     # three per row at most
    classes = [f"col-12 col-lg-{width}" if i < n else "d-none" for i in SLOTS]
    counts = [cursor_count(f) for f in figures]
    return list(sent) + captions + classes + [{"key": key, "cursors": counts, "shifts": shifts,
                                               "prints": list(prints)}]


def render_trajectory(store, selection, group, shown):
    """All compared paths projected into one PCA basis fitted on all their checkpoints; sent as
    what changed since the browser's copy (on an epoch step, the marker of the epoch)."""
    variants = compared(selection)
    if not variants:
        figure = message_figure("No variant yet: run `workbench demo`")
    else:
        try:
            data = compare.shared_trajectory(store, [VariantRef.parse(v) for v in variants], group)
            figure = shared_trajectory_paths(data, (selection or {}).get("epoch"),
                                             labels=compare.short_labels(variants))
        except UserError as err:
            figure = message_figure(str(err))
    figure = for_browser(figure)
    before = shown if isinstance(shown, dict) else {}
    sent, prints = _patches.update(figure, before.get("figure"))
    text = caption(figure)
    return sent, (dash.no_update if sent is not figure and before.get("caption") == text else text), \
        {"figure": prints, "caption": text}


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
    app.callback([Output(graph_id(f"compare-{name}"), "figure") for name in OVERLAYS]
                 + [Output(caption_id(f"compare-{name}"), "children") for name in OVERLAYS]
                 + [Output("compare-overlays-rendered", "data")],
                 Input("selection", "data"), Input("compare-align", "value"),
                 State("compare-overlays-rendered", "data"))(lambda *args: render_overlays(store, *args))
    app.callback([Output(graph_id(f"compare-side-{i}"), "figure") for i in SLOTS]
                 + [Output(caption_id(f"compare-side-{i}"), "children") for i in SLOTS]
                 + [Output({"type": "compare-slot", "index": i}, "className") for i in SLOTS]
                 + [Output("compare-side-rendered", "data")],
                 Input("selection", "data"), Input("compare-side-kind", "value"), Input("compare-side-cursor", "value"),
                 State("compare-side-rendered", "data"))(lambda *args: render_side_by_side(store, *args))
    app.callback(Output(graph_id("compare-trajectory"), "figure"), Output(caption_id("compare-trajectory"), "children"),
                 Output("compare-details", "data"), Input("selection", "data"), Input("compare-group", "value"),
                 State("compare-details", "data"))(lambda *args: render_trajectory(store, *args))
    app.callback(Output("compare-differences", "children"), Output("compare-note", "children"),
                 Output("compare-differences-shown", "data"), Input("selection", "data"),
                 State("compare-differences-shown", "data"))(lambda *args: render_differences(store, *args))
