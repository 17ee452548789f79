import os
import signal
import threading
import time

import pytest

from quint_prep.errors import UsageError
from quint_prep.parallel import (Workers, _startable, interrupts_deferred, parse_memory,
                                 run_interruptibly, run_tasks, vips_threads)


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
