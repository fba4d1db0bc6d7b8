"""Exports that open without the app: figures as HTML/PNG/SVG, variant reports, animations.

HTML embeds plotly.js inline (never a CDN), so a file opens offline and keeps hover, zoom and
the toolbar. PNG/SVG/PDF go through kaleido, which drives a Chromium already on the machine
(it never downloads one). A page export draws the app pages' own figure lists with this store
(no app is built); the pages import Dash, so they are imported only by that export."""
from __future__ import annotations

import html
import os
import shutil
from pathlib import Path

import plotly.graph_objects as go

from workbench import api, compare, figures
from workbench.analyzers.dynamics import run_phases
from workbench.phases import grok_rule
from workbench.errors import BadInputError, MissingError, UserError
from workbench.renderers import CATALOG
from workbench.selection import snap
from workbench.store import Store, VariantRef, atomic_write

PAGES = ("overview", "fourier", "neurons", "attention", "trajectories", "dimensionality", "progress", "dynamics",
         "inputs")  # the app pages an export can draw (`workbench.pages.<name>.FIGURES`)
IMAGE_FORMATS = ("png", "svg", "pdf")
# A variant report: the summaries over epochs, then the details at the report's epoch.
REPORT_SUMMARIES = ("loss_and_accuracy", "progress_losses", "embedding_fourier_over_epochs", "cluster_sizes",
                    "participation_ratio", "trajectory_velocity")
REPORT_DETAILS = ("embedding_fourier_norms", "neuron_clusters")
STYLE = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px} .caption{color:#6c757d}
section{margin-bottom:28px} table{border-collapse:collapse} td,th{padding:2px 12px 2px 0;text-align:left}
.grid{display:grid;gap:16px} .notes{white-space:pre-wrap}"""


class ExportError(BadInputError):
    """An export that cannot be written here (unknown format, no image engine)."""


def figure_html(fig: go.Figure, first: bool) -> str:
    """A figure as an HTML fragment; plotly.js is inlined with the `first` figure of a document."""
    return fig.to_html(full_html=False, include_plotlyjs="inline" if first else False)


def caption_of(fig: go.Figure) -> str:
    meta = fig.layout.meta
    return meta.get("caption", "") if isinstance(meta, dict) else ""


def html_document(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")


def write_text(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(text.encode()))
    return path


def save_figure(fig: go.Figure, path: str | Path, *, scale: float = 2) -> Path:
    """Write `fig` by the file's extension: .html always works (plotly.js inline, opens offline);
    .png, .svg and .pdf need kaleido and a Chromium on the machine."""
    path = Path(path)
    kind = path.suffix.lower().lstrip(".")
    if kind == "html":
        return write_text(path, fig.to_html(full_html=True, include_plotlyjs="inline"))
    if kind not in IMAGE_FORMATS:
        raise ExportError(f"cannot write {path.name}: use .html, or .{', .'.join(IMAGE_FORMATS)} for images")
    _check_image_engine()
    image = fig.to_image(format=kind, scale=scale)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(image))
    return path


def _check_image_engine() -> None:
    try:
        import kaleido  # noqa: F401  (heavy, optional: only to write images)
    except ImportError:
        raise ExportError("PNG/SVG/PDF export needs kaleido: pip install 'workbench[images]' "
                          "(or save as .html, which always works)") from None
    chromium = os.environ.get("BROWSER_PATH") or next(
        (found for name in ("chromium", "chromium-browser", "google-chrome", "chrome") if (found := shutil.which(name))),
        None)
    if not chromium:
        raise ExportError("PNG/SVG/PDF export needs Chromium, and none was found (install it with your package "
                          "manager, e.g. `apt-get install chromium`, or set BROWSER_PATH); .html always works")
    os.environ.setdefault("BROWSER_PATH", chromium)  # kaleido uses this one and never downloads its own


def animate(name: str, v, epochs: list[int] | None = None, *, data=None, **options) -> go.Figure:
    """Figure `name` of variant `v` as a Plotly animation over `epochs` (default: every
    checkpoint): one frame per epoch, a play button and an epoch slider - for talks."""
    v = api.as_variant(v, data)
    epochs = [v.snap(e) for e in epochs] if epochs else v.epochs
    epochs = list(dict.fromkeys(epochs))
    if not epochs:
        raise ExportError(f"variant {v.ref} has no checkpoints to animate")
    figs = [api.figure(name, v, epoch=e, **options) for e in epochs]
    base = go.Figure(figs[0])
    base.frames = [go.Frame(data=f.data, name=str(e), layout={"shapes": f.layout.shapes, "title": f.layout.title,
                                                              "annotations": f.layout.annotations})
                   for e, f in zip(epochs, figs)]
    step = {"frame": {"duration": 300, "redraw": True}, "mode": "immediate", "transition": {"duration": 0}}
    base.update_layout(
        updatemenus=[{"type": "buttons", "direction": "left", "x": 0, "y": -0.12, "xanchor": "left", "yanchor": "top",
                      "buttons": [{"label": "▶ play", "method": "animate", "args": [None, {**step, "fromcurrent": True}]},
                                  {"label": "❚❚ pause", "method": "animate", "args": [[None], step]}]}],
        sliders=[{"active": 0, "x": 0.15, "len": 0.85, "y": -0.08, "currentvalue": {"prefix": "epoch "},
                  "steps": [{"label": str(e), "method": "animate", "args": [[str(e)], step]} for e in epochs]}],
        margin={"b": 120})
    base.layout.meta = {**(base.layout.meta or {}), "caption": f"{caption_of(figs[0])} Press play to step through "
                        f"{len(epochs)} checkpoints.".strip()}
    return base


def export_animation(ref: VariantRef, store: Store, name: str, out: str | Path | None = None,
                     epochs: list[int] | None = None) -> Path:
    """`workbench export VARIANT --animate FIGURE`: the animation as a standalone HTML file."""
    fig = animate(name, f"{ref}", epochs, data=store.root)
    path = Path(out) if out else Path(f"{ref.family}-{ref.id}-{name}.html")
    body = figure_html(fig, True) + f"<p class='caption'>{html.escape(caption_of(fig))}</p>"
    return write_text(path, html_document(f"{ref}: {name}", body))


def export_report(ref: VariantRef, store: Store | None = None, *, epoch: int | None = None,
                  pages: tuple[str, ...] | None = None, out: str | Path | None = None) -> Path:
    """Write a standalone HTML report of `ref` at `epoch` (snapped; default the last) and return
    its path (default `<family>-<variant>-epoch<E>.html`). Without `pages`: the variant report -
    its numbers, phases, key frequencies and main summaries; with `pages`: those app pages' figures."""
    store = store or Store()
    info = store.info(ref)
    epoch = snap(epoch, store.checkpoint_epochs(ref))
    unknown = [p for p in pages or () if p not in PAGES]
    if unknown:
        raise BadInputError(f"unknown page {unknown[0]!r}; pages: {', '.join(PAGES)}")
    sections = _page_sections(ref, store, epoch, pages) if pages else _variant_sections(ref, store, epoch)
    final = info.get("final", {})
    accuracy = (f"final test accuracy {final['test_acc']:.4f}" if "test_acc" in final else
                f"accuracy of the imported model on the full grid {final['grid_acc']:.4f}" if "grid_acc" in final
                else "final test accuracy not recorded")
    intro = (f"<p>family {html.escape(ref.family)}, variant {html.escape(ref.id)}; status "
             f"{html.escape(str(info.get('status')))}; {accuracy}</p>")
    path = Path(out) if out else Path(f"{ref.family}-{ref.id}-epoch{epoch}.html")
    return write_text(path, html_document(f"{ref} at epoch {epoch}", intro + "".join(sections)))


def _figure_section(title: str, fig: go.Figure, first: bool) -> str:
    return (f"<section><h3>{html.escape(title)}</h3>{figure_html(fig, first)}"
            f"<p class='caption'>{html.escape(caption_of(fig))}</p></section>")


def _variant_sections(ref: VariantRef, store: Store, epoch: int | None) -> list[str]:
    sections = [_numbers_table(ref, store)]
    selection = {"epoch": epoch, "neuron": 0, "head": 0}
    for i, name in enumerate(REPORT_SUMMARIES + REPORT_DETAILS):
        fig = figures.safe_figure(ref, lambda name=name: figures.build(store, ref, name, selection))
        title = CATALOG[name].description + ("" if name in REPORT_SUMMARIES else f" (epoch {epoch})")
        sections.append(_figure_section(title, fig, i == 0))
    return sections


def _numbers_table(ref: VariantRef, store: Store) -> str:
    """Phases (from the `loss_dynamics` analysis, else from the history) and key frequencies."""
    rows = []
    try:
        history = store.cached_history(ref)
    except MissingError as err:                 # an imported checkpoint without history
        history, rows = None, [("phases", str(err))]
    phases = run_phases(store, ref)
    if history is not None and phases is not None:
        events = {"memorization ends": phases.memorization_end, "test loss peaks": phases.test_loss_peak,
                  "grokking onset": phases.onset, f"grokked ({grok_rule(history)})": phases.grok,
                  "cleanup ends": phases.cleanup_end}
    elif history is not None:
        found = compare.history_phases(history)
        events = {"memorized (train loss ≤ 0.05)": found["memorized_epoch"], "grokking onset": found["onset_epoch"],
                  f"grokked ({grok_rule(history)})": found["grokked_epoch"]}
    else:
        events = {}
    rows += [(label, "not reached" if at is None else f"epoch {int(round(at)):,}") for label, at in events.items()]
    try:
        keys = compare.key_frequencies(store.cached_series(ref, "progress_measures"))
        rows.append(("key frequencies (the model's, final)", ", ".join(map(str, keys)) or "none"))
    except UserError:
        rows.append(("key frequencies", f"not analyzed: run workbench analyze {ref}"))
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<section><h2>Phases and key frequencies</h2><table>{cells}</table></section>"


def _page_sections(ref: VariantRef, store: Store, epoch: int | None, pages) -> list[str]:
    """The app pages' figures, built from `store` as the pages build them."""
    # The pages import Dash (heavy): only this export needs them.
    from workbench.pages import (attention, dimensionality, dynamics, fourier, inputs, neurons, overview, progress,
                                 trajectories)
    modules = {m.__name__.rsplit(".", 1)[-1]: m for m in (overview, fourier, neurons, attention, trajectories,
                                                           dimensionality, progress, dynamics, inputs)}
    selection = {"variant": str(ref), "epoch": epoch, "neuron": 0, "head": 0}
    sections = []
    for page in pages:
        sections.append(f"<h2>{html.escape(page.capitalize())}</h2>")
        for spec in modules[page].FIGURES.specs:
            fig = figures.safe_figure(ref, lambda spec=spec: spec.build(store, ref, selection))
            sections.append(_figure_section(spec.title, fig, len(sections) == 1))
    return sections
