"""Comparing variants: headline metrics, the grokking onset, onset-aligned overlays, a shared PCA
frame, and the Compare page's callbacks."""
from __future__ import annotations

import numpy as np
import pytest
from dash import no_update

from second_seed import second_seed
from workbench import compare
from workbench.renderers.compare import metric_overlay, shared_trajectory_paths


@pytest.fixture(scope="module")
def two_seeds(tiny_analyzed):
    store, seed0 = tiny_analyzed
    return store, seed0, second_seed(store)


def store_loader(store):
    def load(variant, reads):
        ref = compare_ref(variant)
        return store.load_history(ref) if reads == "history" else store.load_artifact(ref, reads)
    return load


def compare_ref(variant):
    from workbench.store import VariantRef
    return VariantRef(*variant.split("/", 1))


def test_onset_is_where_the_test_loss_descent_extended_back_meets_its_peak_level():
    # Rises to a 10-nat plateau (epochs 20-99), falls in a straight line to 0.01 at epoch 200.
    loss = np.r_[np.linspace(3, 10, 21)[:-1], np.full(80, 10.0), np.linspace(10, 0.01, 101), np.full(100, 0.01)]
    assert abs(compare.grokking_onset(loss) - 100) <= 1
    assert compare.history_phases({"test_loss": loss})["onset_epoch"] == compare.grokking_onset(loss)


def test_a_run_whose_test_loss_never_falls_tenfold_has_no_onset():
    assert compare.grokking_onset(np.r_[np.linspace(2, 4, 10), np.linspace(4, 0.5, 90)]) is None
    assert compare.grokking_onset([np.nan, np.nan]) is None


def test_clusters_need_two_percent_of_the_neurons():
    sizes = np.array([[0, 5, 120, 11, 10], [0, 0, 0, 0, 0]])          # [epochs, n_freq], d_mlp 512
    assert compare.min_cluster_size(512) == 11
    assert compare.cluster_count(sizes, 512).tolist() == [2, 0]


def test_headline_metrics_of_the_tiny_run_come_from_its_history_and_artifacts(tiny_analyzed):
    store, ref = tiny_analyzed
    row = compare.variant_metrics(store, ref)
    history = store.load_history(ref)
    assert row["memorized_epoch"] == int(np.argmax(history["train_loss"] <= 0.05)) < 50
    # it groks long after memorizing and well before its last epoch (500): ~230-270 on every CPU
    # path measured, so a margin of ~90 epochs either side (tests/families/tiny_addition.toml)
    assert 5 * row["memorized_epoch"] < row["grokked_epoch"] == int(np.argmax(history["test_acc"] >= 0.99)) < 400
    assert row["memorized_epoch"] < row["onset_epoch"] < row["grokked_epoch"]
    assert row["final_test_loss"] == pytest.approx(float(history["test_loss"][-1]))
    progress = store.load_artifact(ref, "progress_measures")
    assert row["key_frequencies"] == (np.flatnonzero(progress["key_mask"][-1]) + 1).tolist() != []
    sizes = store.load_artifact(ref, "neuron_frequencies")["cluster_size"][-1]
    assert row["n_clusters"] == int((sizes >= 11).sum()) >= len(row["key_frequencies"]) - 1
    pr = store.load_artifact(ref, "dimensionality")["participation_ratio.W_E"][-1]
    assert row["participation_ratio_W_E"] == pytest.approx(float(pr))
    assert (row["p"], row["seed"], row["analysis"]) == (31, 0, "complete")


def test_metric_differences_flag_only_what_differs():
    rows = [{"p": 31, "grok": 354, "loss": 1.0000, "keys": [3, 9]}, {"p": 31, "grok": 345, "loss": 1.0001, "keys": [3]}]
    assert compare.metric_differences(rows, ["p", "grok", "loss", "keys"]) == {
        "p": False, "grok": True, "loss": False, "keys": True}


def test_compared_variants_survive_the_url_even_with_commas_in_their_ids():
    from workbench.selection import parse_query, to_query
    state = {"variant": "tiny_addition/p31-s0-d598", "compare": ["tiny_addition/p23-s0-every=10x50,25x200", "f/a+b"]}
    query = to_query(state)
    assert query.endswith("&compare=tiny_addition/p23-s0-every=10x50%2C25x200,f/a%2Bb")
    assert parse_query(query) == state and parse_query("?compare=a/b,c/d")["compare"] == ["a/b", "c/d"]


def test_the_onset_aligned_overlay_puts_every_onset_at_zero(two_seeds):
    store, seed0, seed1 = two_seeds
    variants = [str(seed0), str(seed1)]
    onsets = {v: compare.grokking_onset(store.load_history(compare_ref(v))["test_loss"]) for v in variants}
    assert None not in onsets.values()
    # Both tiny seeds turn at their test-loss peak (epoch 36); move one so that aligning moves something.
    onsets[variants[1]] += 20
    data = compare.overlay_data("loss", variants, store_loader(store), onsets)
    fig = metric_overlay(data, 300, metric="loss", align="onset")
    for trace in fig.data:
        variant = variants[0] if trace.name.startswith(seed0.id) else variants[1]
        at_onset = np.flatnonzero(np.asarray(trace.customdata) == onsets[variant])
        assert np.asarray(trace.x)[at_onset].tolist() == [0]              # x = epoch − onset, epoch in customdata
    cursors = fig.layout.shapes[:fig.layout.meta["cursor_shapes"]]
    assert [c.x0 for c in cursors] == [300 - onsets[v] for v in variants]
    assert fig.layout.xaxis.title.text.startswith("epochs since grokking onset") and fig.layout.yaxis.title.text
    assert fig.layout.meta["caption"] and fig.layout.meta["click"] == "epoch" and all(t.hovertemplate for t in fig.data)
    raw = metric_overlay(data, 300, metric="loss", align="epoch")
    assert all(np.array_equal(t.x, t.customdata) for t in raw.data) and raw.layout.shapes[0].x0 == 300


def test_shared_pca_of_one_variant_is_its_own_trajectory_and_is_cached(two_seeds, monkeypatch):
    store, seed0, seed1 = two_seeds
    alone = compare.shared_trajectory(store, [seed0])
    own = store.load_artifact(seed0, "parameter_trajectory")["all.projection"]
    np.testing.assert_allclose(alone["projection"][0], own, rtol=1e-3, atol=1e-3 * np.abs(own).max())
    both = compare.shared_trajectory(store, [seed0, seed1], "all")
    assert [len(p) for p in both["projection"]] == [len(e) for e in both["epochs"]] == [24, 24]
    stacked = np.concatenate(both["projection"])
    np.testing.assert_allclose(stacked.mean(axis=0), 0, atol=1e-6 * np.abs(stacked).max())  # one joint centre
    assert np.all(np.diff(both["explained_variance"]) <= 0) and both["explained_variance"].sum() <= 1
    fig = shared_trajectory_paths(both, 250, labels=["s0", "s1"])
    assert fig.layout.meta["click"] == "epoch" and "PC1" in fig.layout.xaxis.title.text
    rings = [t for t in fig.data if t.name.endswith("now")]
    assert [t.customdata for t in rings[::3]] == [(250,), (250,)]             # the checkpoint in force, ringed
    monkeypatch.setattr(type(store), "load_weights", lambda *a: pytest.fail("read checkpoints despite the cache"))
    again = compare.shared_trajectory(store, [seed0, seed1], "all")
    np.testing.assert_array_equal(again["projection"][1], both["projection"][1])


def test_variants_of_different_primes_share_a_frame_only_where_shapes_agree(tiny_analyzed):
    store, seed0 = tiny_analyzed
    from workbench.families import load_family
    from workbench.store import VariantRef
    from workbench.training import train
    variant = load_family("tiny_addition").variant(p=23, epochs=20, every=[[10, 20]])
    train(variant, store, progress=False)
    other = VariantRef(variant.family, variant.id)
    with pytest.raises(ValueError, match="attention or mlp"):
        compare.shared_trajectory(store, [seed0, other], "all")
    mlp = compare.shared_trajectory(store, [seed0, other], "mlp")
    assert [len(p) for p in mlp["projection"]] == [24, 3]


def slot_figure(card):
    """The figure in a side-by-side slot's card."""
    return card.children[0].children.figure


@pytest.fixture
def compare_page(two_seeds):
    store, seed0, seed1 = two_seeds
    return store, str(seed0), str(seed1)


def test_an_epoch_change_shifts_each_aligned_cursor_by_its_variants_onset(compare_page):
    from workbench.pages.compare import OVERLAYS, render_overlays
    store, seed0, seed1 = compare_page
    selection = {"variant": seed0, "compare": [seed1], "epoch": 250, "align": "onset"}
    out = render_overlays(store, selection, None, page_key="key")
    figure, rendered = out[0], out[2 * len(OVERLAYS):]
    offsets = rendered[0]["offsets"]
    assert len(offsets) == 2 and rendered[0]["cursors"] == 2 and rendered[0]["page_key"] == "key"
    assert [shape["x0"] for shape in figure["layout"]["shapes"][:2]] == [250 - offsets[0], 250 - offsets[1]]
    # a figure kept for another user at another epoch comes with its cursors at this one's
    again = render_overlays(store, {**selection, "epoch": 300}, None, page_key="key")[0]
    assert [shape["x0"] for shape in again["layout"]["shapes"][:2]] == [300 - offsets[0], 300 - offsets[1]]
    # an epoch step sends nothing: the browser moves the cursors by these offsets (assets/cursor.js)
    moved = render_overlays(store, {**selection, "epoch": 300}, rendered, page_key="key")
    assert moved == [no_update] * (3 * len(OVERLAYS))
    # a new page key with the same figures: only the stores, so the browser moves cursors for it
    rekeyed = render_overlays(store, {**selection, "neuron": 3}, rendered, page_key="other")
    assert rekeyed[:2 * len(OVERLAYS)] == [no_update] * (2 * len(OVERLAYS))
    assert rekeyed[2 * len(OVERLAYS)] == {**rendered[0], "page_key": "other"}


def test_side_by_side_shows_one_column_per_variant_and_differences_highlight(compare_page):
    from workbench.pages.compare import render_differences, render_side_by_side
    store, seed0, seed1 = compare_page
    out = render_side_by_side(store, {"variant": seed0, "compare": [seed1], "epoch": 250}, "png", None, side_key="key")
    figures, classes = [slot_figure(card) for card in out[:2]], out[6:12]
    assert classes[:2] == ["col-12 col-lg-6"] * 2 and classes[2:] == ["d-none"] * 4
    assert out[2:6] == [None] * 4  # no graph in an unused slot
    assert figures[1]["layout"]["title"]["text"].startswith(seed1.split("/")[1])
    assert figures[1]["layout"]["shapes"][0]["x0"] == 250
    table, note, shown = render_differences(store, {"variant": seed0, "compare": [seed1]}, None)
    text = str(table)
    assert note == "" and "model seed" in text and "table-warning" in text
    # an epoch step does not send the table again; another variant set does
    assert render_differences(store, {"variant": seed0, "compare": [seed1], "epoch": 100}, shown) == (no_update,) * 3
    assert render_differences(store, {"variant": seed0}, shown)[2] == [seed0]


def test_per_variant_cursors_sit_at_the_same_point_relative_to_each_onset(compare_page, monkeypatch):
    from workbench import compare as compare_module
    from workbench.pages.compare import render_side_by_side
    store, seed0, seed1 = compare_page
    onsets = [36, 56]  # both tiny seeds turn at epoch 36; give them different onsets to see the shift
    monkeypatch.setattr(compare_module, "grokking_onsets", lambda _store, variants: dict(zip((seed0, seed1), onsets)))
    selection = {"variant": seed0, "compare": [seed1], "epoch": 300, "cursors": "onset"}
    out = render_side_by_side(store, selection, "png", None, side_key="key")
    rendered, slots, out = out[12], out[13:], [slot_figure(card) for card in out[:2]]
    shift = onsets[1] - onsets[0]
    assert out[0]["layout"]["shapes"][0]["x0"] == 300 and out[1]["layout"]["shapes"][0]["x0"] == 300 + shift
    clicked = [t for t in out[1]["data"] if isinstance(t.get("customdata"), list)][0]  # a click picks seed 0's epoch
    assert clicked["customdata"][0] == -shift  # epoch 0 of seed 1 = epoch -shift of seed 0
    # the browser moves seed 1's cursor to the selected epoch + shift (offset = its epoch - the selected)
    assert slots[1]["offsets"] == [-shift] * slots[1]["cursors"] and slots[1]["page_key"] == "key"
    moved = render_side_by_side(store, {**selection, "epoch": 350}, "png", rendered, side_key="key")
    assert moved == [no_update] * 13 + [no_update] * 6  # an epoch step sends nothing


def test_a_side_by_side_figure_at_the_epoch_is_drawn_again_for_each_epoch(compare_page):
    from workbench.pages.compare import render_side_by_side
    store, seed0, seed1 = compare_page
    selection = {"variant": seed0, "compare": [seed1], "epoch": 250, "side": "embedding_fourier_norms"}
    first = render_side_by_side(store, selection, "png", None, side_key='["key"]@250')
    assert first[12]["per_epoch"] and first[13]["page_key"] == '["key"]'  # the side key holds the epoch
    then = render_side_by_side(store, {**selection, "epoch": 300}, "png", first[12], side_key='["key"]@300')
    assert "300" in slot_figure(then[0])["layout"]["title"]["text"]


def test_switching_the_side_by_side_figure_redraws_its_slots_with_their_own_axes_and_clicks(compare_page):
    from workbench.pages.compare import render_side_by_side
    store, seed0, seed1 = compare_page
    selection = {"variant": seed0, "compare": [seed1], "epoch": 250}
    first = render_side_by_side(store, {**selection, "side": "embedding_fourier_norms"}, "png", None, side_key="a")
    then = render_side_by_side(store, {**selection, "side": "cluster_sizes"}, "png", first[12], side_key="b")
    bars, sizes = slot_figure(first[0]), slot_figure(then[0])
    assert bars["layout"]["uirevision"] != sizes["layout"]["uirevision"], "a new figure starts from its own axes"
    assert first[0].children[0].children.id["click"] == "frequency" and then[0].children[0].children.id["click"] == "epoch"


def test_a_figure_off_screen_is_drawn_only_once_it_is_seen(compare_page):
    from dash.exceptions import PreventUpdate

    from workbench.pages.compare import OVERLAYS, render_overlays, render_side_by_side, render_trajectory
    store, seed0, seed1 = compare_page
    selection, n = {"variant": seed0, "compare": [seed1], "epoch": 250}, len(OVERLAYS)
    unseen = [True, True] + [None] * (n - 2)  # the first row on screen; lazy.js has not looked at the rest
    out = render_overlays(store, selection, None, unseen, page_key="key")
    assert all(isinstance(f, dict) for f in out[:2]) and out[2:n] == [no_update] * (n - 2)
    assert out[2 * n + 2:] == [no_update] * (n - 2)  # their stores say nothing is drawn: drawn once seen
    seen = render_overlays(store, selection, out[2 * n:2 * n + 2] + [None] * (n - 2), [True] * n, page_key="key")
    assert seen[:2] == [no_update] * 2 and all(isinstance(f, dict) for f in seen[2:n])
    for off_screen in (None, False):
        with pytest.raises(PreventUpdate):
            render_side_by_side(store, selection, "png", None, visible=off_screen, side_key="key")
        with pytest.raises(PreventUpdate):
            render_trajectory(store, selection, "all", None, visible=off_screen, page_key="key")


def test_the_compare_modes_live_in_the_url_and_defaults_are_left_out():
    from workbench.pages.compare import mode, modes_to_url
    search = "?variant=f/a&epoch=10"
    query = modes_to_url("onset", "shared", "cluster_sizes", search)
    assert "align=onset" in query and "side=cluster_sizes" in query and "cursors" not in query
    from workbench.selection import parse_query
    state = parse_query(query)
    assert mode(state, "align") == "onset" and mode(state, "cursors") == "shared" and mode(state, "side") == "cluster_sizes"
    assert mode({"side": "no_such_figure"}, "side") == "loss_curves"
    import dash
    assert modes_to_url("epoch", "shared", "loss_curves", search) is dash.no_update  # nothing changed


def test_differences_are_highlighted_by_how_large_they_are():
    from workbench.pages._differences import highlight
    rows = [{"a": 100, "b": 100, "c": 100, "k": [1, 2]}, {"a": 103, "b": 130, "c": 1000, "k": [1, 3]}]
    assert highlight(rows, "a", True) is None                      # 3%: shown as Δ only
    assert highlight(rows, "b", True) == "wb-differs-some"         # 23%
    assert highlight(rows, "c", True) == "table-warning"           # 10×
    assert highlight(rows, "k", True) == "table-warning"           # different in kind


def test_an_empty_overlay_gives_the_command_that_fills_it_optional_analyses_included():
    from workbench.pages.compare import nothing_to_overlay
    variants = ["modular_addition_demo/p59-s1-d598", "modular_addition_demo/p59-s3-d598"]
    llc = nothing_to_overlay("llc", variants)
    assert "workbench analyze modular_addition_demo/ID --analyzers llc" in llc and "p59-s1-d598, p59-s3-d598" in llc
    assert "--analyzers" not in nothing_to_overlay("gini", variants)
    assert max(len(line) for line in llc.split("<br>")) <= 60  # lines that fit a half-width card
