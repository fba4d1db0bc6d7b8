"""The Compare page's differences: headline metrics of the compared variants in one table (rows
that differ highlighted, numbers also given as a difference from the selected variant) and
their key-frequency sets side by side."""
from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from workbench import compare
from workbench.errors import UserError
from workbench.store import Store, VariantRef

ROWS = [  # (metrics key, label, format of a value)
    ("p", "p (prime)", "{}"),
    ("seed", "model seed", "{}"),
    ("data_seed", "data seed", "{}"),
    ("status", "status", "{}"),
    ("memorized_epoch", "memorized (epoch, train loss ≤ 0.05)", "{:,}"),
    ("onset_epoch", "grokking onset (epoch)", "{:,}"),
    ("grokked_epoch", "grok epoch (test acc ≥ 99%)", "{:,}"),
    ("final_train_loss", "final train loss (nats)", "{:.3g}"),
    ("final_test_loss", "final test loss (nats)", "{:.3g}"),
    ("n_clusters", "neuron clusters (final)", "{}"),
    ("fraction_explained", "neurons in a cluster (final)", "{:.0%}"),
    ("participation_ratio_W_E", "participation ratio of W_E (final)", "{:.2f}"),
    ("key_frequencies", "key frequencies k (model, final)", "{}"),
    ("analysis", "analysis", "{}"),
]
DELTA = {"memorized_epoch": "{:+,}", "onset_epoch": "{:+,}", "grokked_epoch": "{:+,}", "n_clusters": "{:+}",
         "participation_ratio_W_E": "{:+.2f}", "fraction_explained": "{:+.0%}"}


def _value(key, fmt, value) -> str:
    if value is None:
        return "–"
    if key == "key_frequencies":
        return ", ".join(map(str, value)) or "none"
    return fmt.format(value)


def _cell(key, fmt, value, reference, first: bool):
    text = _value(key, fmt, value)
    if first or key not in DELTA or value is None or reference is None or value == reference:
        return html.Td(text)
    return html.Td([text, html.Span(f"  Δ {DELTA[key].format(value - reference)}", className="small text-muted")])


def _rows(store: Store, variants: list[str]) -> list[dict]:
    rows = []
    for variant in variants:
        try:
            rows.append(compare.variant_metrics(store, VariantRef.parse(variant)))
        except UserError as err:
            rows.append({"variant": variant, "analysis": str(err)})
    return rows


BIG, SOME = 0.5, 0.1  # relative spreads: a factor of 2 or more; 10% or more
HIGHLIGHT_NOTE = ("Amber rows differ by a factor of 2 or more (or in kind), light rows by 10–50%; "
                  "smaller differences are shown as Δ only.")


def highlight(rows: list[dict], key: str, differs: bool) -> str | None:
    """The row's class by how much the variants differ: strong, light, or none."""
    if len(rows) < 2 or not differs:
        return None
    spread = compare.relative_spread(rows, key)
    if spread is None or spread >= BIG:
        return "table-warning"
    return "wb-differs-some" if spread >= SOME else None


def metrics_table(variants: list[str], rows: list[dict]) -> html.Div:
    differs = compare.metric_differences(rows, [key for key, _, _ in ROWS])
    header = html.Thead(html.Tr([html.Th("metric")] + [html.Th(label) for label in compare.short_labels(variants)]))
    body = [html.Tr([html.Th(label, className="fw-normal")]
                    + [_cell(key, fmt, row.get(key), rows[0].get(key), i == 0) for i, row in enumerate(rows)],
                    className=highlight(rows, key, differs[key]))
            for key, label, fmt in ROWS]
    return html.Div([dbc.Table([header, html.Tbody(body)], bordered=True, size="sm", hover=True,
                               id="compare-metrics-table", className="small mb-1"),
                     html.P(HIGHLIGHT_NOTE, className="small text-muted")])


def key_frequency_sets(variants: list[str], rows: list[dict]) -> html.Div:
    """The key-frequency sets side by side: one k axis when every variant has the same p, else
    separate lists (frequency k is k/p of a turn per step, so equal k at different p differ)."""
    labels = compare.short_labels(variants)
    keys = [set(row.get("key_frequencies") or []) for row in rows]
    primes = {row.get("p") for row in rows}
    if len(primes) > 1:
        items = [html.Li(f"{label} (p = {row.get('p')}): k = {', '.join(map(str, sorted(k))) or 'none'}"
                         + _turns(k, row.get("p"))) for label, row, k in zip(labels, rows, keys)]
        return html.Div([html.P("Different primes: the sets are listed separately, since the same k is a "
                                "different frequency at a different p.", className="small text-muted"),
                         html.Ul(items, className="small")])
    union = sorted(set().union(*keys))
    if not union:
        return html.P("No key frequencies yet (not analyzed, or not grokked).", className="small text-muted")
    header = html.Thead(html.Tr([html.Th("variant")] + [html.Th(f"k={k}") for k in union]))
    body = [html.Tr([html.Th(label, className="fw-normal")]
                    + [html.Td("●" if k in mine else "", className="text-center" + (" table-info" if k in mine else ""))
                       for k in union]) for label, mine in zip(labels, keys)]
    shared = sorted(set.intersection(*keys)) if keys else []
    summary = (f"shared by all: k = {', '.join(map(str, shared)) or 'none'}; "
               f"in some only: k = {', '.join(str(k) for k in union if k not in shared) or 'none'}")
    return html.Div([dbc.Table([header, html.Tbody(body)], bordered=True, size="sm", className="small w-auto",
                               id="compare-key-frequencies"),
                     html.P(summary, className="small text-muted")])


def _turns(keys, p) -> str:
    """Key frequencies as fractions of a turn per step (k/p), comparable across primes."""
    return f"  (k/p = {', '.join(f'{k / p:.3f}' for k in sorted(keys))} turns per step)" if keys and p else ""


def differences(store: Store, variants: list[str]) -> html.Div:
    if not variants:
        return html.P("No variant yet: run `workbench demo`.", className="text-muted")
    rows = _rows(store, variants)
    return html.Div([metrics_table(variants, rows), html.H6("Key frequencies"), key_frequency_sets(variants, rows)])
