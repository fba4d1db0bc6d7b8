"""The click contract, over the whole figure catalog: a click selects what its axis means (an
epoch, a frequency, a neuron, a head, an input) or nothing - never a k, a neuron index or a
singular-value index read as an epoch."""
import numpy as np
import pytest
from renderer_inputs import D_MLP, EPOCHS, N_FREQ, N_HEADS, P, render

from workbench import app as app_module
from workbench.pages._common import FigurePage
from workbench.renderers import CATALOG, cursor

HISTORY_EPOCHS = set(range(41))  # the synthetic history logs every epoch 0..40
DOMAINS = {"epoch": set(EPOCHS.tolist()) | HISTORY_EPOCHS, "frequency": set(range(1, N_FREQ + 1)),
           "neuron": set(range(D_MLP)), "head": set(range(N_HEADS)), "input": set(range(P * P))}


def ids(trace) -> set[int]:
    return {int(v) for v in np.ravel(np.asarray(trace.customdata, dtype=np.float64))}


def first_point(trace) -> dict:
    """The clickData a click on the trace's first point sends (one scalar id, as the app's figures carry)."""
    custom = np.asarray(trace.customdata)
    x = np.ravel(trace.x) if trace.x is not None else []
    point = {"x": x[0] if len(x) else None, "customdata": custom.ravel()[0].item()}
    return {"points": [point]}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_every_catalog_figure_declares_what_its_click_selects_and_its_ids_mean_that(name):
    entry, fig = CATALOG[name], render(name)
    assert entry.click in cursor.CLICK_KINDS
    assert fig.layout.meta["click"] == entry.click, "the figure and its catalog entry declare the same click"
    carrying = [t for t in fig.data if t.customdata is not None and np.size(t.customdata)]
    if entry.click is None:
        assert not carrying, "a figure that selects nothing carries no ids"
        return
    assert carrying, "a clickable figure carries its ids in customdata"
    for trace in carrying:
        assert ids(trace) <= DOMAINS[entry.click], f"{trace.name}: ids outside the {entry.click} range"
        change = cursor.clicked(entry.click, first_point(trace))
        assert set(change) == {entry.click}, f"a click on {trace.name} selects a {entry.click}"


@pytest.mark.parametrize("name", ["embedding_fourier_norms", "unembedding_fourier_norms", "logit_map_fourier_norms"])
def test_a_bar_at_frequency_k_selects_frequency_k_not_an_epoch(name):
    fig = render(name, epoch=20)
    for bars in fig.data:
        assert np.array_equal(bars.customdata, bars.x), "each bar's id is its k"
    k = int(fig.data[1].x[0])
    assert cursor.clicked(CATALOG[name].click, {"points": [{"x": k, "customdata": k}]}) == {"frequency": k}


def test_a_cell_of_a_neuron_map_selects_its_input_a_times_p_plus_b():
    fig = render("neuron_heatmap", neuron=3)
    cells = np.asarray(fig.data[0].customdata)
    a, b = 4, 9
    assert cells[a, b] == a * P + b
    assert cursor.clicked("input", {"points": [{"x": b, "y": a, "customdata": int(cells[a, b])}]}) == {"input": 53}


def test_down_sampled_neuron_maps_still_select_a_true_input():
    cells = np.asarray(render("neuron_heatmap", neuron=3, downsample=4).data[0].customdata)
    assert cells.shape == (4, 4) and cells[0, 0] == 0 and cells[-1, -1] == P * P - 1


def test_only_epoch_figures_read_a_clicked_point_without_an_id_as_its_x():
    no_id = {"points": [{"x": 22, "y": 0.4}]}
    assert cursor.clicked("epoch", no_id) == {"epoch": 22}
    for kind in ("frequency", "neuron", "head", "input", None):
        assert cursor.clicked(kind, no_id) == {}, f"a {kind} figure must not turn an x into a selection"


def test_singular_values_and_other_index_axes_select_nothing():
    for name in ("singular_values", "explained_variance", "llc_chains", "head_badges"):
        assert CATALOG[name].click is None and cursor.clicked(None, {"points": [{"x": 100}]}) == {}


def test_every_app_graph_declares_the_click_of_the_figure_it_shows():
    """Every page's graph id carries the kind its figure declares (the shell honours the id)."""
    for page in app_module.PAGES:
        figures = getattr(page, "FIGURES", None)
        if not isinstance(figures, FigurePage):
            continue
        for spec in figures.specs:
            kind = spec.selects
            assert kind in cursor.CLICK_KINDS, f"{page.NAME}/{spec.name}"
            if hasattr(spec.build, "click"):
                assert spec.click in ("from-build", kind), f"{page.NAME}/{spec.name} overrides its figure's click"
            elif kind != "epoch":
                pytest.fail(f"{page.NAME}/{spec.name}: a figure of one's own selects epochs or declares a click")


def test_the_selected_frequency_and_neuron_are_marked():
    bars = render("embedding_fourier_norms", epoch=20, frequency=3)
    assert any(s.name == "selected k=3" for s in bars.layout.shapes)
    clusters = render("neuron_clusters", epoch=20, neuron=5, frequency=2)
    names = {s.name for s in clusters.layout.shapes}
    assert {"selected neuron 5", "selected k=2"} <= names
    assert not any((s.name or "").startswith("selected") for s in render("neuron_clusters", epoch=20).layout.shapes)
    assert not any((s.name or "").startswith("selected")
                   for s in render("embedding_fourier_norms", epoch=20, frequency=N_FREQ + 4).layout.shapes)
