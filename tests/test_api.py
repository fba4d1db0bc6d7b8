"""The Python API (`import workbench as wb`), figure exports, animations and saved reports."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.errors import MissingError, UserError


def test_importing_workbench_loads_neither_torch_nor_plotly():
    code = "import sys, workbench as wb; wb.__all__; print('torch' in sys.modules, 'plotly' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_a_variant_opens_by_family_and_parameters_by_id_and_by_path(tiny_analyzed):
    store, ref = tiny_analyzed
    by_params = wb.variant("tiny_addition", seed=0, data=store.root)
    assert by_params.ref == ref
    assert wb.variant(ref.id, data=store.root).ref == ref == wb.variant(str(ref), data=store.root).ref
    assert ref in [v.ref for v in wb.variants(data=store.root)]
    with pytest.raises(MissingError, match=r"wb.train\('tiny_addition', seed=7\)"):
        wb.variant("tiny_addition", seed=7, data=store.root)


def test_history_epochs_and_artifacts_are_the_stored_ones(tiny_analyzed):
    store, ref = tiny_analyzed
    v = wb.variant(str(ref), data=store.root)
    assert v.epochs == store.checkpoint_epochs(ref)
    assert np.array_equal(v.history["test_loss"], store.load_history(ref)["test_loss"])
    neurons = v.artifact("neuron_frequencies")
    stacked = neurons.series()
    i = neurons.epochs.index(250)
    assert np.array_equal(neurons.at(260)["dominant_freq"], stacked["dominant_freq"][i])  # the checkpoint in force


def test_the_model_is_hooked_and_gives_the_training_paths_logits(tiny_analyzed):
    store, ref = tiny_analyzed
    v = wb.variant(str(ref), data=store.root)
    model = v.model()  # the last checkpoint
    logits, cache = model.run_with_cache(v.tokens())
    assert cache["blocks.0.mlp.hook_post"].shape == (v.p * v.p, 3, v.spec["model"]["d_mlp"])
    a, b = v.tokens()[:, 0], v.tokens()[:, 1]
    with torch.no_grad():
        assert torch.allclose(logits[:, -1], model.last_logits(a, b), atol=1e-4)
    accuracy = (logits[:, -1].argmax(-1) == (a + b) % v.p).float().mean().item()
    assert accuracy > 0.99  # the tiny run has grokked by its end


def test_a_figure_is_the_one_the_app_shows(tiny_analyzed):
    store, ref = tiny_analyzed
    from workbench.pages import overview
    shown = overview.FIGURES.details(store, {"variant": str(ref), "epoch": 250, "neuron": 0, "head": 0}, None)[1]
    ours = wb.figure("neuron_clusters", str(ref), epoch=260, data=store.root)  # snapped to 250, as the app does
    assert json.loads(ours.to_json())["data"][0]["z"] == shown["data"][0]["z"]
    assert ours.layout.meta["caption"] == shown["layout"]["meta"]["caption"]
    assert "neuron_clusters" in wb.figure_names()
    with pytest.raises(UserError, match="no figure named 'nope'"):
        wb.figure("nope", str(ref), data=store.root)


def test_html_export_opens_offline_and_images_need_an_engine(tiny_analyzed, tmp_path):
    store, ref = tiny_analyzed
    fig = wb.figure("loss_curves", str(ref), data=store.root)
    text = wb.save_figure(fig, tmp_path / "loss.html").read_text()
    assert "hovertemplate" in text and "Plotly.newPlot" in text
    assert not re.findall(r"<script[^>]+src=", text)  # plotly.js is inline: nothing is fetched
    with pytest.raises(UserError, match=r"use \.html, or \.png"):
        wb.save_figure(fig, tmp_path / "loss.gif")
    if not shutil.which("chromium"):
        pytest.skip("no Chromium here for PNG/SVG export")
    pytest.importorskip("kaleido")
    svg = wb.save_figure(fig, tmp_path / "loss.svg").read_text()
    assert svg.startswith("<svg") and "train" in svg


def test_an_animation_has_a_frame_per_checkpoint_and_a_play_button(tiny_analyzed):
    store, ref = tiny_analyzed
    fig = wb.animate("embedding_fourier_norms", str(ref), epochs=[50, 150, 260], data=store.root)
    assert [f.name for f in fig.frames] == ["50", "150", "250"]
    assert fig.layout.updatemenus[0].buttons[0].method == "animate"
    assert [s.label for s in fig.layout.sliders[0].steps] == ["50", "150", "250"]
    heights = [np.concatenate([np.asarray(t.y, float) for t in f.data]) for f in fig.frames]
    assert not np.allclose(heights[0], heights[-1])  # the norms change between frames


def test_the_variant_report_has_phases_key_frequencies_and_summaries(tiny_analyzed, tmp_path):
    store, ref = tiny_analyzed
    from workbench.cli import main
    out = tmp_path / "report.html"
    assert main(["export", str(ref), "--data", str(store.root), "--out", str(out)]) == 0
    text = out.read_text()
    keys = ", ".join(str(k) for k in np.flatnonzero(store.load_artifact(ref, "fourier_embedding")["key_mask"][-1]) + 1)
    assert "grokking onset" in text and f"<td>{keys}</td>" in text
    assert text.count("Plotly.newPlot") == 8 and "Not analyzed" not in text
    assert not re.findall(r"<script[^>]+src=", text) and text.count("<script>/**") == 1  # plotly.js once, inline
    assert main(["export", str(ref), "--data", str(store.root), "--animate", "cluster_sizes", "--epochs", "0-100",
                 "--out", str(tmp_path / "anim.html")]) == 0
    assert len(re.findall(r'"name":"\d+"', (tmp_path / "anim.html").read_text())) >= 5


def test_a_saved_report_is_validated_and_a_missing_variant_says_so(tiny_analyzed, tmp_path):
    store, ref = tiny_analyzed
    root = tmp_path / "root"
    shutil.copytree(store.variant_dir(ref), root / ref.family / ref.id)
    with pytest.raises(UserError, match="invalid report name"):
        wb.save_report("../x", data=root, title="t", figures=[{"variant": str(ref), "figure": "loss_curves"}])
    with pytest.raises(UserError, match="figure 1: no figure named 'nope'"):
        wb.save_report("r", data=root, title="t", figures=[{"variant": str(ref), "figure": "nope"}])
    figures = [{"variant": wb.variant(str(ref), data=root), "figure": "loss_curves"},
               {"variant": f"{ref.family}/gone", "figure": "neuron_clusters", "epoch": 100}]
    wb.save_report("mine", data=root, title="Mine", notes="why", columns=2, figures=figures)
    assert wb.report_names(data=root) == ["mine"]
    assert wb.load_report("mine", data=root)["figures"][1] == figures[1]
    text = wb.export_saved_report("mine", tmp_path / "mine.html", data=root).read_text()
    assert f"Variant {ref.family}\\u002fgone is missing from this data root" in text and "why" in text
