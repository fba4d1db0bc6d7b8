"""Analyzers: named, versioned computations from checkpoints to artifacts.

A per-epoch analyzer is a function of an `EpochContext` (one checkpoint); a series analyzer is a
function of a `SeriesContext` (the whole run). Both return a dict of NumPy arrays, the artifact.
Per-epoch artifacts must have the same keys and shapes at every epoch: the pipeline stacks them
into one series file per analyzer, so "this metric over all epochs" is one read.

Register your own in a few lines (bump `version` when its output changes, and it is recomputed):

    from workbench.analyzers import register

    @register("mlp_sparsity")
    def mlp_sparsity(ctx):
        '''Fraction of MLP neurons active at the `=` position, over the full grid.'''
        post = ctx.at_equals("blocks.0.mlp.hook_post")              # [p*p, d_mlp] at `=`
        return {"active_fraction": (post > 0).mean(axis=0)}           # [d_mlp]
"""
from workbench.analyzers.registry import (BUILTINS, OPTIONAL, REGISTRY, Analyzer, UnknownAnalyzerError,  # noqa: F401
                                         all_analyzers, get, register)
# The built-in analyzers register themselves when imported (none of them loads torch at import).
from workbench.analyzers import (attention, developmental, dimensionality, dynamics, fourier_norms,  # noqa: F401, E402
                                 neurons, predictions, progress, trajectory)
