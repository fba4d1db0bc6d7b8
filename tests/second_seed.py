"""A second tiny seed for comparison tests, trained and analyzed into the session's tiny store
once (both test_compare.py and test_compare_browser.py ask for it)."""
from __future__ import annotations

from workbench.store import Store, VariantRef

# What the Compare page reads; the attention and unembedding analyzers are skipped to save time.
COMPARE_ANALYZERS = ["fourier_embedding", "neuron_frequencies", "dimensionality", "progress_measures",
                     "parameter_trajectory"]
_done: dict[str, VariantRef] = {}


def second_seed(store: Store) -> VariantRef:
    """tiny_addition with model seed 1 (same recipe and split as the session's seed 0)."""
    if str(store.root) not in _done:
        from workbench.families import load_family
        from workbench.pipeline import analyze
        from workbench.training import train
        variant = load_family("tiny_addition").variant(seed=1)
        train(variant, store, progress=False)
        ref = VariantRef(variant.family, variant.id)
        analyze(ref, store, analyzers=COMPARE_ANALYZERS, progress=False, workers=1)
        _done[str(store.root)] = ref
    return _done[str(store.root)]
