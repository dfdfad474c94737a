"""
The web API at 100,000 jobs: how long a page, a search and the upcoming
timeline take, and one chunk of a scan (the longest the reactor waits for
a search: between chunks it serves others).  Memory store; the calls are made in-process, as
the HTTP layer makes them (no network).  Run: C{python -m benchmarks.web}.
"""

import platform
import time

from twisted.internet import defer, task

from twistedsched import Scheduler
from twistedsched.web.api import SCAN_CHUNK, JobsAPI

JOBS = 100000


def noop():
    """Does nothing."""


@defer.inlineCallbacks
def measure(api, name, params, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        answer = yield defer.maybeDeferred(getattr(api, name), None, params, {})
        best = min(best, time.perf_counter() - start)
    print("%-52s %8.1f ms" % (
        "%s %s" % (name, "&".join("%s=%s" % kv for kv in params.items())), best * 1000))
    return answer


def chunk_time(sched, repeat=5):
    """The longest the reactor waits in a scan: one chunk taken from the store."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        sched.get_jobs("default", JOBS // 2, SCAN_CHUNK)
        best = min(best, time.perf_counter() - start)
    print("%-52s %8.1f ms" % ("one scan chunk (%d jobs, between two breathers)"
                              % (SCAN_CHUNK,), best * 1000))


@defer.inlineCallbacks
def main():
    clock = task.Clock()
    clock.advance(1767614400)
    sched = Scheduler(reactor=clock)
    sched.tasks.register("noop", noop)
    sched.startService()
    for i in range(JOBS):
        sched.add_job("noop", "interval", minutes=1 + i % 1440, id="job%06d" % i,
                      name="name %d" % i)
    print("%d jobs, memory store; Python %s on %s, %s; best of 5" % (
        JOBS, platform.python_version(), platform.machine(), platform.system()))
    api = JobsAPI(sched)
    yield measure(api, "list_jobs", {"limit": "50"})
    yield measure(api, "list_jobs", {"limit": "50", "offset": "99000"})
    yield measure(api, "list_jobs", {"limit": "50", "last_run": "1"})
    yield measure(api, "list_jobs", {"limit": "50", "q": "no such job"})
    yield measure(api, "upcoming", {"hours": "24", "limit": "500"})
    chunk_time(sched)


if __name__ == "__main__":
    task.react(lambda _: main())
