"""Serving the app: loopback by default, a token for anyone else, and no traceback in the browser.

- `serve` binds 127.0.0.1 unless told otherwise. Binding another interface needs
  `allow_remote=True` (`workbench serve --allow-remote`) and an access token (`--token`, or
  $WORKBENCH_TOKEN), and prints a warning: the app starts training jobs and reads the data root,
  so whoever can reach it can use the machine's CPU and read every run.
- With a token, every request (pages, assets, callbacks) must carry it: the first visit opens
  `http://host:port/?token=T`, which sets a cookie and redirects to the same page without the
  token in the address bar; scripts can send `Authorization: Bearer T` instead.
- A callback that fails answers with a short message in the page (and the traceback goes to the
  server's log, not the browser: `workbench.app.callback_error`). Flask/Dash debug mode stays off
  unless `debug=True`.
- The app is served by waitress, a production WSGI server (`THREADS` request threads), not Flask's
  development server; only `debug=True` uses the development server, for its reloader and error pages.
- `run_worker` starts a Celery worker that runs the app's jobs (see `workbench.worker`).
"""
from __future__ import annotations

import contextlib
import errno
import hmac
import logging
import os
import socket
import sys
import threading
from urllib.parse import parse_qsl, urlencode

import waitress
from flask import redirect, request

from workbench import derived
from workbench.app import create_app
from workbench.errors import BadInputError
from workbench.store import Store
from workbench.worker import celery_app

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# Request threads. Requests are short (the per-input maps a page needs take ~50 ms cold, see
# `derived`) and hold the GIL for most of their time, so more threads only share it more finely:
# the requests that draw most, neurons and attention, then wait longest. benchmarks/bench_load.py,
# 20 clients on 2 busy cores, nothing cached: 16 threads p95 4.6-5.6 s on those pages (1.0 s
# overall, 50 requests/s, 1.6 GB); 8 threads 2.2-2.7 s (0.77 s, 57/s); 4 threads 0.9-1.0 s
# (0.66 s, 60/s, 0.85 GB).
THREADS = 4
COOKIE = "workbench_token"
MIN_TOKEN = 16


class ServeError(BadInputError):
    """The app cannot be served as asked; the message says what to change."""


def access_token(token: str | None) -> str | None:
    """The token given, else $WORKBENCH_TOKEN, else None; a short one is refused."""
    token = token or os.environ.get("WORKBENCH_TOKEN") or None
    if token is not None and len(token) < MIN_TOKEN:
        raise ServeError(f"the access token is {len(token)} characters; use at least {MIN_TOKEN}, e.g. "
                         "--token $(python -c 'import secrets; print(secrets.token_urlsafe())')")
    return token


def check_binding(host: str, allow_remote: bool, token: str | None, debug: bool = False) -> None:
    if debug and (allow_remote or host not in LOOPBACK):
        raise ServeError("--debug cannot be combined with --allow-remote or another --host: debug mode serves "
                         "Werkzeug's interactive console (/console), which runs Python on this machine and does not "
                         "ask for the token; debug on 127.0.0.1 only")
    if host in LOOPBACK:
        return
    if not allow_remote:
        raise ServeError(f"serving on {host} exposes the app to other machines; pass --allow-remote (with "
                         "--token or $WORKBENCH_TOKEN) to do that, or leave --host at 127.0.0.1")
    if token is None:
        raise ServeError(f"serving on {host} needs an access token: pass --token T or set $WORKBENCH_TOKEN")


def check_port(port: int) -> None:
    """Refuse a port that is not one before anything starts (`--port 99999`)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ServeError(f"--port {port} is not a TCP port; use 1-65535 (default 8050)")


def protect(server, token: str) -> None:
    """Refuse every request to the Flask `server` that does not carry `token`."""
    def carries(value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), token.encode())

    @server.before_request
    def require_token():
        header = request.headers.get("Authorization", "")
        if carries(request.cookies.get(COOKIE)) or carries(header.removeprefix("Bearer ").strip() or None):
            return None
        if carries(request.args.get("token")):
            rest = urlencode([(k, v) for k, v in parse_qsl(request.query_string.decode()) if k != "token"])
            response = redirect(request.path + ("?" + rest if rest else ""))
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
            return response
        return ("This workbench needs its access token: open the link you were given "
                "(…/?token=…), or ask whoever runs it.\n", 401, {"Content-Type": "text/plain; charset=utf-8"})


def _import_shared_modules() -> None:
    """Import pandas before requests run in threads. Plotly looks it up in `sys.modules` without
    the import lock while rendering, so a library that imports it lazily inside a request (as
    TransformerLens did when the app's maps still used it; a user's plugin may) left another
    thread's figure with a half-imported pandas ("partially initialized module 'pandas' has no
    attribute 'Series'": the load benchmark's errors)."""
    with contextlib.suppress(ImportError):
        import pandas  # noqa: F401  (heavy, and only this fix needs it)


def _import_model() -> None:
    import workbench.model  # noqa: F401  (torch: what the per-input maps run on)


def serve(root, *, host: str = "127.0.0.1", port: int = 8050, query: str = "", broker: str | None = None,
          token: str | None = None, allow_remote: bool = False, debug: bool = False) -> int:
    """Serve the app on `root` until Ctrl-C: the one way the command line serves it."""
    token = access_token(token)
    check_binding(host, allow_remote, token, debug)
    check_port(port)
    _import_shared_modules()
    derived.set_compute_threads(1)  # requests compute side by side, one torch thread each
    # The app answers at once without torch; the first neuron or attention map needs it. Loading
    # it now, beside the first requests, spares that page its seconds of import.
    threading.Thread(target=_import_model, name="import-torch", daemon=True).start()
    app = create_app(root, broker=broker)
    if token:
        protect(app.server, token)
    shown = f"[{host}]" if ":" in host else host
    if host not in LOOPBACK:
        print(f"WARNING: serving on {host}: anyone who can reach port {port} and has the token can read every "
              "run in the data root and start jobs on this machine. Share the link only with people you trust, "
              "and prefer an SSH tunnel or a reverse proxy with TLS (the token travels in clear over HTTP).",
              file=sys.stderr, flush=True)
    link = f"http://{shown}:{port}/{query}"
    if token:
        link += ("&" if query else "?") + "token=<the token>"
    print(f"serving {root} at {link}  (Ctrl-C stops)", flush=True)
    try:
        if debug:
            app.run(host=host, port=port, debug=True)  # Flask's development server: reloader, error pages
        else:
            # waitress warns "Task queue depth is N" whenever a request waits for a thread: routine
            # when many users step epochs at once, and no use in the terminal.
            logging.getLogger("waitress.queue").setLevel(logging.ERROR)
            waitress.serve(app.server, host=host, port=port, threads=THREADS)
    except OSError as err:  # a port below 1024 without root, an address this machine does not have
        reason = {errno.EADDRINUSE: "another program is using it", errno.EACCES: "ports below 1024 need root"}.get(
            err.errno, err.strerror or str(err))
        raise ServeError(f"cannot serve on {host}:{port}: {reason}; pick another --port or --host") from None
    return 0


def run_worker(broker: str, data_root: str, concurrency: int = 1, name: str | None = None) -> None:
    """Start a worker: it runs `workbench.run_job` tasks and the app's background callbacks
    (for which it builds the app once, so Dash registers them as Celery tasks)."""
    root = str(Store(data_root).root)
    app = celery_app(broker, root)
    create_app(root, celery=app)
    name = name or f"workbench-{os.getpid()}@{socket.gethostname()}"
    app.worker_main(["worker", "--loglevel", "INFO", "--concurrency", str(concurrency), "--hostname", name,
                     "--without-gossip", "--without-mingle"])
