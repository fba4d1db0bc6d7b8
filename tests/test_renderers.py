"""Renderers (workbench.renderers): the figure contract every renderer keeps, on small synthetic
artifacts (p = 11, five frequencies, 16 neurons, 2 heads, checkpoints every 10 epochs to 40)."""
import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest

from workbench import renderers
from workbench.renderers import CATALOG, attention, cursor, fourier, neurons, training, trajectories
from workbench.renderers.traces import decimate

P, N_FREQ, D_MLP, N_HEADS = 11, 5, 16, 2
EPOCHS = np.array([0, 10, 20, 30, 40])
N_EPOCHS = len(EPOCHS)
KEYS = (2, 4)  # the final model's key frequencies
DOMINANT = np.array([3, 1, 5, 1, 3, 2, 2, 4, 4, 5, 1, 3, 2, 4, 5, 1])  # final dominant k per neuron


def history(n=41):
    """Loss falling to 1e-3 for train and later for test, with NaN where nothing was measured."""
    e = np.arange(n, dtype=np.float64)
    h = {"train_loss": np.exp(-e / 5) + 1e-3, "test_loss": 2.0 - e / 40 + 1e-3,
         "train_acc": np.minimum(1.0, e / 10), "test_acc": np.clip((e - 20) / 20, 0, 1),
         "lr": np.minimum(1.0, (e + 1) / 10) * 1e-3,
         "weight_norm.embed.W_E": 10 - e / 10, "grad_norm.embed.W_E": 1 / (1 + e)}
    h["test_loss"][5] = h["test_acc"][5] = np.nan
    return h


def fourier_artifact(prefix=""):
    rng = np.random.default_rng(0)
    norm = rng.uniform(0.5, 1.0, (N_EPOCHS, N_FREQ)).astype(np.float32)
    key_mask = np.zeros((N_EPOCHS, N_FREQ), np.uint8)
    key_mask[-1, [k - 1 for k in KEYS]] = 1
    norm[-1, [k - 1 for k in KEYS]] = 5.0
    return {"epochs": EPOCHS, f"{prefix}norm": norm, f"{prefix}cos_norm": norm * 0.6, f"{prefix}sin_norm": norm * 0.8,
            f"{prefix}key_mask": key_mask, f"{prefix}const_norm": np.full(N_EPOCHS, 0.1, np.float32),
            f"{prefix}gini": np.linspace(0.1, 0.6, N_EPOCHS).astype(np.float32)}


def neuron_artifact():
    """Neuron n is explained by DOMINANT[n] with FVE 0.5 + n / 40 at every epoch."""
    dominant_fve = (0.5 + np.arange(D_MLP) / 40).astype(np.float32)
    fve = np.full((N_EPOCHS, N_FREQ, D_MLP), 0.02, np.float16)
    fve[:, DOMINANT - 1, np.arange(D_MLP)] = dominant_fve
    rng = np.random.default_rng(1)
    metric = rng.uniform(0, 1, (N_EPOCHS, D_MLP)).astype(np.float32)
    metric[0, :] = np.nan  # epoch 0: every map flat
    return {"epochs": EPOCHS, "fve": fve, "dominant_freq": np.tile(DOMINANT, (N_EPOCHS, 1)).astype(np.int16),
            "dominant_fve": np.tile(dominant_fve, (N_EPOCHS, 1)),
            "cluster_size": (fve.astype(np.float32) >= 0.85).sum(axis=2).astype(np.int16),
            "fraction_explained": np.full(N_EPOCHS, 0.2, np.float32),
            "low_freq_ratio": metric, "variance_preserved": metric, "mean_abs_gradient": 2 * metric,
            "scale_type": np.tile(np.arange(D_MLP) % 4, (N_EPOCHS, 1)).astype(np.uint8)}


def attention_artifact():
    fve = np.full((N_EPOCHS, 2, N_FREQ, N_HEADS), 0.05, np.float32)
    fve[:, :, 3, 0] = 0.9   # head 0 reads k = 4
    fve[:, 0, 1, 1] = 0.7   # head 1 reads k = 2 from a only
    spatial = np.random.default_rng(2).uniform(0, 1, (N_EPOCHS, 2, N_HEADS)).astype(np.float32)
    return {"epochs": EPOCHS, "fve": fve, "dominant_freq": (fve.argmax(axis=2) + 1).astype(np.int16),
            "dominant_fve": fve.max(axis=2), "mean_attention": np.full((N_EPOCHS, 3, N_HEADS), 1 / 3, np.float32),
            "low_freq_ratio": spatial, "variance_preserved": spatial, "mean_abs_gradient": spatial,
            "scale_type": np.tile(np.array([[1, 3], [2, 3]], np.uint8), (N_EPOCHS, 1, 1))}


def trajectory_artifact():
    t = np.linspace(0, 2 * np.pi, N_EPOCHS)
    out = {"epochs": EPOCHS}
    for g in trajectories.GROUPS:
        out |= {f"{g}.projection": np.stack([t, np.cos(t), np.sin(t)], axis=1).astype(np.float32),
                f"{g}.explained_variance": np.array([0.7, 0.2, 0.05], np.float32),
                f"{g}.velocity": np.linspace(1, 0.1, N_EPOCHS - 1).astype(np.float32),
                f"{g}.path_length": np.float32(3), f"{g}.loop_area_ratio": np.float32(0.05),
                f"{g}.crossing_epochs": np.zeros((0, 2), np.int64)}
    return out


def dimensionality_artifact():
    out = {"epochs": EPOCHS}
    for m in ("W_E", "W_U", "W_in", "W_out", "W_L"):
        out |= {f"participation_ratio.{m}": np.linspace(8, 3, N_EPOCHS),
                f"spectral_gap.{m}": np.linspace(1, 9, N_EPOCHS), f"gap_index.{m}": np.full(N_EPOCHS, 4, np.int16),
                f"sigma.{m}": np.tile(np.geomspace(5, 0.1, 8), (N_EPOCHS, 1))}
    for m in ("W_Q", "W_K", "W_V", "W_O"):
        out |= {f"participation_ratio.{m}": np.ones((N_EPOCHS, N_HEADS)),
                f"spectral_gap.{m}": np.ones((N_EPOCHS, N_HEADS)),
                f"gap_index.{m}": np.ones((N_EPOCHS, N_HEADS), np.int16),
                f"sigma.{m}": np.tile(np.geomspace(3, 0.1, 4), (N_EPOCHS, N_HEADS, 1))}
    return out


def progress_artifact():
    key_mask = np.zeros((N_EPOCHS, N_FREQ), np.uint8)
    key_mask[:, [k - 1 for k in KEYS]] = 1
    losses = {k: np.geomspace(2, 1e-3, N_EPOCHS) for k in ("restricted_loss", "train_loss", "test_loss")}
    return {"epochs": EPOCHS, **losses, "excluded_loss": np.linspace(2, 5, N_EPOCHS),
            "train_acc": np.ones(N_EPOCHS), "test_acc": np.linspace(0, 1, N_EPOCHS),
            "gini_W_E": np.linspace(0.1, 0.7, N_EPOCHS), "gini_W_L": np.linspace(0.1, 0.8, N_EPOCHS),
            "sum_squared_weights": np.linspace(900, 400, N_EPOCHS), "key_mask": key_mask}


def neuron_maps():
    a, b = np.meshgrid(np.arange(P), np.arange(P), indexing="ij")
    return np.stack([np.cos(2 * np.pi * (n % 5 + 1) * (a + b) / P) + n for n in range(D_MLP)]).astype(np.float16)


def attention_maps():
    a, _ = np.meshgrid(np.arange(P), np.arange(P), indexing="ij")
    half = 0.5 + 0.4 * np.cos(2 * np.pi * 4 * a / P)
    return np.stack([np.stack([half] * N_HEADS), np.stack([1 - half] * N_HEADS)]).astype(np.float16)


def graduation_artifact():
    """Inputs of the p = 11 grid graduate at epoch 10 * (pair % 5); pair 7 never; even pairs train."""
    from workbench.analyzers.predictions import accuracy_by_residue, hardest_order
    pairs = np.arange(P * P)
    graduation = (10 * (pairs % 5)).astype(np.int64)
    graduation[7] = -1
    correct = (graduation[None, :] != -1) & (graduation[None, :] <= EPOCHS[:, None])
    answers = ((pairs // P + pairs % P) % P).astype(np.int16)
    train = pairs % 2 == 0
    mean_loss = -(pairs % 7).astype(np.float32)
    return {"epochs": EPOCHS, "graduation_epoch": graduation, "train_mask": train, "answers": answers,
            "correct": correct, "mean_log10_loss": mean_loss, "hardest": hardest_order(graduation, mean_loss),
            "train_accuracy_by_residue": accuracy_by_residue(correct, answers.astype(int), P, train),
            "test_accuracy_by_residue": accuracy_by_residue(correct, answers.astype(int), P, ~train),
            "spike_inputs": np.array([3, 8, 7], np.int32), "spike_epochs": np.array([10, 20, 30]),
            "spike_decades": np.array([1.5, 2.0, 1.0], np.float32)}


def input_trace_artifact():
    """Input (4, 9) -> 2: the MLP takes over from head 0; the answer reaches rank 0 at epoch 20."""
    rng = np.random.default_rng(3)
    n_comp = N_HEADS + 2
    return {"epochs": EPOCHS, "correct_logit": rng.normal(size=(N_EPOCHS, n_comp)).astype(np.float32),
            "correct_logit_centered": np.linspace(0, 5, N_EPOCHS * n_comp).reshape(N_EPOCHS, n_comp).astype(np.float32),
            "rank_after": np.tile(np.array([[8], [4], [0], [0], [0]]), (1, n_comp)).astype(np.int16),
            "frequency_contribution": rng.normal(size=(N_EPOCHS, N_FREQ + 1)).astype(np.float32),
            "loss": np.geomspace(2, 1e-4, N_EPOCHS), "pair": np.int64(53), "a": np.int64(4), "b": np.int64(9),
            "answer": np.int64(2), "train": np.int64(1)}


def llc_artifact():
    rise = 0.05 * (1 - np.exp(-np.arange(8) / 2))
    trace = np.broadcast_to(0.01 + rise, (N_EPOCHS, 2, 8)).copy()
    health = np.zeros((N_EPOCHS, 2), np.int8)
    health[1, 0] = 1
    return {"epochs": EPOCHS, "llc_mean": np.linspace(1, 8, N_EPOCHS), "llc_std": np.full(N_EPOCHS, 0.3),
            "llc_per_chain": np.ones((N_EPOCHS, 2)), "loss_trace": trace, "chain_health": health,
            "train_loss": np.geomspace(3, 1e-3, N_EPOCHS), "test_loss": np.geomspace(3, 1e-2, N_EPOCHS),
            **{k: np.full(N_EPOCHS, v) for k, v in (("lr", 1e-4), ("nbeta", 26.4), ("localization", 1e3),
                                                    ("batch_size", 128.0), ("seed", 100.0))}}


def essential_dynamics_artifact():
    return {k.replace("all.", "outputs."): v for k, v in trajectory_artifact().items()
            if k.startswith("all.") or k == "epochs"} | {"pairs": np.arange(P * P)}


ARTIFACTS = {"history": history, "llc": llc_artifact, "essential_dynamics": essential_dynamics_artifact, "input_graduation": graduation_artifact, "derived.input_trace": input_trace_artifact, "fourier_embedding": fourier_artifact,
             "fourier_unembedding": lambda: fourier_artifact("W_U.") | fourier_artifact("W_L."),
             "neuron_frequencies": neuron_artifact, "attention_heads": attention_artifact,
             "parameter_trajectory": trajectory_artifact, "dimensionality": dimensionality_artifact,
             "progress_measures": progress_artifact, "derived.neuron_heatmaps": neuron_maps,
             "derived.attention_maps": attention_maps}


def render(name, epoch=20, **options):
    entry = CATALOG[name]
    return entry(ARTIFACTS[entry.reads](), epoch, **{**{r: 3 for r in entry.requires}, **options})


def axis_titles(fig, axis):
    return [fig.layout[k].title.text for k in fig.layout if k.startswith(axis) and fig.layout[k].title.text]


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
