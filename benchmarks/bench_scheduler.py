"""
Scheduler benchmark: how fast jobs are added and fired, side by side with
raw ``reactor.callLater`` and APScheduler 3's TwistedScheduler, in one run.

    .venv/bin/python benchmarks/bench_scheduler.py [--jobs 20000]

Prints ratios, because absolute numbers on a shared machine are noise.
"""

import argparse
import datetime as dt
import gc
import time

from twisted.internet import defer, reactor, task

from twistedsched import Scheduler

UTC = dt.timezone.utc


def now():
    return dt.datetime.now(UTC)


class Hits:
    """Counts calls; C{done} fires with the seconds from the first to the n-th."""

    def __init__(self, n, from_thread=False):
        self.n = n
        self.stamps = []
        self.from_thread = from_thread
        self.done = defer.Deferred()
        self.done.addCallback(lambda _: self.stamps[-1] - self.stamps[0])

    def __call__(self):
        self.stamps.append(time.perf_counter())
        if len(self.stamps) == self.n:
            if self.from_thread:
                reactor.callFromThread(self.done.callback, None)
            else:
                self.done.callback(None)


def fire_raw(n, delay):
    """Fire n callbacks with reactor.callLater; return seconds from first to last."""
    hit = Hits(n)
    for _ in range(n):
        reactor.callLater(delay, hit)
    return hit.done


def fire_twistedsched(n, delay):
    sched = Scheduler(reactor=reactor, misfire_grace_time=None)
    sched.startService()
    hit = Hits(n)
    when = now() + dt.timedelta(seconds=delay)
    for _ in range(n):
        sched.add_job(hit, "date", run_date=when)
    return hit.done.addCallback(lambda elapsed: sched.shutdown().addCallback(
        lambda _: elapsed))


def fire_apscheduler(n, delay):
    from apscheduler.schedulers.twisted import TwistedScheduler
    sched = TwistedScheduler(reactor=reactor, job_defaults={"misfire_grace_time": None})
    sched.start()
    hit = Hits(n, from_thread=True)     # its default executor calls jobs in threads
    when = now() + dt.timedelta(seconds=delay)
    for _ in range(n):
        sched.add_job(hit, "date", run_date=when)
    return hit.done.addCallback(lambda elapsed: (sched.shutdown(wait=False), elapsed)[1])


def add_cost(make_and_add, existing, sample=2000):
    """Seconds per add_job when the store already holds `existing` jobs."""
    add = make_and_add()
    for _ in range(existing):
        add()
    gc.collect()
    started = time.perf_counter()
    for _ in range(sample):
        add()
    return (time.perf_counter() - started) / sample


def twistedsched_adder():
    sched = Scheduler(reactor=task.Clock())
    sched.startService()
    counter = iter(range(10 ** 9))

    def add():
        sched.add_job(print, "interval", seconds=1 + next(counter) % 100000)
    return add


def apscheduler_adder():
    from apscheduler.schedulers.twisted import TwistedScheduler
    sched = TwistedScheduler(reactor=task.Clock())
    sched.start(paused=True)
    counter = iter(range(10 ** 9))

    def add():
        sched.add_job(print, "interval", seconds=1 + next(counter) % 100000)
    return add


@defer.inlineCallbacks
def main(args):
    n = args.jobs
    print("Firing %d one-shot jobs due at the same moment (seconds first to last fire):" % n)
    raw = yield fire_raw(n, 0.3)
    ours = yield fire_twistedsched(n, 0.3)
    print("  reactor.callLater      %.4f s" % raw)
    print("  twistedsched           %.4f s   (%.1fx callLater)" % (ours, ours / raw))
    try:
        aps = yield fire_apscheduler(n, 0.3)
    except ImportError:
        print("  APScheduler 3          not installed (pip install 'apscheduler<4')")
    else:
        print("  APScheduler 3          %.4f s   (%.1fx callLater; twistedsched is %.1fx faster)"
              % (aps, aps / raw, aps / ours))

    print("\nCost of one add_job with N jobs already stored (memory store):")
    for existing in (1000, args.big):
        ours = add_cost(twistedsched_adder, existing)
        line = "  N=%-7d twistedsched %7.1f us" % (existing, ours * 1e6)
        try:
            aps = add_cost(apscheduler_adder, existing)
            line += "   APScheduler 3 %7.1f us   (ratio %.2f)" % (aps * 1e6, aps / ours)
        except ImportError:
            pass
        print(line)
    print("\nA cost that stays flat from N=1000 to N=%d is O(log n) per add." % args.big)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--jobs", type=int, default=20000, help="jobs to fire")
    parser.add_argument("--big", type=int, default=100000, help="jobs stored for the add test")
    args = parser.parse_args()
    result = []
    d = main(args)
    d.addErrback(lambda f: (f.printTraceback(), result.append(1)))
    d.addBoth(lambda _: reactor.stop())
    reactor.run()
    raise SystemExit(1 if result else 0)
