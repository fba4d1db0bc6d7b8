"""The resource model: what a command will need in memory, estimated from its sizes before
anything is allocated, and refused with the numbers when it is more than the machine can give.

The budget is 80% of the memory available when the command starts (the smaller of what the
system and the process's cgroup have free), or `$WORKBENCH_MEMORY_LIMIT` (e.g. `8G`, `512M`)
when it is set: set it lower to share a machine, higher when you know better (swap). Each
estimate is a sum of named parts, so the refusal says which one is too big:

- training (`training`): the model with its gradients and AdamW state (28 bytes a parameter,
  checkpoint writing included), the forward and backward pass over every training pair and the
  forward over every test pair (full batch: linear in p², and in p, d_mlp, d_model and
  n_heads·d_head per pair), the task's pairs (100 bytes a pair) and the history (28 bytes per
  series and epoch, every epoch is kept);
- analysis of one checkpoint (`analysis`): every activation of the p² grid (TransformerLens's
  cache: 3 positions of the residual stream, attention and MLP, and the logits), 2.5 times over
  for the analyzers' own arrays, per worker process, plus 400 MB for each worker's torch;
- an imported checkpoint's checks (`checkpoint_import`): the file, the pairs, and the forward
  over the whole p² grid for its accuracy and its losses;
- an imported training log (`log_points`): 160 bytes per point kept while it is read and stored
  (CSV and JSONL are streamed: the file itself is never held), 40 bytes per byte of a JSON
  document or `.pt` archive, which are read whole.

The coefficients were measured (peak RSS over the process's size before the command) for
training at p = 59..401, d_model up to 8,192, d_mlp up to 32,768, n_heads·d_head up to 4,096:
estimate / measured between 0.97 and 1.40; for one checkpoint's analysis 1.07-1.37
(docs/performance.md).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from workbench.errors import BadInputError

MEMORY_VARIABLE = "WORKBENCH_MEMORY_LIMIT"
SHARE = 0.8                 # of the memory available: what the rest of the machine keeps
MB = 1_000_000

# Training, bytes (see the module docstring and docs/performance.md for the measurements).
PER_PARAMETER = 28          # weights, gradients, AdamW's two moments, a checkpoint being written
TRAIN_PAIR = {"p": 18, "d_mlp": 12, "d_model": 36, "heads": 48}   # forward + backward, per training pair
TEST_PAIR = {"p": 14, "d_mlp": 8, "d_model": 16, "heads": 8}      # forward only, per evaluated pair
PER_PAIR_DATA = 100         # the shuffled split (a Python list of p² ints), masks, answers, tensors
PER_HISTORY_VALUE = 28      # one series at one epoch: kept, copied for writing, serialized
TRAINING_FIXED = 150 * MB   # torch's own buffers on the first steps
# Analysis.
ANALYSIS_FACTOR = 2.5       # the analyzers' arrays beside the activation cache
ANALYSIS_FIXED = 150 * MB
WORKER_PROCESS = 400 * MB   # a spawned worker with torch, TransformerLens and the analyzers imported
# Imports.
FILE_COPIES = 4             # an imported checkpoint's tensors: read, converted, checked, written
LOG_POINT = 160             # bytes per point of an imported log while it is read, sorted and stored
WHOLE_DOCUMENT = 40         # bytes per byte of a JSON document or .pt archive read whole


class ResourceError(BadInputError):
    """What was asked needs more memory than the budget; the message gives both numbers and the fix."""


def size(n: float) -> str:
    """Bytes as a short human number: 512 MB, 3.2 GB, 14 TB."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    return f"{n:.0f} bytes"


def parse_size(text: str) -> int:
    """`8G`, `512M`, `1.5GB`, `2000000000` -> bytes (powers of 1000; `GiB` and `MiB` of 1024)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmMgGtT]?)(i?)[bB]?\s*", str(text))
    if not match:
        raise BadInputError(f"${MEMORY_VARIABLE} = {text!r} is not a size; write e.g. 8G, 512M or 16GiB")
    number, unit, binary = match.groups()
    scale = (1024 if binary else 1000) ** " KMGT".index(unit.upper() or " ")
    value = float(number) * scale
    if not 0 < value < 2**63:
        raise BadInputError(f"${MEMORY_VARIABLE} = {text!r} must be a positive size, e.g. 8G")
    return int(value)


def available_memory() -> int:
    """Bytes this process can still allocate: the system's available memory, or less when the
    process's cgroup (a container's memory limit) has less room."""
    free = psutil.virtual_memory().available
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = int(Path(usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:
            free = min(free, max(int(limit) - usage, 0))
        break
    return free


def budget() -> tuple[int, str]:
    """(bytes a command may use, where that number comes from, for messages)."""
    given = os.environ.get(MEMORY_VARIABLE, "").strip()
    if given:
        return parse_size(given), f"${MEMORY_VARIABLE}"
    free = available_memory()
    return int(SHARE * free), f"{SHARE:.0%} of the {size(free)} this machine has available"


def limit_text() -> str:
    """The budget as messages state it: `17.6 GB (80% of ...; $WORKBENCH_MEMORY_LIMIT sets another)`."""
    limit, where = budget()
    other = "" if where.startswith("$") else f"; ${MEMORY_VARIABLE} sets another"
    return f"{size(limit)} ({where}{other})"


@dataclass(frozen=True)
class Estimate:
    """What a command will need: named parts in bytes."""
    what: str
    parts: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def describe(self) -> str:
        largest = sorted(self.parts.items(), key=lambda kv: -kv[1])
        return ", ".join(f"{name} {size(value)}" for name, value in largest if value >= 0.01 * self.total)


def check(estimate: Estimate, fix: str) -> Estimate:
    """Refuse (ResourceError) when `estimate` is more than the budget; `fix` says what to change."""
    if estimate.total > budget()[0]:
        raise ResourceError(f"{estimate.what} needs about {size(estimate.total)} of memory "
                            f"({estimate.describe()}); the limit is {limit_text()}. {fix}, or set "
                            f"${MEMORY_VARIABLE} (e.g. {MEMORY_VARIABLE}=64G) if you know it fits")
    return estimate


# -- estimates ---------------------------------------------------------------------------------

def _model(spec: dict) -> dict:
    m = spec["model"]
    return {"p": spec["domain"]["p"], "d_model": m["d_model"], "d_mlp": m["d_mlp"],
            "heads": m["n_heads"] * m["d_head"]}


def parameter_count(spec: dict) -> int:
    """The model's parameters (`workbench.model.ModelConfig.param_shapes`, without importing torch)."""
    s = _model(spec)
    p, d, m, hd = s["p"], s["d_model"], s["d_mlp"], s["heads"]
    return (p + 1) * d + 3 * d + 4 * d * hd + 2 * d * m + m + d + d * p


def _per_pair(coefficients: dict, sizes: dict) -> float:
    return sum(coefficients[k] * sizes[k] for k in coefficients)


def pairs(spec: dict) -> tuple[int, int, int]:
    """(p², training pairs, test pairs) of the variant's split."""
    p, fraction = spec["domain"]["p"], spec["training"]["train_fraction"]
    n = p * p
    n_train = int(fraction * n)
    return n, n_train, n - n_train


def history_keys(spec: dict) -> int:
    return 5 + 2 * 11  # losses, accuracies and lr; a weight norm and a gradient norm per parameter


def training(spec: dict, what: str = "training") -> Estimate:
    """Memory to train a variant (its resolved spec) from scratch or on from a checkpoint."""
    sizes = _model(spec)
    n, n_train, n_test = pairs(spec)
    epochs = spec["training"]["epochs"]
    train = n_train * _per_pair(TRAIN_PAIR, sizes)
    test = n_test * _per_pair(TEST_PAIR, sizes) + n_train * 4 * sizes["p"]   # the train logits stay
    return Estimate(what, {
        "model and optimizer": PER_PARAMETER * parameter_count(spec),
        f"full-batch activations ({n_train:,} training and {n_test:,} test pairs)": max(train, test),
        "pairs": PER_PAIR_DATA * n,
        f"history ({epochs + 1:,} epochs)": PER_HISTORY_VALUE * history_keys(spec) * (epochs + 1),
        "torch": TRAINING_FIXED})


def grid_activations(spec: dict) -> float:
    """Bytes of one cached forward pass over the p² grid (every hook of the model, and the logits)."""
    s = _model(spec)
    n_heads = spec["model"]["n_heads"]
    per_pair = 4 * (3 * (7 * s["d_model"] + 4 * s["heads"] + 2 * s["d_mlp"] + s["p"]) + 18 * n_heads) + 8 * s["p"]
    return s["p"] ** 2 * per_pair


def analysis(spec: dict, workers: int = 1, what: str = "analyzing") -> Estimate:
    """Memory to analyze checkpoints: one checkpoint at a time per worker process."""
    per_checkpoint = ANALYSIS_FACTOR * grid_activations(spec) + ANALYSIS_FIXED
    p = spec["domain"]["p"]
    parts = {f"activations of the {p}x{p} grid" + (f", x{workers} workers" if workers > 1 else ""):
             workers * per_checkpoint}
    if workers > 1:
        parts[f"{workers} worker processes"] = workers * WORKER_PROCESS
    return Estimate(what, parts)


def checkpoint_import(spec: dict, file_bytes: int, what: str) -> Estimate:
    """Memory to import a checkpoint: its tensors, and the checks over the full p² grid."""
    sizes = _model(spec)
    n, n_train, n_test = pairs(spec)
    return Estimate(what, {
        "the file's tensors": FILE_COPIES * file_bytes,
        f"the accuracy and loss checks over the {sizes['p']}x{sizes['p']} grid":
            max(n, n_train, n_test) * _per_pair(TEST_PAIR, sizes),
        "pairs": PER_PAIR_DATA * n,
        "torch": TRAINING_FIXED})


def max_log_points(limit: int | None = None) -> int:
    """How many points of an imported log the budget holds."""
    return max(1, int((limit if limit is not None else budget()[0]) // LOG_POINT))


def whole_document(path: Path, unpacked_bytes: int, what: str) -> Estimate:
    return Estimate(what, {f"the parsed document ({size(unpacked_bytes)} of {path.suffix} read whole)":
                           WHOLE_DOCUMENT * unpacked_bytes})
