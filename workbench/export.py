"""Standalone HTML reports: a page's figures for one variant at one epoch, readable offline.

The report embeds plotly.js once and each figure as JSON, so it opens without a server or a
network and keeps hover, zoom and the figure toolbar (PNG download)."""
from __future__ import annotations

import html
from pathlib import Path

from workbench.store import Store, StoreError, VariantRef, atomic_write

PAGES = ("overview", "fourier", "neurons", "attention", "trajectories", "dimensionality", "progress", "dynamics",
         "inputs")


def export_report(ref: VariantRef, store: Store | None = None, *, epoch: int | None = None,
                  pages: tuple[str, ...] = ("overview",), out: str | Path | None = None) -> Path:
    """Write `<variant>-epoch<E>.html` (or `out`) with the figures of `pages`; returns the path."""
    from workbench.app import create_app
    from workbench.pages._common import SPECS, safe_figure
    from workbench.selection import snap
    store = store or Store()
    info = store.info(ref)
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        raise StoreError(f"unknown page {unknown[0]!r}; pages: {', '.join(PAGES)}")
    epoch = snap(epoch, store.checkpoint_epochs(ref))
    selection = {"variant": str(ref), "epoch": epoch, "neuron": 0, "head": 0}
    app = create_app(store.root)
    sections, first = [], True
    with app.server.test_request_context():
        for page in pages:
            sections.append(f"<h2>{html.escape(page.capitalize())}</h2>")
            for spec in SPECS[page]:
                fig = safe_figure(ref, lambda spec=spec: spec.build(ref, selection))
                caption = (fig.layout.meta or {}).get("caption", "") if isinstance(fig.layout.meta, dict) else ""
                sections.append(f"<section><h3>{html.escape(spec.title)}</h3>"
                                + fig.to_html(full_html=False, include_plotlyjs="inline" if first else False)
                                + f"<p class='caption'>{html.escape(caption)}</p></section>")
                first = False
    title = f"{ref} at epoch {epoch}"
    final = info.get("final", {})
    document = f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;max-width:1200px}} .caption{{color:#6c757d}}
section{{margin-bottom:28px}}</style></head><body><h1>{html.escape(title)}</h1>
<p>family {html.escape(ref.family)}, variant {html.escape(ref.id)}; status {html.escape(str(info.get('status')))};
final test accuracy {final.get('test_acc', float('nan')):.4f}</p>{''.join(sections)}</body></html>"""
    path = Path(out) if out else Path(f"{ref.family}-{ref.id}-epoch{epoch}.html")
    atomic_write(path, lambda f: f.write(document.encode()))
    return path
