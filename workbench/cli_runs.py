"""The `workbench` commands that start runs: train, extend, jobs and worker (and queueing any job
on Celery with --queue). Each ends in one line the user can act on; see `workbench.cli`.
Training imports torch, so `workbench.training` is imported by the commands that train."""
from __future__ import annotations

from workbench import jobs
from workbench.errors import BadInputError, ConflictError
from workbench.families import load_family, parse_sets
from workbench.store import Store
from workbench.worker import BROKER_VARIABLE, broker_url, enqueue_jobs


LIST_OPTIONS = {"p": "--p", "seed": "--seed", "data_seed": "--data-seed"}


def _variants(args) -> list:
    """The variants the command names: every combination of the listed primes, seeds and data seeds."""
    overrides = parse_sets(args.set)
    for key, option in LIST_OPTIONS.items():
        values = getattr(args, key)
        given = [k for k in overrides if k in (key, f"domain.{key}")]
        if values and given:
            raise BadInputError(f"{key} is given twice: {option} {' '.join(map(str, values))} and --set "
                                f"{given[0]}={overrides[given[0]]!r}; give it once")
    return load_family(args.family).sweep(overrides, p=args.p, seed=args.seed, data_seed=args.data_seed)


def cmd_train(args) -> int:
    from workbench.training import train  # torch
    store = Store(args.data)
    if args.queue:
        submitted = []
        for variant in _variants(args):
            try:
                submitted.append(jobs.submit_train(store, variant))
            except ConflictError as err:
                print(f"skipped: {err}")
        return enqueue(args, store, submitted)
    for variant in _variants(args):
        info = train(variant, store, device=args.device, progress=not args.quiet)
        final = info.get("final", {})
        print(f"{variant.ref}: {info['status']} - train loss {final.get('train_loss', float('nan')):.3g}, "
              f"test accuracy {final.get('test_acc', float('nan')):.4f} ({info.get('train_seconds', 0):.0f} s); "
              f"data in {store.variant_dir(variant.ref)}")
    return 0


def enqueue(args, store, submitted: list[dict]) -> int:
    broker = broker_url(args.broker)
    if not broker:
        raise BadInputError(f"--queue needs a Celery broker: pass --broker redis://HOST:6379/0 or set "
                            f"{BROKER_VARIABLE}")
    enqueue_jobs(broker, store.root, [job["id"] for job in submitted])
    for job in submitted:
        print(f"queued job {job['id']}: {job['kind']} {job['target']}")
    print(f"{len(submitted)} job(s) sent to {broker}; `workbench jobs` shows their progress")
    return 0


def cmd_extend(args) -> int:
    from workbench.training import extend  # torch
    store = Store(args.data)
    window = _window(args.window, args.every) if args.window else None
    if (args.to_epoch is None) == (window is None):
        raise BadInputError("give either --to-epoch N (train on to epoch N) or --window START-STOP --every K")
    for ref in store.resolve(args.variants):
        if args.queue:
            enqueue(args, store, [jobs.submit_extend(store, ref, args.to_epoch, window)])
            continue
        info = extend(ref, store, epochs=args.to_epoch, window=window, device=args.device, progress=not args.quiet)
        print(f"{ref}: {info['status']}, {len(store.checkpoint_epochs(ref))} checkpoints up to epoch "
              f"{info['spec']['training']['epochs']}; extensions: {info['extensions'][-1]}")
    return 0


def _window(text: str, every: int | None) -> tuple[int, int, int]:
    try:
        start, stop = (int(x) for x in text.split("-"))
    except ValueError:
        raise BadInputError(f"--window expects START-STOP, e.g. 1000-2000; got {text!r}") from None
    if not every:
        raise BadInputError("--window needs --every K (checkpoint interval inside the window)")
    return start, stop, every


def cmd_jobs(args) -> int:
    store = Store(args.data)
    if args.limit < 1:
        raise BadInputError(f"--limit {args.limit}: give a positive number of jobs to list, e.g. 30")
    if args.action != "list" and not args.job:
        raise BadInputError(f"`workbench jobs {args.action}` needs a job id; `workbench jobs` lists them")
    if args.action == "cancel":
        job = jobs.cancel(store, args.job)
        print(f"job {job['id']}: cancel requested ({job['state']})")
        return 0
    if args.action == "resume":
        job = jobs.resume(store, args.job)
        if args.queue:
            return enqueue(args, store, [job])
        job = jobs.execute(store, job["id"])
        print(f"job {job['id']}: {job['state']} - {job.get('message') or job.get('error')}")
        return 0 if job["state"] == "done" else 1
    for job in jobs.listing(store, limit=args.limit):
        progress = job.get("progress") or {}
        done = f"{progress['done']}/{progress['total']}" if progress.get("total") else ""
        detail = job.get("error") or job.get("message") or progress.get("text", "")
        print(f"{job['id']}  {job['state']:<9} {job['kind']:<7} {job['target']}  {done}  {detail}")
    return 0


def cmd_worker(args) -> int:
    from workbench.serving import run_worker  # Dash and Celery
    if args.concurrency < 1:
        raise BadInputError(f"--concurrency {args.concurrency}: give a positive number of jobs at once, e.g. 1")
    broker = broker_url(args.broker)
    if not broker:
        raise BadInputError(f"a worker needs a Celery broker: pass --broker redis://HOST:6379/0 or set "
                            f"{BROKER_VARIABLE}")
    run_worker(broker, str(Store(args.data).root), concurrency=args.concurrency)
    return 0
