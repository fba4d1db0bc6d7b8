"""`workbench` - one command line for training, listing, importing and the demo.

Every failure the user can fix ends with one line on stderr saying what is wrong and what to do,
and a non-zero exit code; tracebacks are for bugs only.
"""
from __future__ import annotations

import argparse
import sys

from workbench.families import FamilyError, parse_value

DEMO_FAMILY = "modular_addition_demo"
DEMO_SEEDS = (1, 3)  # both measured to grok by epoch ~1,700 (README has the numbers)


def _user_errors() -> tuple[type[Exception], ...]:
    from workbench.importers import CheckpointImportError
    from workbench.model import WeightsError
    from workbench.analyzers import UnknownAnalyzerError
    from workbench.store import StoreError
    return FamilyError, StoreError, CheckpointImportError, WeightsError, UnknownAnalyzerError


def _variants(args) -> list:
    from workbench.families import load_family
    family = load_family(args.family)
    overrides = {}
    for item in args.set or []:
        if "=" not in item:
            raise FamilyError(f"--set expects key=value, got {item!r} (e.g. --set train_fraction=0.5)")
        key, value = item.split("=", 1)
        overrides[key.strip()] = parse_value(value.strip())
    for key in ("p", "data_seed"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    seeds = args.seed or [None]
    return [family.variant({**overrides, **({"seed": s} if s is not None else {})}) for s in seeds]


def cmd_train(args) -> int:
    from workbench.store import Store
    from workbench.training import train
    store = Store(args.data)
    for variant in _variants(args):
        info = train(variant, store, device=args.device, progress=not args.quiet)
        final = info.get("final", {})
        print(f"{variant.family}/{variant.id}: {info['status']} - train loss {final.get('train_loss', float('nan')):.3g}, "
              f"test accuracy {final.get('test_acc', float('nan')):.4f} ({info.get('train_seconds', 0):.0f} s); "
              f"data in {store.variant_dir(_ref(variant))}")
    return 0


def _ref(variant):
    from workbench.store import VariantRef
    return VariantRef(variant.family, variant.id)


def cmd_list(args) -> int:
    from workbench.families import family_names
    from workbench.store import Store
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


def cmd_import(args) -> int:
    from workbench.importers import import_checkpoint
    from workbench.store import Store
    summary = import_checkpoint(args.path, args.family, Store(args.data), variant_id=args.id,
                                fmt=args.format, epoch=args.epoch)
    print(f"imported {args.path} ({summary['format']} layout, p={summary['p']}) as {summary['variant']}: "
          f"{len(summary['epochs'])} checkpoint(s), accuracy on the full {summary['p']}x{summary['p']} grid "
          f"{summary['grid_accuracy']:.4f}" + (f"; history: {', '.join(summary['history'])}" if summary["history"] else ""))
    return 0


def resolve_variants(store, names: list[str]) -> list:
    """`family/variant`, a bare variant id (if one family has it), or a family (all its variants)."""
    from workbench.store import MissingError, VariantRef
    refs = []
    for name in names:
        if "/" in name:
            refs.append(VariantRef(*name.split("/", 1)))
            store.info(refs[-1])
            continue
        family_refs = store.variants(name) if name in store.families() else []
        matches = family_refs or [r for r in store.variants() if r.id == name]
        if not matches:
            raise MissingError(f"no variant or family {name!r} in {store.root}; `workbench list` shows what there is")
        if not family_refs and len(matches) > 1:
            raise MissingError(f"{name!r} is a variant of several families; write it as "
                               + " or ".join(str(m) for m in matches))
        refs += matches
    return refs


def parse_epochs(text: str | None) -> list[int] | None:
    """`100,200,1000-2000` -> those epochs and every epoch in the ranges (inclusive)."""
    if not text:
        return None
    epochs = []
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            epochs += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    except ValueError:
        raise FamilyError(f"--epochs expects numbers and ranges like 100,200,1000-2000, got {text!r}") from None
    return epochs


def cmd_analyze(args) -> int:
    from workbench.pipeline import analyze
    from workbench.store import Store
    store = Store(args.data)
    names = [a.strip() for a in args.analyzers.split(",")] if args.analyzers else None
    epochs = parse_epochs(args.epochs)
    for ref in resolve_variants(store, args.variants):
        if epochs is not None:  # a range selects the checkpoints inside it
            epochs_here = [e for e in store.checkpoint_epochs(ref) if e in set(epochs)]
        else:
            epochs_here = None
        result = analyze(ref, store, analyzers=names, epochs=epochs_here, force=args.force,
                         progress=not args.quiet, workers=args.workers)
        print(f"{ref}: analysed {result['epochs_analyzed']} checkpoint(s) and {result['series_analyzed']} "
              f"series ({', '.join(result['analyzers'])}); artifacts in {store.variant_dir(ref) / 'artifacts'}")
    return 0


def cmd_export(args) -> int:
    from workbench.export import PAGES, export_report
    from workbench.store import Store
    store = Store(args.data)
    pages = PAGES if args.page == "all" else tuple(p.strip() for p in args.page.split(","))
    for ref in resolve_variants(store, [args.variant]):
        path = export_report(ref, store, epoch=args.epoch, pages=pages, out=args.out)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {', '.join(pages)} for {ref}; opens offline")
    return 0


def cmd_demo(args) -> int:
    from workbench.families import load_family
    from workbench.pipeline import analyze
    from workbench.store import Store
    from workbench.training import train
    store = Store(args.data)
    family = load_family(DEMO_FAMILY)
    for seed in DEMO_SEEDS:
        variant = family.variant(seed=seed)
        info = train(variant, store, progress=not args.quiet)
        analyze(_ref(variant), store, progress=not args.quiet)
        print(f"{variant.family}/{variant.id}: test accuracy {info['final']['test_acc']:.4f} "
              f"after {variant.epochs} epochs, analysed -> {store.variant_dir(_ref(variant))}")
    print("demo variants are trained and analysed")
    if args.no_serve:
        return 0
    return _serve(store.root, args.port, f"?variant={DEMO_FAMILY}/{family.variant(seed=DEMO_SEEDS[0]).id}")


def _serve(root, port: int, query: str = "") -> int:
    """Serve on loopback only: the app has no access control (yet), so it is not exposed."""
    from workbench.app import create_app
    app = create_app(root)
    print(f"serving {root} at http://127.0.0.1:{port}/{query}  (Ctrl-C stops)", flush=True)
    app.run(host="127.0.0.1", port=port, debug=False)
    return 0


def cmd_serve(args) -> int:
    from workbench.store import Store
    return _serve(Store(args.data).root, args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="Watch small transformers learn: train, "
                                     "analyze and browse grokking runs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--data", metavar="DIR", help="data root (default $WORKBENCH_DATA or ./workbench-data)")
        p.set_defaults(func=func)
        return p

    p = command("demo", cmd_demo, "train and analyze the demo family for two seeds (skips what is already "
                "done), then serve the app")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-serve", action="store_true", help="stop after training and analysis")
    p.add_argument("--port", type=int, default=8050, help="port to serve on (default 8050)")

    p = command("serve", cmd_serve, "serve the app on http://127.0.0.1:8050")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")

    p = command("train", cmd_train, "train variants of a family (resumes interrupted runs)")
    p.add_argument("family", help="family name, e.g. modular_addition (see families/)")
    p.add_argument("--p", type=int, help="the prime modulus")
    p.add_argument("--seed", type=int, nargs="+", help="model seed(s); several train one after another")
    p.add_argument("--data-seed", dest="data_seed", type=int, help="train/test split seed")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a family value, e.g. --set train_fraction=0.5 --set epochs=5000 "
                        "--set checkpoints.every=100:1500,500:25000 (repeatable)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = command("analyze", cmd_analyze, "compute analysis artifacts (resumes; only missing or stale ones)")
    p.add_argument("variants", nargs="+", help="family/variant, a variant id, or a family (all its variants)")
    p.add_argument("--analyzers", help="comma-separated names (default: the family's list, else all built-ins; "
                                            "optional, run only when named: llc)")
    p.add_argument("--epochs", help="checkpoints to analyse, e.g. 0,100,1000-2000 (default: all)")
    p.add_argument("--force", action="store_true", help="recompute even what is up to date")
    p.add_argument("--workers", type=int, help="worker processes (default: one per core when it pays off)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = command("export", cmd_export, "write a standalone HTML report of a variant's figures at an epoch")
    p.add_argument("variant", help="family/variant or a variant id")
    p.add_argument("--epoch", type=int, help="epoch (snapped to the nearest checkpoint; default: the last)")
    p.add_argument("--page", default="overview", help="overview, fourier, neurons, attention, trajectories, "
                   "dimensionality, progress, a comma-separated list, or all (default: overview)")
    p.add_argument("--out", help="output file (default: <family>-<variant>-epoch<E>.html)")

    p = command("list", cmd_list, "list families and variants with their status")
    p.add_argument("family", nargs="?", help="only this family")

    p = command("import", cmd_import, "import a TransformerLens or progress-measures checkpoint as a variant")
    p.add_argument("path", help=".pt/.pth/.safetensors file")
    p.add_argument("--family", default="modular_addition", help="family the model belongs to")
    p.add_argument("--id", help="variant id (default: imported-<file name>)")
    p.add_argument("--format", default="auto", choices=["auto", "transformer_lens", "progress_measures"])
    p.add_argument("--epoch", type=int, help="epoch of a single state dict (default: from the file)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("\ninterrupted - run the same command again to resume", file=sys.stderr)
        return 130
    except _user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
