"""
The worker tier's guarantees with real processes: C{twistd -n sched-worker}
daemons on a real redis-server, a scheduler in the test process.  Every
wait is bounded; nothing asserts on how long things took.
"""

import os
import signal
import subprocess
import sys
import time
import uuid

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater

from twistedsched import events as ev
from twistedsched.brokers.base import NoWorkerError, run_message
from twistedsched.errors import JobTimedOut

from tests.daemonprocess import environment, stop_process
from tests.redisserver import shared_server
from tests.test_ctl import DaemonTestCase
from tests.test_worker import WorkerTierTestCase, wait_until

#: Seconds between a worker's heartbeats, and idle seconds before its runs
#: are taken over, in these tests.
HEARTBEAT, RECLAIM_AFTER = 0.2, 1.5


class WorkerProcessTests(WorkerTierTestCase):

    timeout = 120

    def spawn_worker(self, name, tasks="tests.workertasks", queues="default",
                     concurrency=2, executor="reactor"):
        workdir = self.mktemp()
        os.makedirs(workdir)
        log_path = os.path.join(workdir, "worker.log")
        args = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "--logfile=-", "sched-worker",
                "--broker", self.broker_url(), "--broker-namespace", self.namespace,
                "--queues", queues, "--tasks", tasks, "--name", name,
                "--concurrency", str(concurrency), "--executor", executor,
                "--heartbeat", str(HEARTBEAT), "--reclaim-after", str(RECLAIM_AFTER)]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(args, cwd=workdir, env=environment(), stdout=log,
                                       stderr=subprocess.STDOUT)
        process.log_path = log_path
        self.addCleanup(stop_process, process)
        return process

    def broker_url(self):
        return self.server.url()

    def worker_log(self, process):
        with open(process.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    @defer.inlineCallbacks
    def wait_registered(self, *names):
        yield wait_until(lambda: set(names) <= {w["name"] for w in self.executor.workers},
                         timeout=30, what="workers %s in the registry" % (names,))

    def lines(self, path):
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line.split() for line in f]

    @defer.inlineCallbacks
    def thirty_runs_on_three_workers(self):
        """
        Workers a, b and c, and a run of each of 30 queued jobs that mark a
        file; fire with the file's path.
        """
        sched = self.make_scheduler()
        for name in ("a", "b", "c"):
            self.spawn_worker(name)
        yield self.wait_registered("a", "b", "c")
        path = os.path.abspath(self.mktemp())
        for n in range(30):
            yield sched.add_job("wt.mark", "interval", seconds=3600, id="j%d" % n,
                                args=(path, "j%d" % n), executor="queue")
            yield sched.run_job("j%d" % n)
        return path

    @defer.inlineCallbacks
    def test_every_run_executes_once_across_three_workers(self):
        """At least once, and at most once per run id: duplicates are not rerun."""
        path = yield self.thirty_runs_on_three_workers()
        # The same run published twice more (a publisher that retried).
        broker = self.make_broker()
        self.addCleanup(broker.close)
        duplicate = run_message("dup-run", "dup", "wt.mark", [path, "dup"], {}, "x", 0.0,
                                "nobody")
        for _ in range(3):
            yield broker.publish("default", duplicate)
        yield wait_until(lambda: len([e for e in self.events if e.code == ev.EVENT_JOB_RUN])
                         == 30, timeout=60, what="30 outcomes")
        yield wait_until(lambda: ["dup"] == [line[0] for line in self.lines(path)
                                             if line[0] == "dup"], what="the duplicate")
        labels = sorted(line[0] for line in self.lines(path))
        self.assertEqual(labels, sorted(["j%d" % n for n in range(30)] + ["dup"]))
        records = [e.record for e in self.events if e.code == ev.EVENT_JOB_RUN]
        self.assertEqual({r["outcome"] for r in records}, {"ok"})
        self.assertEqual({r["deliveries"] for r in records}, {1})
        self.assertLessEqual({r["worker"] for r in records}, {"a", "b", "c"})
        yield wait_until(lambda: self.executor.stats.get("default", {}).get("depth") == 0,
                         what="an empty queue")

    @defer.inlineCallbacks
    def test_a_run_of_a_killed_worker_is_redelivered_to_another(self):
        sched = self.make_scheduler()
        first = self.spawn_worker("first")
        yield self.wait_registered("first")
        path = os.path.abspath(self.mktemp())
        yield sched.add_job("wt.mark", "interval", seconds=3600, id="long",
                            args=(path, "long", 2.0), executor="queue")
        yield sched.run_job("long")
        yield wait_until(lambda: self.lines(path), what="the first start")
        self.assertEqual(self.lines(path), [["long", str(first.pid)]])
        second = self.spawn_worker("second")
        yield self.wait_registered("second")
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = time.monotonic()
        yield wait_until(lambda: self.runs("long"), timeout=60, what="the outcome")
        redelivered_after = time.monotonic() - killed
        self.assertEqual(self.lines(path), [["long", str(first.pid)],
                                            ["long", str(second.pid)]])
        record = self.runs("long")[0].record
        self.assertEqual((record["outcome"], record["worker"], record["deliveries"]),
                         ("ok", "second", 2))
        self.assertEqual(sched.running_instances("long"), 0)
        # For the record (docs/workers.rst states the bound): printed, not asserted.
        print("redelivered and finished %.1f s after the kill" % (redelivered_after,))

    @defer.inlineCallbacks
    def test_max_instances_and_timeouts_hold_across_worker_processes(self):
        sched = self.make_scheduler(queues=["default"])
        worker = self.spawn_worker("busy", concurrency=1)
        yield self.wait_registered("busy")
        path = os.path.abspath(self.mktemp())
        yield sched.add_job("wt.mark", "interval", seconds=3600, id="long",
                            args=(path, "long", 2.0), executor="queue")
        yield sched.add_job("wt.mark", "interval", seconds=3600, id="late",
                            args=(path, "late"), executor="queue", timeout=0.5)
        yield sched.run_job("long")
        yield wait_until(lambda: self.lines(path), what="the long run's start")
        # A second instance while the worker runs the first: skipped.
        yield sched.run_job("long")
        skipped = [e for e in self.events if e.code == ev.EVENT_JOB_MAX_INSTANCES]
        self.assertEqual([e.job_id for e in skipped], ["long"])
        # A run that waits behind it for longer than its timeout: timed out,
        # and the worker acknowledges it unrun when it gets to it.
        yield sched.run_job("late")
        yield wait_until(lambda: self.runs("late"), what="the timeout")
        self.assertEqual(self.runs("late")[0].outcome, "timeout")
        yield wait_until(lambda: self.runs("long"), what="the long run's end")
        yield wait_until(lambda: "is abandoned: acknowledged, not run again"
                         in self.worker_log(worker), what="the worker's word")
        yield wait_until(lambda: self.executor.stats.get("default", {}).get("depth") == 0,
                         what="an empty queue")
        self.assertEqual([line[0] for line in self.lines(path)], ["long"])
        self.flushLoggedErrors(JobTimedOut)

    @defer.inlineCallbacks
    def test_a_task_no_live_worker_offers_is_reported(self):
        sched = self.make_scheduler()
        from twistedsched.example_tasks import echo
        sched.tasks.register("echo", echo)
        self.addCleanup(sched.tasks.unregister, "echo")
        self.spawn_worker("examples", tasks="twistedsched.example_tasks")
        yield self.wait_registered("examples")
        yield sched.add_job("wt.add", "interval", seconds=3600, id="x", args=(1, 2),
                            executor="queue")
        yield sched.add_job("echo", "interval", seconds=3600, id="e", args=("hi",),
                            executor="queue")
        yield sched.run_job("x")
        yield sched.run_job("e")
        yield wait_until(lambda: self.runs("x") and self.runs("e"))
        self.assertIn("no live worker on queue 'default' offers task 'wt.add'",
                      self.runs("x")[0].record["error"])
        self.assertEqual(self.runs("e")[0].record["worker"], "examples")
        self.flushLoggedErrors(NoWorkerError)

    @defer.inlineCallbacks
    def test_a_queue_whose_only_worker_died_raises_the_alarm(self):
        self.make_scheduler(unconsumed_after=1.0, queues=["reports"])
        only = self.spawn_worker("only", queues="reports")
        yield self.wait_registered("only")
        yield wait_until(lambda: self.executor.unconsumed() == [], what="no alarm")
        before = len(self.events)       # (the alarm may have fired while it started)
        only.send_signal(signal.SIGKILL)
        only.wait()
        yield wait_until(lambda: self.executor.unconsumed() == ["reports"], timeout=30,
                         what="the alarm")
        alarms = [e for e in self.events[before:] if e.code == ev.EVENT_QUEUE_UNCONSUMED]
        self.assertEqual([e.queue for e in alarms], ["reports"])

    @defer.inlineCallbacks
    def test_sigterm_finishes_runs_in_flight_and_leaves_the_registry(self):
        sched = self.make_scheduler()
        worker = self.spawn_worker("polite", executor="threads")
        yield self.wait_registered("polite")
        path = os.path.abspath(self.mktemp())
        yield sched.add_job("wt.mark", "interval", seconds=3600, id="m",
                            args=(path, "m", 1.0), executor="queue")
        yield sched.run_job("m")
        yield wait_until(lambda: self.lines(path))
        worker.send_signal(signal.SIGTERM)
        yield wait_until(lambda: worker.poll() is not None, timeout=30, what="exit")
        # twistd ends by re-raising the signal it stopped for.
        self.assertIn(worker.returncode, (0, -signal.SIGTERM), self.worker_log(worker))
        self.assertNotIn("Traceback", self.worker_log(worker))
        yield wait_until(lambda: self.runs("m"))
        self.assertEqual(self.runs("m")[0].outcome, "ok")
        yield wait_until(lambda: "polite" not in {w["name"] for w in self.executor.workers})
        yield deferLater(reactor, 0, lambda: None)


class DaemonWithBrokerTests(DaemonTestCase):
    """C{twistd sched --broker}, a C{sched-worker} and C{twistedsched-ctl}, all processes."""

    def setUp(self):
        self.server = shared_server()
        self.namespace = "d-" + uuid.uuid4().hex[:12]
        return super().setUp()

    def broker_url(self):
        return self.server.url()

    def daemon_args(self):
        return super().daemon_args() + ["--broker", self.server.url(),
                                        "--broker-namespace", self.namespace]

    def test_ctl_adds_a_queued_job_and_lists_the_worker(self):
        worker = WorkerProcessTests.spawn_worker(self, "listed", tasks="twistedsched.example_tasks")
        deadline = time.monotonic() + 30
        while True:
            out, _ = self.assertCtl(0, "workers")
            if "listed" in out or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertIn("listed", out)
        out, _ = self.assertCtl(0, "add", "echo", "--interval", "1h", "--id", "q",
                                "--args", '["via the queue"]', "--executor", "queue")
        self.assertCtl(0, "run", "q")
        deadline = time.monotonic() + 30
        while True:
            out, _ = self.assertCtl(0, "show", "q")
            if "worker listed" in out or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        run = [line for line in out.splitlines() if "worker listed" in line]
        self.assertEqual(len(run), 1, out)
        self.assertIn(" ok ", run[0])
        self.assertIn("worker listed (1 delivery)", run[0])
        self.assertIn("echo: args=('via the queue',)", WorkerProcessTests.worker_log(self, worker))
        deadline = time.monotonic() + 30
        while True:     # the daemon reads the queue's depth every 2 s
            out, _ = self.assertCtl(0, "workers")
            queue_line = [line for line in out.splitlines() if line.startswith("default")]
            if queue_line and queue_line[0].split()[1] != "-" \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(queue_line[0].split()[:2], ["default", "0"])
