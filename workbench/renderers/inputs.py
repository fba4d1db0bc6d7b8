"""Per-input views of the grid: when each input graduates, accuracy per answer, hardest inputs, spikes.

Read `input_graduation` (`workbench.vocabulary.ARTIFACTS`): `graduation_epoch` [p*p] (NEVER = -1),
`train_mask` [p*p], `answers` [p*p], `correct` [n_epochs, p*p], `mean_log10_loss` [p*p], `hardest`
[p*p], `train_`/`test_accuracy_by_residue` [n_epochs, p], `spike_inputs`/`spike_epochs`/`spike_decades`
[n_spikes] and `epochs`. Inputs are pair indices a * p + b. Every renderer takes `probe`: a bool
mask [p*p] of the inputs to show (None = the whole grid); aggregates over a probe are computed
before (`analyzers.predictions.restricted_to_probe`, which `workbench.figures` applies). Train
inputs are blue, test inputs orange, everywhere; clicking an input selects it (customdata = pair
index, meta click "input").
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.renderers.cursor import add_cursor, cursor_epoch, epoch_suffix, finish
from workbench.renderers.theme import COLORS, MAGNITUDE_COLORSCALE, base_layout, subplot_axis_names
from workbench.renderers.traces import epoch_line, unified_epoch_hover
from workbench.vocabulary import NEVER

SPLITS = ("train", "test")
TRAIN_SCALE = [[0, "#1e3a8a"], [1, "#bfdbfe"]]   # graduation epoch of train inputs: early = dark blue
TEST_SCALE = [[0, "#7c2d12"], [1, "#fed7aa"]]    # ... of test inputs: early = dark orange
PENDING = {"train": "#94a3b8", "test": "#e2e8f0", "never": "#111827"}  # not graduated (yet / ever)


def grid_size(data) -> int:
    return int(round(np.sqrt(len(data["graduation_epoch"]))))


def _probe(data, probe) -> np.ndarray:
    n = len(data["graduation_epoch"])
    return np.ones(n, bool) if probe is None else np.asarray(probe, bool)


def pair_label(pair: int, p: int, answer: int) -> str:
    a, b = divmod(int(pair), p)
    return f"({a}, {b}) → {int(answer)}"


def graduation_grid(data: dict[str, np.ndarray], epoch: int | None = None, *, probe=None,
                    selected: int | None = None) -> go.Figure:
    """The p x p grid (a rows, b columns), each input colored by the epoch it graduated, for the
    inputs graduated by `epoch`; the others grey (light: test, darker: train), never-graduated
    ones black. Detail: click an input."""
    p, epochs = grid_size(data), np.asarray(data["epochs"])
    shown = cursor_epoch(epochs, epoch)
    graduation = np.asarray(data["graduation_epoch"], np.int64)
    train, inside = np.asarray(data["train_mask"], bool), _probe(data, probe)
    done = (graduation != NEVER) & (graduation <= shown)
    pairs = np.arange(p * p, dtype=np.int32).reshape(p, p)
    fig = go.Figure(layout=base_layout(
        f"When each input graduates{epoch_suffix(shown)}", "b", "a",
        "Each input is colored by the checkpoint from which it stays correct (blue: train, orange: test); "
        "grey ones have not graduated by this epoch, black ones never do. Click an input to trace it.",
        height=560, showlegend=True))
    common = dict(x=np.arange(p), y=np.arange(p), customdata=pairs, hoverongaps=False, xgap=0, ygap=0)
    for split, in_split, scale, y_bar in (("train", train, TRAIN_SCALE, 0.77), ("test", ~train, TEST_SCALE, 0.23)):
        z = np.where(inside & in_split & done, graduation, np.nan).reshape(p, p).astype(np.float32)
        fig.add_trace(go.Heatmap(
            z=z, zmin=epochs[0], zmax=epochs[-1], colorscale=scale, name=f"{split} (graduated)",
            colorbar=dict(title=dict(text=f"{split}: epoch", side="right"), y=y_bar, len=0.46, thickness=10),
            hovertemplate=f"a=%{{y}}, b=%{{x}} · {split}<br>graduated at epoch %{{z}}<extra></extra>", **common))
    state = np.full(p * p, np.nan, np.float32)     # 0 train pending, 1 test pending, 2 never graduated
    state[inside & ~done & train] = 0
    state[inside & ~done & ~train] = 1
    state[inside & (graduation == NEVER)] = 2
    labels = np.array(["train, not graduated yet", "test, not graduated yet", "never graduated (wrong at the end)"])
    fig.add_trace(go.Heatmap(
        z=state.reshape(p, p), zmin=0, zmax=2, showscale=False, name="not graduated",
        colorscale=[[0, PENDING["train"]], [0.5, PENDING["test"]], [1, PENDING["never"]]],
        text=labels[np.nan_to_num(state, nan=0).astype(int)].reshape(p, p),
        hovertemplate="a=%{y}, b=%{x}<br>%{text}<extra></extra>", **common))
    if selected is not None and 0 <= int(selected) < p * p:
        a, b = divmod(int(selected), p)
        fig.add_trace(go.Scatter(x=[b], y=[a], mode="markers", name="selected input", hoverinfo="skip",
                                 marker=dict(symbol="square-open", size=max(8, 560 // p), color=COLORS["current"],
                                             line=dict(width=2))))
    fig.update_xaxes(range=[-0.5, p - 0.5], showgrid=False, constrain="domain")
    fig.update_yaxes(range=[-0.5, p - 0.5], showgrid=False, scaleanchor="x", constrain="domain")
    fig.update_layout(legend=dict(orientation="h", y=-0.12, x=0, xanchor="left", yanchor="top"))
    return finish(fig, click="input")


def graduated_fraction(data: dict[str, np.ndarray], epoch: int | None = None, *, probe=None) -> go.Figure:
    """Fraction of train and of test inputs (of the probe) graduated by each checkpoint (solid)
    and answered correctly there (dotted). Summary: cursor, click epoch."""
    epochs, inside = np.asarray(data["epochs"]), _probe(data, probe)
    graduation, train = np.asarray(data["graduation_epoch"]), np.asarray(data["train_mask"], bool)
    correct = np.asarray(data["correct"], bool)
    fig = go.Figure(layout=base_layout(
        "Inputs graduated over training", "epoch", "fraction of inputs",
        "Look for when each split's solid line rises (inputs learned for good); the gap between correct (dotted) "
        "and graduated (solid) is inputs still flipping."))
    for split, in_split in (("train", train), ("test", ~train)):
        members = inside & in_split
        if not members.any():
            continue
        g = graduation[members]
        done = ((g[None, :] != NEVER) & (g[None, :] <= epochs[:, None])).mean(axis=1)
        fig.add_trace(epoch_line(epochs, done, f"{split} graduated", COLORS[split], fmt=".1%"))
        fig.add_trace(epoch_line(epochs, correct[:, members].mean(axis=1), f"{split} correct", COLORS[split],
                                 fmt=".1%", dash="dot", width=1.5))
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_layout(legend=dict(orientation="v", x=0.98, xanchor="right", y=0.05, yanchor="bottom",
                                  bgcolor="rgba(255,255,255,0.8)"))
    add_cursor(fig, cursor_epoch(epochs, epoch))
    unified_epoch_hover(fig)
    return finish(fig, click="epoch")


def residue_accuracy(data: dict[str, np.ndarray], epoch: int | None = None, *, probe=None) -> go.Figure:
    """Accuracy over the inputs whose answer is each residue (`train_`/`test_accuracy_by_residue`,
    already restricted to the probe), epoch × residue, one panel for train and one for test inputs.
    Summary: cursor on both, click epoch."""
    epochs, p = np.asarray(data["epochs"]), grid_size(data)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("train inputs", "test inputs"))
    fig.update_layout(base_layout(
        "Accuracy by answer" + ("" if probe is None else f" (probe: {int(np.sum(probe))} inputs)"), "", "",
        "Which answers the model gets right first: look for whether test accuracy rises for every answer at "
        "once (one algorithm for all) or answer by answer.",
        height=560, showlegend=False))
    for row, split in enumerate(("train", "test"), start=1):
        acc = np.asarray(data[f"{split}_accuracy_by_residue"])
        fig.add_trace(go.Heatmap(
            z=acc.T, x=epochs, y=np.arange(p), zmin=0, zmax=1, colorscale=MAGNITUDE_COLORSCALE,
            customdata=np.broadcast_to(epochs, acc.T.shape), showscale=row == 1,
            colorbar=dict(title=dict(text="accuracy", side="right"), thickness=12),
            hovertemplate=f"{split} · epoch %{{x}} · answer %{{y}}<br>accuracy %{{z:.1%}}<extra></extra>"),
            row=row, col=1)
        fig.update_yaxes(title_text="answer (residue)", row=row, col=1)
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    add_cursor(fig, cursor_epoch(epochs, epoch), subplot_axis_names(2), color=COLORS["cursor_on_dark"])
    return finish(fig, click="epoch")


def hardest_inputs(data: dict[str, np.ndarray], epoch: int | None = None, *, probe=None, count: int = 25,
                   selected: int | None = None) -> go.Figure:
    """The `count` hardest inputs of the probe (never graduated, then latest; ties by mean loss) as
    bars up to their graduation epoch. Summary (x = epoch): cursor, click an input."""
    epochs, inside = np.asarray(data["epochs"]), _probe(data, probe)
    p, train = grid_size(data), np.asarray(data["train_mask"], bool)
    hardest = np.asarray(data["hardest"])
    hardest = hardest[inside[hardest]][:count][::-1]                     # hardest at the top
    graduation = np.asarray(data["graduation_epoch"])[hardest]
    never = graduation == NEVER
    length = np.where(never, epochs[-1], graduation)
    labels = [pair_label(i, p, data["answers"][i]) + (" ◀" if selected == i else "") for i in hardest]
    colors = [PENDING["never"] if n else COLORS["train" if train[i] else "test"] for i, n in zip(hardest, never)]
    notes = [("never graduated" if n else f"graduated at epoch {g}") + f" · {'train' if train[i] else 'test'}"
             f" · mean log10 loss {data['mean_log10_loss'][i]:.2f}" for i, n, g in zip(hardest, never, graduation)]
    fig = go.Figure(layout=base_layout(
        "Hardest inputs", "graduation epoch", "input (a, b) → answer",
        "The inputs learned last (black: never); blue train, orange test. Click one to trace it.",
        height=max(300, 18 * len(hardest) + 120), showlegend=False))
    fig.add_trace(go.Bar(x=length, y=labels, orientation="h", marker_color=colors, customdata=hardest.astype(int),
                         text=notes, textposition="none", hovertemplate="%{y}<br>%{text}<extra></extra>"))
    fig.update_xaxes(range=[epochs[0], epochs[-1] * 1.02 if epochs[-1] else 1])
    fig.update_yaxes(type="category", tickfont=dict(size=11))
    add_cursor(fig, cursor_epoch(epochs, epoch))
    return finish(fig, click="input")


def loss_spikes(data: dict[str, np.ndarray], epoch: int | None = None, *, probe=None) -> go.Figure:
    """Every loss spike of a probe input (its loss rose ≥ 10x since the previous checkpoint, to
    ≥ 0.1): epoch × size of the rise. Summary: cursor, click an input."""
    epochs, inside = np.asarray(data["epochs"]), _probe(data, probe)
    p, train = grid_size(data), np.asarray(data["train_mask"], bool)
    inputs = np.asarray(data["spike_inputs"], np.int64)
    keep = inside[inputs]
    fig = go.Figure(layout=base_layout(
        "Loss spikes by input", "epoch", "rise in loss (decades, log10)",
        "Inputs whose loss jumped ≥ 10× between checkpoints: look for spikes bunched at one epoch (many inputs "
        "disturbed at once). Click a spike to trace its input."))
    for split in SPLITS:
        rows = keep & (train[inputs] == (split == "train"))
        ids = inputs[rows]
        fig.add_trace(go.Scatter(
            x=np.asarray(data["spike_epochs"])[rows], y=np.asarray(data["spike_decades"])[rows], mode="markers",
            name=f"{split} inputs ({rows.sum()})", customdata=ids, marker=dict(color=COLORS[split], size=7, opacity=0.7),
            text=[pair_label(i, p, data["answers"][i]) for i in ids],
            hovertemplate="%{text}<br>epoch %{x}: loss ×10^%{y:.1f}<extra></extra>"))
    fig.update_xaxes(range=[epochs[0], epochs[-1]])
    add_cursor(fig, cursor_epoch(epochs, epoch))
    return finish(fig, click="input")
