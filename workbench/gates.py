"""User-defined gates: pass/fail criteria on any metric of a run, evaluated at every logged point.

A gate is one line, `METRIC OP VALUE [by [epoch|step] N]`, e.g. `val_acc >= 0.5 by epoch 3` or
`train_loss < 0.01 by 200`; OP is one of >=, <=, >, <, ≥, ≤. Several gates are separated by
newlines or semicolons. METRIC is a series name of the run, or one of train_loss, test_loss,
train_acc, test_acc (matched to e.g. `val/loss` as in `workbench.phases.roles`).

At each logged point a gate is *passed* when the condition holds, *failed* when it does not and
the point is at or after N (the deadline; 0 without "by"), and *pending* when it does not hold
yet but the deadline has not come.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import numpy as np

from workbench.errors import BadInputError
from workbench.phases import roles

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "≥": operator.ge, "≤": operator.le}
GATE_RE = re.compile(r"^\s*(?P<metric>[^\s<>=≥≤]+)\s*(?P<op>>=|<=|>|<|≥|≤)\s*(?P<value>[-+0-9.eE]+)"
                     r"(?:\s+(?:by|from)\s+(?:epoch\s+|step\s+)?(?P<deadline>[-+0-9.eE]+))?\s*$", re.IGNORECASE)
PASS, PENDING, FAIL = 1, 0, -1
EXAMPLE = "e.g. `val_acc >= 0.5 by epoch 3` or `train_loss < 0.01 by 200`"


class GateError(BadInputError):
    """A gate that cannot be read or refers to a metric the run does not have."""


@dataclass(frozen=True)
class Gate:
    text: str
    metric: str
    op: str
    value: float
    deadline: float = 0.0


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    series: str          # the run's series the gate was evaluated on
    x: np.ndarray        # logged points
    status: np.ndarray   # PASS / PENDING / FAIL per point

    @property
    def first_failure(self) -> float | None:
        fails = np.flatnonzero(self.status == FAIL)
        return float(self.x[fails[0]]) if len(fails) else None

    @property
    def verdict(self) -> str:
        failure = self.first_failure
        if failure is not None:
            return f"failed first at {failure:,.0f}"
        return "passed" if len(self.status) and self.status[-1] == PASS else "pending"


def parse_gates(text: str | None) -> list[Gate]:
    """Gates from newline- or semicolon-separated lines; blank lines and `#` comments are skipped."""
    gates = []
    for line in re.split(r"[;\n]", text or ""):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = GATE_RE.match(line)
        if not match:
            raise GateError(f"cannot read the gate {line!r}: write METRIC OP VALUE [by epoch N], {EXAMPLE}")
        try:
            value = float(match["value"])
            deadline = float(match["deadline"]) if match["deadline"] else 0.0
        except ValueError:
            raise GateError(f"the gate {line!r} has a number that is not a number; {EXAMPLE}") from None
        gates.append(Gate(line, match["metric"], match["op"], value, deadline))
    return gates


def evaluate(gate: Gate, series: dict[str, tuple]) -> GateResult:
    """The gate's status at every finite point of its metric."""
    name = gate.metric if gate.metric in series else roles(series).get(gate.metric)
    if name is None:
        raise GateError(f"the gate {gate.text!r} names {gate.metric!r}, which this run does not log; "
                        f"it has: {', '.join(sorted(series))}")
    x, y = (np.asarray(a, dtype=np.float64) for a in series[name])
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    holds = OPS[gate.op](y, gate.value)
    status = np.where(holds, PASS, np.where(x >= gate.deadline, FAIL, PENDING)).astype(np.int8)
    return GateResult(gate, name, x, status)


def evaluate_all(text: str | None, series: dict[str, tuple]) -> list[GateResult]:
    return [evaluate(gate, series) for gate in parse_gates(text)]
