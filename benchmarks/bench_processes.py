"""
Process executor benchmark: how long the first job takes (the pool starts its
workers), then trivial jobs per second through the pool, all submitted at
once and one at a time; how long a crashed worker takes to be replaced;
then the same trivial jobs through the standard
library's C{concurrent.futures.ProcessPoolExecutor} (spawn context), which
the executor used before, for comparison.

    .venv/bin/python benchmarks/bench_processes.py [--jobs 2000] [--workers 2]

Numbers on a shared 2-core machine are noisy; run it twice.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from twisted.internet import defer, task  # noqa: E402

from tests import jobfuncs  # noqa: E402
from twistedsched.executors import ProcessPoolExecutor  # noqa: E402


class _Host:
    def __init__(self, reactor):
        self.reactor = reactor


def report(what, jobs, seconds):
    print("%-44s %6d jobs in %6.2f s: %8.0f jobs/s" % (what, jobs, seconds, jobs / seconds))


@defer.inlineCallbacks
def bench_pool(reactor, jobs, workers):
    executor = ProcessPoolExecutor(max_workers=workers)
    executor.start(_Host(reactor), "processes")
    started = time.perf_counter()
    yield executor.run(jobfuncs.square, (1,), {})
    print("%-44s %.3f s" % ("first job (starts %d workers)" % (workers,),
                            time.perf_counter() - started))
    started = time.perf_counter()
    yield defer.gatherResults([executor.run(jobfuncs.square, (n,), {}) for n in range(jobs)])
    report("twistedsched processes, all at once", jobs, time.perf_counter() - started)
    started = time.perf_counter()
    for n in range(jobs // 4):
        yield executor.run(jobfuncs.square, (n,), {})
    report("twistedsched processes, one at a time", jobs // 4, time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(5):
        yield executor.run(jobfuncs.crash, (1,), {}).addErrback(lambda _: None)
        yield defer.gatherResults([executor.run(jobfuncs.whoami, (), {})
                                   for _ in range(workers)])
    print("%-44s %.3f s" % ("a crash, then a job on every worker (avg of 5)",
                            (time.perf_counter() - started) / 5))
    started = time.perf_counter()
    yield executor.shutdown()
    print("%-44s %.3f s" % ("shutdown", time.perf_counter() - started))


@defer.inlineCallbacks
def bench_futures(reactor, jobs, workers):
    pool = concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"))

    def submit(n):
        d = defer.Deferred()
        future = pool.submit(jobfuncs.square, n)
        future.add_done_callback(lambda f: reactor.callFromThread(d.callback, f.result()))
        return d
    started = time.perf_counter()
    yield submit(1)
    print("%-44s %.3f s" % ("first job (concurrent.futures)", time.perf_counter() - started))
    started = time.perf_counter()
    yield defer.gatherResults([submit(n) for n in range(jobs)])
    report("concurrent.futures spawn pool, all at once", jobs, time.perf_counter() - started)
    started = time.perf_counter()
    for n in range(jobs // 4):
        yield submit(n)
    report("concurrent.futures spawn pool, one at a time", jobs // 4,
           time.perf_counter() - started)
    pool.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    @defer.inlineCallbacks
    def run(reactor):
        yield bench_pool(reactor, args.jobs, args.workers)
        yield bench_futures(reactor, args.jobs, args.workers)
    task.react(run)


if __name__ == "__main__":
    main()
