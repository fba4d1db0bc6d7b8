"""What the Variants and Compare pages share: the compared variants of a selection, their
headline metrics (cached until their files change) and their primes."""
from __future__ import annotations

from functools import lru_cache

from workbench import compare
from workbench.app import store
from workbench.store import Store, StoreError, VariantRef

ANALYZED = ("fourier_embedding", "neuron_frequencies", "dimensionality")


def compared(selection: dict | None) -> list[str]:
    """The selected variant first, then the ones it is compared with (at most MAX_COMPARED)."""
    selection = selection or {}
    variants = [selection.get("variant")] + list(selection.get("compare") or [])
    return list(dict.fromkeys(v for v in variants if v and "/" in v))[:compare.MAX_COMPARED]


def ref(variant: str) -> VariantRef:
    return VariantRef(*variant.split("/", 1))


def _stamp(path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def metrics_row(variant: str) -> dict:
    """`compare.variant_metrics`, recomputed only when the variant's files change."""
    directory = store().variant_dir(ref(variant))
    files = ["variant.json", "history.safetensors", "artifacts/manifest.json", "checkpoints"]
    files += [f"artifacts/{a}/series.safetensors" for a in ANALYZED]
    row = dict(_metrics_row(str(store().root), ref(variant), tuple(_stamp(directory / f) for f in files)))
    row["status"] = store().status(ref(variant))  # "training" comes from a lock, not a file
    return row


@lru_cache(maxsize=256)
def _metrics_row(root: str, variant_ref: VariantRef, _stamps: tuple) -> dict:
    return compare.variant_metrics(Store(root), variant_ref)


def prime(variant: str) -> int | None:
    try:
        return int(store().info(ref(variant))["spec"]["domain"]["p"])
    except (StoreError, KeyError, TypeError, ValueError):
        return None
