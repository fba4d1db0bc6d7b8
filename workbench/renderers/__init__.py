"""Renderers: pure functions from artifact arrays to `plotly.graph_objects.Figure`.

Used by the Dash pages, by notebooks and by export alike. They never import dash, torch or the
store: callers load the arrays (`Store.load_artifact`, `Store.load_history`, `workbench.derived`)
and pass them in. `CATALOG` names every renderer with the artifact it reads.

The contract every figure keeps (the app relies on it):

Signature
    `render_x(data, epoch=None, **options) -> go.Figure`. `data` is an artifact dict as loaded
    from disk (a series artifact, leading axis = its `epochs`; renderers of one epoch also
    accept a per-epoch artifact), or, for per-input maps, the array from `workbench.derived`
    ([d_mlp, p, p] neuron maps, [2, n_heads, p, p] attention maps). A renderer showing one
    epoch of a series uses the analyzed epoch `epoch` snaps to (`selection.snap`: the nearest,
    ties to the earlier, as the app's slider); `epoch=None` means the last one.

Summary figures (epoch on x)
    Draw the current epoch as a vertical line: a shape named "cursor" with xref the x-axis,
    x0 = x1 = epoch (the last epoch when `epoch` is None), yref "paper" (one plot) or
    "<y> domain" (one cursor per x-axis in subplots). The cursors come first in
    `layout.shapes`, so a page moves them without re-rendering:
        patch = dash.Patch(); cursor.move_cursor(patch, new_epoch, fig.layout.meta["cursor_shapes"])
    (which sets patch["layout"]["shapes"][i]["x0"/"x1"] for i < cursor_shapes).

Clicks
    A click selects what the clicked axis means, never anything else: the catalog entry's `click`
    and the figure's `layout.meta["click"]` declare it - "epoch", "frequency", "neuron", "head",
    "input" or None (nothing) - and the app honours it (`cursor.clicked`); a test walks the whole
    catalog. The id is the clicked point's `customdata`, one scalar per point (per cell for
    heatmaps); extra hover values travel in `text`, never as 2-D customdata rows (plotly.js hands
    those to Dash as typed arrays that arrive as {"0": ...}). `cursor.clicked_id(clickData)` reads
    the id; only epoch figures fall back to the point's x. Points without customdata (bands,
    guides) select nothing.
      - summary lines and frequency × epoch heatmaps: epoch (= x);
      - Fourier norms at an epoch (x = k): frequency k;
      - neuron cluster heatmap and neuron map grid: neuron id;
      - one neuron's activation map, the graduation grid, hardest inputs, loss spikes: the
        input a * p + b;
      - attention pattern grid and head FVE heatmap: head index;
      - trajectory paths (2-D and 3-D): the epoch of each point;
      - singular values, explained variance, SGLD chains, tables: nothing.
    The figure that a click updates is the page's business; the figure only names the id.

Marks
    Renderers of one epoch that take `frequency` (and the neuron map, `neuron`) mark the selected
    frequency or neuron; `workbench.figures.build` passes them from the selection.

Every figure
    Axis titles with units, a `hovertemplate` with a readable readout, `uirevision = "keep"`
    (zoom and legend toggles survive updates), and
    `layout.meta = {"caption": one line on what to look for, "click": ..., "cursor_shapes": n}`
    (+ renderer-specific extras, e.g. "key_frequencies", or "page"/"n_pages"/"neurons").

p × p maps
    Every renderer of p × p heatmaps takes `downsample: int | None`; when set (e.g. 28) each map
    is bilinearly down-sampled to that size (`workbench.spatial.bilinear_downsample`), cells keep
    their true (a, b) coordinates and the axis titles say "bilinear 28×28 of 113×113".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import plotly.graph_objects as go

from workbench.renderers import (attention, developmental, dimensionality, fourier, input_trace, inputs, neurons,
                                 progress, trajectories, training)
from workbench.renderers.cursor import clicked_id, graph_click, move_cursor


@dataclass(frozen=True)
class Renderer:
    """A catalog entry: the function, what it reads and how it behaves in the app.

    reads:    the artifact name for `Store.load_artifact`, "history" for `Store.load_history`,
              or "derived.<function>" for per-input data from `workbench.derived` (`input_trace` takes
              the input's pair index instead of the epoch).
    kind:     "summary" (epoch on x, cursor) or "detail" (one epoch, or no epoch).
    click:    what a click on the figure selects, from what its clicked axis means: "epoch",
              "frequency", "neuron", "head", "input", or None (nothing). The figure's
              `meta["click"]` says the same; the app's graphs take it from here.
    options:  fixed keyword options of this entry (e.g. which matrix's prefix).
    requires: keyword options the caller must give (e.g. "neuron").
    """
    render: Callable[..., go.Figure]
    reads: str
    kind: str
    click: str | None
    description: str
    options: dict = field(default_factory=dict)
    requires: tuple[str, ...] = ()

    def __call__(self, data, epoch: int | None = None, **options) -> go.Figure:
        return self.render(data, epoch, **{**self.options, **options})


def _entry(render, reads, kind, click, description, *, requires=(), options=None) -> Renderer:
    return Renderer(render, reads, kind, click, description, dict(options or {}), tuple(requires))


CATALOG: dict[str, Renderer] = {
    # training history
    "loss_curves": _entry(training.loss_curves, "history", "summary", "epoch", "Train and test loss over epochs (log)."),
    "accuracy_curves": _entry(training.accuracy_curves, "history", "summary", "epoch", "Train and test accuracy over epochs."),
    "loss_and_accuracy": _entry(training.loss_and_accuracy, "history", "summary", "epoch",
                                "Loss and accuracy stacked on one epoch axis."),
    "learning_rate": _entry(training.learning_rate, "history", "summary", "epoch", "Learning-rate schedule."),
    "weight_norms": _entry(training.parameter_norms, "history", "summary", "epoch", "Weight norm per parameter.",
                           options={"kind": "weight_norm"}),
    "grad_norms": _entry(training.parameter_norms, "history", "summary", "epoch", "Gradient norm per parameter.",
                         options={"kind": "grad_norm"}),
    # Fourier norms
    "embedding_fourier_norms": _entry(fourier.fourier_norms, "fourier_embedding", "detail", "frequency",
                                      "W_E norm per frequency at an epoch, key frequencies highlighted."),
    "embedding_fourier_over_epochs": _entry(fourier.fourier_norms_over_epochs, "fourier_embedding", "summary", "epoch",
                                            "W_E norm per frequency over epochs (heatmap)."),
    "unembedding_fourier_norms": _entry(fourier.fourier_norms, "fourier_unembedding", "detail", "frequency",
                                        "W_U norm per frequency at an epoch.", options={"prefix": "W_U."}),
    "unembedding_fourier_over_epochs": _entry(fourier.fourier_norms_over_epochs, "fourier_unembedding", "summary", "epoch",
                                              "W_U norm per frequency over epochs.", options={"prefix": "W_U."}),
    "logit_map_fourier_norms": _entry(fourier.fourier_norms, "fourier_unembedding", "detail", "frequency",
                                      "W_L = W_out·W_U norm per frequency at an epoch.", options={"prefix": "W_L."}),
    "logit_map_fourier_over_epochs": _entry(fourier.fourier_norms_over_epochs, "fourier_unembedding", "summary", "epoch",
                                            "W_L norm per frequency over epochs.", options={"prefix": "W_L."}),
    # neurons
    "neuron_clusters": _entry(neurons.neuron_fve_heatmap, "neuron_frequencies", "detail", "neuron",
                              "Neurons × frequency FVE, sorted into clusters; click a neuron."),
    "cluster_sizes": _entry(neurons.cluster_sizes_over_epochs, "neuron_frequencies", "summary", "epoch",
                            "Neurons per frequency cluster over epochs."),
    "neuron_fve_over_epochs": _entry(neurons.neuron_fve_over_epochs, "neuron_frequencies", "summary", "epoch",
                                     "One neuron's FVE by frequency over epochs.", requires=("neuron",)),
    "neuron_spatial_scale": _entry(neurons.neuron_spatial_scale_over_epochs, "neuron_frequencies", "summary", "epoch",
                                   "Spatial-scale metrics of neuron maps (median and band) over epochs."),
    "neuron_scale_types": _entry(neurons.neuron_scale_types_over_epochs, "neuron_frequencies", "summary", "epoch",
                                 "Neurons per scale type over epochs."),
    "neuron_heatmap": _entry(neurons.neuron_heatmap, "derived.neuron_heatmaps", "detail", "input",
                             "One neuron's activation over the (a, b) grid.", requires=("neuron",)),
    "neuron_heatmap_grid": _entry(neurons.neuron_heatmap_grid, "derived.neuron_heatmaps", "detail", "neuron",
                                  "Paged small multiples of neuron activation maps; click a neuron."),
    # attention
    "attention_patterns": _entry(attention.attention_patterns, "derived.attention_maps", "detail", "head",
                                 "Attention from = to a and b per head over the grid; click a head."),
    "head_fve": _entry(attention.head_fve_heatmap, "attention_heads", "detail", "head",
                       "FVE by frequency of each head's attention maps; click a head."),
    "head_specialization": _entry(attention.head_specialization_over_epochs, "attention_heads", "summary", "epoch",
                                  "Dominant-frequency FVE per head over epochs."),
    "head_spatial_scale": _entry(attention.head_spatial_scale_over_epochs, "attention_heads", "summary", "epoch",
                                 "Spatial-scale metrics of each head's maps over epochs."),
    "head_badges": _entry(attention.head_badges_table, "attention_heads", "detail", None,
                          "Each head's dominant frequency, FVE and scale type at an epoch (table)."),
    # trajectories
    "trajectory_projections": _entry(trajectories.trajectory_projections, "parameter_trajectory", "detail", "epoch",
                                     "Parameter path in PC1/PC2, PC1/PC3, PC2/PC3; click an epoch."),
    "trajectory_3d": _entry(trajectories.trajectory_3d, "parameter_trajectory", "detail", "epoch",
                            "Parameter path through PC1-PC3 in 3-D."),
    "explained_variance": _entry(trajectories.explained_variance, "parameter_trajectory", "detail", None,
                                 "Variance in PC1-3 per parameter group."),
    "trajectory_velocity": _entry(trajectories.trajectory_velocity, "parameter_trajectory", "summary", "epoch",
                                  "Speed through parameter space per group over epochs."),
    # dimensionality
    "participation_ratio": _entry(dimensionality.participation_ratio_over_epochs, "dimensionality", "summary", "epoch",
                                  "Participation ratio of each weight matrix over epochs."),
    "spectral_gap": _entry(dimensionality.spectral_gap_over_epochs, "dimensionality", "summary", "epoch",
                           "Largest spectral gap of each weight matrix over epochs."),
    "singular_values": _entry(dimensionality.singular_values, "dimensionality", "detail", None,
                              "Singular value spectra at an epoch."),
    # progress measures
    "progress_losses": _entry(progress.progress_losses, "progress_measures", "summary", "epoch",
                              "Train, test, restricted and excluded loss over epochs."),
    "gini": _entry(progress.gini_over_epochs, "progress_measures", "summary", "epoch",
                   "Gini of the Fourier norms of W_E and W_L over epochs."),
    "sum_squared_weights": _entry(progress.sum_squared_weights, "progress_measures", "summary", "epoch",
                                  "Total squared weight over epochs."),
    # per-input traces (`probe`: bool mask [p*p] of the inputs to show; None = the whole grid)
    "graduation_grid": _entry(inputs.graduation_grid, "input_graduation", "detail", "input",
                              "The p×p grid colored by graduation epoch (train blue, test orange); click an input."),
    "graduated_fraction": _entry(inputs.graduated_fraction, "input_graduation", "summary", "epoch",
                                 "Fraction of train/test inputs graduated and correct over epochs."),
    "residue_accuracy": _entry(inputs.residue_accuracy, "input_graduation", "summary", "epoch",
                               "Accuracy per answer residue over epochs, train and test panels."),
    "hardest_inputs": _entry(inputs.hardest_inputs, "input_graduation", "detail", "input",
                             "The inputs learned last, as bars to their graduation epoch; click an input."),
    "loss_spikes": _entry(inputs.loss_spikes, "input_graduation", "detail", "input",
                          "Per-input loss spikes (≥10× rise between checkpoints); click one."),
    "input_attribution": _entry(input_trace.input_attribution, "derived.input_trace", "summary", "epoch",
                                "One input: correct-answer logit per component, rank after each, loss."),
    "input_frequencies": _entry(input_trace.input_frequencies, "derived.input_trace", "summary", "epoch",
                                "One input: correct-answer logit by Fourier frequency over epochs."),
    # developmental interpretability
    "llc_over_epochs": _entry(developmental.llc_over_epochs, "llc", "summary", "epoch",
                              "Local learning coefficient (± std across chains) beside train/test loss."),
    "llc_chains": _entry(developmental.llc_chains, "llc", "detail", None,
                         "The SGLD chains' loss traces behind the LLC at an epoch, with their health."),
    "essential_dynamics": _entry(developmental.essential_dynamics_paths, "essential_dynamics", "detail", "epoch",
                                 "Output path (PCA of logits across checkpoints) in PC1/PC2, PC2/PC3; click an epoch."),
}


def register(name: str, render: Callable[..., go.Figure], *, reads: str, kind: str = "detail",
             click: str | None = None, description: str = "", requires: tuple[str, ...] = (),
             options: dict | None = None) -> Renderer:
    """Add a renderer to the catalog (e.g. from a notebook or a `$WORKBENCH_PLUGINS` module): from
    then on `wb.figure(name, ...)` draws it and the app's report pages offer it. Same contract as
    the built-ins (see above); `reads` names the artifact it reads ("history" for the history),
    `click` what a click selects (a summary's clicks select the epoch)."""
    if kind not in ("summary", "detail"):
        raise ValueError(f"renderer kind must be 'summary' or 'detail', got {kind!r}")
    click = "epoch" if kind == "summary" and click is None else click
    graph_click(click)  # a known kind, or ValueError
    CATALOG[name] = _entry(render, reads, kind, click, description or (render.__doc__ or name).strip().splitlines()[0],
                           requires=requires, options=options)
    return CATALOG[name]


def render(name: str, data, epoch: int | None = None, **options) -> go.Figure:
    """`CATALOG[name](data, epoch, **options)`, with the list of names when `name` is unknown."""
    if name not in CATALOG:
        raise KeyError(f"no renderer named {name!r}; known: {', '.join(sorted(CATALOG))}")
    return CATALOG[name](data, epoch, **options)


__all__ = ["CATALOG", "Renderer", "register", "render", "clicked_id", "move_cursor"]
