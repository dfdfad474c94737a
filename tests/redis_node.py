"""
One scheduler process for the multi-process Redis tests:

    python -m tests.redis_node URL NAMESPACE OUTFILE [--lease S] [--poll S]
                              [--liveness S] [--stall]

It runs the tasks "noop" and "sleep" (seconds) for jobs stored in Redis and
appends one JSON line per submitted, missed, skipped (max_instances) and
ended run to OUTFILE ({"node", "job", "run", "kind", "at"}), after a first
{"ready": ...} line once it listens to pub/sub.  With --stall it claims one
batch of due jobs, writes {"claimed": [ids]} and hangs without running or
writing them back (its reactor still runs: it keeps renewing its liveness
record).
SIGTERM stops it cleanly (claims are written back or released).
"""

import argparse
import json
import os
import time

from twisted.internet import defer, reactor, task

from twistedsched import Scheduler
from twistedsched import events as ev
from twistedsched.stores.redis import RedisJobStore


def noop():
    pass


def sleep(seconds):
    return task.deferLater(reactor, seconds, lambda: None)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("namespace")
    parser.add_argument("out")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--poll", type=float, default=30.0)
    parser.add_argument("--liveness", type=float, default=3.0)
    parser.add_argument("--stall", action="store_true")
    args = parser.parse_args()

    name = "node-%d" % (os.getpid(),)
    out = open(args.out, "a", buffering=1)

    def write(**record):
        out.write(json.dumps(record) + "\n")

    sched = Scheduler()
    sched.task("noop")(noop)
    sched.task("sleep")(sleep)
    store = RedisJobStore(args.url, namespace=args.namespace, lease=args.lease,
                          poll_interval=args.poll, timeout=2, liveness=args.liveness)
    sched.add_jobstore(store, alias="redis")

    kinds = {ev.EVENT_JOB_SUBMITTED: "submitted", ev.EVENT_JOB_MISSED: "missed",
             ev.EVENT_JOB_MAX_INSTANCES: "skipped", ev.EVENT_JOB_EXECUTED: "ended",
             ev.EVENT_JOB_ERROR: "ended"}

    def on_event(event):
        run_times = getattr(event, "scheduled_run_times", None) or [event.scheduled_run_time]
        for run_time in run_times:
            write(node=name, job=event.job_id, run=run_time.isoformat(),
                  kind=kinds[event.code], at=time.time())
    sched.add_listener(on_event, ev.EVENT_JOB_SUBMITTED | ev.EVENT_JOB_MISSED
                       | ev.EVENT_JOB_MAX_INSTANCES | ev.EVENT_JOB_EXECUTED
                       | ev.EVENT_JOB_ERROR)

    if args.stall:
        acquire = store.acquire_due_jobs

        def stall(jobs):
            if not jobs:
                return jobs
            write(node=name, claimed=[job.id for job in jobs], at=time.time())
            return defer.Deferred()     # never fires: "crashed" holding the claims
        store.acquire_due_jobs = lambda now, limit: acquire(now, limit).addCallback(stall)

    def start():
        sched.startService()
        store.when_subscribed().addCallback(lambda _: write(ready=name, at=time.time()))
    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger("before", "shutdown", sched.shutdown, False)
    reactor.run()


if __name__ == "__main__":
    main()
