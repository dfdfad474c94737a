"""
The RabbitMQ broker and the worker tier on it, against the machine's
RabbitMQ in a virtual host of the test run's own (see
L{tests.rabbitmqserver}); each test uses a namespace of its own.
"""

import os
import time
import uuid

from twisted.internet import defer
from twisted.trial import unittest

from twistedsched import events as ev
from twistedsched.brokers import make_broker
from twistedsched.brokers.base import BrokerError, outcome, run_message
from twistedsched.brokers.interfaces import IBroker
from twistedsched.errors import BadArgumentError

from tests import rabbitmqserver
from tests.test_broker_redis import message
from tests.test_worker import wait_until
from tests import test_worker_processes


class RabbitMQTestCase(unittest.TestCase):

    timeout = 60

    def setUp(self):
        self.url = rabbitmqserver.url()
        self.namespace = "t-" + uuid.uuid4().hex[:12]

    def make_broker(self, **options):
        options.setdefault("warmup", 0.5)
        broker = make_broker(self.url, namespace=self.namespace, **options)
        self.addCleanup(broker.close)
        return broker


class RabbitMQBrokerTests(RabbitMQTestCase):

    def test_urls(self):
        from twistedsched.brokers.rabbitmq import RabbitMQBroker
        broker = make_broker(self.url, namespace=self.namespace)
        self.assertIsInstance(broker, RabbitMQBroker)
        self.assertTrue(IBroker.providedBy(broker))
        self.assertRaises(BadArgumentError, RabbitMQBroker, "amqps://x/")
        self.assertRaises(BadArgumentError, RabbitMQBroker, self.url, namespace="a b")

    @defer.inlineCallbacks
    def test_publish_read_finish_and_results(self):
        broker = self.make_broker()
        yield broker.publish("default", message())
        got = yield broker.read(["default"], "w1", 10, 2.0)
        self.assertEqual([(d.queue, d.run_id, d.count) for d in got], [("default", "r1", 1)])
        yield broker.finish(got[0], outcome(got[0], "w1", "ok", 1.0, 0.5, result=3))
        results = yield broker.results("sched", 2.0)
        self.assertEqual([(r["run_id"], r["result"], r["worker"]) for r in results],
                         [("r1", 3, "w1")])
        self.assertEqual((yield broker.queue_stats("default"))["depth"], 0)
        yield broker.delete_queues(["default"], ["sched"])

    @defer.inlineCallbacks
    def test_a_dead_consumers_run_is_delivered_again_and_counted(self):
        first, second = self.make_broker(), self.make_broker()
        yield first.publish("default", message())
        got = yield first.read(["default"], "w1", 10, 2.0)
        self.assertEqual(len(got), 1)
        yield first.close()          # as a killed worker's connection does
        again = []
        deadline = time.monotonic() + 10
        while not again and time.monotonic() < deadline:
            again = yield second.read(["default"], "w2", 10, 1.0)
        self.assertEqual([(d.run_id, d.count) for d in again], [("r1", 2)])
        yield second.ack(again[0])
        yield second.delete_queues(["default"])

    @defer.inlineCallbacks
    def test_acknowledging_on_a_closed_channel_is_a_clear_error(self):
        broker = self.make_broker()
        yield broker.publish("default", message())
        got = yield broker.read(["default"], "w1", 10, 2.0)
        yield broker.close()
        with self.assertRaises(BrokerError) as caught:
            yield broker.ack(got[0])
        self.assertIn("delivers it again", str(caught.exception))
        other = self.make_broker()
        yield other.delete_queues(["default"])

    @defer.inlineCallbacks
    def test_worker_registry_from_heartbeats(self):
        scheduler_side, worker_side = self.make_broker(), self.make_broker()
        self.assertEqual((yield scheduler_side.workers()), [])      # listening from now
        yield worker_side.heartbeat({"name": "w1", "queues": ["default"]}, 30)
        yield wait_until(lambda: "w1" in scheduler_side._registry)
        self.assertEqual([w["name"] for w in (yield scheduler_side.workers())], ["w1"])
        yield worker_side.retire("w1")
        yield wait_until(lambda: "w1" not in scheduler_side._registry)
        # A record past its time to live (the worker died) is dropped.
        yield worker_side.heartbeat({"name": "w2", "queues": ["default"]}, 0.01)
        yield wait_until(lambda: "w2" in scheduler_side._registry)
        yield wait_until(lambda: time.monotonic() > scheduler_side._registry["w2"][1])
        self.assertEqual((yield scheduler_side.workers()), [])

    @defer.inlineCallbacks
    def test_unreachable_rabbitmq_is_a_clear_error(self):
        from tests.redisserver import free_port
        broker = make_broker("amqp://guest:guest@127.0.0.1:%d/%%2F" % (free_port(),),
                             timeout=1)
        with self.assertRaises(BrokerError) as caught:
            yield broker.connect()
        self.assertIn("did not answer", str(caught.exception))


class RabbitMQWorkerTierTests(RabbitMQTestCase, test_worker_processes.WorkerProcessTests):
    """The worker tier's guarantees with C{twistd sched-worker} processes on RabbitMQ."""

    def setUp(self):
        RabbitMQTestCase.setUp(self)
        self.events = []

    def broker_url(self):
        return self.url

    def make_broker(self, **options):
        options.setdefault("warmup", 1.0)
        return make_broker(self.url, namespace=self.namespace, **options)

    @defer.inlineCallbacks
    def test_every_run_executes_once_across_three_workers(self):
        """
        At least once, and once per run id where the worker can tell: on
        RabbitMQ a worker remembers the runs it finished (there is no shared
        record), so copies of a run that reach the same worker run once.
        """
        path = yield self.thirty_runs_on_three_workers()
        yield wait_until(lambda: len([e for e in self.events if e.code == ev.EVENT_JOB_RUN])
                         == 30, timeout=60, what="30 outcomes")
        self.assertEqual(sorted(line[0] for line in self.lines(path)),
                         sorted("j%d" % n for n in range(30)))
        records = [e.record for e in self.events if e.code == ev.EVENT_JOB_RUN]
        self.assertEqual(({r["outcome"] for r in records}, {r["deliveries"] for r in records}),
                         ({"ok"}, {1}))
        self.assertLessEqual({r["worker"] for r in records}, {"a", "b", "c"})

    @defer.inlineCallbacks
    def test_a_finished_run_delivered_again_to_its_worker_is_not_rerun(self):
        sched = self.make_scheduler(queues=["default"])
        self.spawn_worker("solo", concurrency=1)
        yield self.wait_registered("solo")
        path = os.path.abspath(self.mktemp())
        broker = self.make_broker()
        self.addCleanup(broker.close)
        copy = run_message("same-run", "j", "wt.mark", [path, "once"], {}, "x", 0.0,
                           "nobody")
        for _ in range(3):
            yield broker.publish("default", copy)
        yield wait_until(lambda: self.lines(path), what="the run")
        yield wait_until(lambda: sched.executors["queue"].stats.get("default", {}).get(
            "depth") == 0, what="the copies acknowledged")
        self.assertEqual(len(self.lines(path)), 1)

    def tearDown(self):
        cleaner = make_broker(self.url, namespace=self.namespace)
        d = cleaner.delete_queues(["default", "reports"], ["test-sched"])
        d.addErrback(lambda _: None)
        return d.addBoth(lambda _: cleaner.close())
