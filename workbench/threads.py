"""How many CPU threads a process that computes uses: training, analysis, the app's jobs, workers.

Measured on 2 cores (docs/performance.md#threads): one training of the demo family runs 18-24 ms
per epoch with two torch threads and 28-31 ms with one; two trainings at once with two threads
each ran 65-860 ms per epoch each (OpenMP threads spinning at barriers while the other process
holds the core), with one thread each 30-32 ms; beside a busy process two threads ran 55-90 ms,
one thread 30-32 ms. No fixed count is right: two threads are best alone, one as soon as
anything else computes. So:

- intra-op threads: the cores nobody else is using, re-measured every couple of seconds while a
  training or an in-process analysis runs (`Governor`: the machine's busy time from /proc/stat
  minus this process's own CPU time and niced processes' time), at least 1, at most the
  process's limit.
- results do not depend on it: MKL's strict conditional numerical reproducibility
  (MKL_CBWR=AUTO,STRICT) makes its matrix products, the only thread-dependent step of training
  measured here (the weight gradients, summed over the batch), bitwise the same for any thread
  count; it cost 0-7 % of a p = 113 epoch. Where that cannot be known (torch without MKL, torch
  loaded before workbench set the variable, or a CPU on which MKL does not keep it for the run's
  precision: a probe, `thread_invariant`) the count is left as it is (torch's default), as before,
  within the process's limit (jobs that share the machine).
- OpenMP wait policy: threads spin at most GOMP_SPINCOUNT=30000 times at a barrier, then sleep
  (libgomp's default, 300,000, is what collapses; two trainings at two threads each then ran
  41-140 ms per epoch instead of 65-860, alone as fast as the default). OMP_WAIT_POLICY=PASSIVE
  avoids the collapse too, but one training alone ran 35-43 ms, slower than one thread.
- interop threads: 1 (nothing here runs torch ops in parallel with each other).
- NumPy's BLAS: 1 thread (OPENBLAS_NUM_THREADS at entry; threadpoolctl, when installed, also for
  a NumPy loaded before workbench); analysis worker pools run one single-threaded process per
  free core.
- an override wins: $WORKBENCH_THREADS=N (or `workbench --threads N ...`, which sets it for the
  command and every process it starts) fixes torch's threads, and NumPy's, at N.

Variables that are read only when torch, OpenMP, MKL or NumPy load are set by
`prepare_environment`, which `import workbench` runs, so every entry point and every worker
process (they inherit the environment) has them. A variable the user set is never changed.
"""
from __future__ import annotations

import os
import sys
import time

from workbench.errors import BadInputError

try:  # optional: sets NumPy's BLAS threads also when NumPy was loaded before workbench
    from threadpoolctl import threadpool_limits
except ImportError:
    threadpool_limits = None

VARIABLE = "WORKBENCH_THREADS"
SPIN_COUNT = "30000"
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
REPRODUCIBLE = ("MKL_CBWR", "AUTO,STRICT")
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS",)
EVERY_SECONDS = 1.0   # a Governor's window: it re-measures the machine and its own speed this often
FIRST_SECONDS = 0.25  # its first window
MIN_TICKS = 3         # ... and at least this many units of work per window
LOOK_SECONDS = 0.05   # a look at the machine before work starts (5 clock ticks per core: 0 and 1 busy core differ clearly)
RECENT_SECONDS = 1.0  # a look this recent (by `available`, or the process's start-up) is not repeated
PROBE_WINDOWS = 10    # every this many windows it tries the neighbouring thread count (FIRST_SECONDS),
PROBE_MARGIN = 1.05   # keeps it when it ran this much faster,
MAX_PROBE_WINDOWS = 80  # and else waits twice as long before the next try, up to this
_ENTRY: tuple[float, float, float] | None = None  # (wall, machine busy, own CPU) when workbench was imported
_looked: tuple[float, int] | None = None  # (when, free cores) of the last look at the machine
_interop_set = False
_limit: int | None = None  # this process's cap (`set_limit`)
_strict_before_torch = False  # MKL_CBWR asked for strict reproducibility before torch loaded MKL
_invariant: dict[str, bool] = {}  # dtype -> whether products came out the same at 1 and 2 threads
PROBE_SHAPES = ((4, 961, 128), (128, 961, 512), (59, 3830, 128))  # (m, k, n): k is the batch


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def pinned(environ=None) -> int | None:
    """The user's fixed thread count ($WORKBENCH_THREADS, set by --threads too); None: automatic."""
    value = (os.environ if environ is None else environ).get(VARIABLE, "").strip().lower()
    if value in ("", "auto"):
        return None
    if not value.isdigit() or int(value) < 1:
        raise BadInputError(f"${VARIABLE} (or --threads) must be a positive number of threads or 'auto'; "
                            f"got {value!r}")
    return int(value)


def prepare_environment(environ=None) -> None:
    """Set, before torch or NumPy load, what they read only then: the bounded OpenMP spin and
    NumPy's BLAS threads (see the module docstring). Values the user set stay."""
    global _ENTRY, _strict_before_torch
    env = os.environ if environ is None else environ
    if not any(k in env for k in WAIT_VARIABLES):
        env["GOMP_SPINCOUNT"] = SPIN_COUNT
    inherited = REPRODUCIBLE[0] in env  # then it was there when this process started, before torch
    env.setdefault(*REPRODUCIBLE)
    fixed = pinned(env) if env.get(VARIABLE, "").strip().isdigit() else None
    for key in BLAS_VARIABLES:
        env.setdefault(key, str(fixed or 1))
    if environ is None and _ENTRY is None:
        _ENTRY = _sample()
        _strict_before_torch = "STRICT" in env["MKL_CBWR"].upper() and ("torch" not in sys.modules or inherited)


def set_override(value: int | str | None) -> None:
    """`--threads`: fix the thread count for this process and every process it starts."""
    if value is not None:
        pinned({VARIABLE: str(value)})  # refuse a bad value before it is set
        os.environ[VARIABLE] = str(value)


def set_limit(n: int | None) -> None:
    """Cap this process's threads (a job on a machine that runs several jobs at once)."""
    global _limit
    _limit = max(1, n) if n else None


def _sample() -> tuple[float, float, float] | None:
    """(wall time, CPU seconds the machine was busy with work that competes with this process,
    CPU seconds of this process)."""
    try:
        with open("/proc/stat", "rb") as f:
            fields = f.readline().split()
    except OSError:
        return None
    return time.monotonic(), busy_ticks([int(x) for x in fields[1:9]], os.nice(0)) / _TICKS, time.process_time()


def busy_ticks(ticks: list[int], own_nice: int) -> int:
    """The busy ticks of /proc/stat's first line (user nice system idle iowait irq softirq steal)
    that compete with a process at `own_nice`: all but idle and iowait, and without the niced
    processes' time ("nice") when this one is not niced itself - they yield to it."""
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy - ticks[1] if own_nice <= 0 else busy


try:
    _TICKS = os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):
    _TICKS = 100


def free_cores(before, after) -> float | None:
    """Cores not used by other processes between two samples (this process's use counts as free)."""
    if before is None or after is None or after[0] - before[0] <= 0:
        return None
    others = ((after[1] - before[1]) - (after[2] - before[2])) / (after[0] - before[0])
    return min(max(cores() - others, 0.0), float(cores()))


def choose(free: float | None, limit: int | None = None) -> int:
    """Threads for `free` idle cores: rounded, at least 1, at most `limit` (default: all cores)."""
    top = max(1, min(limit or cores(), cores()))
    return top if free is None else max(1, min(top, int(free + 0.5)))


def available(window: float = LOOK_SECONDS) -> int:
    """Free cores now, as a whole number >= 1: measured since `import workbench` when that was
    recently, else over `window` seconds (a look less than RECENT_SECONDS old is reused). What a
    worker pool sizes itself to, and where a Governor starts."""
    global _looked
    fixed = pinned()
    if fixed:
        return min(fixed, cores())
    now = _sample()
    if _looked and now and now[0] - _looked[0] <= RECENT_SECONDS:
        return _looked[1]
    start = _ENTRY
    if start is None or now is None or not FIRST_SECONDS <= now[0] - start[0] <= 30:
        start = now
        time.sleep(window if now is not None else 0)
        now = _sample()
    free = choose(free_cores(start, now))
    if now is not None:
        _looked = (now[0], free)
    return free


def _torch():
    return sys.modules.get("torch")


def thread_invariant(dtype: str = "float32") -> bool:
    """Whether torch's results in `dtype` ("float32", "float64") are the same here for any thread
    count (module docstring): MKL was asked for strict reproducibility before torch loaded it, and
    it keeps that promise on this CPU - matrix products shaped like training's (a weight gradient
    summed over the batch) come out bitwise the same at one and two threads. (On an AMD EPYC with
    AVX-512 MKL keeps it for float32 and not for float64.) Probed once per process and dtype."""
    torch = _torch()
    if not (_strict_before_torch and torch is not None and torch.backends.mkl.is_available()):
        return False
    if dtype not in _invariant:
        _invariant[dtype] = _same_at_any_count(torch, getattr(torch, dtype))
    return _invariant[dtype]


def _same_at_any_count(torch, dtype) -> bool:
    """Products of (batch-summing) shapes at p = 31 and p = 113 at one and two threads, bitwise equal."""
    generator = torch.Generator().manual_seed(0)
    pairs = [(torch.randn(m, k, generator=generator, dtype=dtype), torch.randn(k, n, generator=generator, dtype=dtype))
             for m, k, n in PROBE_SHAPES]
    saved, products = torch.get_num_threads(), []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            products.append([a @ b for a, b in pairs])
    finally:
        torch.set_num_threads(saved)
    return all(torch.equal(x, y) for x, y in zip(*products))


def _set_torch(n: int) -> None:
    global _interop_set
    import torch  # heavy: only where torch computes
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if not _interop_set:
        _interop_set = True
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:  # the interop pool already started (a notebook ran torch before)
            pass


def _set_blas(n: int) -> None:
    if threadpool_limits is not None:
        threadpool_limits(n, user_api="blas")


def worker_setup() -> None:
    """In an analysis worker process (one per core): one thread, or the user's fixed count.
    Analysis results were measured not to depend on it."""
    n = pinned() or 1
    _set_torch(n)
    _set_blas(n)


class Governor:
    """Keeps this process's torch threads where its work goes fastest without taking cores others
    use. It starts with the free cores (`available`: a 0.05 s look, or one just taken). Call
    `tick()` once per unit of work (an epoch, a checkpoint); at the end of each window (at least
    EVERY_SECONDS and MIN_TICKS) it looks at two things:
    - the cores other processes used (/proc/stat minus this process's CPU time; niced processes'
      time does not count, they yield): when fewer are free than it has threads, or more are free
      and the other count's speed is unknown, it moves to the free count;
    - its own speed (ticks per second) at each count: every PROBE_WINDOWS windows it tries the
      neighbouring count for a short window and keeps whichever ran faster (by PROBE_MARGIN);
      after a failed try it waits twice as long. That catches what CPU time cannot tell: a core
      kept busy by work that yields to this one anyway, or one more thread that does not pay.
      Not sooner: on a run of a few seconds a try costs more than it can win.
    With $WORKBENCH_THREADS set it applies that number; where results in `dtype` (the precision
    the work computes in) would depend on the count (`thread_invariant`) it leaves torch's count
    as it is, capped at `limit`, so a resumed run repeats the first; neither is re-measured.

    `limit`: at most this many threads (also capped by `set_limit` and the cores)."""

    def __init__(self, limit: int | None = None, every: float = EVERY_SECONDS, dtype: str = "float32"):
        import torch  # heavy: whoever makes a Governor computes with torch
        self.limit, self.every = min(x for x in (limit, _limit, cores()) if x), every
        self.fixed, self.sample, self.adaptive = pinned(), _sample(), False
        self.rates: dict[int, float] = {}  # threads -> ticks per second, since others last changed
        self.windows, self.probe_from, self.ticks, self.start, self.last_free = 0, None, 0, None, None
        self.since_probe, self.probe_every = 0, PROBE_WINDOWS
        _set_blas(self.fixed or 1)
        if self.fixed:
            self.threads = self.fixed
        elif self.sample is None or not thread_invariant(dtype):
            # As it is (torch's default, or the caller's), within the limit: a count that does not
            # depend on who else computes, so a resumed run repeats the first; the limit keeps jobs
            # run side by side from spinning against each other (2 threads each: 5x slower).
            self.threads = min(torch.get_num_threads(), self.limit)
        else:
            self.adaptive = True
            self.threads = min(available(), self.limit)
            self.sample = _sample()
        self._apply()

    def _apply(self) -> None:
        _set_torch(self.threads)

    def tick(self) -> int:
        """The thread count to run the next unit of work with; cheap except at a window's end."""
        if not self.adaptive:
            return self.threads
        now = time.monotonic()
        if self.start is None:
            self.start, self.ticks = now, 0
            return self.threads
        self.ticks += 1
        short = not self.windows or self.probe_from is not None  # the first window and tries are short
        if now - self.start < (FIRST_SECONDS if short else self.every) or self.ticks < MIN_TICKS:
            return self.threads
        self._decide(now, self.ticks / (now - self.start))
        self.start, self.ticks, self.windows = now, 0, self.windows + 1
        return self.threads

    def _decide(self, now: float, rate: float) -> None:
        sample = _sample()
        free = choose(free_cores(self.sample, sample), self.limit)
        self.sample, self.since_probe = sample, self.since_probe + 1
        if free != self.last_free:  # others started or stopped: speeds measured before say little
            self.rates, self.last_free = {}, free
        self.rates[self.threads] = rate
        if self.probe_from is not None:  # a probe window just ended: keep the faster count
            before, before_rate = self.probe_from
            self.probe_from = None
            if rate < before_rate * PROBE_MARGIN:
                self.threads, self.probe_every = before, min(self.probe_every * 2, MAX_PROBE_WINDOWS)
            else:
                self.probe_every = PROBE_WINDOWS
        elif free < self.threads or (free > self.threads and free not in self.rates):
            self.threads = free  # others took cores, or left some and that count's speed is unknown
        elif self.since_probe >= self.probe_every:
            neighbour = self.threads + 1 if self.threads < self.limit else self.threads - 1
            if neighbour >= 1 and neighbour != self.threads:
                self.probe_from, self.threads, self.since_probe = (self.threads, rate), neighbour, 0
        self._apply()


def report() -> dict:
    """This process's thread settings, as `workbench` applies them (for tests and bug reports)."""
    import torch  # heavy: the settings are torch's
    return {"torch": torch.get_num_threads(), "pinned": pinned(),
            "invariant": {dtype: thread_invariant(dtype) for dtype in ("float32", "float64")},
            **{k: os.environ.get(k) for k in (VARIABLE, *WAIT_VARIABLES, REPRODUCIBLE[0], *BLAS_VARIABLES)}}
