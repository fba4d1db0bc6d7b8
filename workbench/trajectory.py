"""Parameter trajectories: PCA of checkpoints, speed through parameter space, loops in the plane.

A trajectory is X [n_checkpoints, n_params], one flattened parameter vector per checkpoint, with
the checkpoints' epochs [n_checkpoints]. PCA works through the n x n Gram matrix, so 100
checkpoints x 230k parameters costs one (100 x 230k) @ (230k x 100) product. Paths in a PCA plane
are [n_points, 2]; segment i joins points i and i+1. Pure NumPy: no torch, no I/O.
"""
from __future__ import annotations

import numpy as np


def pca(X: np.ndarray, n_components: int | None = None):
    """Principal components of a trajectory X [n, n_params] (rows centred on their mean X.mean(0)).

    Returns (components [c, n_params], explained_variance_ratio [c], projections [n, c]) with
    c = n_components or every direction of non-zero variance (at most n − 1), ordered by variance.
    Each component's sign is fixed so that its largest-magnitude projection is positive. Computed
    in float64 via the eigen-decomposition of the Gram matrix Xc Xcᵀ when n_params > n, else via
    the SVD of Xc. Project other trajectories onto the same basis with `project(Y, X.mean(0),
    components)` (fit on several variants stacked together to compare them in one plane)."""
    X = np.asarray(X)
    mean = X.mean(axis=0, dtype=np.float64)
    centred = np.subtract(X, mean, dtype=np.float64)
    n, n_params = centred.shape
    if n_params > n:                                                    # Gram route: [n, n]
        eigvals, eigvecs = np.linalg.eigh(centred @ centred.T)          # ascending
        sigma, left = np.sqrt(np.clip(eigvals[::-1], 0.0, None)), eigvecs[:, ::-1]
        tol = np.sqrt(10 * n * np.finfo(float).eps) * sigma[0]          # eigh error ~ eps λ_max
    else:
        left, sigma, right = np.linalg.svd(centred, full_matrices=False)
        tol = max(n, n_params) * np.finfo(float).eps * sigma[0]
    rank = int(np.sum(sigma > tol))
    c = rank if n_components is None else min(n_components, rank)
    sigma, left = sigma[:c], left[:, :c]
    if n_params > n:
        components = (left.T @ centred) / sigma[:, None]               # [c, n_params]
    else:
        components = right[:c]
    projections = left * sigma                                          # [n, c] = centred @ comp.T
    sign = np.sign(projections[np.abs(projections).argmax(axis=0), np.arange(projections.shape[1])])
    sign[sign == 0] = 1.0
    total = np.einsum("ij,ij->", centred, centred)
    ratio = sigma ** 2 / total if total > 0 else np.zeros_like(sigma)
    return components * sign[:, None], ratio, projections * sign


def project(X: np.ndarray, mean: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Coordinates of checkpoints X [n, n_params] in a PCA basis: (X − mean) @ componentsᵀ, [n, c]."""
    return np.subtract(X, mean, dtype=np.float64) @ np.asarray(components, dtype=np.float64).T


def velocity(X: np.ndarray, epochs: np.ndarray) -> np.ndarray:
    """Speed through parameter space between consecutive checkpoints, [n − 1]:
        ‖θ_{i+1} − θ_i‖₂ / (epoch_{i+1} − epoch_i)   (parameter-norm units per epoch)."""
    steps = np.diff(np.asarray(X, dtype=np.float64), axis=0)
    return np.linalg.norm(steps, axis=1) / np.diff(np.asarray(epochs, dtype=np.float64))


def path_length(path_2d: np.ndarray) -> float:
    """Total length of the polyline path_2d [n, 2]."""
    return float(np.linalg.norm(np.diff(np.asarray(path_2d, dtype=np.float64), axis=0), axis=1).sum())


def _cross(o, a, b):
    """z-component of (a − o) x (b − o), broadcasting over leading axes of [..., 2] arrays."""
    (ax, ay), (bx, by) = np.moveaxis(a - o, -1, 0), np.moveaxis(b - o, -1, 0)
    return ax * by - ay * bx


def self_intersections(path_2d: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j − 1, of non-adjacent segments of path_2d [n, 2] that properly cross
    (each segment's endpoints strictly on opposite sides of the other's line), sorted by (i, j).
    Touching at an endpoint and collinear overlaps do not count, so a path that merely returns
    to its start point has none. O(n²) vectorised; fine for a few thousand checkpoints."""
    P = np.asarray(path_2d, dtype=np.float64)
    a, b = P[:-1], P[1:]                                                # segment i: a[i] -> b[i]
    A1, B1, A2, B2 = a[:, None], b[:, None], a[None, :], b[None, :]
    d1, d2 = _cross(A1, B1, A2), _cross(A1, B1, B2)                     # j's ends vs line i
    d3, d4 = _cross(A2, B2, A1), _cross(A2, B2, B1)                     # i's ends vs line j
    crosses = (d1 * d2 < 0) & (d3 * d4 < 0)
    i, j = np.nonzero(np.triu(crosses, k=2))
    return list(zip(i.tolist(), j.tolist()))


def _shoelace_area(polygon: np.ndarray) -> float:
    """Absolute area of the closed polygon [m, 2] (last vertex joined back to the first)."""
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def loop_area_ratio(path_2d: np.ndarray) -> float:
    """Area enclosed by the trajectory's first loop over the loop's perimeter squared.

    The first loop is the one that closes earliest: among crossing segment pairs (i, j) the
    smallest j, and for it the largest i (the innermost loop). Its polygon is the crossing point
    X, points i+1 .. j, back to X. If the path never crosses itself, the whole path closed by a
    straight segment from its last point to its first is used instead (closing segment included
    in the perimeter). Area by the shoelace formula. The isoperimetric inequality bounds the
    ratio by 1/(4π) ≈ 0.0796 (a circle); a straight out-and-back path gives 0."""
    P = np.asarray(path_2d, dtype=np.float64)
    pairs = self_intersections(P)
    if pairs:
        i, j = min(pairs, key=lambda ij: (ij[1], -ij[0]))
        a, b, c, d = P[i], P[i + 1], P[j], P[j + 1]
        t = _cross(c, d, a) / (_cross(c, d, a) - _cross(c, d, b))     # X = a + t (b − a)
        polygon = np.vstack([a + t * (b - a), P[i + 1:j + 1]])
    else:
        polygon = P
    perimeter = path_length(np.vstack([polygon, polygon[:1]]))
    return _shoelace_area(polygon) / perimeter ** 2 if perimeter > 0 else 0.0
