"""The Python API, for notebooks and scripts: the same variants, figures and names as the CLI and the app.

    import workbench as wb
    wb.variants()                                          # every variant in the data root
    v = wb.variant("modular_addition_demo", p=59, seed=1)  # or "family/id", or a bare id
    v.history["test_loss"]; v.history.x("test_loss")       # a series' values and its own epochs
    v.epochs                                               # checkpoint epochs
    model = v.model(1500)                                  # hooked model: model.run_with_cache(tokens)
    v.artifact("neuron_frequencies").at(1500)              # one epoch's arrays; .series() stacks all
    wb.figure("neuron_clusters", v, epoch=1500)            # the go.Figure the app shows
    wb.analyze(v, analyzers=["neuron_frequencies"]); wb.train("modular_addition_demo", p=59, seed=2)
    v = wb.import_checkpoint("run.pth", data_seed=0)       # another tool's checkpoint; v.info["source"]
    wb.export_run(v, "run.pth")                             # the progress-measures paper's layout

Every function takes `data=` (default `$WORKBENCH_DATA`, else ./workbench-data), like `--data`.
Errors are `workbench.errors.UserError`s (`wb.UserError`) whose message says what is wrong and
what to do; where the CLI would name a command (`workbench analyze ...`), the API names the call
(`wb.analyze(...)`). Training and models import torch, so those functions import it when called.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from workbench import figures, paperrun, tasks
from workbench.analyzers import OPTIONAL
from workbench.errors import MissingError, NotAnalyzedError, NotTrainedError, UserError  # noqa: F401 (wb.UserError)
from workbench.families import family_names, load_family
from workbench.logimport import import_log as _import_log
from workbench.pipeline import analyze as _analyze
from workbench.renderers.cursor import at_epoch
from workbench.selection import snap
from workbench.store import Store, VariantRef


def _in_api_words(function):
    """Re-raise the store's "not analyzed / not trained" errors naming the `wb.` call that fixes
    them instead of the shell command (by type: `workbench.errors`)."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except NotAnalyzedError as err:
            if err.ref is None:
                raise
            named = f", analyzers=[{err.analyzer!r}]" if err.analyzer in OPTIONAL else ""
            raise NotAnalyzedError(f"{err.ref} has no {err.analyzer} artifact yet; compute it with "
                                   f"wb.analyze({str(err.ref)!r}{named})", ref=err.ref, analyzer=err.analyzer) from None
        except NotTrainedError as err:
            if err.ref is None:
                raise
            raise NotTrainedError(f"{err.ref} has no checkpoints or history yet; train it with "
                                  f"wb.train({err.ref.family!r}, p=..., seed=...)", ref=err.ref) from None
    return wrapper


class Artifact:
    """One analyzer's output for a variant: `.series()` (every analyzed epoch stacked along a
    leading axis, `epochs` holding them) or `.at(epoch)` (the arrays of one epoch)."""

    def __init__(self, store: Store, ref: VariantRef, name: str):
        self.store, self.ref, self.name = store, ref, name

    @_in_api_words
    def series(self) -> dict[str, np.ndarray]:
        return self.store.cached_series(self.ref, self.name)

    @property
    def epochs(self) -> list[int]:
        return [int(e) for e in self.series().get("epochs", [])]

    def at(self, epoch: int) -> dict[str, np.ndarray]:
        """The arrays at the analyzed epoch nearest `epoch` (`wb.Variant.snap`'s rule)."""
        data = self.series()
        if "epochs" not in data:
            raise MissingError(f"{self.name} is one series for the whole run (no epochs): use .series()")
        row, _ = at_epoch(data, epoch)
        return row

    def __repr__(self) -> str:
        return f"Artifact({self.name!r} of {self.ref})"


class Variant:
    """A variant in the store: its record, history, checkpoints, models, artifacts and figures."""

    def __init__(self, ref: VariantRef, store: Store):
        store.info(ref)  # it must exist
        self.ref, self.store = ref, store

    @property
    def family(self) -> str:
        return self.ref.family

    @property
    def id(self) -> str:
        return self.ref.id

    @property
    def info(self) -> dict:
        """variant.json: the resolved spec, status, provenance and final numbers."""
        return self.store.info(self.ref)

    @property
    def spec(self) -> dict:
        return self.info["spec"]

    @property
    def p(self) -> int:
        return int(self.spec["domain"]["p"])

    @property
    @_in_api_words
    def history(self):
        """The run's `workbench.history.History`: {name: values} (train_loss, test_loss, train_acc,
        test_acc, lr, norms) with each series' own epochs in `.x(name)` (a test loss evaluated
        every 10 epochs has a tenth of the points)."""
        return self.store.cached_history(self.ref)

    @property
    def epochs(self) -> list[int]:
        """The checkpoint epochs."""
        return self.store.checkpoint_epochs(self.ref)

    def snap(self, epoch: int | None) -> int:
        """The checkpoint nearest `epoch` (the last for None)."""
        if not self.epochs:
            raise MissingError(f"variant {self.ref} has no checkpoints; train it first (wb.train)")
        return snap(epoch, self.epochs)

    @_in_api_words
    def model(self, epoch: int | None = None):
        """The model at the checkpoint nearest `epoch` (default: the last), in eval mode, as a
        TransformerLens `HookedRootModule` (`workbench.hooked`; importing TransformerLens takes a few
        seconds): `logits, cache = model.run_with_cache(v.tokens())`, `run_with_hooks`, ..."""
        from workbench.hooked import load_hooked_model  # torch and TransformerLens
        from workbench.model import ModelConfig  # torch
        epoch = self.snap(epoch)
        return load_hooked_model(ModelConfig.from_spec(self.spec), self.store.load_weights(self.ref, epoch),
                                 f"{self.ref} epoch {epoch}")

    def tokens(self):
        """The full p×p grid as model input, [p*p, 3] token ids `a b =` (row a * p + b)."""
        import torch  # heavy: only for a model's input
        return torch.as_tensor(tasks.probe_inputs(self.p))

    def artifact(self, name: str) -> Artifact:
        return Artifact(self.store, self.ref, name)

    def figure(self, name: str, epoch: int | None = None, **options):
        return figure(name, self, epoch=epoch, **options)

    def __repr__(self) -> str:
        return f"Variant('{self.ref}', {len(self.epochs)} checkpoints, {self.store.status(self.ref)})"

    def __str__(self) -> str:
        return str(self.ref)


def as_variant(v, data=None) -> Variant:
    """`v` if it is a `Variant`, else the stored variant it names (see `variant`)."""
    return v if isinstance(v, Variant) else variant(str(v), data=data)


def variants(family: str | None = None, *, data=None) -> list[Variant]:
    """Every variant in the data root (of `family`), as `workbench list` shows them."""
    store = Store(data)
    return [Variant(ref, store) for ref in store.variants(family)]


def variant(name: str, *, data=None, **params) -> Variant:
    """A stored variant: `"family/id"`, a bare id, or a family with its parameters as in
    `workbench train` (`p=`, `seed=`, `data_seed=`, any recipe key, e.g. `train_fraction=0.6`)."""
    store = Store(data)
    if "/" in name:
        return Variant(VariantRef(*name.split("/", 1)), store)
    if params or (name in family_names() and name not in store.families()):
        ref = load_family(name).variant(params).ref
        if not store.exists(ref):
            raise MissingError(f"no variant {ref} in {store.root}; train it with wb.train({name!r}, "
                               + ", ".join(f"{k}={v!r}" for k, v in params.items()) + ")")
        return Variant(ref, store)
    refs = store.resolve([name])
    if len(refs) > 1:
        raise MissingError(f"{name!r} is a family with {len(refs)} variants; pick one with p=, seed=, data_seed= "
                           f"or by id: {', '.join(r.id for r in refs)}")
    return Variant(refs[0], store)


def figure_names() -> list[str]:
    """Every figure `wb.figure` (and a report page) can draw."""
    return figures.names()


@_in_api_words
def figure(name: str, v, epoch: int | None = None, *, neuron: int = 0, head: int = 0, input: int | None = None,
           data=None, **options):
    """The figure the app shows: catalog figure `name` of variant `v` at the checkpoint nearest
    `epoch` (default: the last), for `neuron`, `head` or `input` (pair index a * p + b) where the
    figure shows one. Extra options go to the renderer (e.g. `downsample=28`)."""
    v = as_variant(v, data)
    epoch = v.snap(epoch) if v.epochs else epoch
    selection = {"epoch": epoch, "neuron": neuron, "head": head, "input": input}
    return figures.build(v.store, v.ref, name, selection, **options)


@_in_api_words
def analyze(v, analyzers: list[str] | None = None, *, epochs: list[int] | None = None, force: bool = False,
            progress: bool = True, workers: int | None = None, data=None) -> dict:
    """`workbench analyze`: bring the variant's artifacts up to date (only what is missing or stale)."""
    v = as_variant(v, data)
    return _analyze(v.ref, v.store, analyzers=analyzers, epochs=epochs, force=force, progress=progress, workers=workers)


def train(family: str, *, data=None, progress: bool = True, device: str | None = None, **params) -> Variant:
    """`workbench train FAMILY`: train (or resume) the variant of `family` with `params`
    (`p=`, `seed=`, `data_seed=`, any recipe key); returns it."""
    from workbench.training import train as run  # torch
    store = Store(data)
    resolved = load_family(family).variant(params)
    run(resolved, store, device=device, progress=progress)
    return Variant(resolved.ref, store)


def import_checkpoint(path: str | Path, family: str = "modular_addition", *, id: str | None = None,
                      format: str = "auto", epoch: int | None = None, data=None, **settings) -> Variant:
    """`workbench import FILE`: a TransformerLens or progress-measures checkpoint as a variant,
    with the settings and history the file records; `settings` (e.g. `data_seed=0`, as `--set`)
    for what it does not say. What was read, set and assumed is in `v.info["source"]`."""
    from workbench.importers import import_checkpoint as run  # torch
    store = Store(data)
    summary = run(path, family, store, id=id, format=format, epoch=epoch, overrides=settings)
    return Variant(summary["variant"], store)


def export_run(v, path: str | Path, *, test_every: int = 10, data=None) -> Path:
    """`workbench export VARIANT --format progress-measures`: the variant as the progress-measures
    paper's full-run file (config, final model, every checkpoint, train loss every epoch, test
    loss every `test_every` epochs), readable with `torch.load(path, weights_only=True)` and
    importable back with `import_checkpoint`."""
    v = as_variant(v, data)
    return paperrun.export_run(v.store, v.ref, path, test_every)


def import_log(path: str | Path, *, family: str = "logs", id: str | None = None, step: str | None = None,
               metrics: list[str] | None = None, gates: list[str] | None = None, replace: bool = False,
               data=None) -> Variant:
    """`workbench import-log FILE`: a training log from another project as a log-only run."""
    store = Store(data)
    summary = _import_log(path, store, family=family, id=id, step=step, metrics=metrics, gates=gates, replace=replace)
    return Variant(summary["variant"], store)
