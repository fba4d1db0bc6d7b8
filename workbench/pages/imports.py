"""Import: bring a run of your own into the store from the browser - a checkpoint (a
TransformerLens state dict, a progress-measures `.pth` run, safetensors) as a variant, or a
training log (CSV, JSONL, JSON, `.pt`) as a log-only run. The same importers as `workbench
import` and `workbench import-log`; the page then says what was read, set and assumed, and
links to the run. Files larger than MAX_UPLOAD_BYTES go through the command line, which reads
them from disk instead of through the browser."""
from __future__ import annotations

import base64
import binascii
import re
import tempfile
from pathlib import Path

import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from workbench.errors import BadInputError, UserError
from workbench.families import family_names, parse_sets
from workbench.logimport import import_log

PATH, NAME = "/import", "Import"
MAX_UPLOAD_BYTES = 512 << 20  # the browser holds the file base64-encoded in memory; bigger runs: the CLI
LOG_SUFFIXES = (".csv", ".jsonl", ".json", ".txt")
MAX_LISTED = 20  # alerts listed here; the Loss dynamics page has them all


def _row(label: str, control, help_text: str = "", md: int = 4) -> dbc.Col:
    return dbc.Col(md=md, className="mb-2", children=[dbc.Label(label, className="small mb-0"), control,
                                                       html.Div(help_text, className="form-text mt-0")])


def layout(store, config, **_variables):
    names = family_names()
    return html.Div([
        html.P("Import a run of your own: a checkpoint becomes a variant (then analyze it on the Analyze page); a "
               "training log becomes a log-only run with its phases, oscillations and alerts on the Loss dynamics "
               "page. The file's own settings and history are read; what it does not say comes from the family or "
               "from the settings below.", className="text-muted"),
        dcc.Upload(id="import-upload", max_size=MAX_UPLOAD_BYTES, multiple=False, className="wb-upload mb-2",
                   children=html.Div(["Drop a file here or ", html.A("choose one", href="#")]),
                   style={"border": "1px dashed #999", "borderRadius": "6px", "padding": "18px",
                          "textAlign": "center"}),
        html.Div(id="import-file", className="small mb-2"),
        dbc.Row([
            _row("kind", dbc.RadioItems(id="import-kind", inline=True, value="checkpoint", options=[
                {"label": "checkpoint", "value": "checkpoint"}, {"label": "training log", "value": "log"}]),
                "guessed from the file name"),
            _row("family", dcc.Dropdown(id="import-family", options=names, clearable=False,
                                        value="modular_addition" if "modular_addition" in names
                                        else (names[0] if names else None)),
                 "checkpoints: the family whose task and defaults apply"),
            _row("id", dbc.Input(id="import-id", size="sm", placeholder="from the file name"),
                 "the run's name in the store")]),
        dbc.Row([
            _row("settings the file does not say", dbc.Input(id="import-settings", size="sm",
                                                             placeholder="e.g. data_seed=0 weight_decay=0"),
                 "checkpoints: KEY=VALUE separated by spaces, as with --set", md=6),
            _row("log: step column", dbc.Input(id="import-step", size="sm", placeholder="found by name"),
                 "logs: the x column, if not step/epoch/iteration", md=3),
            _row("log: gates", dbc.Input(id="import-gates", size="sm", placeholder="val_acc >= 0.5 by epoch 3"),
                 "logs: checks, separated by ;", md=3)]),
        dbc.Button("Import", id="import-start", color="primary", className="mb-2", disabled=True),
        dcc.Loading(html.Div(id="import-result", className="small"))])


def file_chosen(filename):
    """Name the chosen file and guess its kind from the suffix."""
    if not filename:
        return "no file chosen", "checkpoint", True
    kind = "log" if Path(filename).suffix.lower() in LOG_SUFFIXES else "checkpoint"
    return html.Span(["file: ", html.Code(filename)]), kind, False


def _decoded(contents: str) -> bytes:
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (IndexError, ValueError, binascii.Error):
        raise BadInputError("the upload arrived damaged; choose the file again") from None


def _safe_name(filename: str) -> str:
    """The uploaded file's own name, reduced to a plain file name (it names the run by default)."""
    plain = Path(Path(filename).name)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", plain.stem).strip("._")[:100] or "upload"
    return stem + re.sub(r"[^A-Za-z0-9.]+", "", plain.suffix)[:12]


def import_upload(store, contents: str, filename: str, kind: str, family: str, run_id: str | None,
                  settings: str | None, step: str | None, gates: str | None) -> dict:
    """Write the upload to a private temporary file, import it, record the original file name as
    the source (not the temporary path) and return the importer's summary."""
    data = _decoded(contents)
    with tempfile.TemporaryDirectory(prefix="workbench-upload-") as scratch:
        path = Path(scratch) / _safe_name(filename)
        path.write_bytes(data)
        if kind == "log":
            summary = import_log(path, store, id=run_id or None, step=step or None,
                                 gates=[g.strip() for g in (gates or "").split(";") if g.strip()])
            info = store.info(summary["variant"])
            store.update_info(summary["variant"], log={**info["log"], "source": f"{filename} (uploaded in the app)"})
            return summary
        if not family:
            raise BadInputError("pick the family whose task the checkpoint was trained on")
        from workbench.importers import import_checkpoint  # torch: loaded only when a checkpoint is imported
        summary = import_checkpoint(path, family, store, id=run_id or None,
                                    overrides=parse_sets((settings or "").split()))
        info = store.info(summary["variant"])
        store.update_info(summary["variant"], source={**info["source"], "path": f"{filename} (uploaded in the app)"})
        return summary


def _listing(title: str, rows: list[str]) -> list:
    return [html.Div(title, className="fw-semibold mt-1"), html.Ul([html.Li(r) for r in rows])] if rows else []


def describe(summary: dict, kind: str) -> html.Div:
    """What the import did, in the words of `workbench import`: read, set, assumed, checks, notes."""
    ref = summary["variant"]
    if kind == "log":
        points = ", ".join(f"{name} ({n:,})" for name, n in summary["series"].items())
        head = f"imported as {ref}: x = {summary['x']}; {points}"
        phases, alerts = summary["phases"], summary["alerts"]
        events = {"memorization end": phases.memorization_end, "test-loss peak": phases.test_loss_peak,
                  "grokking onset": phases.onset, "grok": phases.grok, "cleanup end": phases.cleanup_end}
        shown = [a.summary() for a in alerts[:MAX_LISTED]]
        rows = (_listing("phases", [", ".join(f"{k} {v:,.0f}" if v is not None else f"{k} -"
                                              for k, v in events.items())])
                + _listing(f"{len(alerts)} alert(s)", shown + ([f"... and {len(alerts) - len(shown)} more on the "
                                                                 "Loss dynamics page"] if len(alerts) > len(shown)
                                                                else []))
                + _listing("gates", [f"{g.gate.text!r} on {g.series}: {g.verdict}" for g in summary["gates"]])
                + _listing("notes", summary["notes"]))
        link = dcc.Link("open its loss dynamics", href=f"/dynamics?variant={ref}")
    else:
        head = (f"imported as {ref} ({summary['format']} layout, p = {summary['p']}): {len(summary['epochs'])} "
                f"checkpoint(s), accuracy on the full {summary['p']}x{summary['p']} grid "
                f"{summary['grid_accuracy']:.4f}")
        rows = (_listing("read from the file", ["p, d_model, n_heads, d_head, d_mlp <- the weights' shapes"]
                         + [f"{k} <- {w}" for k, w in summary["read"].items()])
                + _listing("set here", [f"{k} = {v!r}" for k, v in summary["set"].items()])
                + _listing("assumed (the family's values; set them above to change)",
                           [", ".join(f"{k} = {v!r}" for k, v in summary["assumed"].items())] if summary["assumed"]
                           else [])
                + _listing("history", [f"{r} <- {w}" for r, w in summary["history"].items()]
                           or ["none in the file (no loss curves, phases or alerts)"])
                + _listing("checks and notes", summary["checks"] + summary["notes"]))
        link = html.Span([dcc.Link("analyze it", href=f"/analyze?variant={ref}"), " - then ",
                          dcc.Link("open its overview", href=f"/overview?variant={ref}")])
    return html.Div([html.Div(head, id="import-headline", className="text-success"), *rows, link])


def start(store, n_clicks, contents, filename, kind, family, run_id, settings, step, gates):
    if not n_clicks or not contents:
        return ""
    try:
        summary = import_upload(store, contents, filename or "upload", kind, family, run_id, settings, step, gates)
    except UserError as err:
        return html.Div(str(err), id="import-error", className="text-danger")
    return describe(summary, kind)


def register(app, store) -> None:
    app.callback(Output("import-file", "children"), Output("import-kind", "value"), Output("import-start", "disabled"),
                 Input("import-upload", "filename"))(file_chosen)
    app.callback(Output("import-result", "children"), Input("import-start", "n_clicks"),
                 State("import-upload", "contents"), State("import-upload", "filename"), State("import-kind", "value"),
                 State("import-family", "value"), State("import-id", "value"), State("import-settings", "value"),
                 State("import-step", "value"), State("import-gates", "value"),
                 prevent_initial_call=True)(lambda *args: start(store, *args))
