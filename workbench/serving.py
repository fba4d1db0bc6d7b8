"""Serving the app: loopback by default, a token for anyone else, and no traceback in the browser.

- `serve` binds 127.0.0.1 unless told otherwise. Binding another interface needs
  `allow_remote=True` (`workbench serve --allow-remote`) and an access token (`--token`, or
  $WORKBENCH_TOKEN), and prints a warning: the app starts training jobs and reads the data root,
  so whoever can reach it can use the machine's CPU and read every run.
- With a token, every request (pages, assets, callbacks) must carry it: the first visit opens
  `http://host:port/?token=T`, which sets a cookie and redirects to the same page without the
  token in the address bar; scripts can send `Authorization: Bearer T` instead.
- A callback that fails answers with a short message in the page (and the traceback goes to the
  server's log, not the browser). Flask/Dash debug mode stays off unless `debug=True`.
"""
from __future__ import annotations

import contextlib
import hmac
import logging
import os
import sys
from urllib.parse import parse_qsl, urlencode

LOOPBACK = ("127.0.0.1", "localhost", "::1")
COOKIE = "workbench_token"
MIN_TOKEN = 16
log = logging.getLogger("workbench.serving")


class ServeError(ValueError):
    """The app cannot be served as asked; the message says what to change."""


def access_token(token: str | None) -> str | None:
    """The token given, else $WORKBENCH_TOKEN, else None; a short one is refused."""
    token = token or os.environ.get("WORKBENCH_TOKEN") or None
    if token is not None and len(token) < MIN_TOKEN:
        raise ServeError(f"the access token is {len(token)} characters; use at least {MIN_TOKEN}, e.g. "
                         "--token $(python -c 'import secrets; print(secrets.token_urlsafe())')")
    return token


def check_binding(host: str, allow_remote: bool, token: str | None) -> None:
    if host in LOOPBACK:
        return
    if not allow_remote:
        raise ServeError(f"serving on {host} exposes the app to other machines; pass --allow-remote (with "
                         "--token or $WORKBENCH_TOKEN) to do that, or leave --host at 127.0.0.1")
    if token is None:
        raise ServeError(f"serving on {host} needs an access token: pass --token T or set $WORKBENCH_TOKEN")


def protect(server, token: str) -> None:
    """Refuse every request to the Flask `server` that does not carry `token`."""
    from flask import redirect, request

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


def callback_error(err: Exception):
    """Dash's `on_error` for every callback: show the user what went wrong, log the rest."""
    import dash

    if _is_user_error(err):
        text = str(err)
    else:
        log.error("callback failed", exc_info=err)
        text = (f"Something went wrong answering that request ({type(err).__name__}); the server log has the "
                "details. Reload the page to start again.")
    dash.set_props("app-error", {"children": text, "is_open": True})
    return None  # the callback's outputs keep their values


def _is_user_error(err: Exception) -> bool:
    """Whether `err` is one of `jobs.user_errors()`, without importing torch into the UI (the
    errors of the modules that need torch cannot have been raised before torch was imported)."""
    from workbench.families import FamilyError
    from workbench.store import StoreError
    if isinstance(err, (StoreError, FamilyError, ServeError)):
        return True
    from workbench.jobs import user_errors
    return "torch" in sys.modules and isinstance(err, user_errors())


def _import_shared_modules() -> None:
    """Import pandas before requests run in threads. TransformerLens imports it the first time a
    page needs per-input maps, and plotly looks it up in `sys.modules` without the import lock
    while rendering; another thread's figure then met a half-imported pandas ("partially
    initialized module 'pandas' has no attribute 'Series'": the load benchmark's errors)."""
    with contextlib.suppress(ImportError):
        import pandas  # noqa: F401


def serve(root, *, host: str = "127.0.0.1", port: int = 8050, query: str = "", broker: str | None = None,
          token: str | None = None, allow_remote: bool = False, debug: bool = False) -> int:
    """Serve the app on `root` until Ctrl-C: the one way the command line serves it."""
    from workbench.app import create_app
    token = access_token(token)
    check_binding(host, allow_remote, token)
    _import_shared_modules()
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
    app.run(host=host, port=port, debug=debug)
    return 0
