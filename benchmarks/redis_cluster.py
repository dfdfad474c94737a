"""
Redis cluster benchmark: do more schedulers on one Redis fire more?

    .venv/bin/python -m benchmarks.redis_cluster [--jobs 30000] [--nodes 1 3]

For each node count: a private redis-server (started here, like the tests),
that many scheduler processes (each its own Python process and reactor, a
RedisJobStore on the same namespace), then --jobs interval jobs all due at
the same moment, added once every process listens.  Counted from the first
fire in any process to the last: fires/s, and the process CPU per fire of
the schedulers together.  Each run's argument is checked: every job ran
exactly once across the processes.

The machine's cores bound the scaling: with two, three schedulers and Redis
share them; the report prints the core count.
"""

import argparse
import datetime as dt
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

UTC = dt.timezone.utc


# -- One scheduler process -----------------------------------------------------------

def child(url, namespace, out):
    """A scheduler on the namespace; on SIGTERM writes what it ran to `out`."""
    from twisted.internet import reactor
    from twistedsched import Scheduler
    from twistedsched.stores.redis import RedisJobStore
    ran = []
    times = []

    def noop(i):
        ran.append(i)
        if not times:
            times.append(time.time())

    sched = Scheduler(misfire_grace_time=None)
    sched.task("noop")(noop)
    store = RedisJobStore(url, namespace=namespace, timeout=30)
    sched.add_jobstore(store, alias="redis")

    def ready(_):
        print("ready", flush=True)

    def report():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(out, "w") as f:
            json.dump({"ran": ran, "first": times[0] if times else None,
                       "last": LAST[0], "cpu": usage.ru_utime + usage.ru_stime}, f)

    LAST = [None]

    def last(event):
        LAST[0] = time.time()

    from twistedsched import events as ev
    sched.add_listener(last, ev.EVENT_JOB_EXECUTED)
    reactor.addSystemEventTrigger("before", "shutdown", report)
    sched.startService()
    store.when_subscribed().addCallback(ready)
    reactor.run()


# -- The run ---------------------------------------------------------------------------

def fill(url, namespace, n, due):
    """Add n interval jobs due at `due`, 500 per script call."""
    from twisted.internet import defer, task
    from twistedsched import Scheduler
    from twistedsched.job import Job
    from twistedsched.stores.redis import RedisJobStore
    from twistedsched.triggers import IntervalTrigger

    def noop(i):
        pass

    @defer.inlineCallbacks
    def run(reactor):
        sched = Scheduler(misfire_grace_time=None)
        sched.task("noop")(noop)
        store = RedisJobStore(url, namespace=namespace, timeout=30)
        sched.add_jobstore(store, alias="redis")
        trigger = IntervalTrigger(hours=1, start_date=due)
        calls = []
        for first in range(0, n, 500):
            calls.append(store.add_jobs([
                Job(sched, noop, trigger, id="j%07d" % i, task="noop", args=(i,),
                    jobstore="redis", misfire_grace_time=None, next_run_time=due)
                for i in range(first, min(n, first + 500))]))
        yield defer.gatherResults(calls)
        yield store.shutdown()
    task.react(run)


def due_left(server, namespace, due):
    """How many jobs are still due at `due` or held."""
    from twistedsched.stores.redis import score
    left = server.command("ZCOUNT", namespace + ":run_times", "-inf", score(due))
    held = server.command("HLEN", namespace + ":claims")
    return int(left.strip()[1:]) + int(held.strip()[1:])


def run_nodes(server, nodes, n, tmp):
    """Fire n jobs with `nodes` scheduler processes; their figures."""
    namespace = "cluster-%d" % (nodes,)
    outs = [os.path.join(tmp, "%s-%d.json" % (namespace, i)) for i in range(nodes)]
    procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.redis_cluster", "--child",
                               server.url(), namespace, out], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True) for out in outs]
    try:
        for proc in procs:
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a scheduler process did not start")
        due = dt.datetime.now(UTC).replace(microsecond=0) + dt.timedelta(
            seconds=2 + n / 20000.0)
        subprocess.run([sys.executable, "-m", "benchmarks.redis_cluster", "--fill",
                        server.url(), namespace, str(n), due.isoformat()], cwd=ROOT,
                       check=True)
        while dt.datetime.now(UTC) < due or due_left(server, namespace, due):
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
    reports = []
    for out in outs:
        with open(out) as f:
            reports.append(json.load(f))
    ran = [i for report in reports for i in report["ran"]]
    if len(ran) != n or len(set(ran)) != n:
        raise RuntimeError("%d runs of %d distinct jobs, expected %d once each" % (
            len(ran), len(set(ran)), n))
    first = min(r["first"] for r in reports if r["first"])
    last = max(r["last"] for r in reports if r["last"])
    return {"wall": last - first, "cpu": sum(r["cpu"] for r in reports),
            "shares": [len(r["ran"]) for r in reports]}


def main(args):
    from tests.redisserver import RedisServer
    print("Redis cluster benchmark: %d interval jobs due at once, %d CPUs, Python %s" % (
        args.jobs, os.cpu_count(), sys.version.split()[0]))
    print("  (wall = first fire in any process to the last; CPU = all scheduler processes, "
          "start-up included)")
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        for nodes in args.nodes:
            server = RedisServer().start()
            try:
                result = run_nodes(server, nodes, args.jobs, tmp)
            finally:
                server.cleanup()
            rates[nodes] = args.jobs / result["wall"]
            print("  %d scheduler process%s  %9.0f fires/s  (%6.2f s)   CPU %5.1f s   "
                  "runs per process %s" % (
                      nodes, "" if nodes == 1 else "es", rates[nodes], result["wall"],
                      result["cpu"], "/".join(str(s) for s in result["shares"])))
    if 1 in rates:
        for nodes in sorted(rates):
            if nodes != 1:
                print("  %d processes / 1 = %.2f" % (nodes, rates[nodes] / rates[1]))
    print("  every job ran exactly once in each run (checked)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=30000)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--fill", nargs=4, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(*options.child)
    elif options.fill:
        url, namespace, n, due = options.fill
        fill(url, namespace, int(n), dt.datetime.fromisoformat(due))
    else:
        main(options)
