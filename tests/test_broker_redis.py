"""
Tests for the Redis Streams broker against a real redis-server (see
L{tests.redisserver}); each test uses a namespace of its own.
"""

import json
import uuid

from twisted.internet import defer
from twisted.trial import unittest

from twistedsched.brokers import make_broker
from twistedsched.brokers.base import BrokerError, Delivery, outcome, run_message
from twistedsched.brokers.interfaces import IBroker
from twistedsched.brokers.redisstreams import RedisStreamsBroker
from twistedsched.errors import BadArgumentError

from tests.redisserver import shared_server


def message(run_id="r1", job_id="j1", task="add", args=(1, 2), reply_to="sched"):
    return run_message(run_id, job_id, task, args, {}, "2026-12-01T00:00:00+00:00",
                       0.0, reply_to)


class BrokerTestCase(unittest.TestCase):

    timeout = 30

    def setUp(self):
        self.server = shared_server()
        self.namespace = "t-" + uuid.uuid4().hex[:12]
        self.broker = self.make_broker()

    def make_broker(self):
        broker = RedisStreamsBroker(self.server.url(), namespace=self.namespace)
        self.addCleanup(broker.close)
        return broker


class RedisStreamsBrokerTests(BrokerTestCase):

    def test_provides_the_interface(self):
        self.assertTrue(IBroker.providedBy(self.broker))
        self.assertIsInstance(make_broker(self.server.url()), RedisStreamsBroker)

    def test_bad_urls_and_names(self):
        for bad in ("amqps://x", "mysql://x", None, 3):
            self.assertRaises(BadArgumentError, make_broker, bad)
        self.assertRaises(BadArgumentError, RedisStreamsBroker, self.server.url(),
                          namespace="a b")
        self.assertRaises(BadArgumentError, self.broker.queue_key, "a\r\nb")
        self.assertRaises(BadArgumentError, self.broker.queue_key, "x" * 129)
        self.broker.queue_key("x" * 128)

    @defer.inlineCallbacks
    def test_publish_read_finish_and_results(self):
        yield self.broker.publish("default", message())
        got = yield self.broker.read(["other", "default"], "w1", 10, 0.5)
        self.assertEqual([(d.queue, d.run_id, d.count, d.message["args"]) for d in got],
                         [("default", "r1", 1, [1, 2])])
        stats = yield self.broker.queue_stats("default")
        self.assertEqual(stats["depth"], 1)
        self.assertGreaterEqual(stats["oldest_age"], 0)
        self.assertEqual((yield self.broker.settled("r1")), None)
        yield self.broker.finish(got[0], outcome(got[0], "w1", "ok", 1.0, 0.5, result=3))
        self.assertEqual((yield self.broker.settled("r1")), "finished")
        stats = yield self.broker.queue_stats("default")
        self.assertEqual((stats["depth"], stats["oldest_age"]), (0, None))
        results = yield self.broker.results("sched", 0.5)
        self.assertEqual([(r["run_id"], r["result"], r["worker"], r["deliveries"])
                          for r in results], [("r1", 3, "w1", 1)])
        # Read results are gone: the next read waits and finds nothing.
        self.assertEqual((yield self.broker.results("sched", 0.05)), [])

    @defer.inlineCallbacks
    def test_a_delivery_goes_to_one_consumer(self):
        yield self.broker.publish("default", message())
        first = yield self.broker.read(["default"], "w1", 10, 0.5)
        second = yield self.broker.read(["default"], "w2", 10, 0.05)
        self.assertEqual((len(first), second), (1, []))

    @defer.inlineCallbacks
    def test_reclaim_takes_over_idle_deliveries_and_counts_them(self):
        yield self.broker.publish("default", message())
        yield self.broker.read(["default"], "dead", 10, 0.5)
        # Not idle long enough: nothing to take over.
        self.assertEqual((yield self.broker.reclaim(["default"], "w2", 3600, 10)), [])
        taken = yield self.broker.reclaim(["default"], "w2", 0, 10)
        self.assertEqual([(d.run_id, d.count) for d in taken], [("r1", 2)])

    @defer.inlineCallbacks
    def test_keep_refreshes_only_the_consumers_own_deliveries(self):
        yield self.broker.publish("default", message())
        held = yield self.broker.read(["default"], "slow", 10, 0.5)
        taken = yield self.broker.reclaim(["default"], "other", 0, 10)
        yield self.broker.keep(held, "slow", 10)
        pending = yield self.broker._call("XPENDING", self.broker.queue_key("default"),
                                          "workers", "-", "+", 10)
        self.assertEqual([row[1] for row in pending], ["other"])
        self.assertEqual(taken[0].run_id, "r1")

    @defer.inlineCallbacks
    def test_ack_without_outcome(self):
        yield self.broker.publish("default", message())
        got = yield self.broker.read(["default"], "w1", 10, 0.5)
        yield self.broker.ack(got[0])
        self.assertEqual((yield self.broker.queue_stats("default"))["depth"], 0)
        self.assertEqual((yield self.broker.reclaim(["default"], "w2", 0, 10)), [])
        self.assertEqual((yield self.broker.settled("r1")), None)

    @defer.inlineCallbacks
    def test_begin_takes_a_lease_that_keep_renews(self):
        self.assertEqual((yield self.broker.begin("r1", "w1", 60)), "started")
        self.assertEqual((yield self.broker.begin("r1", "w1", 60)), "started")
        self.assertEqual((yield self.broker.begin("r1", "w2", 60)), "held")
        key = self.broker._key("running", "r1")
        yield self.broker._call("PEXPIRE", key, 5000)
        yield self.broker.keep([Delivery("default", "1-0", message("r1"))], "w1", 60)
        self.assertGreater(int((yield self.broker._call("PTTL", key))), 5000)
        # Another's keep does not renew it; once it expires, another may begin.
        yield self.broker._call("PEXPIRE", key, 5000)
        yield self.broker.keep([Delivery("default", "1-0", message("r1"))], "w2", 60)
        self.assertLessEqual(int((yield self.broker._call("PTTL", key))), 5000)
        yield self.broker._call("DEL", key)
        self.assertEqual((yield self.broker.begin("r1", "w2", 60)), "started")
        yield self.broker.abandon("r1")
        self.assertEqual((yield self.broker.begin("r1", "w2", 60)), "abandoned")
        yield self.broker._call("SET", self.broker._key("finished", "r1"), "1")
        self.assertEqual((yield self.broker.begin("r1", "w2", 60)), "finished")

    @defer.inlineCallbacks
    def test_abandon(self):
        yield self.broker.abandon("r9")
        self.assertEqual((yield self.broker.settled("r9")), "abandoned")

    @defer.inlineCallbacks
    def test_a_bad_message_is_delivered_with_its_error(self):
        yield self.broker.ensure_queue("default")
        yield self.broker._call("XADD", self.broker.queue_key("default"), "*", "run", "{nope")
        yield self.broker._call("XADD", self.broker.queue_key("default"), "*", "run",
                                '{"run_id": 3}')
        bad_reply = dict(message(), reply_to="a b")
        yield self.broker._call("XADD", self.broker.queue_key("default"), "*", "run",
                                json.dumps(bad_reply))
        got = yield self.broker.read(["default"], "w1", 10, 0.5)
        self.assertEqual([d.message for d in got], [None, None, None])
        self.assertIn("not JSON", got[0].error)
        self.assertIn("run_id", got[1].error)
        self.assertIn("field 'reply_to': 'a b' is not a name", got[2].error)

    @defer.inlineCallbacks
    def test_worker_registry(self):
        yield self.broker.heartbeat({"name": "w1", "queues": ["default"]}, 30)
        yield self.broker.heartbeat({"name": "w2", "queues": ["reports"]}, 30)
        self.assertEqual([w["name"] for w in (yield self.broker.workers())], ["w1", "w2"])
        yield self.broker.retire("w1")
        self.assertEqual([w["name"] for w in (yield self.broker.workers())], ["w2"])
        # A worker whose record expired (it died) is dropped from the listing.
        yield self.broker._call("DEL", self.broker._key("worker", "w2"))
        self.assertEqual((yield self.broker.workers()), [])
        self.assertEqual((yield self.broker._call(
            "SMEMBERS", self.broker._key("workers", "all"))), [])

    @defer.inlineCallbacks
    def test_unreachable_redis_is_a_clear_error_within_the_timeout(self):
        from tests.redisserver import free_port
        url = "redis://127.0.0.1:%d/0" % (free_port(),)
        broker = RedisStreamsBroker(url, timeout=0.5)
        self.addCleanup(broker.close)
        with self.assertRaises(BrokerError) as caught:
            yield broker.connect()
        self.assertIn("did not answer PING", str(caught.exception))
        self.assertIn(url, str(caught.exception))
