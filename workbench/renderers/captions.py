"""Captions computed from the data a figure draws: what this run shows, in numbers, or what to
look for - never a claim the data was not checked against ("a bump at grokking" where the speed
only falls). Each function takes the arrays its renderer already holds and returns one or two
sentences; thresholds are the ones the rest of the workbench uses (`workbench.vocabulary`)."""
from __future__ import annotations

import numpy as np

LOSS_REACHED = 0.05   # nats: "memorized" / "grokked by loss", as in `workbench.compare`
ACC_REACHED = 0.99


def first_x(x, y, threshold: float, *, below: bool) -> float | None:
    """The first x where y is at or below (or above) `threshold` and stays so to the end; None if never."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    ok = y <= threshold if below else y >= threshold
    if not len(ok) or not ok[-1]:
        return None
    bad = np.flatnonzero(~ok)
    return float(x[bad[-1] + 1] if len(bad) else x[0])


def _from(value: float | None, unit: str = "epoch") -> str:
    return f"from {unit} {value:,.0f}" if value is not None else "not by the end"


def metric_reached(named: dict[str, tuple], metric: str, unit: str = "epoch") -> str:
    """"Train loss ≤ 0.05 from epoch 96, test loss from epoch 1,530." for {"train": (x, y), "test": ...}."""
    threshold, below = (LOSS_REACHED, True) if metric == "loss" else (ACC_REACHED, False)
    sign, shown = ("≤", f"{threshold:g}") if below else ("≥", f"{threshold:.0%}")
    word = {"acc": "accuracy"}.get(metric, metric)
    parts = [f"{split} {word} {sign} {shown} {_from(first_x(*xy, threshold, below=below), unit)}"
             for split, xy in named.items()]
    return ("; ".join(parts) + ".").capitalize() if parts else ""


def norm_trend(series: dict[str, tuple], what: str) -> str:
    """How the per-parameter norms moved: median first → last, and the largest rise between
    consecutive logged points (a spike), if any rose ≥ 2×."""
    if not series:
        return ""
    firsts, lasts, spike = [], [], (1.0, None, None)
    for name, (x, y) in series.items():
        y = np.asarray(y, np.float64)
        keep = np.isfinite(y) & (y > 0)
        if keep.sum() < 2:
            continue
        x, y = np.asarray(x)[keep], y[keep]
        firsts.append(y[0])
        lasts.append(y[-1])
        rises = y[1:] / y[:-1]
        i = int(np.argmax(rises))
        if rises[i] > spike[0]:
            spike = (float(rises[i]), float(x[i + 1]), name)
    if not firsts:
        return ""
    text = f"Median {what} norm {np.median(firsts):.3g} at the start, {np.median(lasts):.3g} at the end"
    if spike[0] >= 2:
        return text + f"; largest jump ×{spike[0]:.1f} in {spike[2]} at epoch {spike[1]:,.0f}."
    return text + "; no norm ever rises 2× between logged points."


def speed_caption(epochs, speed) -> str:
    """Where the path through parameter space is fastest and slowest, and whether it speeds up
    again after slowing (a bump) - measured, not assumed."""
    e, v = np.asarray(epochs, np.float64), np.asarray(speed, np.float64)
    keep = np.isfinite(v)
    e, v = e[keep], v[keep]
    if len(v) < 2:
        return "Too few checkpoints to measure a speed."
    fastest = int(np.argmax(v))
    text = (f"Fastest by epoch {e[fastest]:,.0f} ({v[fastest]:.3g}/epoch); at the end {v[-1]:.3g}/epoch, "
            f"{v[fastest] / max(v[-1], 1e-30):.3g}× slower.")
    low = np.minimum.accumulate(v)
    bump = np.flatnonzero(v >= 2 * low)
    bump = bump[bump > fastest]
    if len(bump):
        return text + f" It speeds up again (≥ 2× its slowest so far) at epoch {e[bump[0]]:,.0f}."
    return text + " It never speeds up again to 2× its slowest so far."


def fourier_share(norm, is_key) -> float:
    """Share of the Fourier norm² on the key frequencies."""
    power = np.asarray(norm, np.float64) ** 2
    return float(power[np.asarray(is_key, bool)].sum() / max(power.sum(), 1e-30))


def fourier_bars_caption(matrix: str, norm, is_key, epoch: int | None) -> str:
    keys = np.flatnonzero(np.asarray(is_key, bool)) + 1
    at = f" at epoch {epoch:,}" if epoch is not None else ""
    if not len(keys):
        return f"No key frequencies in {matrix}{at}: look for a few bars rising above the rest."
    return (f"{len(keys)} key frequenc{'y' if len(keys) == 1 else 'ies'} (k = {', '.join(map(str, keys))}) hold "
            f"{fourier_share(norm, is_key):.0%} of {matrix}'s Fourier norm²{at} "
            f"({len(keys) / len(is_key):.0%} of the frequencies).")


def fourier_heatmap_caption(matrix: str, norm_by_epoch, keys, epochs) -> str:
    """norm_by_epoch [n_epochs, n_freq]; keys the final key frequencies (1-based)."""
    norm = np.asarray(norm_by_epoch, np.float64)
    if not len(keys):
        return f"No key frequencies in {matrix} at the end: look for rows that light up and stay."
    is_key = np.zeros(norm.shape[1], bool)
    is_key[np.asarray(keys) - 1] = True
    return (f"The final key frequencies (★ k = {', '.join(map(str, keys))}) hold {fourier_share(norm[0], is_key):.0%} "
            f"of {matrix}'s Fourier norm² at epoch {int(epochs[0]):,} and {fourier_share(norm[-1], is_key):.0%} at "
            f"epoch {int(epochs[-1]):,}.")


def clusters_caption(epochs, sizes, d_mlp: int | None) -> str:
    """sizes [n_epochs, n_freq]: the clusters at the end, and when they first held half of that."""
    sizes = np.asarray(sizes, np.int64)
    final = sizes[-1]
    ks = np.flatnonzero(final > 0) + 1
    if not len(ks):
        return "No neuron is in a frequency cluster at the last epoch."
    total = final.sum()
    half = np.flatnonzero(sizes.sum(axis=1) >= total / 2)
    share = f" ({total / d_mlp:.0%} of the MLP)" if d_mlp else ""
    return (f"At epoch {int(epochs[-1]):,}: {total} neurons{share} in clusters for k = {', '.join(map(str, ks))}; "
            f"half of that was reached by epoch {int(epochs[half[0]]):,}.")


def scale_types_caption(epochs, counts: dict[str, np.ndarray]) -> str:
    """counts {type name: [n_epochs]}: the mix at the last epoch, and when the largest type became largest."""
    last = {name: int(c[-1]) for name, c in counts.items()}
    top = max(last, key=last.get)
    stack = np.stack(list(counts.values()))
    leader = np.asarray(list(counts))[np.argmax(stack, axis=0)]
    since = np.flatnonzero(leader != top)
    start = epochs[since[-1] + 1] if len(since) else epochs[0]
    return (f"At epoch {int(epochs[-1]):,}: " + ", ".join(f"{n} {name}" for name, n in last.items())
            + f". {top.capitalize()} is the largest type from epoch {int(start):,}. A type is the map's texture, "
            "not a cluster: check it against the neurons' FVE.")


def heads_caption(row: dict | None, n_heads: int, scale_names) -> str:
    """Each head's dominant frequency, FVE and texture at the epoch (from the attention_heads row)."""
    if row is None:
        return "Look for stripes (a head that follows one frequency) or smooth blobs in each head's map."
    dominant = np.asarray(row["dominant_freq"])       # [2 keys, n_heads]
    fve = np.asarray(row["dominant_fve"])
    types = np.asarray(row["scale_type"]) if "scale_type" in row else None
    parts = []
    for h in range(n_heads):
        texture = f", {scale_names[int(types[0, h])]}" if types is not None else ""
        parts.append(f"head {h}: k={int(dominant[0, h])} (FVE {float(fve[0, h]):.2f}{texture})")
    return "Attention to a — " + "; ".join(parts) + "."


def specialization_caption(epochs, fve_by_head) -> str:
    """fve_by_head [n_epochs, n_heads] dominant FVE: the final values and how many heads pass 0.5."""
    fve = np.asarray(fve_by_head, np.float64)
    final = fve[-1]
    return (f"At epoch {int(epochs[-1]):,} the heads' dominant FVE is "
            + ", ".join(f"{v:.2f}" for v in final) + f"; {int((final >= 0.5).sum())} of {len(final)} "
            "put at least half their map's variance on one frequency.")


def change_caption(name: str, epochs, values, fmt: str = ".3g") -> str:
    """"name: 3.1 at epoch 0 → 0.4 at epoch 20,000 (lowest 0.38 at epoch 18,000)."""
    v = np.asarray(values, np.float64)
    keep = np.isfinite(v)
    if not keep.any():
        return ""
    e, v = np.asarray(epochs)[keep], v[keep]
    text = f"{name}: {v[0]:{fmt}} at epoch {int(e[0]):,} → {v[-1]:{fmt}} at epoch {int(e[-1]):,}"
    inner = [f"{word} {v[i]:{fmt}} at {int(e[i]):,}" for word, i in (("lowest", int(np.argmin(v))),
                                                                    ("highest", int(np.argmax(v))))
             if 0 < i < len(v) - 1]
    return text + (f" ({', '.join(inner)})." if inner else ".")


def edge_power(oscillation, window: int) -> float:
    """Share of the oscillation's power within one window of either end of the series, where a
    low-pass trend filter rings (the series' steep first fall shows up as a 'rhythm')."""
    o = np.asarray(oscillation, np.float64)
    o = np.where(np.isfinite(o), o, 0.0)
    total = float((o ** 2).sum())
    if total <= 0 or len(o) <= 2 * window:
        return 0.0
    return float(((o[:window] ** 2).sum() + (o[-window:] ** 2).sum()) / total)


def oscillation_caption(oscillation, window: int, x, structured_share: float) -> str:
    edge = edge_power(oscillation, window)
    base = ("Structured share: power above the white-noise level (0% = noise, 100% = a clean rhythm). "
            f"Trend: zero-phase Butterworth low-pass, periods over {window} samples.")
    if edge >= 0.5:
        x = np.asarray(x)
        return (f"{edge:.0%} of the oscillation's power lies in the first or last {window} samples (before "
                f"{x[min(window, len(x) - 1)]:,.0f} or after {x[-window]:,.0f}), where the trend filter rings on a "
                f"steep fall: the {structured_share:.0%} structured share there is an edge effect, not a rhythm. " + base)
    return base


def key_share_caption(by_k, keys, epochs) -> str:
    """by_k [n_freq, n_epochs] contributions to one input's correct logit: the key frequencies'
    share of their absolute sum at the first and the last epoch."""
    if not len(keys):
        return "No key frequencies known (analyze the run): look for a few rows carrying the answer."
    size = np.abs(np.asarray(by_k, np.float64))
    rows = np.asarray(keys) - 1
    share = size[rows].sum(axis=0) / np.maximum(size.sum(axis=0), 1e-30)
    return (f"The key frequencies (★) give {share[0]:.0%} of this input's |contributions| at epoch {int(epochs[0]):,} "
            f"and {share[-1]:.0%} at epoch {int(epochs[-1]):,}.")
