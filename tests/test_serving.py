"""Serving: loopback by default, remote only with a flag and a token that every request must
carry, forged callback inputs answered with a message instead of a traceback."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import dash
import pytest
import waitress

from workbench.cli import main
from workbench.serving import ServeError, check_binding, protect

TOKEN = "s3cret-token-for-the-lab"


def _dash_post(client, output: str, inputs: list[dict], state: list[dict] | None = None, headers=None):
    body = {"output": output, "outputs": [{"id": o.split(".")[0], "property": o.split(".")[1]}
                                          for o in output.strip(".").split("...")],
            "inputs": inputs, "state": state or [], "changedPropIds": [f"{i['id']}.{i['property']}" for i in inputs]}
    if "..." not in output:
        body["outputs"] = body["outputs"][0]
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=headers or {})


@pytest.fixture
def app(store):
    from workbench.app import create_app
    return create_app(store.root)


def test_loopback_needs_nothing_but_other_interfaces_need_the_flag_and_a_token():
    check_binding("127.0.0.1", allow_remote=False, token=None)
    with pytest.raises(ServeError, match="pass --allow-remote"):
        check_binding("0.0.0.0", allow_remote=False, token=TOKEN)
    with pytest.raises(ServeError, match="needs an access token"):
        check_binding("0.0.0.0", allow_remote=True, token=None)
    check_binding("0.0.0.0", allow_remote=True, token=TOKEN)


def test_serve_command_refuses_a_public_interface_and_a_short_token(capsys, monkeypatch):
    monkeypatch.delenv("WORKBENCH_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 1
    assert "pass --allow-remote" in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0", "--allow-remote"]) == 1
    assert "needs an access token" in capsys.readouterr().err
    assert main(["serve", "--token", "short"]) == 1
    assert "use at least 16" in capsys.readouterr().err


def test_serve_binds_loopback_by_default_and_warns_when_remote(capsys, monkeypatch):
    bound = []
    monkeypatch.setattr(waitress, "serve", lambda app, host, port, threads: bound.append((host, port, "waitress")))
    monkeypatch.setattr(dash.Dash, "run", lambda self, host, port, debug: bound.append((host, port, "dev", debug)))
    assert main(["serve", "--port", "8123"]) == 0
    assert bound[-1] == ("127.0.0.1", 8123, "waitress") and "WARNING" not in capsys.readouterr().err
    monkeypatch.setenv("WORKBENCH_TOKEN", TOKEN)
    assert main(["serve", "--host", "0.0.0.0", "--allow-remote"]) == 0
    out = capsys.readouterr()
    assert bound[-1] == ("0.0.0.0", 8050, "waitress") and "WARNING: serving on 0.0.0.0" in out.err
    assert TOKEN not in out.out + out.err  # the token is not printed to logs
    assert main(["serve", "--debug"]) == 0  # only --debug runs Flask's development server
    assert bound[-1] == ("127.0.0.1", 8050, "dev", True)


def test_serve_answers_from_a_production_server_without_the_development_server_warning(tmp_path):
    """`workbench serve` for real: pages and callbacks come from waitress, and Flask's "This is a
    development server" warning is not printed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen([sys.executable, "-m", "workbench.cli", "serve", "--data", str(tmp_path / "data"),
                                   "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-layout", timeout=10) as response:
                    assert response.status == 200 and response.headers["Server"] == "waitress"
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/fourier", timeout=30) as response:
            assert response.status == 200 and b"workbench" in response.read()
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert f"at http://127.0.0.1:{port}/" in text and "development server" not in text.lower(), text


def test_every_page_asset_and_callback_needs_the_token(app):
    protect(app.server, TOKEN)
    client = app.server.test_client()
    for path in ("/", "/fourier", "/_dash-layout", "/_dash-dependencies", "/assets/workbench.css"):
        assert client.get(path).status_code == 401, path
    assert _dash_post(client, "page-content.children", [{"id": "url", "property": "pathname", "value": "/"}],
                      ).status_code == 401
    assert client.get("/?token=wrong-token-of-the-same-size").status_code == 401
    first = client.get(f"/fourier?variant=f/v&token={TOKEN}&epoch=3")
    assert first.status_code == 302 and first.headers["Location"].endswith("/fourier?variant=f%2Fv&epoch=3")
    assert "HttpOnly" in first.headers["Set-Cookie"] and "SameSite=Strict" in first.headers["Set-Cookie"]
    assert client.get("/fourier").status_code == 200  # the cookie now carries it
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert app.server.test_client().get("/_dash-layout", headers=bearer).status_code == 200


def test_forged_selection_values_get_a_clean_answer_not_a_traceback(app):
    """A client can post any JSON as a callback's inputs; the selection callback answers with a
    valid selection (and the sidebar's message) instead of failing."""
    client = app.server.test_client()
    client.get("/_dash-dependencies")  # the app takes its callbacks on its first request
    callback_id = next(k for k in app.callback_map if k.startswith("..url.search...selection.data"))
    inputs = [{"id": "url", "property": "search", "value": "?epoch=1e999&neuron=-1&variant=../../etc"},
              {"id": "variant", "property": "value", "value": {"evil": 1}},
              {"id": "epoch-slider", "property": "value", "value": "NaN"},
              {"id": "epoch-input", "property": "value", "value": [1, 2]},
              {"id": "epoch-prev", "property": "n_clicks", "value": None},
              {"id": "epoch-next", "property": "n_clicks", "value": None},
              {"id": "neuron", "property": "value", "value": 1e300},
              {"id": "neuron-prev", "property": "n_clicks", "value": None},
              {"id": "neuron-next", "property": "n_clicks", "value": None},
              {"id": "head", "property": "value", "value": "x"},
              {"id": "input-pair", "property": "value", "value": 7},
              {"id": "probe", "property": "value", "value": ["a"]},
              {"id": "compare-with", "property": "value", "value": [["a"], 3, "../x"]},
              {"id": "graph-click", "property": "data",
               "value": {"click": "variant", "data": {"points": [{"customdata": "../../etc"}]}}},
              {"id": "live", "property": "data", "value": {"stamp": ["x"], "epochs": "junk"}},
              {"id": "follow-latest", "property": "value", "value": "yes"}]
    state = [{"id": "selection", "property": "data", "value": {"variant": ["x"], "epoch": "junk"}},
             {"id": "variant", "property": "options", "value": "not a list"},
             {"id": "shown-epochs", "property": "data", "value": {"evil": [1e999]}}]
    outputs = [dict(zip(("id", "property"), spec.rsplit(".", 1))) for spec in callback_id.strip(".").split("...")]
    for changed in ("url.search", "neuron.value", "graph-click.data"):
        body = {"output": callback_id, "outputs": outputs, "inputs": inputs, "state": state,
                "changedPropIds": [changed]}
        response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        answer = response.get_json()["response"]
        assert answer["selection"]["data"] == {"variant": None, "epoch": None, "neuron": 0, "head": 0,
                                               "compare": []}, changed
        assert "No run '../../etc' in this data root" in answer["selection-error"]["children"]
        assert "sideUpdate" not in response.get_json()  # answered, not failed


def test_a_failing_callback_shows_a_message_and_keeps_the_traceback_in_the_log(app, caplog):
    @app.callback(dash.Output("boom-out", "children"), dash.Input("boom-in", "value"))
    def boom(value):
        return {"a": 1}[value]  # a bug: KeyError for anything but "a"
    response = _dash_post(app.server.test_client(), "boom-out.children",
                          [{"id": "boom-in", "property": "value", "value": "b"}])
    assert response.status_code in (200, 204)
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    side = response.get_json()["sideUpdate"]["app-error"]
    assert side["is_open"] and "Something went wrong answering that request (KeyError)" in side["children"]
    assert any("callback failed" in r.message and r.exc_info for r in caplog.records)


def test_a_user_error_in_a_callback_shows_its_own_message(app):
    from workbench.errors import UserError

    @app.callback(dash.Output("user-out", "children"), dash.Input("user-in", "value"))
    def refuse(value):
        raise UserError(f"invalid variant name {value!r}: use letters, digits and _ . = , + - only")
    response = _dash_post(app.server.test_client(), "user-out.children",
                          [{"id": "user-in", "property": "value", "value": "../x"}])
    assert "invalid variant name '../x'" in response.get_json()["sideUpdate"]["app-error"]["children"]
