"""
Tests for the control port: every AMP command, through iosim, against a real
scheduler on a Clock.
"""

import json

from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols import amp
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched.client import ClientProtocol, ControlClient, RemoteJob
from twistedsched.control import (
    MAX_BOX_KEYS, MAX_IN_FLIGHT,
    PAGE_BYTES, AddJob, BadArgument, Box, ControlFactory, Encoded, GetJob, InvalidTrigger,
    JobIdTaken, ListJobs, NoSuchJob, NotAuthorized, ServerError, UnknownTask, read_box)
from twistedsched.triggers import IntervalTrigger

START = 1_700_000_000  # 2023-11-14 22:13:20 UTC


class Harness:
    """A scheduler on a Clock, a control server and a client joined by an IOPump."""

    def __init__(self, checker=None, timezone="UTC"):
        self.clock = Clock()
        self.clock.advance(START)
        self.sched = Scheduler(reactor=self.clock, timezone=timezone)
        self.calls = []
        self.sched.task("greet")(self._greet)
        self.sched.startService()
        self.events = []
        self.factory = ControlFactory(self.sched, checker)
        self.server = self.factory.buildProtocol(None)
        self.protocol = ClientProtocol(self.events.append)
        self.pump = iosim.connect(self.server, iosim.makeFakeServer(self.server),
                                  self.protocol, iosim.makeFakeClient(self.protocol))
        self.client = ControlClient(self.protocol)

    def _greet(self, *args, **kwargs):
        """Say hello."""
        self.calls.append((args, kwargs))
        if kwargs.get("fail"):
            raise RuntimeError("asked to fail")


class ControlTestCase(unittest.TestCase):

    def setUp(self):
        self.h = Harness()
        self.client = self.h.client

    def ok(self, d):
        self.h.pump.flush()
        return self.successResultOf(d)

    def error(self, d, error_type):
        self.h.pump.flush()
        return self.failureResultOf(d, error_type)

    def add(self, job_id="j1", trigger=("interval", "30s"), **kwargs):
        return self.ok(self.client.add_job("greet", trigger, id=job_id, **kwargs))


class CommandTests(ControlTestCase):

    def test_add(self):
        job = self.add(args=["bob"], kwargs={"loud": True}, name="Hello")
        self.assertIsInstance(job, RemoteJob)
        self.assertEqual((job.id, job.name, job.task), ("j1", "Hello", "greet"))
        self.assertEqual((job.args, job.kwargs), (["bob"], {"loud": True}))
        self.assertEqual(job.next_run_time.timestamp(), START + 30)
        self.h.clock.advance(30)
        self.assertEqual(self.h.calls, [(("bob",), {"loud": True})])

    def test_add_trigger_forms(self):
        self.add("a", ("at", "2030-01-01T04:00"))
        self.add("b", "interval", minutes=5)
        self.add("c", IntervalTrigger(seconds=7, now=self.h.sched.now()))
        self.add("d", {"type": "interval", "seconds": 9})
        job = self.ok(self.client.get_job("b"))
        self.assertEqual(job.trigger, "interval[0:05:00]")
        self.assertEqual(self.ok(self.client.get_job("a")).next_run_time.year, 2030)

    def test_add_options(self):
        job = self.add(max_instances=3, coalesce=False, paused=True)
        self.assertEqual(job.options["max_instances"], 3)
        self.assertFalse(job.options["coalesce"])
        self.assertTrue(job.paused)

    def test_modify(self):
        self.add()
        job = self.ok(self.client.modify_job("j1", args=[1, 2], name="renamed"))
        self.assertEqual((job.args, job.name), ([1, 2], "renamed"))

    def test_reschedule(self):
        self.add()
        job = self.ok(self.client.reschedule_job("j1", ("interval", "1h")))
        self.assertEqual(job.next_run_time.timestamp(), START + 3600)

    def test_pause_resume_job(self):
        self.add()
        self.assertTrue(self.ok(self.client.pause_job("j1")).paused)
        self.h.clock.advance(60)
        self.assertEqual(self.h.calls, [])
        job = self.ok(self.client.resume_job("j1"))
        self.assertFalse(job.paused)

    def test_remove_and_get(self):
        self.add()
        self.assertIsNone(self.ok(self.client.remove_job("j1")))
        self.assertIsNone(self.ok(self.client.get_job("j1")))

    def test_run_now(self):
        self.add(args=["now"])
        job = self.ok(self.client.run_job("j1"))
        self.assertEqual(job.id, "j1")
        self.assertEqual(self.h.calls, [(("now",), {})])

    def test_list(self):
        self.add("late", ("interval", "1h"))
        self.add("soon", ("interval", "1m"))
        jobs = self.ok(self.client.get_jobs())
        self.assertEqual([job.id for job in jobs], ["soon", "late"])

    def test_tasks(self):
        self.assertEqual(self.ok(self.client.tasks()), [{"name": "greet", "doc": "Say hello."}])

    def test_pause_resume_scheduler(self):
        self.add()
        self.assertTrue(self.ok(self.client.pause()))
        self.assertTrue(self.h.sched.paused)
        self.h.clock.advance(60)
        self.assertEqual(self.h.calls, [])
        self.assertFalse(self.ok(self.client.resume()))
        self.h.clock.advance(0)
        self.assertEqual(len(self.h.calls), 1)

    def test_stats(self):
        self.add(kwargs={"fail": True})
        self.h.clock.advance(30)
        stats = self.ok(self.client.stats())
        self.assertEqual(stats["jobs"], 1)
        self.assertEqual(stats["errors"], 1)
        self.assertEqual(stats["running"], 0)
        self.assertIn("missed", stats)
        self.flushLoggedErrors(RuntimeError)


class HistoryTests(ControlTestCase):
    """GetJob answers with the job's last runs, newest first."""

    def test_history(self):
        self.add("ok")
        self.add("bad", kwargs={"fail": True})
        self.h.clock.advance(30)
        self.h.clock.advance(30)
        job = self.ok(self.client.get_job("ok"))
        self.assertEqual([run["outcome"] for run in job.history], ["ok", "ok"])
        newest = job.history[0]
        self.assertEqual(newest["scheduled_run_time"].timestamp(), START + 60)
        self.assertEqual(newest["started"].timestamp(), START + 60)
        self.assertEqual(newest["ended"].timestamp(), START + 60)
        self.assertEqual(newest["duration"], 0.0)
        self.assertEqual(newest["scheduler"], self.h.sched.scheduler_id)
        self.assertIsNone(newest["error"])
        bad = self.ok(self.client.get_job("bad")).history
        self.assertEqual([(run["outcome"], run["error"]) for run in bad],
                         [("error", "RuntimeError: asked to fail")] * 2)
        self.assertEqual(self.ok(self.client.get_job("ok", history=False)).history, [])
        self.flushLoggedErrors(RuntimeError)

    def test_times_in_the_scheduler_zone(self):
        self.h = Harness(timezone="Europe/Paris")
        self.client = self.h.client
        self.add("ok")
        self.h.clock.advance(30)
        answer = self.ok(self.client._call(GetJob, id="ok"))
        self.assertTrue(answer["history"][0]["scheduled_run_time"].endswith("+01:00"))

    def test_history_under_amp_limit(self):
        self.h.sched._history_size = 1000
        self.add("many", kwargs={"fail": True})
        for _ in range(1000):
            self.h.clock.advance(30)
        self.flushLoggedErrors(RuntimeError)
        answer = self.ok(self.client._call(GetJob, id="many"))
        raw = json.dumps(answer["history"], separators=(",", ":")).encode()
        self.assertLessEqual(len(raw), PAGE_BYTES)
        self.assertLess(len(answer["history"]), 1000)
        self.assertEqual(answer["history"][0]["scheduled_run_time"],
                         self.h.sched.now().isoformat())


class PagingTests(ControlTestCase):

    def test_ten_thousand_jobs(self):
        for i in range(10000):
            self.h.sched.add_job("greet", "interval", seconds=60 + i, id="job-%05d" % (i,),
                                 args=["x" * 20])
        pages = []
        offset = 0
        while offset is not None:
            d = self.client.get_jobs_page(offset)
            page, offset = self.ok(d)
            pages.append(page)
        ids = [job.id for page in pages for job in page]
        self.assertEqual(ids, ["job-%05d" % (i,) for i in range(10000)])
        self.assertGreater(len(pages), 10)

    def test_pages_by_id_list_each_job_once_while_jobs_fire(self):
        """
        Jobs fire between pages (their run order changes): paging by id
        lists each once, where paging by position in run order would not.
        """
        for i in range(10):
            self.add("j%d" % i, ("interval", "%ds" % (10 + i)))
        seen, after = [], ""
        while after is not None:
            answer = self.ok(self.client._call(ListJobs, after=after, limit=3))
            seen += [job["id"] for job in answer["jobs"]]
            after = answer.get("next_after")
            self.h.clock.advance(7)
        self.assertEqual(seen, ["j%d" % i for i in range(10)])
        jobs = self.ok(self.client.get_jobs())
        self.assertEqual(sorted(job.id for job in jobs), ["j%d" % i for i in range(10)])
        self.assertEqual(jobs, sorted(jobs, key=lambda job: job.next_run_time))

    def test_offset_and_after_together_refused(self):
        self.add("a")
        self.error(self.client._call(ListJobs, after="", offset=1), BadArgument)

    def test_page_under_amp_limit(self):
        for i in range(300):
            self.h.sched.add_job("greet", "interval", seconds=60, id="big-%03d" % (i,),
                                 args=["y" * 1000])
        answer = self.ok(self.client._call(ListJobs, offset=0))
        raw = json.dumps(answer["jobs"], separators=(",", ":")).encode()
        self.assertLessEqual(len(raw), PAGE_BYTES)
        self.assertEqual(answer["next_offset"], len(answer["jobs"]))

    def test_huge_job_is_elided(self):
        self.h.sched.add_job("greet", "interval", seconds=60, id="huge", args=["z" * 100000])
        job = self.ok(self.client.get_job("huge"))
        self.assertTrue(job.data["truncated"])
        self.assertEqual([j.id for j in self.ok(self.client.get_jobs())], ["huge"])

    def test_limit(self):
        for i in range(5):
            self.add("j%d" % (i,))
        page, next_offset = self.ok(self.client.get_jobs_page(1, 2))
        self.assertEqual(len(page), 2)
        self.assertEqual(next_offset, 3)
        self.error(self.client.get_jobs_page(0, 0), BadArgument)
        self.error(self.client.get_jobs_page(-1, 5), BadArgument)


class EventTests(ControlTestCase):

    def test_push(self):
        self.ok(self.client.subscribe())
        self.add()
        self.h.clock.advance(30)
        self.h.pump.flush()
        names = [event["event"] for event in self.h.events]
        self.assertEqual(names, ["job_added", "job_submitted", "job_executed"])
        self.assertEqual(self.h.events[-1]["job_id"], "j1")
        self.assertEqual(self.h.events[-1]["scheduled_run_time"], "2023-11-14T22:13:50+00:00")

    def test_mask_and_unsubscribe(self):
        self.ok(self.client.subscribe("job_executed,job_error"))
        self.add(kwargs={"fail": True})
        self.h.clock.advance(30)
        self.h.pump.flush()
        self.assertEqual([e["event"] for e in self.h.events], ["job_error"])
        self.assertEqual(self.h.events[0]["error"], "asked to fail")
        self.ok(self.client.unsubscribe())
        self.h.clock.advance(30)
        self.h.pump.flush()
        self.assertEqual(len(self.h.events), 1)
        self.flushLoggedErrors(RuntimeError)

    def test_slow_subscriber_loses_events_not_memory(self):
        self.ok(self.client.subscribe("job_added"))
        self.h.server.pauseProducing()          # as a transport with a full buffer does
        for i in range(3):                      # (this client's own commands would wait)
            self.successResultOf(self.h.sched.add_job("greet", "interval", seconds=30,
                                                      id="j%d" % (i,)))
        self.h.pump.flush()
        self.assertEqual(self.h.events, [])
        self.h.server.resumeProducing()
        self.add("j3")
        self.assertEqual([(e["event"], e.get("count")) for e in self.h.events],
                         [("events_dropped", 3), ("job_added", None)])

    def test_bad_event_name(self):
        self.error(self.client.subscribe("job_exploded"), BadArgument)

    def test_lost_connection_unsubscribes(self):
        self.ok(self.client.subscribe())
        from twisted.internet.error import ConnectionDone
        from twisted.python.failure import Failure
        self.h.server.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.h.sched._listeners, [])


class ErrorTests(ControlTestCase):

    def test_no_such_job(self):
        for call in (self.client.modify_job("x", name="n"), self.client.pause_job("x"),
                     self.client.resume_job("x"), self.client.remove_job("x"),
                     self.client.run_job("x"),
                     self.client.reschedule_job("x", ("interval", "5s"))):
            self.error(call, NoSuchJob)

    def test_unknown_task(self):
        for task in ("os:system", "builtins:eval", "greet.__call__", "nope"):
            failure = self.error(self.client.add_job(task, ("interval", "5s")), UnknownTask)
            self.assertIn(task, failure.getErrorMessage())
        self.add()
        self.error(self.client.modify_job("j1", task="os:system"), UnknownTask)

    def test_invalid_trigger(self):
        for trigger in [("interval", "often"), ("at", "tomorrow"), ("cron", 5),
                        ("json", "{"), ("sometimes", "x"), ("json", '{"type": "nope"}')]:
            self.error(self.client.add_job("greet", trigger), InvalidTrigger)
        self.add()
        self.error(self.client.reschedule_job("j1", ("interval", "-1s")), InvalidTrigger)

    def test_job_id_taken(self):
        self.add()
        failure = self.error(self.client.add_job("greet", ("interval", "5s"), id="j1"),
                             JobIdTaken)
        self.assertIn("j1", failure.getErrorMessage())

    def test_bad_argument(self):
        from twistedsched.control import AddJob, ModifyJob
        call_remote = self.client._call
        for arguments in [dict(args='{"a": 1}'), dict(kwargs="[1]"), dict(args="[1,"),
                          dict(options='{"func_ref": "os:system"}'), dict(options="[]"),
                          dict(options='{"max_instances": 0}'), dict(id="a\nb")]:
            call = dict(task="greet", trigger_kind="interval", trigger="5s")
            call.update(arguments)
            self.error(call_remote(AddJob, **call), BadArgument)
        self.add()
        self.error(call_remote(ModifyJob, id="j1", changes="{"), BadArgument)
        self.error(self.client.modify_job("j1", func="os:system"), BadArgument)
        self.error(self.client.add_job("greet", ("interval", "5s"), args=[object()]),
                   BadArgument)

    def test_unknown_outcome_says_so(self):
        """A change that may or may not have been made says so, and that a retry is safe."""
        from twistedsched.errors import JobStoreOutcomeUnknown

        def unanswered(*args, **kwargs):
            raise JobStoreOutcomeUnknown(
                "Redis at redis://r:6379/0 is unavailable (add: Not received Redis response); "
                "the change was sent but not confirmed, so it may have been made: check, or "
                "retry (adding the same job again is safe)")
        self.h.sched.add_job = unanswered
        failure = self.error(self.client.add_job("greet", ("interval", "5s"), id="a"),
                             ServerError)
        self.assertIn("job store unavailable", failure.getErrorMessage())
        self.assertIn("may have been made", failure.getErrorMessage())
        self.assertIn("adding the same job again is safe", failure.getErrorMessage())
        self.flushLoggedErrors()

    def test_malformed_box_keeps_connection(self):
        d = Deferred()
        self.h.protocol._sendBoxCommand(b"ListJobs", amp.Box({b"offset": b"abc"})
                                        ).addCallbacks(d.callback, d.errback)
        failure = self.error(d, amp.RemoteAmpError)
        self.assertEqual(failure.value.errorCode, b"BAD_ARGUMENT")
        self.ok(self.client.stats())

    def test_unexpected_error_is_server_error(self):
        def broken(*args, **kwargs):
            raise ZeroDivisionError("oops")
        self.h.sched.stats = broken
        failure = self.error(self.client.stats(), ServerError)
        self.assertIn("ZeroDivisionError", failure.getErrorMessage())
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.ok(self.client.tasks())


class BackPressureTests(unittest.TestCase):
    """
    At most MAX_IN_FLIGHT commands of a connection are answered at once; the
    connection stops reading meanwhile, and the held commands are answered
    in order as room frees.
    """

    def setUp(self):
        h = Harness()
        self.pending = []
        self.looked_up = []

        def get_job(job_id, jobstore=None):
            self.looked_up.append(job_id)
            d = Deferred()
            self.pending.append(d)
            return d
        h.sched.get_job = get_job
        self.server = h.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.server.makeConnection(self.transport)

    def send(self, count):
        data = b""
        for i in range(count):
            box = GetJob.makeArguments({"id": "j%d" % i, "history": False}, None)
            box[amp.COMMAND] = GetJob.commandName
            box[amp.ASK] = b"%d" % (i + 1,)
            data += box.serialize()
        self.server.dataReceived(data)

    def answers(self):
        return self.transport.value().count(b"_error_code")

    def test_excess_commands_wait_and_reading_stops(self):
        self.send(MAX_IN_FLIGHT + 8)
        self.assertEqual(len(self.looked_up), MAX_IN_FLIGHT)
        self.assertEqual(self.transport.producerState, "paused")
        self.pending[0].callback(None)          # answered (no such job): one more starts
        self.assertEqual((self.answers(), len(self.looked_up)), (1, MAX_IN_FLIGHT + 1))
        self.assertEqual(self.transport.producerState, "paused")
        for i in range(1, MAX_IN_FLIGHT + 8):
            self.pending[i].callback(None)
        self.assertEqual(self.answers(), MAX_IN_FLIGHT + 8)
        self.assertEqual(self.looked_up, ["j%d" % i for i in range(MAX_IN_FLIGHT + 8)])
        self.assertEqual(self.transport.producerState, "producing")

    def test_commands_within_the_bound_do_not_pause(self):
        self.send(MAX_IN_FLIGHT)
        self.assertEqual(self.transport.producerState, "producing")
        for d in self.pending:
            d.callback(None)
        self.send(1)        # room again
        self.assertEqual(len(self.looked_up), MAX_IN_FLIGHT + 1)

    def test_lost_connection_drops_held_commands(self):
        self.send(MAX_IN_FLIGHT + 2)
        self.server.connectionLost(Failure(ConnectionDone()))
        for d in self.pending:
            d.callback(None)
        self.assertEqual(len(self.looked_up), MAX_IN_FLIGHT)


def question(ask, extra=()):
    """The bytes of a ListTasks question tagged C{ask}, with C{extra} keys and values."""
    box = amp.Box({b"_command": b"ListTasks", b"_ask": ask})
    box.update(extra)
    return box.serialize()


def long_key_question(ask):
    """A ListTasks question with a 256-byte key (more than AMP allows)."""
    return question(ask)[:-2] + b"\x01\x00" + b"k" * 256 + b"\x00\x01v\x00\x00"


class WireTests(unittest.TestCase):
    """
    The server reads whole boxes in one loop, and boxes are written in
    fewer steps: what goes over the wire, and every limit, stays AMP's.
    """

    def setUp(self):
        self.server = Harness().factory.buildProtocol(None)
        self.transport = StringTransport()
        self.server.makeConnection(self.transport)

    def answered(self):
        return [box[b"_answer"] for box in amp.parseString(self.transport.value())]

    def test_read_box(self):
        data = b"junk" + question(b"1")
        self.assertEqual(read_box(data, 4),
                         ({b"_command": b"ListTasks", b"_ask": b"1"}, len(data)))
        for cut in range(4, len(data)):
            self.assertEqual(read_box(data[:cut], 4), (None, 4))
        self.assertEqual(read_box(b"\x00\x00", 0), ({}, 2))

    def test_read_box_limits(self):
        self.assertEqual(read_box(long_key_question(b"1"), 0), (None, 0))
        keys = {b"k%d" % n: b"v" for n in range(MAX_BOX_KEYS)}
        self.assertEqual(len(read_box(amp.Box(keys).serialize(), 0)[0]), MAX_BOX_KEYS)
        keys[b"one more"] = b"v"
        self.assertEqual(read_box(amp.Box(keys).serialize(), 0), (None, 0))

    def test_questions_cut_anywhere(self):
        data = question(b"1") + question(b"2") + question(b"3")
        for cut in range(len(data) + 1):
            self.setUp()
            self.server.dataReceived(data[:cut])
            self.server.dataReceived(data[cut:])
            self.assertEqual(self.answered(), [b"1", b"2", b"3"], "cut at %d" % (cut,))
        for size in range(1, 8):
            self.setUp()
            for start in range(0, len(data), size):
                self.server.dataReceived(data[start:start + size])
            self.assertEqual(self.answered(), [b"1", b"2", b"3"], "reads of %d" % (size,))

    def test_limits_after_a_whole_question(self):
        self.server.dataReceived(question(b"1") + long_key_question(b"2") + question(b"3"))
        self.assertEqual(self.answered(), [b"1"])
        self.assertTrue(self.transport.disconnecting)
        self.setUp()
        too_many = {b"k%d" % n: b"v" for n in range(MAX_BOX_KEYS)}
        self.server.dataReceived(question(b"1") + question(b"2", too_many) + question(b"3"))
        self.assertEqual(self.answered(), [b"1"])
        self.assertTrue(self.transport.disconnecting)

    def test_responders_kept_for_known_commands_only(self):
        self.server.dataReceived(b"".join(
            amp.Box({b"_command": b"Nope%d" % n, b"_ask": b"%d" % n}).serialize()
            for n in range(100)) + question(b"x") + question(b"y"))
        self.assertEqual(len(amp.parseString(self.transport.value())), 102)
        self.assertEqual(list(self.server._responders), [b"ListTasks"])

    def test_box_serializes_as_amp_does(self):
        for items in ({}, {b"_answer": b"1", b"job": Encoded(b'{"id":"x"}')},
                      {b"b": b"", b"a": b"x" * amp.MAX_VALUE_LENGTH, b"k" * 255: b"v"}):
            self.assertEqual(Box(items).serialize(), amp.AmpBox(items).serialize())
        for items, error in (({b"key": "v"}, TypeError),
                             ({b"k" * 256: b"v"}, amp.TooLong),
                             ({b"k": b"v" * (amp.MAX_VALUE_LENGTH + 1)}, amp.TooLong)):
            self.assertRaises(error, Box(items).serialize)

    def test_command_keywords_checked_as_amp_does(self):
        with self.assertRaises(amp.InvalidSignature) as caught:
            AddJob(task="t")
        self.assertEqual(str(caught.exception), "forgot trigger_kind, trigger for b'AddJob'")
        with self.assertRaises(amp.InvalidSignature) as caught:
            AddJob.makeArguments({"task": "t", "trigger_kind": "k", "trigger": "s",
                                  "bogus": 1}, None)
        self.assertEqual(str(caught.exception), "bogus is not a valid argument")
        box = AddJob.makeArguments({"task": "t", "trigger_kind": "k", "trigger": "s",
                                    "id": None}, None)
        self.assertEqual(box, {b"task": b"t", b"trigger_kind": b"k", b"trigger": b"s"})
        self.assertEqual(AddJob.parseArguments(box, None), {
            "task": "t", "trigger_kind": "k", "trigger": "s", "args": None, "kwargs": None,
            "id": None, "name": None, "options": None})


class AuthTests(unittest.TestCase):

    def setUp(self):
        checker = InMemoryUsernamePasswordDatabaseDontUse(admin=b"secret")
        self.h = Harness(checker=checker)

    def run_pump(self, d):
        self.h.pump.flush()
        self.h.clock.advance(0)     # refused logins are answered from a timer
        self.h.pump.flush()
        return d

    def test_not_authorized_before_login(self):
        d = self.run_pump(self.h.client.stats())
        self.failureResultOf(d, NotAuthorized)

    def test_bad_login(self):
        d = self.run_pump(self.h.client.login("admin", "wrong"))
        self.failureResultOf(d, NotAuthorized)
        self.failureResultOf(self.run_pump(self.h.client.tasks()), NotAuthorized)

    def test_login(self):
        self.successResultOf(self.run_pump(self.h.client.login("admin", "secret")))
        stats = self.successResultOf(self.run_pump(self.h.client.stats()))
        self.assertEqual(stats["jobs"], 0)
