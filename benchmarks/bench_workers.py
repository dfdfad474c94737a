"""
Worker tier benchmark: dispatch throughput, runs per second from the
scheduler to outcomes acknowledged by workers, with 1 and 3 worker
processes, on Redis (a private redis-server) and on RabbitMQ (the machine's,
in a virtual host of its own); beside Celery workers on the same broker
(if Celery is installed: pip install -e '.[bench]').

    .venv/bin/python benchmarks/bench_workers.py [--runs 2000] [--concurrency 4]

twistedsched: a Scheduler with a QueueExecutor in this process submits
--runs one-shot runs of a no-op task (C{run_job} on as many jobs) and waits
for every outcome (the C{job_run} events).  Celery: C{delay()} of a no-op
task --runs times, then waits for every result (result backend: Redis, or
RPC on RabbitMQ); late acknowledgement, prefetch 4.  Each worker process
runs --concurrency at once (reactor executor; Celery's prefork pool).
Numbers on a shared 2-core machine are noisy; run it twice.
"""

import argparse
import os
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from twisted.internet import defer, task  # noqa: E402

from tests.daemonprocess import environment, stop_process  # noqa: E402

CELERY_CLIENT = """
import sys, time
from benchmarks.celery_app import noop
runs = int(sys.argv[1])
noop.delay(0).get(timeout=120)          # warmed up: workers are taking tasks
started = time.perf_counter()
results = [noop.delay(n) for n in range(runs)]
for r in results:
    r.get(timeout=300)
print(time.perf_counter() - started)
"""


def spawn_workers(count, broker_url, namespace, concurrency):
    processes = []
    for n in range(count):
        args = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "--logfile=/dev/null", "sched-worker",
                "--broker", broker_url, "--broker-namespace", namespace,
                "--tasks", "benchmarks.worker_tasks", "--name", "bench-%d" % (n,),
                "--concurrency", str(concurrency), "--heartbeat", "0.5",
                "--reclaim-after", "10"]
        processes.append(subprocess.Popen(args, cwd=ROOT, env=environment()))
    return processes


@defer.inlineCallbacks
def bench_twistedsched(reactor, broker_url, workers, runs, concurrency):
    from twistedsched import Scheduler
    from twistedsched import events as ev
    from twistedsched.executors.queue import QueueExecutor
    from benchmarks import worker_tasks
    namespace = "bench-" + uuid.uuid4().hex[:8]
    processes = spawn_workers(workers, broker_url, namespace, concurrency)
    try:
        options = {"warmup": 1.0} if broker_url.startswith("amqp") else {}
        executor = QueueExecutor(broker_url, namespace=namespace, check_interval=0.5,
                                 **options)
        sched = Scheduler(reactor=reactor, executors={"default": "reactor", "queue": executor},
                          scheduler_id="bench-" + namespace, history_size=0, log_runs=False)
        sched.tasks.register("bench.noop", worker_tasks.noop)
        done = []
        sched.add_listener(lambda e: done.append(e.outcome), ev.EVENT_JOB_RUN)
        sched.startService()
        while len(executor.workers) < workers:
            yield task.deferLater(reactor, 0.1, lambda: None)
        for n in range(runs + 1):
            yield sched.add_job("bench.noop", "interval", hours=1, id="j%d" % (n,),
                                args=(n,), executor="queue")
        yield sched.run_job("j%d" % (runs,))              # warm-up
        while len(done) < 1:
            yield task.deferLater(reactor, 0.01, lambda: None)
        started = time.perf_counter()
        for n in range(runs):
            sched.run_job("j%d" % (n,))
        while len(done) < runs + 1:
            yield task.deferLater(reactor, 0.005, lambda: None)
        elapsed = time.perf_counter() - started
        failed = len([o for o in done if o != "ok"])
        yield sched.shutdown(wait=False)
        return elapsed, failed
    finally:
        for process in processes:
            stop_process(process)


def bench_celery(broker_url, backend_url, workers, runs, concurrency):
    env = dict(environment(), BENCH_CELERY_BROKER=broker_url,
               BENCH_CELERY_BACKEND=backend_url, PYTHONPATH=ROOT)
    processes = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "benchmarks.celery_app", "worker",
         "--concurrency", str(concurrency), "-n", "bench%d@%%h" % (n,), "--loglevel",
         "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for n in range(workers)]
    try:
        out = subprocess.run([sys.executable, "-c", CELERY_CLIENT, str(runs)], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        return float(out.stdout.strip().splitlines()[-1])
    finally:
        for process in processes:
            stop_process(process)


def report(what, runs, seconds, failed=0):
    print("%-52s %6d runs in %6.2f s: %7.0f runs/s%s" % (
        what, runs, seconds, runs / seconds, "" if not failed else " (%d failed)" % failed))
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--brokers", default="redis,rabbitmq")
    args = parser.parse_args()
    brokers = {}
    cleanup = []
    if "redis" in args.brokers:
        from tests.redisserver import RedisServer
        server = RedisServer().start()
        cleanup.append(server.cleanup)
        brokers["redis"] = (server.url(), server.url(1), server.url(2))
    if "rabbitmq" in args.brokers:
        from tests import rabbitmqserver
        url = rabbitmqserver.url()
        brokers["rabbitmq"] = (url, url, "rpc://")
    try:
        import celery  # noqa: F401
        have_celery = True
    except ImportError:
        have_celery = False
        print("(Celery is not installed: pip install -e '.[bench]')")
    try:
        for broker, (url, celery_url, backend) in brokers.items():
            for workers in (1, 3):
                elapsed, failed = _run_twisted(url, workers, args)
                report("twistedsched, %s, %d worker%s" % (
                    broker, workers, "s" if workers > 1 else ""), args.runs, elapsed, failed)
                if have_celery:
                    report("celery, %s, %d worker%s" % (
                        broker, workers, "s" if workers > 1 else ""), args.runs,
                        bench_celery(celery_url, backend, workers, args.runs,
                                     args.concurrency))
    finally:
        for clean in cleanup:
            clean()


def _run_twisted(url, workers, args):
    """One twistedsched measurement, in a child process (a fresh reactor each)."""
    out = subprocess.run([sys.executable, __file__, "--child", url, str(workers),
                          str(args.runs), str(args.concurrency)], cwd=ROOT,
                         env=environment(), capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    elapsed, failed = out.stdout.strip().splitlines()[-1].split()
    return float(elapsed), int(failed)


def child(url, workers, runs, concurrency):
    result = []

    def go(reactor):
        d = bench_twistedsched(reactor, url, int(workers), int(runs), int(concurrency))
        return d.addCallback(result.append)
    try:
        task.react(go)
    except SystemExit:
        pass
    print("%f %d" % result[0])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:6])
    else:
        main()
