"""Which run is this? The run's name on every page: a header above the page (family / id, p,
model and data seeds, status, checkpoints, and its phases with their epochs, the key to the
shading on every summary figure), the selection's notices (an unknown variant, an out-of-range
neuron) and the browser tab's title, "page · family/id"."""
from __future__ import annotations

from dash import Input, Output, State, dcc, html

from workbench.analyzers.dynamics import run_phases
from workbench.errors import UserError
from workbench.pages._common import ref_of
from workbench.renderers.phases import PHASE_COLORS
from workbench.store import Store, VariantRef

APP_NAME = "workbench"


def run_facts(store: Store, ref: VariantRef) -> list[str]:
    """The facts that tell this run from its siblings: p, seeds, status, checkpoints."""
    info = store.info(ref)
    domain = info.get("spec", {}).get("domain", {})
    epochs = store.checkpoint_epochs(ref)
    facts = [f"p = {domain['p']}" if domain.get("p") else None,
             f"seed {domain['seed']}" if domain.get("seed") is not None else None,
             f"data seed {domain['data_seed']}" if domain.get("data_seed") is not None else None,
             store.status(ref),
             f"{len(epochs):,} checkpoints to epoch {epochs[-1]:,}" if epochs else
             ("imported log" if store.is_log(ref) else "no checkpoints")]
    return [fact for fact in facts if fact]


def phase_key(store: Store, ref: VariantRef) -> list:
    """The run's phases as coloured chips with their epochs ("memorization 0–120"): the legend
    of the shading every summary figure draws; nothing until the run is analyzed."""
    try:
        phases = run_phases(store, ref)
    except UserError:
        return []
    if phases is None:
        return []
    return [html.Span(f"{name} {start:,.0f}–{end:,.0f}", className="wb-phase",
                      style={"borderColor": PHASE_COLORS[name], "color": PHASE_COLORS[name]})
            for name, start, end in phases.intervals()]


def header(store: Store, selection) -> list:
    """The run header's children for the selection."""
    ref = ref_of(selection)
    if ref is None:
        return [html.Span("no run selected", className="text-muted")]
    try:
        facts = run_facts(store, ref)
    except UserError as err:
        return [html.Strong(str(ref)), html.Span(f" · {err}", className="text-danger")]
    return [html.Strong(f"{ref.family} / {ref.id}", id="run-name", className="me-2"),
            html.Span(" · ".join(facts), className="text-muted me-3"),
            html.Span(phase_key(store, ref), className="wb-phase-key")]


def tab_title(page_name: str | None, selection) -> str:
    """"Neurons · modular_addition_demo/p59-s1-d598 — workbench"."""
    ref = ref_of(selection)
    parts = [page_name, str(ref) if ref is not None else None]
    return " · ".join(p for p in parts if p) + f" — {APP_NAME}" if any(parts) else APP_NAME


def page_name(pages, pathname: str | None) -> str | None:
    path = pathname or "/"
    for page in pages:
        if page.PATH == path or (path.startswith(page.PATH + "/") and page.PATH != "/"):
            return page.NAME
    return None


def layout() -> html.Div:
    return html.Div(className="wb-run-header", children=[
        html.Div(id="run-header", className="d-flex flex-wrap align-items-baseline"),
        html.Div(id="selection-error", className="small text-danger fw-semibold"),
        dcc.Store(id="run-variant"), dcc.Store(id="run-title"), dcc.Store(id="run-title-shown")])


def register(app, store: Store, pages) -> None:
    # What the header and the title show depends on the variant, not the epoch: an epoch step
    # asks nothing of them (the store `run-variant` changes only with the variant, in the browser).
    app.clientside_callback(
        """function(selection, before) {
            const variant = (selection && selection.variant) || null;
            return variant === before ? window.dash_clientside.no_update : variant;
        }""",
        Output("run-variant", "data"), Input("selection", "data"), State("run-variant", "data"))
    # Live too: a training run's status and checkpoints change under it.
    app.callback(Output("run-header", "children"), Input("run-variant", "data"), Input("live", "data"))(
        lambda variant, _live: header(store, {"variant": variant}))
    app.callback(Output("run-title", "data"), Input("url", "pathname"), Input("run-variant", "data"))(
        lambda pathname, variant: tab_title(page_name(pages, pathname), {"variant": variant}))
    # The tab's title: set in the browser (a public clientside callback; Dash's own `title` is fixed).
    app.clientside_callback(
        """function(title) {
            if (title) { document.title = title; }
            return title;
        }""",
        Output("run-title-shown", "data"), Input("run-title", "data"))
