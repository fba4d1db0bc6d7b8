"""Comparing variants: headline metrics, the grokking onset, overlay curves and a shared PCA.

How do the prime, the seeds and the recipe change training dynamics? Everything here is computed
from what is on disk (history, analyzer series, checkpoints) and knows nothing of the app: the
Variants and Compare pages, notebooks and tests all call the same functions.

Definitions (epochs are training epochs; each history series has its own): the memorization epoch, the
grokking onset and the grok epoch are those of `workbench.phases` (the one definition of a run's
phases): memorization ends when train loss first falls to 0.05 nats; the grok epoch is the
first with test accuracy ≥ 99% (without accuracy: the first after the peak with test loss ≤
0.05 nats); the onset is where the test loss bends from its decline after the peak into its
drop (`grokking_onset`; None for a run whose test loss has not fallen 10×).
The onset marks where the turn starts, so runs aligned on it line up their transitions;
- neuron clusters (`cluster_count`): frequencies whose cluster (neurons explained ≥ 85% by that
  frequency, `neuron_frequencies.cluster_size`) holds at least `MIN_CLUSTER_FRACTION` = 2% of
  the MLP's neurons (11 of 512): stray neurons at a random frequency are not a cluster;
- key frequencies: the model's (`workbench.fourier.model_key_frequencies`: those at least two
  of the embedding, the neuron-logit map and the neuron clusters agree on), the ones the
  progress measures use, from the final checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench import pipeline, trajectory
from workbench.analyzers.developmental import centred_outputs, model_outputs, output_pairs
from workbench.analyzers.trajectory import flatten
from workbench.caching import StampedMemo
from workbench.errors import BadInputError, MissingError, UserError
from workbench.fourier import MIN_CLUSTER_FRACTION, min_cluster_size  # noqa: F401 (pages read them here)
from workbench.history import as_history
from workbench.phases import PhaseRules, detect_phases, grok_rule, onset_of_descent, roles
from workbench.selection import snap
from workbench.store import Store, VariantRef
from workbench.vocabulary import PARAMETER_GROUPS, key_frequencies as key_frequencies_of

ACCURACY_THRESHOLD = PhaseRules().grokked_accuracy
SHARED_PCA_VERSION = 1
_ROWS = StampedMemo(256)  # variant_metrics by variant, while its files are unchanged


# -- headline metrics ---------------------------------------------------------------------------

def first_epoch_at_least(values, threshold: float) -> int | None:
    """The first index (= epoch in a history) where values ≥ threshold; None if never (NaN never counts)."""
    hits = np.flatnonzero(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=-np.inf) >= threshold)
    return int(hits[0]) if len(hits) else None


def grokking_onset(test_loss, epochs=None) -> int | None:
    """The grokking onset of a test loss recorded at `epochs` (default 0, 1, 2, ...), as
    `workbench.phases.onset_of_descent` defines it; None if the run has not grokked."""
    loss = np.asarray(test_loss, dtype=np.float64)
    onset = onset_of_descent(np.arange(len(loss)) if epochs is None else epochs, loss)
    return None if onset is None else int(onset)


def phase_epochs(series: dict) -> dict:
    """memorized_epoch, onset_epoch and grokked_epoch of a run's {name: (x, y)} series
    (`workbench.phases`; x is the epoch, or the step of a log indexed by step)."""
    try:
        found = detect_phases(series)
    except ValueError:  # nothing finite logged yet
        found = None
    as_int = lambda v: None if v is None else int(round(v))  # noqa: E731
    return {"memorized_epoch": as_int(found and found.memorization_end), "onset_epoch": as_int(found and found.onset),
            "grokked_epoch": as_int(found and found.grok)}


def history_phases(history) -> dict:
    """`run_phases` of a `History` (or a dict of values at epochs 0, 1, 2, ...): its train and
    held-out loss and accuracy, whatever they are called (`workbench.phases.roles`)."""
    history = as_history(history)
    names = [name for role, name in roles(history).items() if role != "weight_norm" and len(history[name])]
    return phase_epochs({name: history.xy(name) for name in names})


def log_metrics(series: dict) -> dict:
    """The table's numbers for an imported log: its phases and final train/held-out loss."""
    role = roles(series)
    final = {f"final_{r}": _final(series[role[r]][1]) for r in ("train_loss", "test_loss") if r in role}
    return {**phase_epochs(series), **final}


def key_frequencies(series: dict) -> list[int]:
    """Key frequencies (1-based k) from the last row of a series' `key_mask`: the model's from the
    `progress_measures` series, W_E's own from `fourier_embedding`."""
    return key_frequencies_of(np.asarray(series["key_mask"])[-1]).tolist()


def cluster_count(cluster_size, d_mlp: int) -> np.ndarray:
    """Frequencies whose cluster holds ≥ `min_cluster_size(d_mlp)` neurons; cluster_size
    [..., n_freq] -> [...] (one count per epoch for a series)."""
    return (np.asarray(cluster_size) >= min_cluster_size(d_mlp)).sum(axis=-1)


def _final(values) -> float | None:
    values = np.asarray(values, dtype=np.float64)
    return float(values[-1]) if len(values) and np.isfinite(values[-1]) else None


def headline_metrics(history: dict | None, progress: dict | None = None, neurons: dict | None = None,
                     dimensionality: dict | None = None) -> dict:
    """The comparison table's numbers for one variant, from whatever of its data exists (None
    for a missing input gives None for what it feeds)."""
    row = dict.fromkeys(("memorized_epoch", "grokked_epoch", "onset_epoch", "final_train_loss",
                         "final_test_loss", "key_frequencies", "n_clusters", "fraction_explained",
                         "participation_ratio_W_E"))
    if history:
        row.update(**history_phases(history),
                   final_train_loss=_final(history.get("train_loss", [])),
                   final_test_loss=_final(history.get("test_loss", [])))
    if progress:
        row["key_frequencies"] = key_frequencies(progress)   # the model's (progress_measures' key_mask)
    if neurons:
        d_mlp = np.shape(neurons["dominant_freq"])[-1]
        row["n_clusters"] = int(cluster_count(np.asarray(neurons["cluster_size"])[-1], d_mlp))
        row["fraction_explained"] = _final(neurons["fraction_explained"])
    if dimensionality:
        row["participation_ratio_W_E"] = _final(dimensionality["participation_ratio.W_E"])
    return row


def analysis_state(report: dict[str, dict]) -> str:
    """'complete', 'partial (3/7)' or 'not analyzed', from `pipeline.status`."""
    done = sum(1 for r in report.values() if not r["missing"] and not r["stale"] and r["done"])
    if report and done == len(report):
        return "complete"
    return f"partial ({done}/{len(report)})" if done or any(r["done"] for r in report.values()) else "not analyzed"


def variant_metrics(store: Store, ref: VariantRef) -> dict:
    """One row of the variant table: recipe, status, headline metrics and analysis state (kept
    in memory until the variant's files change; the status is read fresh: a lock is no file)."""
    row = _ROWS.get((str(store.root), ref), store.variant_stamp(ref), lambda: _variant_metrics(store, ref))
    return {**row, "status": store.status(ref)}


def _variant_metrics(store: Store, ref: VariantRef) -> dict:
    info = store.info(ref)
    domain = info.get("spec", {}).get("domain", {})
    epochs = store.checkpoint_epochs(ref)

    def optional(load):
        try:
            return load()
        except UserError:  # missing or unreadable: that number stays empty
            return None
    row = {"variant": str(ref), "family": ref.family, "id": ref.id, "p": domain.get("p"),
           "seed": domain.get("seed"), "data_seed": domain.get("data_seed"), "status": store.status(ref),
           "checkpoints": len(epochs), "last_epoch": epochs[-1] if epochs else None}
    row.update(headline_metrics(optional(lambda: store.load_history(ref)),
                                *(optional(lambda a=a: store.load_artifact(ref, a))
                                  for a in ("progress_measures", "neuron_frequencies", "dimensionality"))))
    row["analysis"] = analysis_state(pipeline.status(ref, store)) if epochs else "not analyzed"
    if store.is_log(ref):
        row.update(log_metrics(store.load_log(ref)), analysis="imported log")
    return row


def grokking_onsets(store: Store, variants: list[str]) -> dict[str, int | None]:
    """Each variant's grokking onset (`history_phases` of its history, whatever its series are
    called and however often they were logged); None when it has not grokked or has no history."""
    onsets = {}
    for variant in variants:
        try:
            onsets[variant] = history_phases(store.cached_history(VariantRef.parse(variant)))["onset_epoch"]
        except (UserError, KeyError):
            onsets[variant] = None
    return onsets


def onset_offsets(onsets: dict[str, int | None], variants: list[str]) -> list[int]:
    """Per variant, its onset minus the first variant's (0 where either is unknown): where its
    cursor sits at the same point relative to its own grokking onset."""
    base = onsets.get(variants[0]) if variants else None
    return [onsets[v] - base if base is not None and onsets.get(v) is not None else 0 for v in variants]


def prime(store: Store, variant: str) -> int | None:
    """The variant's prime p; None when its record is unreadable."""
    try:
        return int(store.info(VariantRef.parse(variant))["spec"]["domain"]["p"])
    except (UserError, KeyError, TypeError, ValueError):
        return None


def overview_numbers(store: Store, ref: VariantRef, epoch: int | None) -> dict:
    """The Overview page's headline numbers: phase epochs (and which grok rule applies) and the
    final test accuracy from the history - for a run that logged no accuracy, the final
    checkpoint's, analyzed (`final_test_acc_note` says so); the model's key frequencies and the
    share of neurons in a frequency cluster at the checkpoint `epoch` snaps to, when analyzed
    (else "analyzed": False; "log": True for an imported log, which has no model to analyze).
    MissingError without a history."""
    history = store.cached_history(ref)
    test_acc = history.get("test_acc")
    numbers = {**history_phases(history), "analyzed": True, "grok_rule": grok_rule(history), "log": store.is_log(ref),
               "final_test_acc": float(np.nan_to_num(test_acc[-1])) if test_acc is not None and len(test_acc) else None,
               "final_test_acc_note": ""}
    try:
        neurons = store.cached_series(ref, "neuron_frequencies")
        measures = store.cached_series(ref, "progress_measures")
    except MissingError:
        return {**numbers, "analyzed": False}
    if numbers["final_test_acc"] is None and "test_acc" in measures:
        numbers.update(final_test_acc=float(measures["test_acc"][-1]),
                       final_test_acc_note=f"of the checkpoint at epoch {int(measures['epochs'][-1]):,} (not logged)")
    epochs = np.asarray(neurons["epochs"]).tolist()
    i = epochs.index(snap(epoch, epochs))
    return {**numbers, "key_frequencies": key_frequencies(measures),
            "fraction_explained": float(neurons["fraction_explained"][i]), "neurons_epoch": int(neurons["epochs"][i])}


def relative_spread(rows: list[dict], key) -> float | None:
    """How far apart the rows' numbers under `key` are: (max − min) / max |v|, 0 when equal; None
    when some row has no number there (then only equal / different can be said)."""
    values = [row.get(key) for row in rows]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    scale = max(abs(v) for v in values)
    return 0.0 if scale == 0 else (max(values) - min(values)) / scale


def metric_differences(rows: list[dict], keys, rel_tol: float = 1e-3) -> dict[str, bool]:
    """For each key: do the rows disagree? Numbers within rel_tol of each other count as equal."""
    differs = {}
    for key in keys:
        values = [row.get(key) for row in rows]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numbers) == len(values) and numbers:
            spread, scale = max(numbers) - min(numbers), max(abs(v) for v in numbers)
            differs[key] = spread > rel_tol * scale
        else:
            differs[key] = len({repr(v) for v in values}) > 1
    return differs


# -- overlays -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class OverlayMetric:
    """A time series drawn for every compared variant on one set of axes.
    lines: (line name, what it reads — "history" or an analyzer series —, key in that data)."""
    title: str
    y_title: str
    caption: str
    lines: tuple[tuple[str, str, str], ...]
    log_y: bool = False
    fmt: str = ".4g"


OVERLAY_METRICS = {
    "loss": OverlayMetric("Loss", "loss (nats, log scale)", "Look for where each variant's test loss drops: "
                          "that is where it groks (dotted: each variant's grokking onset).", (("train loss", "history", "train_loss"),
                                                           ("test loss", "history", "test_loss")), log_y=True),
    "accuracy": OverlayMetric("Accuracy", "accuracy (fraction of pairs)", "Look for the epoch at which each "
                              "variant's test accuracy rises (dotted: its grokking onset).", (("train acc.", "history", "train_acc"),
                                                                   ("test acc.", "history", "test_acc")), fmt=".1%"),
    "progress": OverlayMetric("Restricted and excluded loss", "loss (nats, log scale)", "Look for restricted "
                              "loss falling before each variant's test loss, and excluded loss rising.",
                              (("restricted loss", "progress_measures", "restricted_loss"),
                               ("excluded loss", "progress_measures", "excluded_loss")), log_y=True),
    "gini": OverlayMetric("Fourier sparsity (Gini)", "Gini coefficient (0 = uniform, 1 = one frequency)",
                          "Look for when each variant's Gini climbs: its norms concentrating on its key frequencies.",
                          (("Gini W_E", "progress_measures", "gini_W_E"),
                           ("Gini W_L", "progress_measures", "gini_W_L")), fmt=".3f"),
    "participation_ratio": OverlayMetric("Participation ratio of W_E", "participation ratio (dimensions)",
                                         "Look for when each variant's W_E falls into few dimensions, against its onset.",
                                         (("PR W_E", "dimensionality", "participation_ratio.W_E"),), fmt=".2f"),
    "velocity": OverlayMetric("Speed through parameter space", "‖Δθ‖ per epoch (L2 norm, log scale)",
                              "Look for where each variant slows down, and whether it speeds up again near its onset.",
                              (("speed (all parameters)", "parameter_trajectory", "all.velocity"),),
                              log_y=True, fmt=".3g"),
    "llc": OverlayMetric("Local learning coefficient", "λ̂ (mean of SGLD chains)",
                         "Look for λ̂ rising and falling against each variant's onset (optional analyzer: "
                         "`workbench analyze VARIANT --analyzers llc`).", (("LLC", "llc", "llc_mean"),), fmt=".3g"),
    "clusters": OverlayMetric("Neuron frequency clusters", "clusters (frequencies, count)",
                              "Clusters with ≥ 2% of the neurons: look for when each variant's count settles.",
                              (("clusters", "neuron_frequencies", "cluster_count"),), fmt="d"),
}


def overlay_line(data: dict, reads: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) of one overlay line from a history or an analyzer series. Per-interval
    values (velocity, [n − 1]) sit at the end of each interval; "cluster_count" is derived."""
    if reads == "history":
        return as_history(data).xy(key)
    epochs = np.asarray(data["epochs"])
    if key == "cluster_count":
        return epochs, cluster_count(data["cluster_size"], np.shape(data["dominant_freq"])[-1])
    values = np.asarray(data[key])
    return (epochs[1:] if len(values) == len(epochs) - 1 else epochs), values


def short_labels(variants: list[str]) -> list[str]:
    """Legend labels: the variant ids when all share one family, else family/id."""
    families = {v.split("/", 1)[0] for v in variants}
    return [v.split("/", 1)[-1] if len(families) == 1 else v for v in variants]


def overlay_data(metric: str, variants: list[str], load, onsets: dict[str, int | None]) -> dict:
    """What `workbench.renderers.compare.metric_overlay` draws for `metric`: each variant's lines,
    read with `load(variant, reads)`; "index" is its place among `variants` (its color). A variant
    whose data is missing (load raises MissingError, or lacks a line's key) is listed under
    "missing" instead."""
    spec, rows, missing = OVERLAY_METRICS[metric], [], []
    for index, (variant, label) in enumerate(zip(variants, short_labels(variants))):
        try:
            lines = {name: overlay_line(load(variant, reads), reads, key) for name, reads, key in spec.lines}
        except (MissingError, KeyError):
            missing.append(label)
            continue
        rows.append({"variant": variant, "label": label, "index": index, "onset": onsets.get(variant), "lines": lines})
    return {"variants": rows, "missing": missing}


# -- parameter trajectories in one frame -------------------------------------------------------

OUTPUTS = "outputs"  # the shared frame of essential dynamics (model outputs), beside the parameter groups


def shared_trajectory(store: Store, refs: list[VariantRef], group: str = "all", n_components: int = 3) -> dict:
    """PCA fitted on the checkpoints of all `refs` together (flattened parameters of `group`,
    or with group "outputs" the centered logits of essential dynamics on the probe subset
    `analyzers.developmental.output_pairs(p)`), each variant's path projected into that one
    basis, so paths are comparable.

    Returns {"variants": [str], "epochs": [[n_i]], "projection": [[n_i, c]], "explained_variance": [c]}.
    Reads every checkpoint, so the result is kept in a disk cache under `<data root>/.cache/compare`
    keyed by every checkpoint's checksum. Raises BadInputError when the variants' parameters in
    `group` differ in shape (different p change W_E and W_U; attention and MLP stay comparable;
    outputs need one p)."""
    if group not in PARAMETER_GROUPS and group != OUTPUTS:
        raise BadInputError(f"unknown parameter group {group!r}; groups: {', '.join([*PARAMETER_GROUPS, OUTPUTS])}")
    epochs = [store.checkpoint_epochs(ref) for ref in refs]
    if any(not e for e in epochs):
        raise MissingError("a compared variant has no checkpoints yet")
    key = ("shared_pca", SHARED_PCA_VERSION, group, n_components,
           tuple((str(ref), tuple((e, store.checkpoint_fingerprint(ref, e)) for e in eps))
                 for ref, eps in zip(refs, epochs)))
    cache = store.disk_cache("compare", 512 * 1024**2)
    cached = cache.get(key)
    if cached is not None:
        return cached
    shapes, rows = {}, []
    for ref, eps in zip(refs, epochs):
        if group == OUTPUTS:
            spec = store.info(ref)["spec"]
            pairs = output_pairs(spec["domain"]["p"])
            shapes[str(ref)] = {"p": spec["domain"]["p"]}
            rows += [centred_outputs(model_outputs(spec, store.load_weights(ref, e), pairs)) for e in eps]
            continue
        for e in eps:
            weights = store.load_weights(ref, e)
            shapes.setdefault(str(ref), {k: v.shape for k, v in weights.items()
                                         if k.startswith(PARAMETER_GROUPS[group])})
            rows.append(flatten(weights, group).astype(np.float32))
    if len({tuple(sorted(s.items())) for s in shapes.values()}) > 1:
        if group == OUTPUTS:
            raise BadInputError("the outputs of variants with different p are answers to different questions: "
                                "compare variants of one p in output space, or pick a parameter group")
        raise BadInputError(f"the '{group}' parameters differ in shape between these variants (different p or "
                            "architecture): pick the attention or mlp group to compare them in one frame")
    _, ratio, projection = trajectory.pca(np.stack(rows), n_components)
    missing = n_components - projection.shape[1]              # fewer directions than components
    projection, ratio = np.pad(projection, ((0, 0), (0, missing))), np.pad(ratio, (0, missing))
    bounds = np.cumsum([0] + [len(e) for e in epochs])
    result = {"variants": [str(r) for r in refs], "group": group, "explained_variance": ratio,
              "epochs": [np.asarray(e) for e in epochs],
              "projection": [projection[a:b] for a, b in zip(bounds[:-1], bounds[1:])]}
    cache.set(key, result)
    return result
