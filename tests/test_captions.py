"""Captions computed from the data (workbench.renderers.captions): each claim is checked against
the numbers it describes, so a figure never says "a bump at grokking" where the speed only falls."""
import numpy as np

from workbench.renderers import captions


def test_speed_caption_names_a_bump_only_where_the_speed_rises_again():
    epochs = np.arange(10) * 100
    falling = np.geomspace(10, 0.1, 10)
    assert "never speeds up again" in captions.speed_caption(epochs, falling)
    bumped = falling.copy()
    bumped[6] = 4 * bumped[5]
    text = captions.speed_caption(epochs, bumped)
    assert "speeds up again" in text and "epoch 600" in text and "never" not in text


def test_norm_caption_reports_a_spike_only_when_a_norm_rises_twofold():
    x = np.arange(5)
    assert "no norm ever rises 2×" in captions.norm_trend({"W_E": (x, [4, 3, 2, 1.5, 1])}, "gradient")
    spike = captions.norm_trend({"W_E": (x, [4, 3, 9, 1.5, 1]), "W_U": (x, [1, 1, 1, 1, 1])}, "gradient")
    assert "×3.0 in W_E at epoch 2" in spike


def test_thresholds_are_reached_only_when_the_series_stays_there():
    x = np.arange(6)
    assert captions.first_x(x, [1, 0.01, 1, 0.02, 0.01, 0.01], 0.05, below=True) == 3
    assert captions.first_x(x, [1, 0.01, 1, 0.02, 0.01, 1], 0.05, below=True) is None
    text = captions.metric_reached({"train": (x, [1, 0.01, 0.01, 0.01, 0.01, 0.01]), "test": (x, [2] * 6)}, "loss")
    assert text == "Train loss ≤ 0.05 from epoch 1; test loss ≤ 0.05 not by the end."


def test_an_oscillation_at_the_series_edge_is_called_an_edge_effect_not_a_rhythm():
    x = np.arange(1000)
    ringing = np.where(x < 100, np.sin(x / 3) * np.exp(-x / 30), 0.001 * np.sin(x / 7))
    assert "edge effect" in captions.oscillation_caption(ringing, 100, x, 0.99)
    rhythm = np.sin(x / 7)
    assert "edge effect" not in captions.oscillation_caption(rhythm, 100, x, 0.99)


def test_fourier_captions_give_the_key_frequencies_share_of_the_norm():
    norm = np.array([1.0, 3.0, 0.0, 4.0])
    text = captions.fourier_bars_caption("W_E", norm, [False, True, False, True], 1500)
    assert "k = 2, 4" in text and "96%" in text and "epoch 1,500" in text  # (9 + 16) / 26
    assert "No key frequencies" in captions.fourier_bars_caption("W_E", norm, [False] * 4, None)


def test_a_neuron_in_no_cluster_gets_its_frequency_peers_and_a_caption_saying_so():
    from workbench.analyzers.neurons import cluster_members, describe_cluster
    row = {"dominant_freq": np.array([3, 3, 5, 3, 5]), "dominant_fve": np.array([0.4, 0.9, 0.95, 0.6, 0.2])}
    members = cluster_members(row, 0)
    assert members.tolist() == [1, 3, 0], "every neuron of its dominant k, strongest first, it among them"
    assert "Neuron 0 is in no cluster" in describe_cluster(row, 0, members) and "40%" in describe_cluster(row, 0, members)
    assert cluster_members(row, 1).tolist() == [1] and "The cluster of neuron 1" in describe_cluster(row, 1, [1])


def test_heads_table_shows_every_head_and_says_why_a_and_b_agree_only_when_no_head_attends_to_equals():
    from renderer_inputs import N_HEADS, attention_artifact
    from workbench.renderers import attention
    from workbench.renderers.theme import MARGIN
    data = attention_artifact()
    fig = attention.head_badges_table(data, 20)
    rows = N_HEADS + 1  # the header too
    assert fig.layout.height - fig.layout.margin.t - fig.layout.margin.b >= rows * attention.TABLE_ROW
    assert fig.layout.margin.t == MARGIN["t"]
    caption = fig.layout.meta["caption"]
    assert "Head 0 follows one frequency most cleanly: k = 4 explains 90%" in caption
    assert "agree" not in caption  # a third of the attention goes to = here
    data["mean_attention"][:] = [[0.5], [0.5], [0.0]]
    assert "the → a and → b columns agree" in attention.head_badges_table(data, 20).layout.meta["caption"]
