"""The `loss_dynamics` series analyzer: phases and training alerts of a run, from its history
(or an imported log) and, when analyzed, its progress measures; and the oscillation analysis of
any of its series, computed on demand and kept in the disk cache.

Artifact (series): the events of `workbench.phases.Phases` (float64 scalars, NaN = none, in
epochs — steps for a log indexed by step), `alerts_json` (uint8: the JSON list of
`workbench.alerts.Alert` records) and `rules_json` (uint8: the parameters used).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict

import numpy as np

from workbench import alerts, phases
from workbench.analyzers.registry import register
from workbench.errors import MissingError
from workbench.store import Store, VariantRef

NAME = "loss_dynamics"
OSCILLATION_VERSION = 1
NOT_SCANNED = {"lr", "learning", "rate"}   # schedule steps are not alerts


def run_series(store: Store, ref: VariantRef) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every series of a run as {name: (x, y)}, each at its own positions (`workbench.history`)."""
    return {name: (np.asarray(x, np.float64), np.asarray(y, np.float64))
            for name, (x, y) in store.cached_history(ref).series.items()}


def default_series(names) -> str:
    """The series a run's dynamics show first: the held-out loss, else the train loss, else the first."""
    names = sorted(names)
    role = phases.roles(names)
    return role.get("test_loss") or role.get("train_loss") or names[0]


def x_name(store: Store, ref: VariantRef) -> str:
    """What a run's series are indexed by: "epoch", or an imported log's own x (e.g. "step")."""
    return store.info(ref).get("log", {}).get("x", "epoch")


def compared_runs(store: Store, variants: list[str], name: str, role: str | None) -> list[dict]:
    """Series `name` of each run in `variants` (matched by `role` where a run names it otherwise,
    e.g. held-out loss ↔ val_loss): {"label", "x", "y", "onset"} per run that has it."""
    runs = []
    for variant in variants:
        ref = VariantRef.parse(variant)
        try:
            own = run_series(store, ref)
        except MissingError:
            continue
        match = name if name in own else phases.roles(own).get(role) if role else None
        if match is not None:
            found = run_phases(store, ref)
            runs.append({"label": ref.id, "x": own[match][0], "y": own[match][1],
                         "onset": found.onset if found else None})
    return runs


def grouped(series: dict) -> tuple[dict, dict, tuple | None]:
    """(the run's own metrics, {group: gradient norm}, total weight norm (x, y) or None). History
    keys `grad_norm.<param>` / `weight_norm.<param>` are per-parameter; the total weight norm is
    √Σ of their squares. A log's weight norm is its `weight_norm`-like column (phases.roles)."""
    own = {k: v for k, v in series.items() if not k.startswith(("grad_norm.", "weight_norm."))}
    grads = {k[len("grad_norm."):]: v for k, v in series.items() if k.startswith("grad_norm.")}
    if not grads:
        grads = {k: v for k, v in own.items() if {"grad", "norm"} <= phases.tokens(k)}
    weights = [v for k, v in series.items() if k.startswith("weight_norm.")]
    if weights:
        total = (weights[0][0], np.sqrt(np.sum([np.asarray(y, np.float64) ** 2 for _, y in weights], axis=0)))
        own = {**own, "weight_norm": total}
    norm_name = phases.roles(own).get("weight_norm")
    return own, grads, own.get(norm_name) if norm_name else None


def settling_series(store: Store, ref: VariantRef) -> dict:
    """Restricted and excluded loss (progress measures), when the run has them."""
    try:
        measures = store.load_artifact(ref, "progress_measures")
    except MissingError:
        return {}
    x = np.asarray(measures["epochs"], np.float64)
    return {k: (x, np.log(np.maximum(measures[k], 1e-300))) for k in ("restricted_loss", "excluded_loss")
            if k in measures}


PHASE_RULES, ALERT_RULES = phases.PhaseRules(), alerts.AlertRules()


def run_dynamics(store: Store, ref: VariantRef, rules: phases.PhaseRules = PHASE_RULES,
                 alert_rules: alerts.AlertRules = ALERT_RULES) -> dict[str, np.ndarray]:
    """The `loss_dynamics` artifact of a run (module docstring); a run without a history (an
    imported checkpoint alone) has no events and no alerts."""
    try:
        own, grads, weight_norm = grouped(run_series(store, ref))
        found = phases.detect_phases(own, rules, settling_series(store, ref))
    except (MissingError, ValueError):
        own, grads, weight_norm, found = {}, {}, None, phases.Phases(np.nan, np.nan)
    # A log's NaN is a logged value; a history's NaN is "not trained yet", except in a finished run.
    log = store.is_log(ref)
    finished = log or store.info(ref).get("status") in ("trained", "analyzed")
    scanned = {k: v for k, v in own.items() if not phases.tokens(k) & NOT_SCANNED and k != "weight_norm"}
    found_alerts = alerts.scan(scanned, alert_rules, grad_groups=grads, weight_norm=weight_norm, nan_is_value=finished)
    return {**found.to_arrays(), "alerts_json": _json_bytes([a.to_dict() for a in found_alerts]),
            "rules_json": _json_bytes({"phases": asdict(rules), "alerts": asdict(alert_rules)})}


@register(NAME, kind="series", version=2, reference="phases: Nanda et al. 2023 §5.2; see workbench.phases")
def loss_dynamics(ctx):
    """Phases (memorization, circuit formation, grokking, cleanup) and training alerts of the run."""
    return run_dynamics(ctx.store, ctx.ref)


def _json_bytes(value) -> np.ndarray:
    return np.frombuffer(json.dumps(value, allow_nan=True).encode(), dtype=np.uint8).copy()


def read_json(array) -> object:
    return json.loads(np.asarray(array, dtype=np.uint8).tobytes().decode())


def stored_phases(artifact: dict) -> phases.Phases:
    return phases.Phases.from_arrays(artifact)


def run_phases(store: Store, ref: VariantRef) -> phases.Phases | None:
    """The run's phases from its `loss_dynamics` artifact; None until it is analyzed."""
    try:
        return stored_phases(store.cached_series(ref, NAME))
    except MissingError:
        return None


def stored_alerts(artifact: dict) -> list[alerts.Alert]:
    return [alerts.Alert(**record) for record in read_json(artifact["alerts_json"])]


# -- oscillations, on demand ----------------------------------------------------------------------

def oscillations(store: Store, ref: VariantRef, name: str, window: int = 100) -> dict:
    """`workbench.oscillation.analyze` of one series of the run, cached under
    `<data root>/.cache/dynamics` by the series' content."""
    series = run_series(store, ref)
    if name not in series:
        raise MissingError(f"{ref} has no series {name!r}; it has {', '.join(sorted(series))}")
    x, y = (np.ascontiguousarray(a, dtype=np.float64) for a in series[name])
    digest = hashlib.blake2b(x.tobytes() + y.tobytes(), digest_size=16).hexdigest()
    key = ("oscillation", OSCILLATION_VERSION, digest, window)
    cache = store.disk_cache("dynamics")
    result = cache.get(key)
    if result is None:
        from workbench import oscillation  # heavy (SciPy's signal module): loaded when first needed
        result = oscillation.analyze(x, y, window)
        cache.set(key, result)
    return result
