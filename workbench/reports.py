"""Report pages the user builds: catalog figures of any variants, in a grid, with a title and notes.

A report is a small JSON record in the data root (`Store.save_report`, `.reports/<name>.json`):

    {"title": "Seeds 1 and 3 at the turn", "notes": "free text", "columns": 2,
     "figures": [{"variant": "modular_addition_demo/p59-s1-d598", "figure": "loss_and_accuracy", "epoch": "cursor"},
                 {"variant": "modular_addition_demo/p59-s3-d598", "figure": "neuron_clusters", "epoch": 1500}]}

`epoch` is a fixed epoch (snapped to that variant's nearest checkpoint) or "cursor": the epoch
the viewer has selected (the app's sidebar; the last checkpoint in an export). The app shows a
report at `/reports/<name>`; a figure whose variant or data is missing says so in its cell.
"""
from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go

from workbench import figures
from workbench.errors import BadInputError, MissingError
from workbench.export import caption_of, figure_html, html_document, write_text
from workbench.renderers import CATALOG
from workbench.selection import snap
from workbench.store import Store, VariantRef, check_name, timestamp

CURSOR = "cursor"
MAX_COLUMNS = 4
MAX_FIGURES = 48


class ReportError(BadInputError):
    """A report that cannot be saved as given; the message names the field and the fix."""


def check_report(report: dict) -> dict:
    """The report with its fields checked and normalized; ReportError names what is wrong."""
    if not isinstance(report, dict):
        raise ReportError("a report is a dict with title, notes, columns and figures")
    title = str(report.get("title") or "").strip()
    if not title:
        raise ReportError("the report needs a title")
    columns = report.get("columns", 2)
    if not isinstance(columns, int) or not 1 <= columns <= MAX_COLUMNS:
        raise ReportError(f"columns must be a whole number from 1 to {MAX_COLUMNS}, got {columns!r}")
    items = report.get("figures") or []
    if not items:
        raise ReportError("the report has no figures: add at least one")
    if len(items) > MAX_FIGURES:
        raise ReportError(f"a report holds at most {MAX_FIGURES} figures, got {len(items)}")
    return {"title": title, "notes": str(report.get("notes") or ""), "columns": columns,
            "figures": [_check_item(i, item) for i, item in enumerate(items, 1)]}


def _check_item(i: int, item) -> dict:
    if not isinstance(item, dict):
        raise ReportError(f"figure {i}: expected {{'variant': 'family/id', 'figure': name, 'epoch': ...}}")
    variant, name, epoch = str(item.get("variant") or ""), item.get("figure"), item.get("epoch", CURSOR)
    if "/" not in variant:
        raise ReportError(f"figure {i}: variant must be 'family/id', got {variant!r}")
    check_name("family", variant.split("/", 1)[0])
    check_name("variant", variant.split("/", 1)[1])
    if name not in CATALOG:
        raise ReportError(f"figure {i}: no figure named {name!r}; `wb.figure_names()` lists them")
    if epoch in (None, ""):
        epoch = CURSOR
    if epoch != CURSOR and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0):
        raise ReportError(f"figure {i}: epoch must be 'cursor' or an epoch ≥ 0, got {epoch!r}")
    return {"variant": variant, "figure": name, "epoch": epoch}


def save_report(name: str, report: dict | None = None, *, data=None, **fields) -> dict:
    """Save report `name` (letters, digits and _ . = , + -): `report` or the fields
    title=, notes=, columns=, figures=[{"variant", "figure", "epoch"}, ...]. Items may give
    `variant` as a `wb.Variant`. Returns the saved record; it opens at /reports/<name>."""
    store = Store(data)
    check_name("report", name)
    report = {**(report or {}), **fields}
    report["figures"] = [{**item, "variant": str(item.get("variant"))} if isinstance(item, dict) else item
                         for item in report.get("figures") or []]
    record = check_report(report)
    try:
        created = store.load_report(name).get("created", timestamp())
    except MissingError:
        created = timestamp()
    record.update(created=created, updated=timestamp())
    store.save_report(name, record)
    return record


def load_report(name: str, *, data=None) -> dict:
    return Store(data).load_report(name)


def report_names(*, data=None) -> list[str]:
    return Store(data).report_names()


def cell_figure(store: Store, item: dict, cursor: int | None) -> go.Figure:
    """The figure of one report cell; a message figure saying what is missing when it cannot be drawn."""
    variant = str(item.get("variant") or "")
    ref = VariantRef(*variant.split("/", 1)) if "/" in variant else None
    if ref is None or not store.exists(ref):
        return figures.message_figure(f"Variant {variant} is missing from this data root (deleted or moved?)")
    epoch = cursor if item.get("epoch", CURSOR) == CURSOR else item["epoch"]
    epochs = store.checkpoint_epochs(ref)
    selection = {"epoch": snap(epoch, epochs) if epochs else epoch, "neuron": 0, "head": 0}
    return figures.safe_figure(ref, lambda: figures.build(store, ref, item.get("figure"), selection))


def cell_title(item: dict, shown_epoch: int | None = None) -> str:
    epoch = item.get("epoch", CURSOR)
    at = f"epoch {item['epoch']}" if epoch != CURSOR else ("the selected epoch" if shown_epoch is None
                                                          else f"the selected epoch ({shown_epoch})")
    return f"{item.get('figure')} · {item.get('variant')} · {at}"


def report_html(store: Store, name: str, cursor: int | None = None) -> str:
    """The report as one standalone HTML document (plotly.js inline: opens offline, hover works)."""
    report = store.load_report(name)
    width = 100 / report.get("columns", 2)
    cells = []
    for i, item in enumerate(report["figures"]):
        fig = cell_figure(store, item, cursor)
        cells.append(f"<section><h3>{html.escape(cell_title(item, cursor))}</h3>{figure_html(fig, i == 0)}"
                     f"<p class='caption'>{html.escape(caption_of(fig))}</p></section>")
    grid = (f"<div class='grid' style='grid-template-columns:repeat({report.get('columns', 2)}, "
            f"minmax(0, {width:.0f}%))'>{''.join(cells)}</div>")
    notes = f"<p class='notes'>{html.escape(report.get('notes', ''))}</p>" if report.get("notes") else ""
    return html_document(report["title"], notes + grid)


def export_saved_report(name: str, out: str | Path | None = None, *, epoch: int | None = None, data=None) -> Path:
    """Write saved report `name` as standalone HTML (default `<name>.html`); figures that follow
    the cursor are drawn at `epoch` (default: each variant's last checkpoint)."""
    store = Store(data)
    return write_text(Path(out) if out else Path(f"{name}.html"), report_html(store, name, epoch))
