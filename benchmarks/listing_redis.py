"""
Listing benchmark, Redis: the first page of a big Redis store after a change,
and C{twistedsched-ctl list} through all of it.

    .venv/bin/python -m benchmarks.listing_redis [--jobs 1000000] [--page 100] [--no-ctl]

Fills a private redis-server (started here, like the tests) with one-shot
jobs (run times in random order, one in a hundred paused; 500 per script
call), then, several times: changes one job (a remote change: its whole
document and its run time) and times, through the store (one round trip
each, jobs decoded): the first page by run time (C{get_jobs(0, page)}), the
tenth page, the first page by id (C{get_jobs_by_id}) and a page by id from
the middle.  Milliseconds, the median of the repeats.

Then (unless --no-ctl) a C{twistd -n sched} daemon on that namespace, and
C{twistedsched-ctl list} printing every job to /dev/null, page by page
(--timeout 60 per page): its wall time, or how it failed.
"""

import argparse
import datetime as dt
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

UTC = dt.timezone.utc
NAMESPACE = "listing"


def noop():
    pass


def median(values):
    return sorted(values)[len(values) // 2]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(url, n, page, repeat):
    """Fill the store, then time the pages; fires with the figures."""
    from twisted.internet import defer
    from twistedsched import Scheduler
    from twistedsched.job import Job
    from twistedsched.stores.redis import RedisJobStore
    from twistedsched.triggers import DateTrigger

    sched = Scheduler()
    sched.task("echo")(noop)        # (the daemon's example task of that name)
    store = RedisJobStore(url, namespace=NAMESPACE, timeout=60, tasks=sched.tasks)
    epoch = dt.datetime(2030, 1, 1, tzinfo=UTC)
    trigger = DateTrigger(run_date=epoch)
    rng = random.Random(3)

    def job(i):
        when = None if i % 100 == 99 else epoch + dt.timedelta(seconds=rng.randrange(86400 * 30))
        return Job(sched, noop, trigger, id="job-%07d" % (i,), task="echo", next_run_time=when,
                   options_checked=True)

    @defer.inlineCallbacks
    def timed(call):
        began = time.perf_counter()
        yield call()
        return 1000 * (time.perf_counter() - began)

    @defer.inlineCallbacks
    def run():
        began = time.perf_counter()
        calls = []
        for first in range(0, n, 500):
            calls.append(store.add_jobs([job(i) for i in range(first, min(n, first + 500))]))
            if len(calls) >= 8:
                yield defer.gatherResults(calls)
                calls = []
        yield defer.gatherResults(calls)
        print("  %d jobs stored in %.1f s; page of %d; median of %d" % (
            n, time.perf_counter() - began, page, repeat))
        figures = {"first": [], "tenth": [], "by_id": [], "by_id_middle": []}
        change_rng = random.Random(4)
        middle = "job-%07d" % (n // 2,)
        for _ in range(repeat):
            for key, call in (
                    ("first", lambda: store.get_jobs(0, page)),
                    ("tenth", lambda: store.get_jobs(9 * page, page)),
                    ("by_id", lambda: store.get_jobs_by_id(None, page)),
                    ("by_id_middle", lambda: store.get_jobs_by_id(middle, page))):
                changed = job(change_rng.randrange(n))
                changed.next_run_time = epoch + dt.timedelta(seconds=change_rng.randrange(86400))
                yield store.update_job(changed)
                figures[key].append((yield timed(call)))
        yield store.shutdown()
        return figures
    return run()


def ctl_list(url, n):
    """Run a daemon on the namespace and list every job with twistedsched-ctl."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "twisted", "sched", "--store", url, "--namespace",
             NAMESPACE, "--control", "tcp:%d:interface=127.0.0.1" % (port,),
             "--console", "none", "--quiet-runs", "--tasks", "twistedsched.example_tasks"],
            cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the daemon did not listen")
                    time.sleep(0.2)
            began = time.perf_counter()
            with open(os.devnull, "w") as devnull:
                done = subprocess.run(
                    [sys.executable, "-m", "twistedsched.ctl", "--connect",
                     "tcp:127.0.0.1:%d" % (port,), "--timeout", "60", "list"],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            elapsed = time.perf_counter() - began
        finally:
            daemon.terminate()
            daemon.wait(30)
    lines = done.stdout.count("\n")
    if done.returncode:
        return "failed (exit %d) after %.1f s: %s" % (done.returncode, elapsed,
                                                      done.stderr.strip()[-300:])
    return "%d lines in %.1f s (%.0f jobs/s), exit 0" % (lines, elapsed, n / elapsed)


def main():
    from twisted.internet import task
    from tests.redisserver import RedisServer
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-ctl", action="store_true")
    args = parser.parse_args()
    server = RedisServer().start()
    try:
        results = {}

        def run(reactor):
            return measure(server.url(), args.jobs, args.page, args.repeat).addCallback(
                results.update)
        try:
            task.react(run)
        except SystemExit as e:
            if e.code:
                raise
        for key, label in (("first", "first page by run time after a change"),
                           ("tenth", "tenth page by run time after a change"),
                           ("by_id", "first page by id after a change"),
                           ("by_id_middle", "a page by id from the middle")):
            print("  %-40s %8.2f ms" % (label, median(results[key])))
        if not args.no_ctl:
            print("  twistedsched-ctl list, every job: " + ctl_list(server.url(), args.jobs))
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
