"""
Tests for twistedsched.client over a real loopback TCP connection.
"""

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.internet import defer, error, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched.client import (
    BadArgument, InvalidTrigger, JobIdTaken, NoSuchJob, NotAuthorized, UnknownTask, connect,
    trigger_to_wire)
from twistedsched.control import ControlFactory
from twistedsched.triggers import IntervalTrigger


class LoopbackTests(unittest.TestCase):

    timeout = 30

    @defer.inlineCallbacks
    def setUp(self):
        self.sched = Scheduler(reactor=reactor, timezone="UTC")
        self.ran = []
        self.sched.task("greet")(self.ran.append)
        self.sched.startService()
        self.addCleanup(self.sched.shutdown)
        self.factory = ControlFactory(self.sched)
        yield self.listen(self.factory)

    @defer.inlineCallbacks
    def listen(self, factory):
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
        self.addCleanup(port.stopListening)
        self.endpoint = "tcp:127.0.0.1:%d" % (port.getHost().port,)

    @defer.inlineCallbacks
    def connect(self, **kwargs):
        client = yield connect(reactor, self.endpoint, **kwargs)
        self.addCleanup(client.close)
        return client

    @defer.inlineCallbacks
    def test_round_trip(self):
        client = yield self.connect()
        job = yield client.add_job("greet", "interval", minutes=5, id="g", args=["hi"])
        self.assertEqual(job.trigger, "interval[0:05:00]")
        jobs = yield client.get_jobs()
        self.assertEqual([j.id for j in jobs], ["g"])
        job = yield client.pause_job("g")
        self.assertTrue(job.paused)
        yield client.remove_job("g")
        self.assertIsNone((yield client.get_job("g")))

    @defer.inlineCallbacks
    def test_events_arrive_at_callback(self):
        events = []
        executed = defer.Deferred()

        def on_event(event):
            events.append(event)
            if event["event"] == "job_executed" and not executed.called:
                executed.callback(event)
        client = yield self.connect(on_event=on_event)
        yield client.subscribe(["job_added", "job_executed"])
        yield client.add_job("greet", ("interval", "1h"), id="g", args=["now"])
        yield client.run_job("g")
        event = yield executed
        self.assertEqual(event["job_id"], "g")
        self.assertEqual([e["event"] for e in events], ["job_added", "job_executed"])
        self.assertEqual(self.ran, ["now"])

    @defer.inlineCallbacks
    def test_errors(self):
        client = yield self.connect()
        yield client.add_job("greet", ("interval", "1h"), id="g", args=[1])
        for d, error_type in [
                (client.add_job("os:system", ("interval", "1h")), UnknownTask),
                (client.add_job("greet", ("cron", "61 * * * *")), InvalidTrigger),
                (client.add_job("greet", ("interval", "2h"), id="g", args=[1]), JobIdTaken),
                (client.run_job("nope"), NoSuchJob),
                (client.add_job("greet", ("interval", "1h"), args=["x" * 70000]), BadArgument)]:
            yield self.assertFailure(d, error_type)
        stats = yield client.stats()     # the connection is still up
        self.assertEqual(stats["jobs"], 1)

    @defer.inlineCallbacks
    def test_connect_refused(self):
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            self.factory)
        number = port.getHost().port
        yield port.stopListening()
        yield self.assertFailure(connect(reactor, "tcp:127.0.0.1:%d" % (number,)),
                                 error.ConnectError)

    @defer.inlineCallbacks
    def test_login(self):
        checker = InMemoryUsernamePasswordDatabaseDontUse(admin=b"secret")
        yield self.listen(ControlFactory(self.sched, checker))
        client = yield self.connect()
        yield self.assertFailure(client.tasks(), NotAuthorized)
        yield self.assertFailure(self.connect(username="admin", password="wrong"),
                                 NotAuthorized)
        client = yield self.connect(username="admin", password="secret")
        tasks = yield client.tasks()
        self.assertEqual([t["name"] for t in tasks], ["greet"])


class TriggerToWireTests(unittest.TestCase):

    def test_forms(self):
        self.assertEqual(trigger_to_wire(("cron", "0 4 * * *"), {}), ("cron", "0 4 * * *"))
        kind, spec = trigger_to_wire("interval", {"minutes": 5})
        self.assertEqual(kind, "json")
        self.assertIn('"minutes": 5', spec)
        trigger = IntervalTrigger(seconds=5, start_date="2030-01-01T00:00:00+00:00")
        self.assertEqual(trigger_to_wire(trigger, {})[0], "json")
        self.assertRaises(BadArgument, trigger_to_wire, 42, {})
