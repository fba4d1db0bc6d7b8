"""Small synthetic artifacts for the renderer tests (tests/test_renderers.py, tests/test_click_contract.py):
p = 11, five frequencies, 16 neurons, 2 heads, checkpoints every 10 epochs to 40; `render(name)`
draws a catalog figure from them."""
import numpy as np

from workbench.renderers import CATALOG, trajectories

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
