"""What the Train, Analyze and Jobs pages share: starting jobs and the live list of jobs.

A job is started by appending a *runner* to the shell's hidden `job-runners` container: the
app's job-runner callback (see `workbench.app.register_job_runner`) fires for it and starts the job. The
list shows every job's record from the store, polled once a second, so progress is the same
in every tab, after a restart of the app, and for jobs queued from the command line.
"""
from __future__ import annotations

import hashlib
import json

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, Patch, State, ctx, dcc, html

from workbench import jobs
from workbench.errors import UserError

STATE_COLORS = {"queued": "secondary", "running": "primary", "done": "success", "failed": "danger",
                "cancelled": "warning"}


def runner(job_id: str) -> html.Div:
    return html.Div([dcc.Store(id={"type": "job-runner", "job": job_id}, data=job_id),
                     dcc.Store(id={"type": "job-finished", "job": job_id})])


def start(submitted: list[dict]) -> Patch:
    """The Patch that appends runners for newly submitted jobs to the shell."""
    patch = Patch()
    for job in submitted:
        patch.append(runner(job["id"]))
    return patch


def panel(kinds: list[str] | None, title: str = "Jobs") -> html.Div:
    """The live job list (`kinds` filters it, None shows all)."""
    return html.Div(className="mt-3", children=[
        html.H5(title), dcc.Store(id="jobs-kinds", data=kinds), dcc.Store(id="jobs-digest"),
        dcc.Interval(id="jobs-interval", interval=1000), html.Div(id="jobs-list")])


def _eta(seconds) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    return f" · ETA {seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f" · ETA {seconds} s"


def job_card(job: dict, cancelling: bool) -> html.Div:
    progress = job.get("progress") or {}
    done, total = progress.get("done", 0), progress.get("total", 0)
    state = job["state"]
    unit = "checkpoint" if job["kind"] == "analyze" else "epoch"
    label = f"{unit} {done:,} / {total:,}" if total else ""
    running = state == "running"
    bar = dbc.Progress(value=100 * done / total if total else (100 if state == "done" else 0), label=label,
                       striped=running, animated=running, color=STATE_COLORS.get(state, "secondary"),
                       className="mb-1", style={"height": "1.2rem"}, id={"type": "job-bar", "job": job["id"]})
    buttons = []
    if state in ("queued", "running"):
        buttons.append(dbc.Button("cancelling…" if cancelling else "Cancel", size="sm", color="warning", outline=True,
                                  disabled=cancelling, id={"type": "job-cancel", "job": job["id"]}))
    if state in ("failed", "cancelled"):
        buttons.append(dbc.Button("Resume", size="sm", color="primary", outline=True,
                                  id={"type": "job-resume", "job": job["id"]}))
    detail = progress.get("text", "") + (_eta(progress.get("eta_seconds")) if running else "")
    notes = [html.Div(detail, className="small text-muted")] if detail and state in ("running", "queued") else []
    if job.get("message") and state != "running":
        notes.append(html.Div(job["message"], className="small"))
    if job.get("error"):
        notes.append(html.Div(job["error"], className="small text-danger"))
    if job.get("attempts"):
        notes.append(html.Div(f"{len(job['attempts'])} earlier attempt(s) lost their process; resumed",
                              className="small text-muted"))
    return html.Div(className="wb-job border rounded p-2 mb-2", id={"type": "job-card", "job": job["id"]},
                    **{"data-state": state}, children=[
        html.Div(className="d-flex align-items-center gap-2 mb-1", children=[
            dbc.Badge(state, color=STATE_COLORS.get(state, "secondary"), className="wb-job-state"),
            html.Strong(job["kind"]), html.Code(job["target"]),
            html.Span(f"{job['id']} · {job['created'][:19].replace('T', ' ')}", className="small text-muted me-auto"),
            *buttons]),
        bar, *notes])


def refresh(store, _n, kinds, digest):
    """Re-render the list only when a record changed (clicks on its buttons are not lost)."""
    listed = [j for j in jobs.listing(store, limit=100) if not kinds or j["kind"] in kinds][:40]
    cancelling = {j["id"] for j in listed if j["state"] in ("queued", "running") and store.cancel_requested(j["id"])}
    new_digest = hashlib.sha1(json.dumps([listed, sorted(cancelling)], sort_keys=True, default=str).encode()).hexdigest()
    if new_digest == digest:
        return dash.no_update, dash.no_update
    if not listed:
        return html.P("No jobs yet.", className="text-muted"), new_digest
    return [job_card(j, j["id"] in cancelling) for j in listed], new_digest


def cancel_or_resume(store, _cancels, _resumes):
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not ctx.triggered[0]["value"]:
        return dash.no_update, dash.no_update  # a button appeared; nobody clicked it
    try:
        if trigger["type"] == "job-cancel":
            jobs.cancel(store, trigger["job"])
            return dash.no_update, None
        return start([jobs.resume(store, trigger["job"])]), None
    except UserError:
        return dash.no_update, None  # e.g. resumed twice: the list shows the state as it is


def register(app, store) -> None:
    """The panel's callbacks, once per app (the Train, Analyze and Jobs pages all show the panel)."""
    app.callback(Output("jobs-list", "children"), Output("jobs-digest", "data"),
                 Input("jobs-interval", "n_intervals"), Input("jobs-kinds", "data"), State("jobs-digest", "data"),
                 )(lambda *args: refresh(store, *args))
    app.callback(Output("job-runners", "children", allow_duplicate=True),
                 Output("jobs-digest", "data", allow_duplicate=True),
                 Input({"type": "job-cancel", "job": ALL}, "n_clicks"),
                 Input({"type": "job-resume", "job": ALL}, "n_clicks"),
                 prevent_initial_call=True)(lambda *args: cancel_or_resume(store, *args))
