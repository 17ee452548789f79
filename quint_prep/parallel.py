"""Run per-image tasks side by side: threads of this process, a local pool of spawned
processes, or a Dask cluster.

The parent process decides what to do and records results; workers only compute and write
temporary files. Tasks are started in the order given (the caller puts the widest images
first), as many at once as ``jobs`` allows and, locally, as the memory budget allows.

Work that runs inside libvips (which releases the GIL) runs in THREADS of this process: no
worker start-up (each spawned worker imports the library, ~0.25 s of CPU) and nothing to
pickle; such tasks stop when their ``Cancellation`` is set. Other work runs in worker processes,
SPAWNED, never forked: a forked child of a process that has run a libvips pipeline can
deadlock. Either way each image gets ``cores // jobs`` libvips threads, so the images running
at once use the machine's cores without oversubscribing them. Dask is imported only when a
scheduler address is given (optional extra ``quint-prep[dask]``).
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import ctypes.util
import multiprocessing
import os
import re
import signal
import threading
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator, Sequence, TypeVar

import pyvips

from quint_prep.errors import UsageError

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
DASK_CONNECT_TIMEOUT = "20s"  # how long to try to reach a Dask scheduler
T = TypeVar("T")
R = TypeVar("R")


def parse_memory(text: str) -> int:
    """Parse a memory size such as ``8G``, ``512M`` or ``1.5GiB`` (binary units) into bytes."""
    match = _MEMORY.match(text)
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"memory {text!r} is not a size such as 8G, 512M or 1.5G")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def cpu_cores() -> int:
    """The cores this process may run on (respects taskset, cgroups' affinity and SLURM)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def vips_threads(jobs: int, cores: int) -> int:
    """libvips threads per worker so that ``jobs`` workers together fit ``cores`` (at least 1)."""
    return max(1, cores // max(1, jobs))


@dataclass(frozen=True)
class Workers:
    """Where per-image tasks run.

    ``jobs``: how many images at once (None: the caller's default locally, see
    ``default_jobs``; every worker thread on a cluster);
    ``memory``: local budget in bytes for the images running at once (None: no limit);
    ``scheduler``: a Dask scheduler address (``tcp://host:8786``); None runs locally.
    """

    jobs: int | None = None
    memory: int | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        if self.jobs is not None and self.jobs < 1:
            raise UsageError(f"--jobs {self.jobs}: give at least 1")
        if self.memory is not None and self.scheduler is not None:
            raise UsageError("--memory limits the local pool; on a Dask cluster set each worker's "
                             "memory instead (dask worker --memory-limit, or memory= in dask-jobqueue)")
        if self.scheduler is not None and "://" not in self.scheduler:
            raise UsageError(f"--scheduler {self.scheduler!r} is not an address such as "
                             "tcp://HOST:8786")

    @property
    def in_process(self) -> bool:
        """True when tasks run one after the other in this process (no pool, no cluster)."""
        return self.scheduler is None and (self.jobs or 1) == 1

    def with_default_jobs(self, jobs: int) -> "Workers":
        """These workers, with ``jobs`` when none was asked for (locally; a cluster's default
        stays every worker thread)."""
        if self.jobs is not None or self.scheduler is not None:
            return self
        return replace(self, jobs=jobs)


def default_jobs(megapixels: Sequence[float], cores: int, *, largest: float) -> int:
    """Images at once when --jobs is not given: one per core (at most one per image) when
    every image is at most ``largest`` megapixels, else 1.

    One image decodes on about one core (striped TIFF, JPEG and PNG decode on one thread), so
    a series of small images leaves the other cores idle; images above ``largest`` run one at
    a time with their own progress bar and without doubling the peak memory.
    """
    if len(megapixels) < 2 or max(megapixels) > largest:
        return 1
    return max(1, min(cores, len(megapixels)))


@dataclass(frozen=True)
class Completed:
    """One finished task: its index in the submitted list, and its value or what went wrong."""

    index: int
    value: Any = None
    error: str = ""


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM during a short step that must not be cut in two; the
    KeyboardInterrupt is raised when the step ends. Outside the main thread (where Python
    runs signal handlers) this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: received.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    if received:
        raise KeyboardInterrupt


def run_interruptibly(build: Callable[[], T], run: Callable[[T], R], *,
                      kill: Callable[[T], None]) -> R:
    """``run(build())`` in a helper thread while this thread only waits; on Ctrl-C, ``kill``.

    A signal that arrives during a libvips call is raised at the next Python code to run, which
    is often a libvips log or progress callback, where cffi swallows the KeyboardInterrupt and
    the work goes on. Waiting here makes Ctrl-C (and SIGTERM, see
    cli.common.sigterm_as_interrupt) land in this thread; what was built is then killed and the
    helper has finished before the KeyboardInterrupt propagates (so the caller's clean-up, e.g.
    atomic_output removing its temporary, runs after the last write).
    """
    lock, stop, finished = threading.Lock(), threading.Event(), threading.Event()
    built: list[T] = []
    outcome: list[R | BaseException] = []

    def work() -> None:
        try:
            with lock:
                if stop.is_set():
                    return
                built.append(build())
            outcome.append(run(built[0]))
        except BaseException as error:  # noqa: BLE001 - handed to the waiting thread
            outcome.append(error)
        finally:
            finished.set()

    try:
        threading.Thread(target=work, name="quint-prep-work", daemon=True).start()
        finished.wait()
    except KeyboardInterrupt:
        with lock:
            stop.set()
            for thing in built:
                kill(thing)
        if built:
            finished.wait()
        raise
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's per-thread malloc arenas (like MALLOC_ARENA_MAX) for this process.

    libvips worker threads each grow their own arena, and memory freed between the passes of
    a command stays in them. Measured on ``masks --max-size 14000x10000`` of a 30000 x 20000
    uint16 Cellpose TIFF: 507-598 MB peak RSS by default, 414-422 MB with this call (378 MB
    with MALLOC_ARENA_MAX=2 in the environment), same wall time.
    Call it before libvips starts threads. Returns False where there is no glibc (no effect).
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def turn_off_vips_cache() -> None:
    """Turn off libvips' operation cache for this process; call it where a process starts its
    work (the command line's ``main``, every worker).

    Batch work reads each image once, so cached operations of finished images only hold
    memory, and a file that is rewritten (an output replaced, a rename) must never be served
    from the cache of an earlier open.
    """
    pyvips.cache_set_max(0)


class Cancellation:
    """Stops the libvips pipelines of tasks running in threads of this process: each task
    ``watch``es its pipeline while it runs, and ``cancel`` kills every watched pipeline (and
    any watched later), so the task fails at once and cleans up after itself."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watched: dict[int, pyvips.Image] = {}
        self._cancelled = False

    @property
    def cancelled(self) -> bool:
        """True once ``cancel`` was called."""
        return self._cancelled

    def watch(self, image: pyvips.Image) -> None:
        """Kill ``image`` when the run is cancelled (at once if it already was)."""
        with self._lock:
            if self._cancelled:
                image.set_kill(True)
            else:
                self._watched[id(image)] = image

    def release(self, image: pyvips.Image) -> None:
        """Stop watching ``image`` (its task has finished)."""
        with self._lock:
            self._watched.pop(id(image), None)

    def cancel(self) -> None:
        """Kill every watched pipeline, and every one watched from now on."""
        with self._lock:
            self._cancelled = True
            for image in self._watched.values():
                image.set_kill(True)
            self._watched.clear()


def _init_local_worker(threads: int) -> None:
    # Ctrl-C reaches the whole process group: only the parent reacts (it terminates the pool
    # and removes temporaries), so a worker never dies half-way through its own clean-up.
    limit_malloc_arenas()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pyvips.concurrency_set(threads)
    turn_off_vips_cache()


class _LocalBackend:
    """A ProcessPoolExecutor with the spawn start method."""

    def __init__(self, jobs: int) -> None:
        self.capacity = jobs
        self._executor = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.capacity, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_local_worker, initargs=(vips_threads(self.capacity, cpu_cores()),))

    def submit(self, function: Callable[[Any], Any], item: Any) -> cf.Future:
        try:
            return self._executor.submit(function, item)
        except cf.process.BrokenProcessPool:
            # A worker died (killed for memory?): its images are reported failed, the rest go on.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._start()
            return self._executor.submit(function, item)

    def wait(self, futures: Sequence[cf.Future]) -> list[cf.Future]:
        done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def close(self, abort: bool, running: Sequence[cf.Future]) -> None:
        if not abort:
            self._executor.shutdown(wait=True)
            return
        # Python 3.14 has terminate_workers(); before it, the processes are only reachable
        # here, and shutdown() forgets them: take them first.
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)


class _ThreadBackend:
    """A ThreadPoolExecutor for tasks that run in libvips; aborting cancels their pipelines.
    libvips' thread count is global: it is set for the run and put back when it ends."""

    def __init__(self, jobs: int, cancellation: Cancellation) -> None:
        self.capacity = jobs
        self._cancellation = cancellation
        self._threads_before = pyvips.concurrency_get()
        pyvips.concurrency_set(vips_threads(jobs, cpu_cores()))
        self._executor = cf.ThreadPoolExecutor(max_workers=jobs,
                                               thread_name_prefix="quint-prep-image")

    def submit(self, function: Callable[[Any], Any], item: Any) -> cf.Future:
        return self._executor.submit(function, item)

    def wait(self, futures: Sequence[cf.Future]) -> list[cf.Future]:
        done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def close(self, abort: bool, running: Sequence[cf.Future]) -> None:
        try:
            if abort:
                self._cancellation.cancel()
            # Every task has returned (a cancelled one after removing its temporary file)
            # before the caller's clean-up runs; a second Ctrl-C here is held back.
            with interrupts_deferred():
                self._executor.shutdown(wait=True, cancel_futures=True)
        finally:
            pyvips.concurrency_set(self._threads_before)


def run_tasks(function: Callable[[Any], Any], items: Sequence[Any], *, costs: Sequence[int],
              workers: Workers, cancellation: Cancellation | None = None) -> Iterator[Completed]:
    """Run ``function(item)`` for every item in workers; yield each as it completes.

    Locally, tasks run in spawned worker processes; given a ``cancellation``, in threads of
    this process instead (for functions that spend their time in libvips, which releases the
    GIL, and stop when the cancellation is cancelled: see ``Cancellation``). Items start in the
    given order, at most ``workers.jobs`` at once and, with a memory budget, only while the sum
    of the running items' ``costs`` stays within it (an item larger than the whole budget runs
    alone). A task that raises is yielded with its error; closing the generator (or Ctrl-C)
    cancels what has not finished and stops the workers.
    """
    if workers.scheduler:
        backend: Any = _DaskBackend(workers)
    elif cancellation is not None:
        backend = _ThreadBackend(workers.jobs or 1, cancellation)
    else:
        backend = _LocalBackend(workers.jobs or 1)
    pending = list(range(len(items)))
    running: dict[Any, int] = {}
    finished = False
    try:
        while pending or running:
            for index in _startable(pending, running, costs, backend.capacity, workers.memory):
                pending.remove(index)
                running[backend.submit(function, items[index])] = index
            for future in backend.wait(list(running)):
                yield _completed(running.pop(future), future)
        finished = True
    finally:
        backend.close(abort=not finished, running=list(running))


def _startable(pending: list[int], running: dict[Any, int], costs: Sequence[int], capacity: int,
               budget: int | None) -> list[int]:
    """Which pending items may start now: first come first, within slots and the budget."""
    chosen: list[int] = []
    used = sum(costs[i] for i in running.values())
    for index in pending:
        if len(running) + len(chosen) >= capacity:
            break
        busy = bool(running or chosen)
        if budget is not None and busy and used + costs[index] > budget:
            continue
        chosen.append(index)
        used += costs[index]
    return chosen


def _completed(index: int, future: Any) -> Completed:
    try:
        return Completed(index, value=future.result())
    except cf.BrokenExecutor:  # BrokenProcessPool (cf.process is loaded only with a pool)
        return Completed(index, error="the worker process died (killed, perhaps for lack of "
                                      "memory: lower --jobs or set --memory)")
    except Exception as error:  # noqa: BLE001 - reported per image, the series goes on
        return Completed(index, error=f"worker failed: {type(error).__name__}: {error}")


def _configure_dask_worker() -> None:
    """Give this Dask worker process cores // worker-threads libvips threads (idempotent)."""
    from distributed import get_worker

    threads = vips_threads(get_worker().state.nthreads, cpu_cores())
    if pyvips.concurrency_get() != threads:
        pyvips.concurrency_set(threads)
    turn_off_vips_cache()


def _on_dask_worker(function: Callable[[Any], Any], item: Any) -> Any:
    _configure_dask_worker()
    return function(item)


class _DaskBackend:
    """Tasks on a Dask distributed cluster; workers must see the same paths (shared storage)."""

    def __init__(self, workers: Workers) -> None:
        try:
            import distributed
        except ImportError as error:
            raise UsageError("--scheduler needs Dask: pip install 'quint-prep[dask]' "
                             "(dask[distributed]) on this machine and on the workers") from error
        self._distributed = distributed
        try:
            self._client = distributed.Client(workers.scheduler, timeout=DASK_CONNECT_TIMEOUT,
                                              set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise UsageError(f"cannot reach the Dask scheduler at {workers.scheduler}: {error}") from error
        threads = sum(self._client.nthreads().values())
        self.capacity = workers.jobs or max(1, threads)
        self._finished = distributed.as_completed(loop=self._client.loop)

    def submit(self, function: Callable[[Any], Any], item: Any) -> Any:
        future = self._client.submit(_on_dask_worker, function, item, pure=False)
        self._finished.add(future)
        return future

    def wait(self, futures: Sequence[Any]) -> list[Any]:
        first = next(self._finished)
        return [first, *self._finished.next_batch(block=False)]

    def close(self, abort: bool, running: Sequence[Any]) -> None:
        # Cancelled tasks that already run finish on their worker; what they write stays a
        # temporary file, which the next run in that folder removes.
        try:
            if abort and running:
                self._client.cancel(list(running))
        finally:
            self._client.close()
