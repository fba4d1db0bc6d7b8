"""Renderers (workbench.renderers): the figure contract every renderer keeps, on small synthetic
artifacts (tests/renderer_inputs.py: p = 11, five frequencies, 16 neurons, 2 heads, checkpoints
every 10 epochs to 40)."""
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest
from renderer_inputs import (ARTIFACTS, D_MLP, DOMINANT, EPOCHS, KEYS, N_EPOCHS, N_FREQ, N_HEADS, P,
                             attention_artifact, attention_maps, axis_titles, dimensionality_artifact,
                             fourier_artifact, history, neuron_artifact, neuron_maps, render, trajectory_artifact)

from workbench import renderers
from workbench.renderers import CATALOG, attention, cursor, fourier, neurons, training, trajectories
from workbench.renderers.traces import decimate

# --- the contract every figure keeps ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_renderer_keeps_the_figure_contract(name):
    fig = render(name)
    meta = fig.layout.meta
    assert isinstance(fig, go.Figure) and fig.layout.title.text
    assert meta["caption"] and meta["click"] in cursor.CLICK_KINDS
    assert fig.layout.uirevision == "keep"
    kinds = {t.type for t in fig.data}
    if not kinds & {"table", "scatter3d"}:
        assert axis_titles(fig, "xaxis") and axis_titles(fig, "yaxis"), "axis titles with units"
    for trace in fig.data:
        if trace.type != "table" and trace.hoverinfo != "skip":
            assert trace.hovertemplate, f"{trace.name} has no readable hover"
        assert not (trace.type in ("scatter", "bar") and isinstance(trace.x, list)), "pass NumPy arrays"
        if trace.type in ("scatter", "scatter3d", "bar") and trace.customdata is not None:
            assert np.ndim(trace.customdata) == 1, "one scalar id per point, never 2-D rows"
    if meta["click"]:
        assert any(t.customdata is not None for t in fig.data), "clickable figures carry ids in customdata"


@pytest.mark.parametrize("name", sorted(n for n, r in CATALOG.items() if r.kind == "summary"))
def test_summary_figures_draw_the_cursor_first_at_the_requested_epoch(name):
    fig = render(name, epoch=20)
    n = fig.layout.meta["cursor_shapes"]
    assert n >= 1 and fig.layout.meta["click"] == "epoch"
    cursors = fig.layout.shapes[:n]
    assert all(s.name == "cursor" and s.x0 == s.x1 == 20 for s in cursors)
    assert len({s.xref for s in cursors}) == n, "one cursor per x-axis"
    assert all(s.name != "cursor" for s in fig.layout.shapes[n:])


@pytest.mark.parametrize("name", ["loss_curves", "embedding_fourier_over_epochs", "cluster_sizes", "gini"])
def test_cursor_sits_at_the_last_epoch_when_no_epoch_is_given(name):
    last = 40
    assert render(name, epoch=None).layout.shapes[0].x0 == last


def test_move_cursor_moves_every_cursor_of_a_figure_dict_like_a_dash_patch():
    fig = training.loss_and_accuracy(history(), 10)
    as_dict = fig.to_dict()
    cursor.move_cursor(as_dict, 35, fig.layout.meta["cursor_shapes"])
    assert [(s["x0"], s["x1"]) for s in as_dict["layout"]["shapes"]] == [(35, 35), (35, 35)]


def test_clicked_id_reads_the_scalar_customdata_or_the_first_element_of_a_row():
    assert cursor.clicked_id({"points": [{"x": 30, "customdata": [30, 0.5]}]}) == 30
    assert cursor.clicked_id({"points": [{"x": 30, "customdata": {"0": 30, "1": 0.5}}]}) == 30
    assert cursor.clicked_id({"points": [{"customdata": 7}]}) == 7
    assert cursor.clicked_id({"points": [{"x": 1}, {"x": 1, "customdata": 40}]}) == 40, "guides are skipped"
    assert cursor.clicked_id({"points": [{"x": 1}]}) is None and cursor.clicked_id(None) is None


def test_one_epoch_of_a_series_is_the_analyzed_epoch_it_snaps_to_as_the_slider_does():
    data = fourier_artifact()
    assert cursor.at_epoch(data, 25)[1] == 20 and cursor.at_epoch(data, 28)[1] == 30  # nearest; ties: earlier
    assert cursor.at_epoch(data, 40)[1] == 40
    assert cursor.at_epoch(data, None)[1] == 40 and cursor.at_epoch(data, -5)[1] == 0
    row, _ = cursor.at_epoch(data, 25)
    np.testing.assert_array_equal(row["norm"], data["norm"][2])


def test_renderers_import_neither_dash_nor_torch_nor_the_store():
    code = ("import sys, workbench.renderers; "
            "print(sorted(m for m in ('dash', 'torch', 'workbench.store') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_renderer_name_lists_the_known_ones():
    with pytest.raises(KeyError, match="loss_curves"):
        renderers.render("no_such_figure", {})


# --- training history ---------------------------------------------------------------------------

def test_loss_curves_are_log_scale_and_keep_nan_as_gaps():
    fig = training.loss_curves(history(), 12)
    assert fig.layout.yaxis.type == "log" and "nats" in fig.layout.yaxis.title.text
    test = next(t for t in fig.data if t.name == "test loss")
    assert np.isnan(test.y[5]) and len(test.y) == 41 and np.isfinite(test.y[6])
    assert test.customdata[7] == 7, "the click id of a history point is its epoch"


def test_checkpoint_markers_sit_at_the_checkpoint_epochs():
    fig = training.loss_curves(history(), checkpoints=[0, 10, 20, 30, 40, 99])
    marks = next(t for t in fig.data if t.name == "checkpoints")
    np.testing.assert_array_equal(marks.x, [0, 10, 20, 30, 40])


def test_long_histories_are_decimated_but_keep_their_spikes():
    values = np.ones(100_000)
    values[54_321] = 50.0
    keep = decimate(values, 1000)
    assert len(keep) <= 1000 and 54_321 in keep
    assert len(decimate(values[:900], 1000)) == 900


# --- Fourier ------------------------------------------------------------------------------------

def test_fourier_bars_highlight_the_key_frequencies_of_the_shown_epoch():
    fig = fourier.fourier_norms(fourier_artifact(), 40)
    key = next(t for t in fig.data if t.name == "key frequencies")
    np.testing.assert_array_equal(key.x, KEYS)
    assert fig.layout.xaxis.title.text == "frequency k"
    assert fourier.fourier_norms(fourier_artifact(), 10).data[0].x.size == 0, "no keys before the end"


def test_fourier_heatmap_is_frequency_by_epoch_with_final_keys_outlined():
    fig = CATALOG["logit_map_fourier_over_epochs"](ARTIFACTS["fourier_unembedding"](), 30)
    heat = fig.data[0]
    assert heat.z.shape == (N_FREQ, N_EPOCHS)
    np.testing.assert_array_equal(heat.x, EPOCHS)
    assert fig.layout.meta["key_frequencies"] == list(KEYS)
    assert [s.name for s in fig.layout.shapes[1:]] == [f"key k={k}" for k in KEYS]
    assert "W_L" in fig.layout.title.text


# --- neurons ------------------------------------------------------------------------------------

def test_neuron_clusters_sort_neurons_by_dominant_frequency_then_fve():
    fig = neurons.neuron_fve_heatmap(neuron_artifact(), 20)
    ids = fig.data[0].customdata[0]                    # neuron id of each column
    assert sorted(ids) == list(range(D_MLP)) and fig.layout.meta["click"] == "neuron"
    assert np.all(np.diff(DOMINANT[ids]) >= 0)
    same_k = DOMINANT[ids][1:] == DOMINANT[ids][:-1]
    assert np.all(np.diff(ids)[same_k] < 0), "higher FVE (here: higher id) first within a cluster"
    np.testing.assert_allclose(fig.data[0].z[:, 0], neuron_artifact()["fve"][2][:, ids[0]].astype(np.float32))


def test_cluster_sizes_show_only_frequencies_that_ever_have_a_cluster():
    fig = neurons.cluster_sizes_over_epochs(neuron_artifact())
    # only neurons 14 (k=5) and 15 (k=1) reach FVE 0.85
    assert [t.name for t in fig.data] == ["k=1", "k=5"]
    assert all(list(t.y) == [1] * N_EPOCHS for t in fig.data) and fig.data[0].stackgroup


def test_downsample_shrinks_the_neuron_map_and_says_so():
    full = neurons.neuron_heatmap(neuron_maps(), 20, neuron=3)
    small = neurons.neuron_heatmap(neuron_maps(), 20, neuron=3, downsample=4)
    assert full.data[0].z.shape == (P, P) and small.data[0].z.shape == (4, 4)
    assert "bilinear 4×4 of 11×11" in small.layout.xaxis.title.text
    assert small.data[0].x[-1] == P - 1, "down-sampled cells keep their a, b coordinates"


def test_neuron_grid_shows_each_named_neurons_own_map():
    maps = neuron_maps()
    fig = neurons.neuron_heatmap_grid(maps, 20, neurons=[5, 2, 9])
    assert [int(t.customdata[0, 0]) for t in fig.data] == [5, 2, 9]
    for trace, n in zip(fig.data, [5, 2, 9]):
        assert np.allclose(np.asarray(trace.z, dtype=np.float64), maps[n], atol=1e-2), f"neuron {n} shows another map"


def test_neuron_grid_pages_through_the_given_order_with_readable_titles():
    order = neurons.neurons_by_frequency(neuron_artifact(), 20)
    fig = neurons.neuron_heatmap_grid(neuron_maps(), 20, order=order, frequencies=neuron_artifact(),
                                      page=1, page_size=6, downsample=5)
    shown = [int(n) for n in order[6:12]]
    assert fig.layout.meta["neurons"] == shown and fig.layout.meta["n_pages"] == 3
    assert [int(t.customdata[0, 0]) for t in fig.data] == shown
    assert fig.data[0].z.shape == (5, 5)
    n = shown[0]
    assert fig.layout.annotations[0].text == f"neuron {n}<br>k={DOMINANT[n]} · FVE {0.5 + n / 40:.2f}"  # two lines: no run-ins


def test_neuron_spatial_scale_tolerates_epochs_of_flat_maps():
    fig = neurons.neuron_spatial_scale_over_epochs(neuron_artifact(), 10)
    medians = [t for t in fig.data if t.name.startswith("median")]
    assert len(medians) == 3 and np.isnan(medians[0].y[0]) and np.isfinite(medians[0].y[1])


# --- attention ----------------------------------------------------------------------------------

def test_attention_patterns_are_a_key_by_head_grid_carrying_head_ids():
    fig = attention.attention_patterns(attention_maps(), 20, stats=attention_artifact(), downsample=6)
    assert len(fig.data) == 2 * N_HEADS and fig.layout.meta["click"] == "head"
    assert [int(t.customdata[0, 0]) for t in fig.data] == [0, 1, 0, 1]
    assert fig.data[0].z.shape == (6, 6)
    assert fig.layout.annotations[0].text == "head 0 → a · k=4 · FVE 0.90"


def test_head_badges_name_each_heads_dominant_frequency_and_scale_type():
    badges = attention.head_badges(attention_artifact(), 20)
    assert [(b["head"], b["dominant_freq"], b["key"]) for b in badges] == [(0, 4, "a"), (1, 2, "a")]
    assert badges[0]["fve"] == pytest.approx(0.9) and badges[0]["scale_type"] == "smooth blobs"
    assert badges[1]["by_key"]["b"]["scale_type"] == "fine plaid"


def test_head_specialization_hover_names_the_dominant_frequency():
    fig = attention.head_specialization_over_epochs(attention_artifact(), 20)
    head0_a = fig.data[0]
    assert head0_a.name == "head 0 → a" and list(head0_a.customdata) == list(EPOCHS)
    assert list(head0_a.text) == [" (k=4)"] * N_EPOCHS and "%{text}" in head0_a.hovertemplate


# --- trajectories, dimensionality, progress -----------------------------------------------------

def test_trajectory_points_carry_their_epoch_and_the_current_one_is_ringed():
    fig = trajectories.trajectory_projections(trajectory_artifact(), 25)
    points = [t for t in fig.data if t.name == "checkpoints"]
    assert len(points) == 3 and all(list(t.customdata) == list(EPOCHS) for t in points)
    assert {int(t.customdata[0]) for t in fig.data if t.name == "current epoch"} == {20}
    assert "PC1 (70% of variance)" in axis_titles(fig, "xaxis")


def test_spectra_and_losses_use_log_scale():
    assert render("singular_values").layout.yaxis.type == "log"
    fig = render("progress_losses")
    assert fig.layout.yaxis.type == "log" and "k = 2, 4" in fig.layout.title.text
    assert {t.name.split(" ")[0] for t in fig.data} == {"train", "test", "restricted", "excluded"}


def test_per_head_matrices_are_averaged_unless_asked_per_head():
    data = dimensionality_artifact()
    names = [t.name for t in CATALOG["participation_ratio"](data, 20).data]
    assert "W_Q (mean of 2 heads)" in names and len(names) == 9
    per_head = [t.name for t in CATALOG["participation_ratio"](data, 20, per_head=True).data]
    assert "W_Q head 1" in per_head and len(per_head) == 5 + 4 * N_HEADS


def test_every_trajectory_panel_names_its_axes():
    import numpy as np

    from workbench.renderers import CATALOG
    epochs = np.arange(0, 50, 10)
    data = {"epochs": epochs, "all.projection": np.random.default_rng(0).normal(size=(5, 3)),
            "all.explained_variance": np.array([0.5, 0.3, 0.1]), "all.crossing_epochs": np.zeros((0, 2))}
    fig = CATALOG["trajectory_projections"](data, 20)
    titles = [fig.layout[f"xaxis{i or ''}"].title.text for i in (0, 2, 3)]
    assert titles[0].startswith("PC1 (50%") and all(titles)


def test_log_axes_spanning_few_decades_are_labelled_at_1_2_5():
    """Over about a decade plotly labels every digit and they collide ('8' over '9', seen on the
    Compare speed overlay); `finish` gives such an axis 1-2-5 ticks and leaves wide ones alone."""
    from workbench.renderers.cursor import finish
    from workbench.renderers.theme import base_layout
    narrow, wide = (go.Figure(layout=base_layout("t", "epoch", "speed", "", log_y=True)) for _ in range(2))
    narrow.add_scatter(y=np.linspace(0.08, 1.2, 50))
    wide.add_scatter(y=np.logspace(-8, 1, 50))
    assert finish(narrow).layout.yaxis.dtick == "D2" and finish(wide).layout.yaxis.dtick is None
