"""The Dash app: a collapsible sidebar (variant, epoch, neuron, head) around one page per question.

The app holds no mutable server state: the selection is in the browser (see `selection`), data
is in the store and its caches, and the data root is fixed when the app is created. Pages live
in `workbench/pages/`, one module per question (`PAGES`); `create_app` registers the shell's and
every page's callbacks on the app object itself, with the app's store, so several apps can live
in one process (tests, benchmarks, a worker). The router is ours: Dash's page container would
re-render the whole page whenever the query string changes, i.e. on every epoch step, throwing
away every figure instead of moving cursors. The app imports neither torch nor TransformerLens at
start-up; only a page that needs per-input maps not yet in the cache loads them.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import unquote

import dash
from dash import MATCH, CeleryManager, Input, Output, html

from workbench import jobs
from workbench.config import family_dirs, load_plugins
from workbench.errors import UserError
from workbench.pages import (_jobs, _run, _shell, analyze, attention, compare, dimensionality, dynamics, fourier,
                             imports, inputs, jobs as jobs_page, neurons, overview, progress, reports, train,
                             trajectories, variants)
from workbench.pages._common import graph_config
from workbench.store import Store
from workbench.worker import celery_app

PACKAGE = Path(__file__).resolve().parent
PAGES = (variants, overview, fourier, neurons, attention, trajectories, dimensionality, progress, dynamics, inputs,
         compare, reports, train, imports, analyze, jobs_page)  # in the sidebar's order
log = logging.getLogger("workbench.app")


def create_app(data_root: str | Path | None = None, *, broker: str | None = None, celery=None) -> dash.Dash:
    """The app on one data root. Jobs (train, extend, analyze) run in their own Python process on
    this machine, or as background callbacks on Celery workers when a `broker` URL (or a ready
    `celery` app) is given - workers that share this data root."""
    load_plugins()  # users' analyzers and renderers, for the report pages
    store = Store(data_root)
    if celery is None and broker:
        celery = celery_app(broker, str(store.root))
    manager = CeleryManager(celery) if celery is not None else None
    app = dash.Dash(
        __name__, assets_folder=str(PACKAGE / "assets"), title="workbench", suppress_callback_exceptions=True,
        update_title=None,
        # Everything is served from the package: the app works offline.
        serve_locally=True, external_stylesheets=[], external_scripts=[],
        background_callback_manager=manager,
        on_error=callback_error)  # a failing callback shows a message, never a traceback
    hide_server_paths(app.server, store)
    app.layout = lambda: _shell.layout(store, PAGES)
    _shell.register(app, store)
    _run.register(app, store, PAGES)
    _jobs.register(app, store)
    for page in PAGES:
        page.register(app, store)
    app.callback(Output("page-content", "children"), Input("url", "pathname"), Input("download-format", "value"))(
        lambda pathname, download_format: route(store, pathname, download_format))
    register_job_runner(app, str(store.root), on_celery=celery is not None)
    return app


def hide_server_paths(server, store: Store) -> None:
    """Messages carry full paths for the command line (`no variant x in /home/me/data`, a damaged
    file's path); in what the app answers, the data root, the family directories and the home
    directory become `<data root>`, `<families>` and `~`, so the server's layout stays its own."""
    prefixes = {str(Path.home()): "~", **{str(d.resolve()): "<families>" for d in family_dirs()},
                str(store.root): "<data root>"}
    prefixes = {path: label for path, label in prefixes.items() if len(path) > 1}  # never "/" itself
    if not prefixes:
        return
    pattern = re.compile("(?:" + "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True)) + ")"
                         + r"(?=[/\s\"'`),;:]|$)")

    @server.after_request
    def hide(response):
        if response.direct_passthrough or response.mimetype != "application/json" or response.content_encoding:
            return response
        text = response.get_data(as_text=True)
        if any(prefix in text for prefix in prefixes):  # a plain scan first: most answers hold no path
            response.set_data(pattern.sub(lambda m: prefixes[m.group(0)], text))
        return response


def route(store: Store, pathname: str | None, download_format: str | None):
    """The page for the path, its figures' toolbar saving in `download_format` (PNG or SVG)."""
    for page in PAGES:
        variables = path_variables(page, pathname or "/")
        if variables is not None:
            return page.layout(store, graph_config(download_format), **variables)
    return html.Div([html.H3("No such page"), html.P(f"{pathname} is not a page of the workbench; "
                                                     "pick one in the sidebar.")])


def path_variables(page, pathname: str) -> dict | None:
    """{} when `pathname` is the page's path, the values of its `PATH_TEMPLATE` variables
    (`/reports/<name>`) when it matches that, else None."""
    if page.PATH == pathname:
        return {}
    template = getattr(page, "PATH_TEMPLATE", None)
    parts, wanted = pathname.strip("/").split("/"), (template or "").strip("/").split("/")
    if not template or len(parts) != len(wanted):
        return None
    variables = {}
    for part, want in zip(parts, wanted):
        if want.startswith("<") and want.endswith(">"):
            variables[want[1:-1]] = unquote(part)
        elif part != want:
            return None
    return variables


def callback_error(err: Exception):
    """Dash's `on_error` for every callback: a user's error (`workbench.errors`) is shown as it
    is; anything else is a bug, logged with its traceback and named in a short alert."""
    if isinstance(err, UserError):
        text = str(err)
    else:
        log.error("callback failed", exc_info=err)
        text = (f"Something went wrong answering that request ({type(err).__name__}); the server log has the "
                "details. Reload the page to start again.")
    dash.set_props("app-error", {"children": text, "is_open": True})
    return None  # the callback's outputs keep their values


def register_job_runner(app: dash.Dash, root: str, on_celery: bool) -> None:
    """One callback per job: a runner (see `pages._jobs.runner`) mounted in the shell starts it, so
    it keeps running while the user moves between pages. On Celery every job is its own task (a
    sweep fans out over the workers). On this machine every job is a fresh Python process
    (`jobs.start_process`), and `jobs.local_slots()` of them run at once: started with fork+exec,
    never a fork of this threaded server (a forked child inherits other threads' locks: Dash's
    DiskcacheManager children hung in SQLite's connect, and the server waited for them at exit)."""
    if on_celery:
        app.callback(Output({"type": "job-finished", "job": MATCH}, "data"),
                     Input({"type": "job-runner", "job": MATCH}, "data"), background=True,
                     )(lambda job_id: jobs.execute(Store(root), job_id)["state"])
    else:
        app.callback(Output({"type": "job-finished", "job": MATCH}, "data"),
                     Input({"type": "job-runner", "job": MATCH}, "data"),
                     )(lambda job_id: jobs.start_process(root, job_id).pid and "started")