"""Fourier analysis on Z_p: the basis, per-frequency norms, neuron FVE and restricted/excluded loss.

Basis convention (the one place it is written down; every other module imports it from here):
`fourier_basis(p)` is the orthonormal real basis of functions on Z_p = {0, ..., p-1}, p odd,
as an array F of shape [p, p] whose ROWS are the basis vectors (F @ F.T = I):
    row 0      constant         1/sqrt(p)
    row 2k-1   cos(w_k x)       * sqrt(2/p)      for k = 1 .. (p-1)/2, w_k = 2*pi*k/p
    row 2k     sin(w_k x)       * sqrt(2/p)
i.e. cos-first (Nanda et al. 2023 code order; codebases that are sin-first must swap rows
2k-1 and 2k when importing). Frequencies k are 1-based everywhere; arrays indexed by frequency
have length n_freq = (p-1)//2 and index i <-> k = i + 1.

Sources: Nanda, Chan, Lieberum, Smith, Steinhardt (2023), "Progress measures for grokking via
mechanistic interpretability" (arXiv 2301.05217); Hurley & Rickard (2009), "Comparing measures
of sparsity" (Gini). Pure NumPy: no torch, no I/O.
"""
from __future__ import annotations

import functools

import numpy as np

from workbench.vocabulary import FVE_THRESHOLD


@functools.lru_cache(maxsize=16)
def fourier_basis(p: int) -> np.ndarray:
    """Orthonormal real Fourier basis on Z_p, shape [p, p], rows = basis vectors (cos-first, see
    module docstring). Read-only and cached. Nanda et al. (2023), Fourier basis definition."""
    if p < 3 or p % 2 == 0:
        raise ValueError(f"p must be odd and >= 3, got {p}")
    x = np.arange(p)
    k = np.arange(1, (p - 1) // 2 + 1)[:, None]
    basis = np.empty((p, p))
    basis[0] = 1.0 / np.sqrt(p)
    basis[1::2] = np.cos(2 * np.pi * k * x / p) * np.sqrt(2.0 / p)
    basis[2::2] = np.sin(2 * np.pi * k * x / p) * np.sqrt(2.0 / p)
    basis.setflags(write=False)
    return basis


def basis_labels(p: int) -> list[str]:
    """Names of the rows of `fourier_basis(p)`: ["const", "cos 1", "sin 1", ..., "sin (p-1)/2"]."""
    labels = ["const"]
    for k in range(1, (p - 1) // 2 + 1):
        labels += [f"cos {k}", f"sin {k}"]
    return labels


def n_frequencies(p: int) -> int:
    """Number of non-constant frequencies on Z_p, (p-1)//2."""
    return (p - 1) // 2


def fourier_2d(grid: np.ndarray) -> np.ndarray:
    """Â = F A Fᵀ on the first two axes of `grid` [p, p, ...] -> [p, p, ...] (both axes in the
    basis of `fourier_basis`). Nanda et al. (2023) transform neuron activations over (a, b) this way."""
    grid = np.asarray(grid)
    p, rest = grid.shape[0], grid.shape[2:]
    basis = fourier_basis(p).astype(np.result_type(grid.dtype, np.float32), copy=False)
    m = int(np.prod(rest, dtype=int))
    out = (basis @ grid.reshape(p, p * m)).reshape(p, p, m)         # [i, b, m]: F A
    out = np.ascontiguousarray(out.transpose(1, 0, 2))               # [b, i, m]
    out = (basis @ out.reshape(p, p * m)).reshape(p, p, m)           # [j, i, m]: (F A) Fᵀ, transposed
    return out.transpose(1, 0, 2).reshape(p, p, *rest)               # [i, j, ...] (a view)


def frequency_norms(W: np.ndarray) -> dict:
    """Norm of each frequency's component of a matrix W [p, d] whose rows are indexed by residue
    (W_E[:p], W_U.T, W_L.T = (W_out W_U).T, ...). With C = F @ W [p, d]:
        cos_norm[k-1] = ‖C[2k-1]‖,  sin_norm[k-1] = ‖C[2k]‖,  norm[k-1] = sqrt(cos² + sin²),
    each of shape [(p-1)//2]; const_norm = ‖C[0]‖ (scalar). Σ norm² + const_norm² = ‖W‖²_F.
    Nanda et al. (2023): the embedding and unembedding are sparse in this basis."""
    W = np.asarray(W, dtype=np.float64)
    C = fourier_basis(W.shape[0]) @ W
    cos_norm = np.linalg.norm(C[1::2], axis=1)
    sin_norm = np.linalg.norm(C[2::2], axis=1)
    return {"cos_norm": cos_norm, "sin_norm": sin_norm, "norm": np.hypot(cos_norm, sin_norm),
            "const_norm": float(np.linalg.norm(C[0]))}


def key_frequencies(norms, ratio: float = 3.0, max_count: int = 10) -> np.ndarray:
    """Key frequencies (1-based k, strongest first) from per-frequency norms: the dict returned
    by `frequency_norms` or its `norm` array [(p-1)//2].

    Rule: sort the energies e_k = norm_k² in descending order and walk down the list, accepting
    the next frequency while both hold:
        (1) it stands out from the background: e_k > ratio x mean energy of all weaker frequencies;
        (2) it carries more than an average share: e_k > mean energy of all frequencies;
    stop at the first that fails either, or at `max_count`. Why:
      * planted frequencies stand far above a noise background, so planted sets are recovered
        exactly even when they are many (a single "ratio x the overall mean" threshold misses them
        once there are more than n_freq/ratio of them);
      * a structureless matrix (random init) has e_k ≈ chi²_{2d}/(2d), relative spread ~1/sqrt(d),
        so nothing exceeds 3x the background: the answer is empty, not an arbitrary top-90% set;
      * after weight-decay cleanup the non-key tail of a trained model is tiny but heavy-tailed,
        so (1) alone keeps finding "outliers" inside it; (2) stops the walk at the end of the few
        key frequencies (checked on a grokked p = 59 model: W_E, W_U, W_L give its 4-5 key
        frequencies, the same ones its neuron clusters show).
    `max_count` = 10 is a guard, not a target (Nanda et al. 2023: 3-5 key frequencies per seed).
    Norms within TIE x the largest norm of each other count as equal, the lowest k first
    (`strongest_first`), so a near-tie cannot order them differently on another CPU.
    Nanda et al. (2023) read key frequencies off these norms and the neuron clusters; this is an
    automatic stand-in for the embedding, unembedding and neuron-logit map norms.
    """
    norm = np.asarray(norms["norm"] if isinstance(norms, dict) else norms, dtype=np.float64)
    order = strongest_first(norm, TIE * (norm.max(initial=0.0)))
    e = norm[order] ** 2                                               # energies, descending
    n = len(e)
    below = np.concatenate([np.cumsum(e[::-1])[::-1][1:], [0.0]])    # Σ of energies after i
    n_below = np.arange(n - 1, -1, -1)
    background = np.divide(below, n_below, out=np.zeros_like(below), where=n_below > 0)
    tiny = 1e-12 * e.sum()
    accepted = (e > ratio * background + tiny) & (e > e.mean() + tiny)
    count = n if accepted.all() else int(np.argmin(accepted))
    return (order[:min(count, max_count)] + 1).astype(int)


# Near-ties between frequencies. Values that differ by less than this (FVE, a fraction) or by less
# than this x the largest (norms) are equal for every frequency rule, and the lowest k wins. A tie
# broken by the last bits of a float would go one way on one CPU and the other way on another
# (kernels round differently), and then an artifact depends on the machine that computed it.
TIE = 1e-9


def dominant_frequency(fve: np.ndarray, axis: int = 0, tie: float = TIE) -> np.ndarray:
    """1-based k of the largest value along `axis` (frequencies); of values within `tie` of the
    largest, the lowest k (argmax of the first index that comes that close)."""
    fve = np.asarray(fve, dtype=np.float64)
    near = fve >= fve.max(axis=axis, keepdims=True) - tie
    return np.argmax(near, axis=axis) + 1


def strongest_first(values: np.ndarray, tie: float) -> np.ndarray:
    """Indices of `values` [n] from the largest to the smallest; values within `tie` of their
    neighbour in that order form a run of equals, listed lowest index first."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(-values, kind="stable")
    ranked = values[order]
    group = np.concatenate([[0], np.cumsum(ranked[:-1] - ranked[1:] >= tie)]) if len(values) else np.zeros(0, int)
    return order[np.lexsort((order, group))]


MIN_CLUSTER_FRACTION = 0.02  # a neuron cluster counts when it holds ≥ 2% of the MLP's neurons (11 of 512)


def min_cluster_size(d_mlp: int) -> int:
    """Fewest neurons a frequency cluster needs to count: MIN_CLUSTER_FRACTION of the MLP, at least 2."""
    return max(2, int(np.ceil(MIN_CLUSTER_FRACTION * d_mlp)))


def model_key_frequencies(embedding_norms, logit_map_norms, cluster_sizes, d_mlp: int) -> np.ndarray:
    """The model's key frequencies (1-based k, ascending): those at least two of its three views
    agree on -
        (1) the embedding: `key_frequencies` of W_E's frequency norms;
        (2) the neuron-logit map W_L = W_out W_U: `key_frequencies` of its norms;
        (3) the neuron clusters: frequencies whose cluster (neurons with FVE ≥ 0.85 for that k,
            `neuron_clusters`'s cluster_sizes) holds at least `min_cluster_size(d_mlp)` neurons.
    Why two of three: each view alone errs in its own way. W_E's norms pick up weak harmonics of
    a key frequency k (2k, e.g. 12 and 46 beside 6 and 23) that no neuron computes and that carry
    no weight into the logits; such a frequency has one vote. A key frequency the circuit uses
    has neurons tuned to it and carries weight from those neurons to the logits, so it has at
    least (2) and (3) even where the embedding rule misses it. Nanda et al. (2023) read the key
    frequencies off the same three views (embedding norms, neuron clusters, W_L norms)."""
    votes = np.zeros(len(np.asarray(cluster_sizes)), int)
    for keys in (key_frequencies(embedding_norms), key_frequencies(logit_map_norms)):
        votes[np.asarray(keys, int) - 1] += 1
    votes += np.asarray(cluster_sizes) >= min_cluster_size(d_mlp)
    return np.flatnonzero(votes >= 2) + 1


def gini(c: np.ndarray) -> float:
    """Gini coefficient of a non-negative vector c [n] (Hurley & Rickard 2009):
        G = 1 − 2 Σ_i c_(i)/‖c‖₁ · (n − i + ½)/n,   c_(1) ≤ ... ≤ c_(n), i = 1..n.
    0 for a constant vector, 1 − 1/n for a one-hot vector; 0 for the zero vector (by convention).
    Used on frequency_norms(...)["norm"] to measure how sparse a matrix is in frequency."""
    c = np.sort(np.abs(np.asarray(c, dtype=np.float64).ravel()))
    n, l1 = len(c), c.sum()
    if n == 0 or l1 == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(1.0 - 2.0 * np.sum(c / l1 * (n - i + 0.5) / n))


def neuron_frequency_fve(acts: np.ndarray) -> np.ndarray:
    """Fraction of each neuron's variance explained by each frequency, [n_freq, n_neurons].

    acts [p, p, n_neurons]: acts[a, b, n] = neuron n's activation on input (a, b). Per neuron,
    A is centred over the grid, Â = F A Fᵀ, and
        FVE_k = (Σ over the 3x3 block {const, cos k, sin k}² of Â²  −  Â[const, const]²) / Σ Â²,
    i.e. the terms 1·f(b), f(a)·1 and f(a)·g(b) with f, g ∈ {cos k, sin k}. Zero-variance neurons
    get 0. Nanda et al. (2023): in the main run 433 of 512 neurons have > 85% FVE for one k.
    Computed in the input's float precision (float32 stays float32).
    """
    acts = np.asarray(acts)
    if acts.dtype not in (np.float32, np.float64):
        acts = acts.astype(np.float64)
    p, n_neurons = acts.shape[0], acts.shape[2]
    nf = n_frequencies(p)
    centred = acts - acts.mean(axis=(0, 1), keepdims=True)
    energy = fourier_2d(centred) ** 2                                 # [p, p, n_neurons]
    total = energy.sum(axis=(0, 1))                                   # [n_neurons]
    # const x freq-k and freq-k x const terms: rows/cols 2k-1, 2k of the const row/col
    edge = (energy[0, 1:] + energy[1:, 0]).reshape(nf, 2, n_neurons).sum(axis=1)
    # freq-k x freq-k 2x2 diagonal blocks
    inner = energy[1:, 1:].reshape(nf, 2, nf, 2, n_neurons)
    block = np.einsum("kakbn->kn", inner)
    explained = (edge + block).astype(np.float64)
    # zero variance up to rounding of the centring: energy below (100 eps)² of the raw energy
    floor = (100 * np.finfo(acts.dtype).eps) ** 2 * np.einsum("abn,abn->n", acts, acts)
    return np.divide(explained, total, out=np.zeros_like(explained), where=total > floor)


def neuron_clusters(fve: np.ndarray, threshold: float = FVE_THRESHOLD) -> dict:
    """Neuron clusters by frequency from `neuron_frequency_fve` output fve [n_freq, n_neurons]:
        dominant_freq [n_neurons] int, 1-based k of the largest FVE (`dominant_frequency`: of
                      FVEs within TIE of the largest, the lowest k);
        dominant_fve  [n_neurons], that FVE;
        cluster_sizes [n_freq] int, number of neurons with FVE_k ≥ threshold (index i <-> k = i+1;
                      for threshold > 0.5 each neuron is in at most one cluster);
        fraction_explained, share of neurons whose dominant FVE ≥ threshold.
    Nanda et al. (2023): threshold 0.85, 433 of 512 neurons in the main run."""
    fve = np.asarray(fve)
    above = fve >= threshold
    dominant_fve = fve.max(axis=0)
    return {"dominant_freq": dominant_frequency(fve, axis=0), "dominant_fve": dominant_fve,
            "cluster_sizes": above.sum(axis=1), "threshold": threshold,
            "fraction_explained": float(np.mean(dominant_fve >= threshold))}


def key_frequency_directions(p: int, key_freqs) -> np.ndarray:
    """Orthonormal directions over the pair grid, [p*p, 2*len(key_freqs)]: for each key k (in the
    given order) the columns cos(w_k(a+b)) and sin(w_k(a+b)) at pair index a*p + b, each scaled
    by √2/p to unit norm. Distinct k in 1..(p-1)/2 give orthogonal columns because a+b takes every
    residue exactly p times. (Expanding with cos(w(a+b)) = cos wa cos wb − sin wa sin wb shows these
    are the (cos a cos b − sin a sin b)/√2 directions of Nanda et al. (2023)'s code.)"""
    k = np.asarray(key_freqs, dtype=int).ravel()
    if len(np.unique(k)) != len(k) or np.any((k < 1) | (k > n_frequencies(p))):
        raise ValueError(f"key frequencies must be distinct and in 1..{n_frequencies(p)}, got {k}")
    s = (np.arange(p)[:, None] + np.arange(p)[None, :]).ravel()        # a + b at pair a*p + b
    phase = 2 * np.pi * np.outer(s, k) / p                             # [p*p, K]
    directions = np.stack([np.cos(phase), np.sin(phase)], axis=2)      # [p*p, K, 2]
    return directions.reshape(p * p, 2 * len(k)) * (np.sqrt(2.0) / p)


def cross_entropy_f64(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of logits [n, n_classes] against labels [n], log-softmax in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(labels)), np.asarray(labels)].mean())


def _select(mask, n: int) -> np.ndarray:
    """Pair indices from a boolean mask [n] or an index array; all pairs if None."""
    if mask is None:
        return np.arange(n)
    mask = np.asarray(mask)
    return np.flatnonzero(mask) if mask.dtype == bool else mask.astype(int)


def restricted_loss(logits, labels, key_freqs, p: int, mask=None) -> float:
    """Loss of the logits restricted to the key frequencies (Nanda et al. 2023 §5).

    logits [p*p, p] over the full grid, pair index a*p + b; labels [p*p]. Every output class's
    logit column (a function of (a, b)) is projected onto span{1, cos(w_k(a+b)), sin(w_k(a+b)) :
    k key}; the result is the mean float64 cross-entropy over all pairs, or over `mask`
    (boolean [p*p] or index array).
    """
    logits = np.asarray(logits, dtype=np.float64)
    D = key_frequency_directions(p, key_freqs)                          # [p*p, 2K]
    kept = logits.mean(axis=0, keepdims=True) + D @ (D.T @ logits)
    rows = _select(mask, p * p)
    return cross_entropy_f64(kept[rows], np.asarray(labels)[rows])


def excluded_loss(logits, labels, key_freqs, p: int, mask=None) -> float:
    """Loss after removing the key-frequency directions cos(w_k(a+b)), sin(w_k(a+b)) from every
    logit column (the constant is kept), on the pairs in `mask` — the caller passes the training
    pairs (Nanda et al. 2023 §5: excluded loss rises during circuit formation while train loss
    stays low). Shapes as in `restricted_loss`; mask=None means all pairs."""
    logits = np.asarray(logits, dtype=np.float64)
    D = key_frequency_directions(p, key_freqs)
    removed = logits - D @ (D.T @ logits)
    rows = _select(mask, p * p)
    return cross_entropy_f64(removed[rows], np.asarray(labels)[rows])


def neuron_logit_map(weights: dict[str, np.ndarray]) -> np.ndarray:
    """W_L = W_out · W_U, [d_mlp, p]: each neuron's direct effect on each answer's logit
    (Nanda et al. 2023: close to rank 2 per key frequency in a grokked model)."""
    return weights["blocks.0.mlp.W_out"].astype(np.float64) @ weights["unembed.W_U"]
