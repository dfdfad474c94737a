"""
Listing benchmark: the first page of a big memory store after a change.

    .venv/bin/python -m benchmarks.listing [--jobs 1000000] [--page 100]

Fills a L{MemoryJobStore} with one-shot jobs (run times in random order,
one in a hundred paused), then, several times: changes one job's run time
and times the first page (C{get_jobs(0, page)}), the tenth page, and the
first page as the store listed it before (sorting every job, with the key
it used then, in this same process), then a full listing.  Milliseconds,
the median of the repeats.
"""

import argparse
import datetime as dt
import os
import random
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def noop():
    pass


def fill(store, n):
    from twistedsched.job import Job
    from twistedsched.triggers import DateTrigger
    epoch = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    trigger = DateTrigger(run_date=epoch)
    rng = random.Random(3)
    for i in range(n):
        when = None if i % 100 == 99 else epoch + dt.timedelta(seconds=rng.randrange(86400 * 30))
        store.add_job(Job(None, noop, trigger, id="job-%d" % (i,), next_run_time=when,
                          options_checked=True))
    return epoch


def old_first_page(store, page):
    """What the store did before: sort every job for any page after a change."""
    from twistedsched.timeutil import to_timestamp

    def order(job):
        paused = job.next_run_time is None
        return (paused, 0 if paused else to_timestamp(job.next_run_time))
    return sorted(store._jobs.values(), key=order)[:page]


def timed(func):
    began = time.perf_counter()
    func()
    return 1000 * (time.perf_counter() - began)


def median(values):
    return sorted(values)[len(values) // 2]


def main():
    from twistedsched.job import Job
    from twistedsched.stores import MemoryJobStore
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    store = MemoryJobStore()
    began = time.perf_counter()
    epoch = fill(store, args.jobs)
    print("  %d jobs stored in %.1f s; page of %d; median of %d" % (
        args.jobs, time.perf_counter() - began, args.page, args.repeat))
    figures = {"first": [], "tenth": [], "before": [], "full": []}
    rng = random.Random(4)
    changed = store._jobs["job-0"]
    for _ in range(args.repeat):
        def change():
            job = Job(None, noop, changed.trigger, id=changed.id, options_checked=True,
                      next_run_time=epoch + dt.timedelta(seconds=rng.randrange(86400)))
            store.update_job(job)
        change()
        figures["first"].append(timed(lambda: store.get_jobs(0, args.page)))
        change()
        figures["tenth"].append(timed(lambda: store.get_jobs(9 * args.page, args.page)))
        change()
        figures["before"].append(timed(lambda: old_first_page(store, args.page)))
        change()
        figures["full"].append(timed(lambda: store.get_jobs()))
    for key, label in (("first", "first page after a change"),
                       ("tenth", "tenth page after a change"),
                       ("before", "first page, as before (sort all)"),
                       ("full", "whole listing after a change")):
        print("  %-36s %10.2f ms" % (label, median(figures[key])))
    print("  first page: before / now = %.0f" % (
        median(figures["before"]) / median(figures["first"]),))


if __name__ == "__main__":
    main()
