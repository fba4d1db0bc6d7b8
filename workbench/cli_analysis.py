"""The commands that read runs: `import`, `import-log`, `alerts`, `analyze` (and `--follow`) and
`watch` (`workbench.cli` builds the parser and dispatches; this module holds what they do)."""
from __future__ import annotations

from collections import Counter

from workbench import jobs
from workbench.analyzers.dynamics import run_dynamics, run_series, stored_alerts, stored_phases
from workbench.cli_runs import enqueue
from workbench.errors import BadInputError, MissingError
from workbench.families import parse_sets
from workbench.following import follow
from workbench.gates import evaluate_all
from workbench.logimport import import_log
from workbench.pipeline import analyze, check_workers
from workbench.store import Store
from workbench.watch import GATE_FAILED, Watcher
from workbench.watch import run as run_watch


def cmd_import(args) -> int:
    from workbench.importers import import_checkpoint  # torch
    summary = import_checkpoint(args.path, args.family, Store(args.data), id=args.id,
                                format=args.format, epoch=args.epoch, overrides=parse_sets(args.set))
    print(f"imported {args.path} ({summary['format']} layout, p={summary['p']}) as {summary['variant']}: "
          f"{len(summary['epochs'])} checkpoint(s), accuracy on the full {summary['p']}x{summary['p']} grid "
          f"{summary['grid_accuracy']:.4f}")
    print("  read from the file:\n    p, d_model, n_heads, d_head, d_mlp <- the weights' shapes")
    for key, where in summary["read"].items():
        print(f"    {key} <- {where}")
    for key, value in summary["set"].items():
        print(f"    {key} = {value!r} <- --set")
    print("  assumed (the file does not say; the family's values - change them with --set KEY=VALUE):\n    "
          + (", ".join(f"{k} = {v!r}" for k, v in summary["assumed"].items()) or "nothing"))
    if summary["ignored"]:
        print("  read, not used: " + ", ".join(f"{k} = {v!r}" for k, v in summary["ignored"].items()))
    print("  history:" + ("" if summary["history"] else " none in the file (no loss curves, phases or alerts)"))
    for role, where in summary["history"].items():
        print(f"    {role} <- {where}")
    for line in summary["checks"] + [f"note: {n}" for n in summary["notes"]]:
        print(f"  {line}")
    return 0


def cmd_import_log(args) -> int:
    summary = import_log(args.path, Store(args.data), family=args.family, id=args.id, step=args.step,
                         metrics=args.metrics, gates=args.gates, replace=args.replace)
    points = ", ".join(f"{name} ({n:,})" for name, n in summary["series"].items())
    print(f"imported {args.path} as {summary['variant']}: x = {summary['x']}; {points}")
    for note in summary["notes"]:
        print(f"  note: {note}")
    _print_dynamics(summary["phases"], summary["alerts"], summary["gates"],
                    f"workbench alerts {summary['variant']} --all")
    print(f"open it: workbench serve, then /dynamics?variant={summary['variant']}")
    return 0


def cmd_alerts(args) -> int:
    store = Store(args.data)
    for ref in store.resolve(args.variants):
        print(f"{ref}:")
        try:
            series = run_series(store, ref)
        except MissingError as err:  # an imported checkpoint without history: nothing to scan
            print(f"  no events: {err}")
            continue
        artifact = run_dynamics(store, ref)
        gates = args.gates if args.gates is not None else store.info(ref).get("gates", [])
        _print_dynamics(stored_phases(artifact), stored_alerts(artifact), evaluate_all("\n".join(gates), series),
                        None if args.all else f"workbench alerts {ref} --all")
    return 0


SHOWN_ALERTS = 20  # alerts printed in full; the rest are counted by kind and series


def _print_dynamics(phases, alerts, gates, all_command: str | None = None) -> None:
    """Phases, alerts and gates; with `all_command`, at most SHOWN_ALERTS alerts in full, the rest
    counted, and the command that lists them all."""
    events = {"memorization end": phases.memorization_end, "test-loss peak": phases.test_loss_peak,
              "grokking onset": phases.onset, "grok": phases.grok, "cleanup end": phases.cleanup_end}
    print("  phases: " + ", ".join(f"{k} {v:,.0f}" if v is not None else f"{k} -" for k, v in events.items()))
    print(f"  {len(alerts):,} alert(s)" + (":" if alerts else ""))
    shown = alerts[:SHOWN_ALERTS] if all_command else alerts
    for alert in shown:
        print(f"    {alert.summary()}")
    if len(shown) < len(alerts):
        counts = Counter((a.kind, a.series) for a in alerts[len(shown):]).most_common()
        print(f"    ... and {len(alerts) - len(shown):,} more ("
              + ", ".join(f"{n:,} {kind} in {series}" for (kind, series), n in counts[:5])
              + (f", and {len(counts) - 5:,} other kinds and series" if len(counts) > 5 else "")
              + f"); `{all_command}` lists them all")
    for result in gates:
        print(f"  gate {result.gate.text!r} on {result.series}: {result.verdict}")


def parse_epochs(items: list[str] | None) -> list[tuple[int, int]] | None:
    """`["100", "200", "1000-2000"]` -> [(100, 100), (200, 200), (1000, 2000)]: epochs and
    inclusive ranges, kept as ranges (`0-1000000000` is two numbers, not a billion)."""
    if not items:
        return None
    ranges = []
    for item in items:
        lo, _, hi = item.partition("-")
        try:
            first, last = int(lo), int(hi) if hi else int(lo)
        except ValueError:
            raise BadInputError(f"--epochs expects epochs and ranges separated by spaces, e.g. --epochs 100 200 "
                                f"1000-2000; got {item!r}") from None
        if first > last:
            raise BadInputError(f"--epochs {item}: the range runs backwards; write it {last}-{first}")
        ranges.append((first, last))
    return ranges


def epochs_in(ranges: list[tuple[int, int]], checkpoints: list[int], ref) -> list[int]:
    """The checkpoints `--epochs` selects: each single epoch (which must be a checkpoint) and every
    checkpoint inside each range (which must hold one)."""
    chosen = set()
    for first, last in ranges:
        inside = [e for e in checkpoints if first <= e <= last]
        if not inside:
            shown = f"epoch {first}" if first == last else f"epochs {first}-{last}"
            have = f"{len(checkpoints)} from {checkpoints[0]} to {checkpoints[-1]}" if checkpoints else "none"
            raise MissingError(f"--epochs: {ref} has no checkpoint at {shown} (its checkpoints: {have})")
        chosen.update(inside)
    return sorted(chosen)


def names(items: list[str] | None, option: str) -> list[str] | None:
    """A list option's values; a comma inside one is a mistaken separator, refused with the fix."""
    for item in items or []:
        if "," in item:
            raise BadInputError(f"{option} takes values separated by spaces, e.g. {option} "
                                f"{' '.join(n for n in item.split(',') if n)}; got {item!r}")
    return items or None


def cmd_analyze(args) -> int:
    store = Store(args.data)
    analyzers = names(args.analyzers, "--analyzers")
    epochs = parse_epochs(args.epochs)
    check_workers(args.workers)
    if args.follow and (epochs is not None or args.force):
        raise BadInputError("--follow analyzes every checkpoint once, as it lands; it takes no --epochs or --force")
    if args.queue:
        return enqueue(args, store, [jobs.submit_analyze(store, ref, analyzers, args.force, follow=args.follow)
                                      for ref in store.resolve(args.variants)])
    if args.follow:
        for ref in store.resolve(args.variants):
            print(f"{ref}: following its training - each checkpoint is analyzed as it lands (Ctrl-C stops; "
                  f"run this again to continue)", flush=True)
            result = follow(ref, store, analyzers=analyzers, progress=not args.quiet,
                            callback=None if args.quiet else _print_analyzed)
            print(f"{ref}: the run stopped; {result['followed']} checkpoint(s) analyzed as they landed, then "
                  f"{result['epochs_analyzed']} checkpoint(s) and {result['series_analyzed']} series; artifacts in "
                  f"{store.variant_dir(ref) / 'artifacts'}")
        return 0
    for ref in store.resolve(args.variants):
        epochs_here = epochs_in(epochs, store.checkpoint_epochs(ref), ref) if epochs is not None else None
        result = analyze(ref, store, analyzers=analyzers, epochs=epochs_here, force=args.force,
                         progress=not args.quiet, workers=args.workers)
        print(f"{ref}: analyzed {result['epochs_analyzed']} checkpoint(s) and {result['series_analyzed']} "
              f"series ({', '.join(result['analyzers'])}); artifacts in {store.variant_dir(ref) / 'artifacts'}")
    return 0


def _print_analyzed(done, total, what: str) -> None:
    """`analyze --follow`'s progress: one line per checkpoint analyzed while the run trains."""
    if what.startswith("epoch ") and ":" not in what and float(done).is_integer():
        print(f"  {what} analyzed", flush=True)


def cmd_watch(args) -> int:
    store = Store(args.data)
    watcher = Watcher(args.path, step=args.step, metrics=names(args.metrics, "--metrics"), gates=args.gates,
                      store=store, family=args.family, id=args.id)
    print(f"watching {args.path} (Ctrl-C stops); the app shows it as {watcher.ref} (/dynamics)", flush=True)

    def emit(event):
        unit = watcher.x_name or "record"
        print(f"[line {event.line:,}, {unit} {event.seen_x:,.0f}] {event.kind}: {event.text}", flush=True)
    reason = run_watch(watcher, emit, idle=args.idle, stop_on_gate=args.exit_on_gate)
    if watcher.artifact is not None:
        series = ", ".join(f"{name} ({p.n:,})" for name, p in watcher.points.items())
        print(f"{watcher.records:,} records read; {series}")
        _print_dynamics(watcher.phases(), watcher.alerts, [])
    if watcher.failed:
        print(f"failed gates: {'; '.join(watcher.failed)}")
        if args.exit_on_gate:
            return GATE_FAILED
    print({"gate": "stopped: a gate failed", "idle": f"stopped: no new line for {args.idle:g} s",
           "interrupted": "stopped"}[reason])
    return 0
