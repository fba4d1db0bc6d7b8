"""Page callbacks without a browser: cursors move by Patch, details follow, missing data is explained."""
from __future__ import annotations

import subprocess
import sys

import pytest
from dash import Patch

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
    assert all(not isinstance(f, Patch) for f in first[:4]) and rendered["key"] == [str(ref)]
    *moved, rendered_again = overview.FIGURES.summaries(store, {**selection, "epoch": 250}, rendered)
    assert all(isinstance(f, Patch) for f in moved[:4])
    assert "250" in str(moved[0].to_plotly_json())


def test_a_summary_that_follows_the_neuron_is_rebuilt_when_the_neuron_changes(app_context):
    store, ref = app_context
    selection = {"variant": str(ref), "epoch": 100, "neuron": 3}
    *_, rendered = neurons.FIGURES.summaries(store, selection, False, 1, None)
    *figures, _ = neurons.FIGURES.summaries(store, {**selection, "neuron": 4}, False, 1, rendered)
    assert not any(isinstance(f, Patch) for f in figures[:3])


def test_details_show_the_selected_epoch_and_neuron(app_context):
    store, ref = app_context
    figures = neurons.FIGURES.details(store, {"variant": str(ref), "epoch": 250, "neuron": 5}, True, 1)
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
    figures = fourier.FIGURES.details(store, {"variant": f"tiny_addition/{variant.id}", "epoch": 10})
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
