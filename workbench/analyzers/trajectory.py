"""Parameter trajectories across checkpoints (a series analyzer): PCA, velocity, loops."""
from __future__ import annotations

import numpy as np

from workbench import trajectory
from workbench.analyzers.registry import register
from workbench.vocabulary import PARAMETER_GROUPS as GROUPS
N_COMPONENTS = 3


def flatten(weights: dict[str, np.ndarray], group: str) -> np.ndarray:
    return np.concatenate([weights[k].ravel() for k in sorted(weights) if k.startswith(GROUPS[group])])


def trajectory_summary(X: np.ndarray, epochs: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    """PCA of a trajectory X [n_checkpoints, n_params] plus velocity and PC2/PC3 loop geometry."""
    _, ratio, proj = trajectory.pca(X, N_COMPONENTS)
    proj = np.pad(proj, ((0, 0), (0, N_COMPONENTS - proj.shape[1])))  # fewer checkpoints than PCs
    ratio = np.pad(ratio, (0, N_COMPONENTS - len(ratio)))
    plane = proj[:, 1:3]
    crossings = trajectory.self_intersections(plane)
    return {f"{prefix}explained_variance": ratio.astype(np.float32),
            f"{prefix}projection": proj.astype(np.float32),  # [n_checkpoints, 3]
            f"{prefix}velocity": trajectory.velocity(X, epochs).astype(np.float32),  # [n_checkpoints - 1]
            f"{prefix}path_length": np.float32(trajectory.path_length(plane)),
            f"{prefix}loop_area_ratio": np.float32(trajectory.loop_area_ratio(plane)),
            # epochs at the start of each pair of crossing segments in the PC2/PC3 plane, [n_crossings, 2]
            f"{prefix}crossing_epochs": np.asarray([[epochs[i], epochs[j]] for i, j in crossings],
                                                   np.int64).reshape(-1, 2)}


@register("parameter_trajectory", kind="series",
          reference="PCA of checkpoints; loops through grokking in the PC2/PC3 plane")
def parameter_trajectory(ctx):
    """PCA of the flattened parameters over all checkpoints, per group, with velocity and loop geometry."""
    epochs = np.asarray(ctx.epochs)
    stacks = {group: [] for group in GROUPS}
    for epoch in epochs:
        weights = ctx.weights(int(epoch))
        for group in GROUPS:
            stacks[group].append(flatten(weights, group))
    out = {"epochs": epochs}
    for group, rows in stacks.items():
        out.update(trajectory_summary(np.stack(rows), epochs, f"{group}."))
    return out
