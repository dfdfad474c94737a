"""
Redis job store benchmark, against a private redis-server (started here on a
free loopback port, like the tests), side by side with APScheduler 3's
RedisJobStore on the same server where it does the same job.

    .venv/bin/python -m benchmarks.redis_store [--jobs 200000] [--fire 20000]

Measures:
  - adding jobs: twistedsched's add_job issued without waiting (txredisapi
    pipelines the commands on its connections), the store's bulk add_jobs
    (500 jobs per Lua call), and APScheduler's add_job (one MULTI per job);
  - firing due jobs: interval jobs all due at once, added by another
    scheduler, counted from the first to the last call of the job function,
    each run written back to Redis; then their second runs, due together a
    few seconds later (their documents unchanged since the first), and the
    scheduler's CPU per fire; then jobs the firing scheduler added itself;
  - the RSS of a fresh scheduler process started on a namespace holding
    --jobs jobs, against one started on an empty namespace (the store never
    loads all jobs), and the Redis server's memory per stored job.

Absolute numbers on a shared 2-core machine are noisy; compare the columns.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

UTC = dt.timezone.utc
FIRED = []
CPU = []        # process CPU seconds of twistedsched's firing


def noop():
    FIRED.append(time.perf_counter())


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0


def redis_memory(server):
    info = server.command("INFO", "memory").decode()
    for line in info.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1]) / 1048576.0


# -- twistedsched ---------------------------------------------------------------

def make_scheduler(url, namespace, **store_options):
    from twistedsched import Scheduler
    from twistedsched.stores.redis import RedisJobStore
    sched = Scheduler(misfire_grace_time=None)
    sched.task("noop")(noop)
    store = RedisJobStore(url, namespace=namespace, timeout=30, **store_options)
    sched.add_jobstore(store, alias="redis")
    return sched, store


def ours_add(url, namespace, n, window=2000):
    """Seconds to add n jobs with add_job, at most `window` unanswered at once."""
    from twisted.internet import defer
    sched, store = make_scheduler(url, namespace)
    start = dt.datetime.now(UTC) + dt.timedelta(hours=1)

    @defer.inlineCallbacks
    def run():
        began = time.perf_counter()
        for first in range(0, n, window):
            yield defer.gatherResults([
                sched.add_job("noop", "interval", minutes=5 + i % 1000, id="j%07d" % i,
                              jobstore="redis", start_date=start)
                for i in range(first, min(n, first + window))])
        elapsed = time.perf_counter() - began
        yield store.shutdown()
        return elapsed
    return run()


def ours_bulk_add(url, namespace, n, batch=500, window=8):
    """Seconds to add n jobs with the store's add_jobs, `batch` per Lua call."""
    from twisted.internet import defer
    from twistedsched.job import Job
    from twistedsched.triggers import IntervalTrigger
    sched, store = make_scheduler(url, namespace)
    start = dt.datetime.now(UTC) + dt.timedelta(hours=1)

    def job(i):
        trigger = IntervalTrigger(minutes=5 + i % 1000, start_date=start)
        return Job(sched, noop, trigger, id="j%07d" % i, task="noop", jobstore="redis",
                   misfire_grace_time=None, next_run_time=start)

    @defer.inlineCallbacks
    def run():
        began = time.perf_counter()
        calls = []
        for first in range(0, n, batch):
            calls.append(store.add_jobs([job(i) for i in range(first, min(n, first + batch))]))
            if len(calls) >= window:
                yield defer.gatherResults(calls)
                calls = []
        yield defer.gatherResults(calls)
        elapsed = time.perf_counter() - began
        yield store.shutdown()
        return elapsed
    return run()


def ours_fire(url, namespace, n, profile=None, added_here=False):
    """
    Seconds from first to last fire of n interval jobs due at the same
    moment; then the same of their second runs, `again` seconds later (kept
    in AGAIN), and the CPU seconds of each round (in CPU).  The jobs are
    added by another scheduler (as by another process: none is kept
    decoded here), or with C{added_here} by the one that fires them.
    """
    from twisted.internet import defer, reactor
    sched, store = make_scheduler(url, namespace)
    adder, adder_store = (sched, store) if added_here else make_scheduler(url, namespace)
    due = dt.datetime.now(UTC) + dt.timedelta(seconds=2)
    again = max(3, n // 1000)

    @defer.inlineCallbacks
    def run():
        for first in range(0, n, 2000):
            yield defer.gatherResults([
                adder.add_job("noop", "interval", seconds=again, next_run_time=due,
                              jobstore="redis")
                for _ in range(first, min(n, first + 2000))])
        if adder_store is not store:
            yield adder_store.shutdown()
        del FIRED[:]
        if profile is not None:
            profile.enable()
        cpu = time.process_time()
        sched.startService()
        while len(FIRED) < n:
            yield _sleep(reactor, 0.01)
        CPU.append(time.process_time() - cpu)
        if profile is not None:
            profile.disable()
        elapsed = FIRED[-1] - FIRED[0]
        # The second runs: the documents did not change since the first (the
        # store's decoded-job cache has them).
        cpu = time.process_time()
        while len(FIRED) < 2 * n:
            yield _sleep(reactor, 0.01)
        CPU.append(time.process_time() - cpu)
        AGAIN.append(FIRED[-1] - FIRED[n])
        yield sched.shutdown()
        return elapsed
    return run()


AGAIN = []      # seconds of the second runs


def _sleep(reactor, seconds):
    from twisted.internet.task import deferLater
    return deferLater(reactor, seconds, lambda: None)


def ours_child(url, namespace):
    """In a fresh process: start a scheduler on the namespace, arm it, list a page."""
    from twisted.internet import defer, task

    @defer.inlineCallbacks
    def run(reactor):
        sched, store = make_scheduler(url, namespace)
        sched.startService()
        yield store.get_next_run_time()
        yield sched.get_jobs("redis", limit=100)
        yield _sleep(reactor, 0.5)
        print(json.dumps({"rss": rss_mib(), "jobs": (yield store.count_jobs())}))
        yield sched.shutdown()
    task.react(run)


# -- APScheduler 3 ----------------------------------------------------------------

def aps_scheduler(port, namespace, start=True):
    from apscheduler.jobstores.redis import RedisJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    store = RedisJobStore(host="127.0.0.1", port=port, jobs_key=namespace + ".jobs",
                          run_times_key=namespace + ".run_times")
    sched = BackgroundScheduler(jobstores={"default": store},
                                job_defaults={"misfire_grace_time": None})
    if start:
        sched.start(paused=True)
    return sched


def aps_add(port, namespace, n):
    sched = aps_scheduler(port, namespace)
    start = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    began = time.perf_counter()
    for i in range(n):
        sched.add_job(noop, "interval", minutes=5 + i % 1000, id="j%07d" % i,
                      start_date=start)
    elapsed = time.perf_counter() - began
    sched.shutdown(wait=False)
    return elapsed


def aps_fire(port, namespace, n):
    sched = aps_scheduler(port, namespace)
    due = dt.datetime.now(UTC) + dt.timedelta(seconds=2)
    for _ in range(n):
        sched.add_job(noop, "interval", hours=1, next_run_time=due)
    del FIRED[:]
    sched.resume()
    while len(FIRED) < n:
        time.sleep(0.05)
    elapsed = FIRED[-1] - FIRED[0]
    sched.shutdown(wait=False)
    return elapsed


def aps_child(port, namespace):
    sched = aps_scheduler(port, namespace, start=False)
    sched.start()
    sched.get_jobs()[:0]            # nothing else to page with: APScheduler lists all
    time.sleep(0.5)
    store = sched._jobstores["default"]
    print(json.dumps({"rss": rss_mib(), "jobs": store.redis.hlen(store.jobs_key)}))
    sched.shutdown(wait=False)


def aps_child_no_listing(port, namespace):
    sched = aps_scheduler(port, namespace, start=False)
    sched.start()
    time.sleep(0.5)
    store = sched._jobstores["default"]
    print(json.dumps({"rss": rss_mib(), "jobs": store.redis.hlen(store.jobs_key)}))
    sched.shutdown(wait=False)


# -- The run -------------------------------------------------------------------------

def child(kind, target, namespace):
    """Run a --child in a fresh process; return its RSS report."""
    out = subprocess.run([sys.executable, __file__, "--child", kind, target, namespace],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def rate(n, seconds):
    return "%9.0f /s  (%6.2f s for %d)" % (n / seconds, seconds, n)


def main(args):
    from twisted.internet import defer, task
    from tests.redisserver import RedisServer
    server = RedisServer().start()
    url, port = server.url(), server.port
    try:
        have_aps = True
        try:
            import apscheduler  # noqa: F401
            import redis  # noqa: F401
        except ImportError:
            have_aps = False

        @defer.inlineCallbacks
        def ours(reactor):
            results = {}
            results["add"] = yield ours_add(url, "ours-add", args.add)
            results["bulk"] = yield ours_bulk_add(url, "ours-big", args.jobs)
            profile = None
            if args.profile:
                import cProfile
                profile = cProfile.Profile()
            results["fire"] = yield ours_fire(url, "ours-fire", args.fire, profile)
            results["fire-here"] = yield ours_fire(url, "ours-fire-here", args.fire,
                                                   added_here=True)
            if profile is not None:
                import pstats
                print("cProfile of twistedsched's firing, by %s:" % (args.profile,),
                      file=sys.stderr)
                pstats.Stats(profile, stream=sys.stderr).sort_stats(args.profile).print_stats(40)
            return results
        results = {}
        task.react(lambda reactor: ours(reactor).addCallback(results.update))
    except SystemExit:
        pass
    try:
        print("Redis job store benchmark (redis-server %s, Python %s)\n" % (
            server.command("INFO", "server").decode().split("redis_version:")[1].split()[0],
            sys.version.split()[0]))
        print("Adding jobs:")
        print("  twistedsched add_job, pipelined     %s" % rate(args.add, results["add"]))
        print("  twistedsched store.add_jobs (bulk)  %s" % rate(args.jobs, results["bulk"]))
        if have_aps:
            print("  APScheduler 3 add_job               %s" % rate(
                args.aps_add, aps_add(port, "aps-add", args.aps_add)))
        print("\nFiring interval jobs all due at once (run + write back):")
        print("  (CPU/fire: the scheduler process's CPU over the round, idle waits "
              "included)")
        print("  twistedsched                        %s  %5.1f us CPU/fire" % (
            rate(args.fire, results["fire"]), 1e6 * CPU[0] / args.fire))
        print("  twistedsched, their second runs     %s  %5.1f us CPU/fire" % (
            rate(args.fire, AGAIN[0]), 1e6 * CPU[1] / args.fire))
        print("  twistedsched, jobs it added itself  %s  %5.1f us CPU/fire" % (
            rate(args.fire, results["fire-here"]), 1e6 * CPU[2] / args.fire))
        print("  (first runs: jobs another scheduler added, decoded from JSON;")
        print("   second runs, and jobs it added: kept decoded, job_cache)")
        if have_aps:
            print("  APScheduler 3 (thread pool)         %s" % rate(
                args.fire, aps_fire(port, "aps-fire", args.fire)))

        print("\nScheduler process RSS, fresh process, empty store vs %d stored jobs:" % (
            args.jobs,))
        empty = child("ours", url, "ours-empty")
        full = child("ours", url, "ours-big")
        print("  twistedsched   empty %6.1f MiB   %d jobs %6.1f MiB   (+%.1f MiB)" % (
            empty["rss"], full["jobs"], full["rss"], full["rss"] - empty["rss"]))
        server.command("DEL", "ours-add:jobs", "ours-add:run_times", "ours-fire:jobs",
                       "ours-fire:run_times", "ours-fire-here:jobs", "ours-fire-here:run_times")
        used = redis_memory(server)
        print("  redis-server used_memory %.0f MiB (about %.0f bytes per job)" % (
            used, used * 1048576 / max(1, full["jobs"])))
        if have_aps and args.aps_jobs:
            t = aps_add(port, "aps-big", args.aps_jobs)
            print("  (APScheduler: %d jobs added in %.1f s)" % (args.aps_jobs, t))
            empty = child("aps", str(port), "aps-empty")
            full = child("aps-nolist", str(port), "aps-big")
            print("  APScheduler 3  empty %6.1f MiB   %d jobs %6.1f MiB   (+%.1f MiB)" % (
                empty["rss"], full["jobs"], full["rss"], full["rss"] - empty["rss"]))
            listed = child("aps", str(port), "aps-big")
            print("  APScheduler 3 after get_jobs() (it has no paging): %.1f MiB" % (
                listed["rss"],))
    finally:
        server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200000,
                        help="jobs stored for the RSS comparison (bulk add)")
    parser.add_argument("--add", type=int, default=20000, help="jobs added with add_job")
    parser.add_argument("--fire", type=int, default=10000, help="jobs fired")
    parser.add_argument("--aps-add", type=int, default=5000, help="jobs APScheduler adds")
    parser.add_argument("--aps-jobs", type=int, default=50000,
                        help="jobs stored in APScheduler's store for its RSS (0: skip)")
    parser.add_argument("--profile", metavar="SORT",
                        help="cProfile twistedsched's firing, sorted by SORT (to stderr)")
    parser.add_argument("--child", nargs=3, metavar=("KIND", "TARGET", "NAMESPACE"),
                        help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        kind, target, namespace = options.child
        if kind == "ours":
            ours_child(target, namespace)
        elif kind == "aps":
            aps_child(int(target), namespace)
        else:
            aps_child_no_listing(int(target), namespace)
    else:
        main(options)
