"""Page callbacks without a browser: cursors move by Patch, details follow, missing data is explained."""
from __future__ import annotations

import subprocess
import sys

import pytest
from dash import Patch, no_update

from workbench.app import create_app
from workbench.pages import fourier, neurons, overview


@pytest.fixture
def app_context(tiny_analyzed):
    store, ref = tiny_analyzed
    return store, ref


def test_an_epoch_change_moves_summary_cursors_by_patch(app_context):
    store, ref = app_context
    selection = {"variant": str(ref), "epoch": 100, "neuron": 0, "head": 0}
    *first, rendered = overview.FIGURES.summaries(store, selection, None)
    assert all(not isinstance(f, Patch) for f in first[:4]) and rendered["loss"]["key"] == [str(ref)]
    *moved, rendered_again = overview.FIGURES.summaries(store, {**selection, "epoch": 250}, rendered)
    assert all(isinstance(f, Patch) for f in moved[:4])
    assert "250" in str(moved[0].to_plotly_json())
    *same, _ = overview.FIGURES.summaries(store, {**selection, "epoch": 250}, rendered_again)
    assert all(f is no_update for f in same[:8])  # nothing moved: nothing sent


def test_a_summary_that_follows_the_neuron_is_rebuilt_when_the_neuron_changes(app_context):
    store, ref = app_context
    selection = {"variant": str(ref), "epoch": 100, "neuron": 3}
    *_, rendered = neurons.FIGURES.summaries(store, selection, False, 1, None)
    *figures, _ = neurons.FIGURES.summaries(store, {**selection, "neuron": 4}, False, 1, rendered)
    names = [spec.name for spec in neurons.FIGURES.summary_specs]
    shown = dict(zip(names, figures))
    assert shown["fve"]["layout"]["title"]["text"].startswith("Neuron 4")
    assert all(shown[name] is no_update for name in names if name != "fve")  # they do not follow the neuron


def test_details_show_the_selected_epoch_and_neuron(app_context):
    store, ref = app_context
    figures = neurons.FIGURES.details(store, {"variant": str(ref), "epoch": 250, "neuron": 5}, True, 1, None)
    clusters, heatmap, grid = figures[:3]  # as sent to the browser: plain dicts
    assert "250" in clusters["layout"]["title"]["text"]
    assert heatmap["layout"]["title"]["text"].startswith("neuron 5 ")
    assert "28" in heatmap["layout"]["xaxis"]["title"]["text"]  # the down-sample switch is on


def test_missing_artifacts_name_the_command_to_run(app_context):
    store, ref = app_context
    from workbench.families import load_family
    from workbench.training import train
    variant = load_family("tiny_addition").variant(epochs=10, every=[[10, 10]])
    train(variant, store, progress=False)
    figures = fourier.FIGURES.details(store, {"variant": f"tiny_addition/{variant.id}", "epoch": 10}, None)
    assert f"workbench analyze tiny_addition/{variant.id}" in figures[0]["layout"]["annotations"][0]["text"]


def test_the_app_starts_without_importing_torch(tiny_analyzed):
    store, _ = tiny_analyzed
    code = ("import sys; from workbench.app import create_app; app = create_app(sys.argv[1]);"
            "app.server.test_client().get('/'); print('torch' in sys.modules, 'transformer_lens' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(store.root)], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_export_writes_a_standalone_report(tiny_analyzed, tmp_path):
    store, ref = tiny_analyzed
    from workbench.export import export_report
    path = export_report(ref, store, epoch=260, pages=("overview", "progress"), out=tmp_path / "report.html")
    text = path.read_text()
    assert "at epoch 250" in text and "Progress" in text and "plotly" in text.lower()
    assert "cdn" not in text.split("<body>")[0].lower()  # plotly.js is inlined, not fetched


def test_every_app_in_one_process_gets_every_callback(tmp_path):
    """Tests, export and benchmarks create several apps in one process: the last one must still
    get the callbacks of modules imported only once (the job panel shared by three pages)."""
    def outputs(root):
        app = create_app(root)
        return {c["output"] for c in app.server.test_client().get("/_dash-dependencies").get_json()}
    first, second = outputs(tmp_path / "one"), outputs(tmp_path / "two")
    assert any("jobs-list.children" in output for output in first)
    assert first == second


def test_a_figure_is_sent_as_what_changed_since_the_browsers_copy():
    import numpy as np
    import plotly.graph_objects as go
    from workbench.pages import _patches
    from workbench.pages._common import for_browser

    def heatmap(z, title, ticks=None):
        fig = go.Figure(go.Heatmap(z=np.asarray(z, np.float32), colorscale="Viridis"),
                        layout=dict(template="plotly_white", title=dict(text=title),
                                   xaxis=dict(title=dict(text="neuron"), tickvals=ticks)))
        return for_browser(fig)

    first = heatmap([[0, 1], [2, 3]], "at epoch 10", [0, 1])
    sent, prints = _patches.update(first, None)
    assert sent is first                                          # nothing in the browser yet: all of it
    assert _patches.update(first, prints)[0] is no_update         # nothing changed: nothing sent
    second = heatmap([[0, 1], [2, 4]], "at epoch 20")
    patch, _ = _patches.update(second, prints)
    operations = {tuple(op["location"]): op for op in patch.to_plotly_json()["operations"]}
    assert set(operations) == {("data", 0, "z"), ("layout", "title", "text"), ("layout", "xaxis", "tickvals")}
    assert operations[("layout", "xaxis", "tickvals")]["operation"] == "Delete"  # the ticks went away
    assert operations[("data", 0, "z")]["params"]["value"] == second["data"][0]["z"]  # packed, as plotly sends it
    two = for_browser(go.Figure([go.Heatmap(z=[[1]]), go.Scatter(y=[1])]))
    assert _patches.update(two, prints)[0] is two                 # other traces: the whole figure


def test_an_epoch_step_sends_the_details_changed_parts_and_captions_only_when_they_change(app_context):
    store, ref = app_context
    selection = {"variant": str(ref), "epoch": 100, "neuron": 3, "head": 0}
    *first, shown = overview.FIGURES.details(store, selection, None)
    assert all(isinstance(f, dict) and "template" in f["layout"] for f in first[:2])
    *moved, shown = overview.FIGURES.details(store, {**selection, "epoch": 250}, shown)
    for patch in moved[:2]:
        locations = [op["location"] for op in patch.to_plotly_json()["operations"]]
        assert ["layout", "title", "text"] in locations and ["layout", "template"] not in locations
    *again, _ = overview.FIGURES.details(store, {**selection, "epoch": 250, "head": 1}, shown)
    assert all(f is no_update for f in again[:4])                 # the head is not on these figures


def test_a_lazy_figure_is_drawn_only_once_it_is_seen_and_follows_the_epoch_only_while_seen(app_context):
    from workbench.pages import neurons
    store, ref = app_context
    grid = next(spec for spec in neurons.FIGURES.detail_specs if spec.lazy)
    selection, controls = {"variant": str(ref), "epoch": 100, "neuron": 3, "head": 0}, (False, 1)
    for unseen in (None, False):  # lazy.js has not looked yet; it looked: below the fold
        assert neurons.FIGURES.detail(store, grid, selection, *controls, None, visible=unseen) == [no_update] * 3
    figure, text, shown = neurons.FIGURES.detail(store, grid, selection, *controls, None, visible=True)
    assert isinstance(figure, dict) and "100" in figure["layout"]["title"]["text"]
    step = {**selection, "epoch": 250}
    assert neurons.FIGURES.detail(store, grid, step, *controls, shown, visible=False) == [no_update] * 3
    patch = neurons.FIGURES.detail(store, grid, step, *controls, shown, visible=True)[0]  # scrolled to: catches up
    assert ["layout", "title", "text"] in [op["location"] for op in patch.to_plotly_json()["operations"]]
    scale = next(spec for spec in neurons.FIGURES.summary_specs if spec.lazy)  # a lazy summary: drawn once seen
    assert neurons.FIGURES.summary(store, scale, selection, *controls, None, visible=False) == [no_update] * 3
    figure, _, rendered = neurons.FIGURES.summary(store, scale, selection, *controls, None, visible=True)
    assert isinstance(figure, dict) and rendered["cursors"] >= 1
    moved = neurons.FIGURES.summary(store, scale, step, *controls, rendered, visible=False)[0]  # drawn: its cursor
    assert moved is not no_update                                                         # moves even off screen


def test_users_share_each_drawn_figure_until_the_variants_files_change(app_context, tmp_path):
    """Twenty researchers stepping through one run must not draw each figure twenty times: a
    summary is drawn once per variant (each user gets their own cursor), a detail figure once per
    selection, and both again once the run's files change (an analysis landed, training went on)."""
    import json as json_
    import os
    from workbench.pages._common import FigurePage, FigureSpec
    from workbench.renderers import CATALOG
    from workbench.figures import build as build_figure
    store, ref = app_context
    drawn = []

    def counted(name):
        def build(store_, ref_, selection):
            drawn.append((name, selection.get("epoch")))
            return build_figure(store_, ref_, name, selection)
        build.click = CATALOG[name].click
        return build
    page = FigurePage("memo-test", [FigureSpec("loss", "Loss", counted("loss_curves")),
                                    FigureSpec("we", "W_E", counted("embedding_fourier_norms"), summary=False)])
    loss, we = page.summary_specs[0], page.detail_specs[0]
    first = page.summary(store, loss, {"variant": str(ref), "epoch": 100}, None)[0]
    second = page.summary(store, loss, {"variant": str(ref), "epoch": 250}, None)[0]
    assert drawn == [("loss_curves", 100)]
    cursor = lambda figure: figure["layout"]["shapes"][0]["x0"]  # noqa: E731
    assert (cursor(first), cursor(second)) == (100, 250)  # each user's copy, the kept one untouched
    for _ in range(2):
        page.detail(store, we, {"variant": str(ref), "epoch": 250}, None)
    page.detail(store, we, {"variant": str(ref), "epoch": 100}, None)
    assert drawn[1:] == [("embedding_fourier_norms", 250), ("embedding_fourier_norms", 100)]

    manifest = store.variant_dir(ref) / "artifacts" / "manifest.json"
    later = manifest.stat().st_mtime_ns + 10**9
    os.utime(manifest, ns=(later, later))  # what an analysis landing does to the stamp
    page.summary(store, loss, {"variant": str(ref), "epoch": 100}, None)
    page.detail(store, we, {"variant": str(ref), "epoch": 250}, None)
    assert drawn[3:] == [("loss_curves", 100), ("embedding_fourier_norms", 250)]
    assert json_.dumps(first)  # what was sent stays JSON
