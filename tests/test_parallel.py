import functools
import os
import signal
import threading
import time

import pytest

from quint_prep.errors import UsageError
import pyvips

from quint_prep.parallel import (Cancellation, Workers, _startable, default_jobs,
                                 interrupts_deferred, parse_memory, run_interruptibly, run_tasks,
                                 vips_threads)


@pytest.mark.parametrize("text, expected", [("8G", 8 * 1024**3), ("512M", 512 * 1024**2),
                                            ("1.5GiB", int(1.5 * 1024**3)), ("100", 100),
                                            ("2 gb", 2 * 1024**3)])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "G", "-1G", "0", "8X", "eight"])
def test_parse_memory_rejects(text):
    with pytest.raises(UsageError, match="is not a size such as 8G"):
        parse_memory(text)


@pytest.mark.parametrize("jobs, cores, threads", [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 8, 4),
                                                  (3, 8, 2)])
def test_vips_threads_fit_the_cores(jobs, cores, threads):
    assert vips_threads(jobs, cores) == threads


def test_startable_respects_slots_and_memory_budget():
    costs = [6, 5, 3, 2, 1]
    assert _startable([0, 1, 2, 3, 4], {}, costs, capacity=2, budget=None) == [0, 1]
    # Budget 10: the 6 starts, the 5 waits, the 3 fits beside it.
    assert _startable([0, 1, 2, 3, 4], {}, costs, capacity=3, budget=10) == [0, 2, 4]
    # An image bigger than the whole budget runs, but alone.
    assert _startable([0, 1], {}, [20, 1], capacity=2, budget=10) == [0]
    assert _startable([1], {"f": 0}, [20, 1], capacity=2, budget=10) == []
    assert _startable([1], {}, [20, 1], capacity=2, budget=10) == [1]


def test_workers_options_are_checked():
    assert Workers().in_process and Workers(jobs=1).in_process
    assert not Workers(jobs=2).in_process and not Workers(scheduler="tcp://h:8786").in_process
    with pytest.raises(UsageError, match="on a Dask cluster set each worker's memory"):
        Workers(memory=10, scheduler="tcp://h:8786")
    with pytest.raises(UsageError, match="is not an address such as tcp://HOST:8786"):
        Workers(scheduler="localhost")


@pytest.mark.parametrize("megapixels, cores, jobs", [
    ([27.0] * 12, 2, 2), ([27.0] * 12, 8, 8), ([27.0] * 3, 8, 3), ([27.0], 2, 1), ([], 2, 1),
    ([27.0] * 12, 1, 1), ([27.0, 100.0], 2, 2), ([27.0, 100.5], 2, 1), ([1200.0] * 4, 2, 1)])
def test_default_jobs_one_per_core_for_small_images_only(megapixels, cores, jobs):
    assert default_jobs(megapixels, cores, largest=100.0) == jobs


def test_default_jobs_apply_only_where_none_were_asked_for():
    assert Workers().with_default_jobs(2) == Workers(jobs=2)
    assert Workers(memory=5).with_default_jobs(2) == Workers(jobs=2, memory=5)
    assert Workers(jobs=1).with_default_jobs(2) == Workers(jobs=1)
    cluster = Workers(scheduler="tcp://h:8786")
    assert cluster.with_default_jobs(2) == cluster  # a cluster's default: every worker thread


def slow_pipeline() -> pyvips.Image:
    """A pipeline that takes many seconds to compute (16 s on 2 loaded cores) unless killed."""
    noise = pyvips.Image.gaussnoise(4000, 4000)
    return noise.conv(pyvips.Image.gaussmat(8, 0.1)).conv(pyvips.Image.gaussmat(8, 0.1))


def test_cancellation_kills_watched_pipelines_and_later_ones():
    cancellation = Cancellation()
    running, outcome = slow_pipeline(), []

    def compute() -> None:
        cancellation.watch(running)
        try:
            running.avg()
            outcome.append("finished")
        except pyvips.Error:
            outcome.append("killed")
        finally:
            cancellation.release(running)

    worker = threading.Thread(target=compute)
    worker.start()
    time.sleep(0.2)
    cancellation.cancel()
    worker.join(60)
    assert outcome == ["killed"] and cancellation.cancelled  # not the seconds to finish
    later = slow_pipeline()
    cancellation.watch(later)  # watched after the cancel: killed at once
    with pytest.raises(pyvips.Error):
        later.avg()


def record_threads(log: list, lock: threading.Lock, item: int) -> int:
    """A task that notes which thread ran it and how many tasks ran at once."""
    with lock:
        log.append(("start", item, threading.current_thread().name))
    time.sleep(0.05)
    with lock:
        log.append(("end", item, threading.current_thread().name))
    if item == 3:
        raise ValueError("bad item")
    return item * 10


def most_at_once(log: list) -> int:
    running = peak = 0
    for event, _item, _thread in log:
        running += 1 if event == "start" else -1
        peak = max(peak, running)
    return peak


def test_tasks_with_a_cancellation_run_in_threads_within_slots_and_budget():
    log: list = []
    task = functools.partial(record_threads, log, threading.Lock())
    threads_before = pyvips.concurrency_get()
    results = {done.index: done for done in run_tasks(
        task, [1, 2, 3, 4, 5, 6], costs=[1] * 6, workers=Workers(jobs=2),
        cancellation=Cancellation())}
    assert {i: r.value for i, r in results.items() if not r.error} == {
        0: 10, 1: 20, 3: 40, 4: 50, 5: 60}
    assert results[2].error == "worker failed: ValueError: bad item"
    assert all(name.startswith("quint-prep-image") for _, _, name in log)
    assert most_at_once(log) == 2
    assert pyvips.concurrency_get() == threads_before  # libvips' thread count is put back
    log.clear()
    list(run_tasks(task, [1, 2, 4], costs=[6, 6, 6], workers=Workers(jobs=2, memory=10),
                   cancellation=Cancellation()))
    assert most_at_once(log) == 1  # two would not fit the budget


def test_closing_a_threaded_run_cancels_what_runs_and_waits_for_it():
    cancellation, outcome, started = Cancellation(), [], threading.Semaphore(0)

    def compute(item: int) -> str:
        image = slow_pipeline()
        cancellation.watch(image)
        started.release()
        try:
            image.avg()
            outcome.append("finished")
        except pyvips.Error:
            outcome.append("killed")
        return "done"

    tasks = run_tasks(compute, [1, 2, 3, 4], costs=[1] * 4, workers=Workers(jobs=2),
                      cancellation=cancellation)

    def interrupt_when_both_run() -> None:
        for _ in range(2):
            started.acquire(timeout=30)
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_when_both_run).start()
    with pytest.raises(KeyboardInterrupt):
        list(tasks)
    assert outcome == ["killed", "killed"]  # both running tasks stopped, the others never ran
    assert cancellation.cancelled


def interrupt_soon(delay: float = 0.1) -> threading.Timer:
    timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_interrupts_deferred_holds_ctrl_c_until_the_step_ends():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            steps.append("finished")
    assert steps == ["finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_run_interruptibly_kills_the_work_and_waits_for_it():
    killed = threading.Event()
    events = []

    def run(thing: str) -> str:
        killed.wait(10)
        events.append(f"{thing} stopped")
        return "done"

    interrupt_soon()
    with pytest.raises(KeyboardInterrupt):
        run_interruptibly(lambda: "pipeline", run, kill=lambda thing: killed.set())
    assert events == ["pipeline stopped"]  # the helper finished before the interrupt propagated
    assert run_interruptibly(lambda: 2, lambda n: n * 21, kill=lambda n: None) == 42
    with pytest.raises(ValueError, match="boom"):
        run_interruptibly(lambda: 1, lambda n: int("boom"), kill=lambda n: None)


def die_on_two(item: int) -> int:
    """A task whose worker process dies (as when the kernel kills it for memory) on item 2."""
    if item == 2:
        time.sleep(0.2)
        os._exit(9)
    return item * 10


def test_a_dead_worker_fails_its_image_and_the_rest_go_on():
    results = {done.index: done for done in run_tasks(die_on_two, [1, 2, 3, 4], costs=[1] * 4,
                                                       workers=Workers(jobs=2))}
    assert sorted(results) == [0, 1, 2, 3]
    assert "the worker process died" in results[1].error
    assert results[3].value == 40 and not results[3].error
    assert all(r.value == (i + 1) * 10 or "worker process died" in r.error
               for i, r in results.items())
