"""`workbench` - one command line for training, listing, importing and the demo.

Every failure the user can fix (a `workbench.errors.UserError`) ends with one line on stderr saying
what is wrong and what to do, and exit code 1; tracebacks are for bugs only. Commands that need
torch, plotly or Dash import them when they run, so `workbench list` starts in a fraction of a second.
"""
from __future__ import annotations

import argparse
import sys

from workbench import paperrun, probes, resources, threads
from workbench.cli_analysis import (SHOWN_ALERTS, cmd_alerts, cmd_analyze, cmd_import, cmd_import_log, cmd_watch,
                                    epochs_in, names, parse_epochs)
from workbench.cli_runs import cmd_extend, cmd_jobs, cmd_train, cmd_worker
from workbench.config import load_plugins
from workbench.errors import BadInputError, UserError
from workbench.families import family_names, load_family
from workbench.pipeline import analyze
from workbench.store import Store
from workbench.watch import GATE_FAILED
from workbench.worker import broker_url

DEMO_FAMILY = "modular_addition_demo"
DEMO_SEEDS = (1, 3)  # both measured to grok by epoch ~1,700 (docs/cli.md has the numbers)


def cmd_list(args) -> int:
    store = Store(args.data)
    rows = store.listing(args.family)
    print(f"data root: {store.root}")
    print(f"families: {', '.join(family_names())}")
    if not rows:
        print("no variants yet - `workbench train <family>` or `workbench demo` creates some")
    for row in rows:
        progress = f"{row.last_epoch}/{row.epochs}" if row.last_epoch is not None else "-"
        print(f"  {str(row.ref):48s} {row.status:12s} epochs {progress:>12s}  {row.checkpoints} checkpoints")
    return 0


def cmd_export(args) -> int:
    from workbench import export, reports  # plotly and the app's pages
    store = Store(args.data)
    if args.test_every < 1:
        raise BadInputError(f"--test-every {args.test_every}: give a positive number of epochs, e.g. 10")
    if args.report:
        path = reports.export_saved_report(args.variant, args.out, epoch=args.epoch, data=store.root)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): report {args.variant}; opens offline")
        return 0
    if args.format == "progress-measures":
        for ref in store.resolve([args.variant]):
            path = paperrun.export_run(store, ref, args.out or f"{ref.family}-{ref.id}.pth", args.test_every)
            print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {ref} in the progress-measures paper's "
                  f"full-run layout (train loss every epoch, test loss every {args.test_every} epochs)")
        return 0
    pages = names(args.page, "--page")
    pages = export.PAGES if pages == ["all"] else tuple(pages) if pages else None
    for ref in store.resolve([args.variant]):
        if args.animate:
            ranges = parse_epochs(args.epochs)
            chosen = epochs_in(ranges, store.checkpoint_epochs(ref), ref) if ranges else None
            path = export.export_animation(ref, store, args.animate, args.out, chosen)
            what = f"animation of {args.animate}"
        else:
            path = export.export_report(ref, store, epoch=args.epoch, pages=pages, out=args.out)
            what = ", ".join(pages) if pages else "variant report"
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {what} for {ref}; opens offline")
    return 0


def cmd_probe(args) -> int:
    store = Store(args.data)
    (ref,) = store.resolve([args.variant])
    spec = store.info(ref)["spec"]
    if args.action == "add":
        if not args.name:
            raise probes.ProbeError("name the probe: `workbench probe add VARIANT NAME --rule \"a < b\"`")
        inputs = probes.parse_inputs(" ".join(args.inputs), spec["domain"]["p"]) if args.inputs is not None else None
        definition = probes.definition(rule=args.rule, inputs=inputs)
        mask = probes.probe_mask(definition, spec)
        store.save_probe(ref, args.name, definition)
        train = probes.train_mask(spec)
        print(f"{ref}: probe {args.name!r} ({probes.describe(definition)}) holds {(mask & train).sum()} train and "
              f"{(mask & ~train).sum()} test inputs")
    elif args.action == "delete":
        store.delete_probe(ref, args.name or "")
        print(f"{ref}: probe {args.name!r} deleted")
    else:
        listed = store.probes(ref)
        if not listed:
            print(f"{ref}: no probes - `workbench probe add {ref} NAME --rule \"a < b\"` makes one")
        for name, definition in sorted(listed.items()):
            print(f"  {name:24s} {probes.probe_mask(definition, spec).sum():6d} inputs  {probes.describe(definition)}")
    return 0


def cmd_demo(args) -> int:
    from workbench.training import train  # torch
    store = Store(args.data)
    family = load_family(DEMO_FAMILY)
    for seed in DEMO_SEEDS:
        variant = family.variant(seed=seed)
        info = train(variant, store, progress=not args.quiet)
        analyze(variant.ref, store, progress=not args.quiet)
        print(f"{variant.family}/{variant.id}: test accuracy {info['final']['test_acc']:.4f} "
              f"after {variant.epochs} epochs, analyzed -> {store.variant_dir(variant.ref)}")
    print("demo variants are trained and analyzed")
    if args.no_serve:
        return 0
    return _serve(store.root, args, f"?variant={DEMO_FAMILY}/{family.variant(seed=DEMO_SEEDS[0]).id}")


def _serve(root, args, query: str = "", broker: str | None = None) -> int:
    from workbench.serving import serve  # Dash
    return serve(root, host=args.host, port=args.port, query=query, broker=broker, token=args.token,
                 allow_remote=args.allow_remote, debug=args.debug)


def cmd_serve(args) -> int:
    return _serve(Store(args.data).root, args, broker=broker_url(args.broker))


def serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only; "
                   "anything else needs --allow-remote and a token)")
    p.add_argument("--allow-remote", action="store_true", help="allow binding an interface other machines reach")
    p.add_argument("--token", help="access token every page and callback must carry (default $WORKBENCH_TOKEN; "
                   "required with --allow-remote, at least 16 characters)")
    p.add_argument("--debug", action="store_true", help="Dash debug mode (reloader, error pages): for development, "
                   "never on a shared machine")


def queue_options(p: argparse.ArgumentParser, queue: bool = True) -> None:
    if queue:
        p.add_argument("--queue", action="store_true", help="send the work as jobs to the Celery queue instead "
                       "of running it here (see `workbench worker`)")
    p.add_argument("--broker", help="Celery broker URL, e.g. redis://localhost:6379/0 (default $WORKBENCH_BROKER)")


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake in the options reported like every other error: one line."""

    def error(self, message: str):
        self.exit(2, f"error: {one_line(message)} (`{self.prog} --help` lists the options)\n")


def one_line(message) -> str:
    """A message as one line: line breaks in what the user typed are shown, not printed."""
    return str(message).replace("\r", "\\r").replace("\n", "\\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="workbench", description="Watch small transformers learn: train, "
                    "analyze and browse grokking runs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--data", metavar="DIR", help="data root (default $WORKBENCH_DATA or ./workbench-data)")
        p.add_argument("--threads", metavar="N", help="CPU threads for each process that computes, here and in the "
                       "processes this command starts (default $WORKBENCH_THREADS, else auto: the cores nobody "
                       "else is using, re-measured as it runs)")
        p.set_defaults(func=func)
        return p

    p = command("demo", cmd_demo, "train and analyze the demo family for two seeds (skips what is already "
                "done), then serve the app")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-serve", action="store_true", help="stop after training and analysis")
    serve_options(p)

    p = command("serve", cmd_serve, "serve the app on http://127.0.0.1:8050")
    serve_options(p)
    queue_options(p, queue=False)

    p = command("train", cmd_train, "train variants of a family (resumes interrupted runs)")
    p.add_argument("family", help="family name, e.g. modular_addition (see families/)")
    p.add_argument("--p", type=int, nargs="+", action="extend", help="the prime modulus (several: a sweep)")
    p.add_argument("--seed", type=int, nargs="+", action="extend", help="model seed(s) (several: a sweep)")
    p.add_argument("--data-seed", dest="data_seed", type=int, nargs="+", action="extend", help="train/test split "
                   "seed(s) (several: a sweep; every combination of primes, seeds and data seeds is one variant)")
    p.add_argument("--set", nargs="+", action="extend", metavar="KEY=VALUE",
                   help="override family values, e.g. --set train_fraction=0.5 epochs=5000 "
                        "checkpoints.every=100:1500,500:25000")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    queue_options(p)

    p = command("extend", cmd_extend, "extend trained variants in place: more epochs, or denser checkpoints "
                "in a window (replayed from the nearest checkpoint)")
    p.add_argument("variants", nargs="+", help="family/variant, a variant id, or a family (all its variants)")
    p.add_argument("--to-epoch", dest="to_epoch", type=int, metavar="N", help="train on to epoch N")
    p.add_argument("--window", metavar="START-STOP", help="add checkpoints in this epoch range ...")
    p.add_argument("--every", type=int, help="... every this many epochs")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    queue_options(p)

    p = command("jobs", cmd_jobs, "list jobs started from the app or queued (newest first), cancel or resume one")
    p.add_argument("action", nargs="?", default="list", choices=["list", "cancel", "resume"])
    p.add_argument("job", nargs="?", help="job id (for cancel and resume)")
    p.add_argument("--limit", type=int, default=30, help="how many jobs to list (default 30)")
    queue_options(p)

    p = command("worker", cmd_worker, "run a Celery worker for the app's and the queue's jobs "
                "(needs a broker; workers must share the data root)")
    p.add_argument("--concurrency", type=int, default=1, help="jobs this worker runs at once (default 1)")
    queue_options(p, queue=False)

    p = command("analyze", cmd_analyze, "compute analysis artifacts (resumes; only missing or stale ones)")
    p.add_argument("variants", nargs="+", help="family/variant, a variant id, or a family (all its variants)")
    p.add_argument("--analyzers", nargs="+", action="extend", metavar="NAME", help="analyzers to run (default: "
                   "the family's list, else all built-ins; optional, run only when named: llc)")
    p.add_argument("--epochs", nargs="+", action="extend", metavar="EPOCH", help="checkpoints to analyze: epochs "
                   "and ranges, e.g. 0 100 1000-2000 (default: all)")
    p.add_argument("--force", action="store_true", help="recompute even what is up to date")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core when it pays off)")
    p.add_argument("--follow", action="store_true", help="analyze a run while it trains: each checkpoint once, as "
                   "it lands; series analyzers every 10 s or so; everything else when the run stops")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    queue_options(p)

    p = command("export", cmd_export, "write a standalone HTML report of a variant (or a saved report page, or an "
                "animation of one figure over the checkpoints); it opens offline with working hover")
    p.add_argument("variant", help="family/variant or a variant id (with --report: the report's name)")
    p.add_argument("--epoch", type=int, help="epoch (snapped to the nearest checkpoint; default: the last)")
    p.add_argument("--page", nargs="+", action="extend", metavar="PAGE", help="instead of the variant report, "
                   "these app pages' figures: overview, fourier, neurons, attention, trajectories, dimensionality, "
                   "progress, dynamics, inputs (several), or all")
    p.add_argument("--animate", metavar="FIGURE", help="an animation of this figure (a name of `wb.figure_names()`, "
                   "e.g. neuron_clusters) with a play button, one frame per checkpoint")
    p.add_argument("--epochs", nargs="+", action="extend", metavar="EPOCH", help="with --animate: the epochs to "
                   "show, e.g. 0 100 1000-2000 (default: every checkpoint)")
    p.add_argument("--report", action="store_true", help="export the saved report page named VARIANT")
    p.add_argument("--format", choices=["html", "progress-measures"], default="html",
                   help="progress-measures: the run as the progress-measures paper's full-run .pth (config, "
                        "checkpoints, losses) for tools that read those files (default: html)")
    p.add_argument("--test-every", type=int, default=10, metavar="K", help="with --format progress-measures: "
                   "the test loss every K epochs, as the paper's files have it (default 10)")
    p.add_argument("--out", help="output file (default: <family>-<variant>-epoch<E>.html, or <family>-<variant>.pth)")

    p = command("import-log", cmd_import_log, "import a training log (CSV, JSONL, JSON, .pt/.pth) from any project "
                "as a log-only run: its phases, oscillations and alerts on the Loss dynamics page")
    p.add_argument("path", help="the log file: .csv/.tsv, .jsonl, .json (records or dict of lists), .pt/.pth")
    p.add_argument("--family", default="logs", help="family folder the run goes in (default: logs)")
    p.add_argument("--id", help="variant id (default: the file name)")
    p.add_argument("--step", metavar="NAME", help="the x column (default: the first of step, global_step, iteration, "
                   "epoch, ...; else the record number)")
    p.add_argument("--metrics", nargs="+", action="extend", metavar="NAME", help="import only these metrics "
                   "(default: every numeric column)")
    p.add_argument("--gates", nargs="+", action="extend", metavar="RULE", help="pass/fail gates, e.g. "
                   "'val_acc >= 0.5 by epoch 3' (shown on the Loss dynamics page)")
    p.add_argument("--replace", action="store_true", help="overwrite a variant of the same id")

    p = command("watch", cmd_watch, "watch a training log (CSV/TSV or JSONL) while another program writes it: "
                "print each alert and failed gate as it appears, and keep it live in the app")
    p.add_argument("path", help="the log file being written: .csv/.tsv or .jsonl (it may not exist yet)")
    p.add_argument("--family", default="logs", help="family folder the run goes in (default: logs)")
    p.add_argument("--id", help="variant id (default: the file name)")
    p.add_argument("--step", metavar="NAME", help="the x column (default: as import-log)")
    p.add_argument("--metrics", nargs="+", action="extend", metavar="NAME", help="watch only these metrics")
    p.add_argument("--gates", nargs="+", action="extend", metavar="RULE", help="pass/fail gates, e.g. "
                   "'val_acc >= 0.5 by epoch 3'; a failure is printed as it happens")
    p.add_argument("--exit-on-gate", dest="exit_on_gate", action="store_true", help="stop with exit status "
                   f"{GATE_FAILED} as soon as a gate fails (for a training script or CI to act on)")
    p.add_argument("--idle", type=float, metavar="SECONDS", help="stop when no new line came for this long "
                   "(default: watch until Ctrl-C)")

    p = command("alerts", cmd_alerts, "print the phases, training alerts and gates of variants")
    p.add_argument("variants", nargs="+", help="family/variant, a variant id, or a family (all its variants)")
    p.add_argument("--gates", nargs="+", action="extend", metavar="RULE", help="gates to check, e.g. "
                   "'test_acc >= 0.9 by 2000' (default: the variant's declared gates)")
    p.add_argument("--all", action="store_true", help=f"print every alert (default: the first {SHOWN_ALERTS}, "
                   "the rest counted by kind)")

    p = command("probe", cmd_probe, "add, list or delete a variant's named probes (input subsets for the "
                "Inputs page)")
    p.add_argument("action", choices=["add", "list", "delete"])
    p.add_argument("variant", help="family/variant or a variant id")
    p.add_argument("name", nargs="?", help="probe name (letters, digits and _ . = , + -)")
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--rule", help="a rule over a, b, answer, p, train, test, e.g. \"a < b\", \"test\", "
                      "\"answer == 0\", \"train and (a + b) %% 2 == 1\"")
    rule.add_argument("--inputs", nargs="+", metavar="A,B", help="listed inputs, e.g. --inputs 4,29 12,0")

    p = command("list", cmd_list, "list families and variants with their status")
    p.add_argument("family", nargs="?", help="only this family")

    p = command("import", cmd_import, "import a TransformerLens or progress-measures checkpoint as a variant")
    p.add_argument("path", help=".pt/.pth/.safetensors file")
    p.add_argument("--family", default="modular_addition", help="family the model belongs to")
    p.add_argument("--id", help="variant id (default: imported-<file name>)")
    p.add_argument("--format", default="auto", choices=["auto", "transformer_lens", "progress_measures"])
    p.add_argument("--epoch", type=int, help="epoch of a single state dict (default: from the file)")
    p.add_argument("--set", nargs="+", action="extend", metavar="KEY=VALUE",
                   help="settings the file does not record (or to correct), e.g. --set data_seed=0 weight_decay=0 "
                        "(the file's own values are used otherwise)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        threads.set_override(args.threads)
        load_plugins()  # users' own analyzers and renderers
        return args.func(args)
    except KeyboardInterrupt:
        print("\ninterrupted - run the same command again to resume", file=sys.stderr)
        return 130
    except UserError as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 1
    except MemoryError:  # an estimate (workbench.resources) fell short: still one line, and what to do
        print("error: out of memory - this machine cannot hold what that command needed; set "
              f"${resources.MEMORY_VARIABLE} lower (e.g. 4G) so that the estimates refuse it up front, or use "
              "smaller sizes", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
