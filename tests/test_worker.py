"""
The worker tier in one process: a scheduler with a L{QueueExecutor} and
L{Worker} services on a real redis-server (each test in a namespace of its
own).  Real time passes here (the broker's blocking reads, heartbeats), so
every wait is bounded by L{wait_until}; nothing asserts on timing.
"""

import os
import time
import uuid

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched import events as ev
from twistedsched.brokers.base import NoWorkerError, QueueFull, run_message
from twistedsched.brokers.redisstreams import RedisStreamsBroker
from twistedsched.errors import BadArgumentError, JobFailedInWorker, JobTimedOut
from twistedsched.executors.queue import QueueExecutor, queue_of
from twistedsched.interfaces import IRunExecutor
from twistedsched.workerd import Worker
from twistedsched.workerinfo import overview

from tests import workertasks
from tests.redisserver import RedisServer, shared_server

WAIT = 15.0


@defer.inlineCallbacks
def wait_until(condition, timeout=WAIT, what=None):
    """Let the reactor turn until C{condition()} holds (at most C{timeout} s)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % (what or condition,))
        yield deferLater(reactor, 0.02, lambda: None)


class WorkerTierTestCase(unittest.TestCase):

    timeout = 60

    def setUp(self):
        self.server = shared_server()
        self.namespace = "w-" + uuid.uuid4().hex[:12]
        self.events = []

    def make_broker(self):
        return RedisStreamsBroker(self.server.url(), namespace=self.namespace)

    def make_scheduler(self, **options):
        options.setdefault("check_interval", 0.1)
        self.executor = QueueExecutor(self.make_broker(), **options)
        sched = Scheduler(reactor=reactor, executors={"default": "reactor",
                                                      "queue": self.executor},
                          tasks=workertasks.registry, scheduler_id="test-sched")
        sched.add_listener(self.events.append, ev.EVENT_ALL | ev.EVENT_JOB_RUN)
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        return sched

    @defer.inlineCallbacks
    def start_worker(self, queues=("default",), registry=None, name=None, **options):
        options.setdefault("heartbeat", 0.1)
        options.setdefault("reclaim_after", 1.0)
        worker = Worker(self.make_broker(), list(queues), registry or workertasks.registry,
                        worker_name=name or "w-" + uuid.uuid4().hex[:6], reactor=reactor,
                        **options)
        worker.startService()
        self.addCleanup(worker.stopService)
        yield wait_until(lambda: any(w["name"] == worker.worker_name
                                     for w in self.executor.workers), what="registry")
        return worker

    def runs(self, job_id):
        return [e for e in self.events if e.code == ev.EVENT_JOB_RUN and e.job_id == job_id]


class QueueExecutorTests(WorkerTierTestCase):

    def test_queue_names(self):
        self.assertEqual(queue_of("queue:reports"), "reports")
        self.assertEqual(queue_of("queue"), "default")
        self.assertTrue(IRunExecutor.providedBy(QueueExecutor(self.make_broker())))
        self.assertRaises(BadArgumentError, QueueExecutor, self.make_broker(), max_pending=0)

    def test_a_job_must_have_a_name_and_json_arguments(self):
        sched = self.make_scheduler()
        self.assertRaises(BadArgumentError, sched.add_job, lambda: 1,
                          executor="queue")
        self.assertRaises(BadArgumentError, sched.add_job, "wt.add", args=(1, object()),
                          executor="queue")

    @defer.inlineCallbacks
    def test_a_run_goes_to_a_worker_and_its_outcome_comes_back(self):
        sched = self.make_scheduler()
        worker = yield self.start_worker(queues=["reports"])
        yield sched.add_job("wt.add", "interval", seconds=3600, id="sum", args=(2, 3),
                            executor="queue:reports")
        yield sched.run_job("sum")
        yield wait_until(lambda: self.runs("sum"), what="the run's record")
        executed = [e for e in self.events if e.code == ev.EVENT_JOB_EXECUTED]
        self.assertEqual([e.retval for e in executed], [5])
        record = self.runs("sum")[0].record
        self.assertEqual((record["outcome"], record["worker"], record["deliveries"]),
                         ("ok", worker.worker_name, 1))
        history = yield sched.job_history("sum")
        self.assertEqual((history[0]["worker"], history[0]["deliveries"]),
                         (worker.worker_name, 1))
        self.assertEqual(self.executor.pending("reports"), 0)
        # The operator's view: the worker, and the queue it emptied.
        yield wait_until(lambda: self.executor.stats.get("reports", {}).get("depth") == 0)

        def listed():       # (the registry shows the worker's heartbeat after the run)
            found = [w for w in overview(sched)["workers"] if w["name"] == worker.worker_name]
            return found and found[0]["counters"].get("ok") == 1 and found[0]
        yield wait_until(listed, what="the worker's record after its run")
        data = overview(sched)
        queue = [q for q in data["queues"] if q["queue"] == "reports"][0]
        self.assertEqual((queue["in_flight"], queue["consumers"], queue["runs"],
                          queue["oldest_age"], queue["unconsumed"]), (0, 1, 1, None, False))
        listed = listed()
        self.assertEqual((listed["queues"], listed["running"], listed["counters"].get("ok")),
                         (["reports"], [], 1))
        self.assertIn("wt.add", listed["tasks"])

    @defer.inlineCallbacks
    def test_a_failing_task_is_an_error_naming_the_worker(self):
        sched = self.make_scheduler()
        worker = yield self.start_worker()
        yield sched.add_job("wt.fail", "interval", seconds=3600, id="f", args=("nope",),
                            executor="queue")
        yield sched.run_job("f")
        yield wait_until(lambda: self.runs("f"))
        errors = [e for e in self.events if e.code == ev.EVENT_JOB_ERROR]
        self.assertIsInstance(errors[0].exception, JobFailedInWorker)
        self.assertIn("ValueError: nope", str(errors[0].exception))
        self.assertIn(worker.worker_name, str(errors[0].exception))
        self.assertIn("Traceback", errors[0].exception.remote_traceback)
        self.assertEqual(self.runs("f")[0].record["worker"], worker.worker_name)
        self.flushLoggedErrors(JobFailedInWorker)

    @defer.inlineCallbacks
    def test_a_result_that_is_not_json_is_an_error(self):
        sched = self.make_scheduler()
        yield self.start_worker()
        yield sched.add_job("wt.nojson", "interval", seconds=3600, id="n", executor="queue")
        yield sched.run_job("n")
        yield wait_until(lambda: self.runs("n"))
        self.assertIn("not a JSON value", self.runs("n")[0].record["error"])
        self.flushLoggedErrors(JobFailedInWorker)

    @defer.inlineCallbacks
    def test_a_task_no_live_worker_offers_is_reported_not_queued(self):
        sched = self.make_scheduler()
        other = workertasks.TaskRegistry()
        other.register("wt.fail", workertasks.fail)
        yield self.start_worker(registry=other)
        yield sched.add_job("wt.add", "interval", seconds=3600, id="a", args=(1, 2),
                            executor="queue")
        yield sched.add_job("wt.add", "interval", seconds=3600, id="b", args=(1, 2),
                            executor="queue:nobody")
        for job_id in ("a", "b"):
            yield sched.run_job(job_id)
        yield wait_until(lambda: self.runs("a") and self.runs("b"))
        for job_id, queue in (("a", "default"), ("b", "nobody")):
            record = self.runs(job_id)[0].record
            self.assertEqual(record["outcome"], "error")
            self.assertIn("no live worker on queue %r offers task 'wt.add'" % (queue,),
                          record["error"])
            stats = yield self.executor.broker.queue_stats(queue)
            self.assertEqual(stats["depth"], 0)
        self.flushLoggedErrors(NoWorkerError)

    @defer.inlineCallbacks
    def test_a_worker_without_the_task_reports_it(self):
        """A worker that gets a run it does not offer (a mixed queue) says so."""
        sched = self.make_scheduler()
        worker = yield self.start_worker()
        # The registry as read says someone offers it: the run is published.
        self.executor._monitor.stop()
        self.executor.workers = [{"queues": ["default"], "tasks": ["wt.missing"]}]
        details = {}
        d = self.executor._publish("default", "j", "wt.missing", [], {},
                                   sched.now(), None, details)
        error = yield self.assertFailure(d, NoWorkerError)
        self.assertEqual(str(error), "worker %s does not offer task 'wt.missing'" % (
            worker.worker_name,))
        self.assertEqual(details, {"worker": worker.worker_name, "deliveries": 1})

    @defer.inlineCallbacks
    def test_max_instances_holds_while_a_worker_runs_the_job(self):
        sched = self.make_scheduler()
        path = self.mktemp()
        yield self.start_worker()
        yield sched.add_job("wt.mark", "interval", seconds=3600, id="slow",
                            args=(path, "x", 1.0), executor="queue")
        yield sched.run_job("slow")
        yield wait_until(lambda: sched.running_instances("slow") == 1)
        yield sched.run_job("slow")
        skipped = [e for e in self.events if e.code == ev.EVENT_JOB_MAX_INSTANCES]
        self.assertEqual(len(skipped), 1)
        yield wait_until(lambda: self.runs("slow") and self.runs("slow")[-1].outcome == "ok")
        with open(path) as f:
            self.assertEqual(len(f.readlines()), 1)

    @defer.inlineCallbacks
    def test_a_timeout_abandons_the_run_and_no_worker_starts_it(self):
        sched = self.make_scheduler()
        path = self.mktemp()
        yield self.start_worker(queues=["other"])      # keeps the registry non-empty
        self.executor.workers = [{"queues": ["default"], "tasks": ["wt.mark"]}]
        yield sched.add_job("wt.mark", "interval", seconds=3600, id="late",
                            args=(path, "late"), executor="queue", timeout=0.2)
        yield sched.run_job("late")
        yield wait_until(lambda: self.runs("late"))
        self.assertEqual(self.runs("late")[0].outcome, "timeout")
        self.assertIn("abandoned", self.runs("late")[0].record["error"])
        # A worker that comes for the queue now acknowledges the run unrun.
        worker = yield self.start_worker()
        yield wait_until(lambda: worker.counters["not rerun (abandoned)"] == 1)
        self.assertEqual((yield self.executor.broker.queue_stats("default"))["depth"], 0)
        self.assertFalse(__import__("os").path.exists(path))
        self.flushLoggedErrors(JobTimedOut)

    def test_back_pressure_refuses_runs_past_the_bound(self):
        sched = self.make_scheduler(max_pending=1)
        self.executor.workers = [{"queues": ["default"], "tasks": ["wt.add"]}]
        self.executor._monitor.stop()       # keep the registry as set here
        first = self.executor._publish("default", "j", "wt.add", [1, 2], {}, sched.now(),
                                       None, {})
        with self.assertRaises(QueueFull) as caught:
            self.executor._publish("default", "j", "wt.add", [1, 2], {}, sched.now(),
                                   None, {})
        self.assertIn("queue 'default' holds 1 unfinished runs", str(caught.exception))
        self.assertEqual(self.executor.pending("default"), 1)
        first.addErrback(lambda _: None)

    @defer.inlineCallbacks
    def test_a_queue_without_consumer_raises_an_event(self):
        self.make_scheduler(unconsumed_after=0.3, queues=["lonely"])
        yield wait_until(lambda: self.executor.unconsumed() == ["lonely"])
        alarms = [e for e in self.events if e.code == ev.EVENT_QUEUE_UNCONSUMED]
        self.assertEqual([(e.queue, e.to_dict()["event"]) for e in alarms],
                         [("lonely", "queue_unconsumed")])
        self.assertGreaterEqual(alarms[0].seconds, 0.3)
        # A consumer comes: the alarm is lowered (and would fire again later).
        yield self.start_worker(queues=["lonely"])
        yield wait_until(lambda: self.executor.unconsumed() == [])

    @defer.inlineCallbacks
    def test_a_finished_run_delivered_again_is_acknowledged_not_rerun(self):
        self.make_scheduler()
        path = self.mktemp()
        broker = self.make_broker()
        self.addCleanup(broker.close)
        message = run_message("same-run", "j", "wt.mark", [path, "once"], {}, "2026-12-01",
                              0.0, "test-sched")
        yield broker.publish("default", message)
        yield broker.publish("default", message)
        # Both copies come to the worker in its first read, so both are in hand at once.
        worker = yield self.start_worker()
        yield wait_until(lambda: worker.counters["ok"] + worker.counters[
            "not rerun (finished)"] == 2)
        with open(path) as f:
            self.assertEqual(len(f.readlines()), 1)
        self.assertEqual((yield broker.queue_stats("default"))["depth"], 0)

    @defer.inlineCallbacks
    def test_a_run_delivered_too_often_is_reported_failed_not_run(self):
        """A run whose workers all died (a task that crashes them) stops going round."""
        self.make_scheduler()
        path = self.mktemp()
        broker = self.make_broker()
        self.addCleanup(broker.close)
        yield broker.publish("default", run_message("poison", "j", "wt.mark", [path, "x"], {},
                                                    "x", 0.0, "test-sched"))
        yield broker.read(["default"], "dead-0", 1, 1.0)
        for n in range(1, 3):           # taken over by dead workers twice: 3 deliveries
            yield broker.reclaim(["default"], "dead-%d" % (n,), 0, 1)
        worker = yield self.start_worker(max_deliveries=3, reclaim_after=0.2)
        # (The executor reads the outcome the worker reported a beat later.)
        yield wait_until(lambda: worker.counters["too many deliveries"] == 1
                         and self.executor.counters[("-", "unclaimed outcomes")] == 1)
        self.assertFalse(os.path.exists(path))
        self.assertEqual((yield broker.settled("poison")), "finished")
        results = yield broker.results("test-sched", 0.1)
        self.assertEqual(results, [])       # read by the executor: it was not waiting for it
        self.assertEqual(self.executor.counters[("-", "unclaimed outcomes")], 1)

    @defer.inlineCallbacks
    def test_the_tier_carries_on_after_redis_restarts(self):
        """Redis killed: runs fail with a clear error meanwhile; back: they run again."""
        self.server = RedisServer(persistent=True).start()
        self.addCleanup(self.server.cleanup)
        sched = self.make_scheduler()
        yield self.start_worker()
        yield sched.add_job("wt.add", "interval", seconds=3600, id="s", args=(1, 1),
                            executor="queue")
        yield sched.run_job("s")
        yield wait_until(lambda: len(self.runs("s")) == 1)
        self.server.kill()
        yield sched.run_job("s")
        yield wait_until(lambda: len(self.runs("s")) == 2, timeout=30)
        self.assertEqual(self.runs("s")[1].outcome, "error")
        self.assertIn("BrokerError: Redis at redis://127.0.0.1:%d/0" % (self.server.port,),
                      self.runs("s")[1].record["error"])
        self.server.start()
        deadline = time.monotonic() + 30
        while not (self.runs("s")[-1].outcome == "ok" and len(self.runs("s")) > 2):
            self.assertLess(time.monotonic(), deadline, "no run succeeded after the restart")
            yield sched.run_job("s")
            yield wait_until(lambda n=len(self.runs("s")): len(self.runs("s")) > n, timeout=30)
        self.flushLoggedErrors()

    @defer.inlineCallbacks
    def test_an_unreadable_message_is_dropped_and_the_worker_goes_on(self):
        sched = self.make_scheduler()
        worker = yield self.start_worker()
        broker = self.make_broker()
        self.addCleanup(broker.close)
        yield broker.ensure_queue("default")
        yield broker._call("XADD", broker.queue_key("default"), "*", "run", "garbage")
        yield wait_until(lambda: worker.counters["bad messages"] == 1)
        yield sched.add_job("wt.add", "interval", seconds=3600, id="s", args=(1, 1),
                            executor="queue")
        yield sched.run_job("s")
        yield wait_until(lambda: self.runs("s"))
        self.assertEqual(self.runs("s")[0].outcome, "ok")
