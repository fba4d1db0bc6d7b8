"""Custom probes: named subsets of the p x p grid of inputs, for the per-input views.

A probe is either a list of inputs `[[a, b], ...]` or a rule over the names
    a, b      the two operands (0 .. p-1)
    answer    the correct answer, e.g. (a + b) mod p (also `c`)
    p         the modulus
    train     true for the pairs this variant trained on; `test` for the others
with integers, + - * // %, parentheses, comparisons (== != < <= > >=, chained like
`0 < a < 10`) and `and`, `or`, `not`. Examples: "a < b", "test", "answer == 0",
"train and a == b", "(a + b) % 2 == 1".

Rules are parsed with Python's `ast` (mode "eval") and interpreted over NumPy arrays by
walking a whitelist of node types: nothing is ever evaluated, so a rule cannot call, import
or reach attributes. The definitions are stored with the variant by `Store.save_probe`; this
module only validates and resolves them. Pure NumPy, no I/O.
"""
from __future__ import annotations

import ast
import operator

import numpy as np

from workbench import tasks
from workbench.errors import BadInputError

FULL_GRID = ""  # the selection's probe value for "no probe": every input
MAX_RULE_LENGTH = 200
MAX_CONSTANT = 10**9  # bigger integers overflow the grid's int64 arithmetic and mean nothing for p <= 10,007
NAMES = ("a", "b", "answer", "c", "p", "train", "test")
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
               ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}
_COMPARISONS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
                ast.Gt: operator.gt, ast.GtE: operator.ge}


class ProbeError(BadInputError):
    """A probe that cannot be used; the message says what is wrong and what a valid one looks like."""


def _refuse(rule: str, what: str) -> ProbeError:
    return ProbeError(f"probe rule {rule!r}: {what}. A rule uses a, b, answer, p, train, test, integers, "
                      f"+ - * // %, comparisons and and/or/not, e.g. \"a < b\" or \"test and answer == 0\"")


def parse_rule(rule: str) -> ast.Expression:
    """The rule's syntax tree, checked against the whitelist (ProbeError names the first problem)."""
    if not isinstance(rule, str) or not rule.strip():
        raise ProbeError("a probe rule must be a non-empty string, e.g. \"a < b\"")
    if len(rule) > MAX_RULE_LENGTH:
        raise ProbeError(f"probe rule is {len(rule)} characters long; at most {MAX_RULE_LENGTH} are allowed")
    try:
        tree = ast.parse(rule.strip(), mode="eval")
    except SyntaxError as err:
        raise _refuse(rule, f"it is not an expression ({err.msg})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in NAMES:
            raise _refuse(rule, f"unknown name {node.id!r}")
        if isinstance(node, ast.Constant) and (type(node.value) is not int):
            raise _refuse(rule, f"only integer constants are allowed, not {node.value!r}")
        if isinstance(node, ast.Constant) and abs(node.value) > MAX_CONSTANT:
            raise _refuse(rule, f"integers must be at most {MAX_CONSTANT:,} in size (a, b and answers are below p)")
        allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.BinOp,
                   ast.Compare, ast.Name, ast.Load, ast.Constant, *_ARITHMETIC, *_COMPARISONS)
        if not isinstance(node, allowed):
            raise _refuse(rule, f"{type(node).__name__} is not allowed")
    return tree


def evaluate_rule(rule: str, p: int, answers: np.ndarray, train_mask: np.ndarray) -> np.ndarray:
    """The rule over the grid: bool [p*p], pairs in row-major (a, b) order."""
    a, b = np.divmod(np.arange(p * p), p)
    env = {"a": a, "b": b, "answer": answers, "c": answers, "p": p, "train": train_mask, "test": ~train_mask}

    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Name):
            return env[node.id]
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp):
            operand = value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else ~_as_mask(operand, rule)
        if isinstance(node, ast.BinOp):
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and np.any(np.asarray(right) == 0):
                raise _refuse(rule, "it divides by zero")
            return _ARITHMETIC[type(node.op)](left, right)
        if isinstance(node, ast.BoolOp):
            masks = [_as_mask(value(v), rule) for v in node.values]
            combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            return combine.reduce(masks)
        if isinstance(node, ast.Compare):
            result, left = np.ones(p * p, bool), value(node.left)
            for op, comparator in zip(node.ops, node.comparators):
                right = value(comparator)
                result &= _COMPARISONS[type(op)](left, right)
                left = right
            return result
        raise _refuse(rule, f"{type(node).__name__} is not allowed")  # parse_rule already refused it

    with np.errstate(all="ignore"):
        try:
            return np.broadcast_to(_as_mask(value(parse_rule(rule)), rule), (p * p,)).copy()
        except (OverflowError, TypeError) as err:  # int64 arithmetic out of range; minus on a condition
            raise _refuse(rule, f"it cannot be evaluated ({str(err).split(',')[0]})") from None


def _as_mask(values, rule: str) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype != bool:
        raise _refuse(rule, "a condition is a number here; compare it (e.g. \"a % 2 == 0\", not \"a % 2\")")
    return values


def parse_inputs(text: str, p: int | None = None) -> list[list[int]]:
    """`"3,5 7,1"` or `"3 5; 7 1"` -> [[3, 5], [7, 1]], checked against p when given."""
    tokens = text.replace(";", " ").replace(",", " ").split()
    if not tokens or len(tokens) % 2:
        raise ProbeError(f"inputs {text!r}: give pairs a,b separated by spaces, e.g. \"4,29 12,0\"")
    try:
        numbers = [int(t) for t in tokens]
    except ValueError:
        raise ProbeError(f"inputs {text!r}: a and b must be integers, e.g. \"4,29 12,0\"") from None
    pairs = [numbers[i:i + 2] for i in range(0, len(numbers), 2)]
    if p is not None:
        check_inputs(pairs, p)
    return pairs


def check_inputs(pairs, p: int) -> None:
    bad = [pair for pair in pairs if len(pair) != 2 or not all(0 <= int(x) < p for x in pair)]
    if bad:
        raise ProbeError(f"inputs {bad[:3]} are outside the grid: a and b must be in 0..{p - 1} for p = {p}")


def definition(*, rule: str | None = None, inputs: list[list[int]] | None = None) -> dict:
    """A probe's stored definition, validated: {"rule": ...} or {"inputs": [[a, b], ...]}."""
    if (rule is None) == (inputs is None):
        raise ProbeError("a probe is either a rule (--rule \"a < b\") or a list of inputs (--inputs \"4,29 12,0\")")
    if rule is not None:
        parse_rule(rule)
        return {"rule": rule.strip()}
    if not inputs:
        raise ProbeError("a probe's list of inputs is empty; give at least one pair a,b")
    return {"inputs": [[int(a), int(b)] for a, b in inputs]}


def probe_mask(probe: dict | None, spec: dict) -> np.ndarray:
    """Which inputs of the variant's grid a probe holds, bool [p*p] (all of them for None)."""
    p = spec["domain"]["p"]
    if not probe:
        return np.ones(p * p, bool)
    if "rule" in probe:
        return evaluate_rule(probe["rule"], p, tasks.answers(spec["domain"]["operation"], p), train_mask(spec))
    pairs = probe.get("inputs") or []
    check_inputs(pairs, p)
    mask = np.zeros(p * p, bool)
    mask[[int(a) * p + int(b) for a, b in pairs]] = True
    return mask


def train_mask(spec: dict) -> np.ndarray:
    """[p*p] bool: the pairs this variant trained on (its own split)."""
    return tasks.train_mask(spec["domain"]["p"], spec["training"]["train_fraction"], spec["domain"]["data_seed"])


def describe(probe: dict) -> str:
    return f"rule {probe['rule']}" if "rule" in probe else f"{len(probe['inputs'])} listed inputs"
