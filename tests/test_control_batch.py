"""
Tests for the control port's batch command (L{AddJobs}), its bound on
questions in flight, and C{twistedsched-ctl import} and its paged C{list}.
"""

import json
import os
import sys
from io import StringIO

from twisted.internet import defer, error
from twisted.protocols import amp
from twisted.python.failure import Failure
from twisted.test.proto_helpers import StringTransport
from twisted.trial import unittest

from twistedsched import control as C
from twistedsched import ctl
from twistedsched.control import AddJobs, BadArgument
from twistedsched.remote import build_remote_trigger

from tests.test_control import ControlTestCase, Harness
from tests.test_ctl import DaemonTestCase


class AddJobsTests(ControlTestCase):

    def test_batch_added_in_order_with_refusals_of_their_own(self):
        self.add("taken")
        jobs = [
            {"task": "greet", "trigger": ("interval", "30s"), "id": "a", "args": ["x"]},
            {"task": "greet", "trigger": ("interval", "31s"), "id": "taken"},
            {"task": "nope", "trigger": ("interval", "30s")},
            {"task": "greet", "trigger": ("cron", "not cron")},
            {"task": "greet", "trigger": ("at", "2030-01-01T04:00"), "id": "b",
             "paused": True, "name": "Bee"},
            {"task": "greet", "trigger": ("interval", "30s"), "bogus": 1},
        ]
        results = self.ok(self.client.add_jobs(jobs))
        self.assertEqual(results[0], {"id": "a", "next_run": "2023-11-14T22:13:50+00:00"})
        self.assertEqual([r.get("error") for r in results[1:4]],
                         ["JOB_ID_TAKEN", "UNKNOWN_TASK", "INVALID_TRIGGER"])
        self.assertEqual(results[4], {"id": "b", "next_run": None})
        self.assertEqual(results[5]["error"], "BAD_ARGUMENT")
        self.assertIn("'bogus'", results[5]["message"])
        job = self.ok(self.client.get_job("b"))
        self.assertEqual((job.name, job.paused), ("Bee", True))
        self.h.clock.advance(30)
        self.assertIn((("x",), {}), self.h.calls)

    def test_jobs_added_later_answered_in_their_place(self):
        held = {}
        add_job = self.h.sched.add_job

        def slow_add(*args, **kwargs):
            if kwargs.get("id") not in ("b", "d"):
                return add_job(*args, **kwargs)
            held[kwargs["id"]] = defer.Deferred()
            return held[kwargs["id"]].addCallback(lambda _: add_job(*args, **kwargs))
        self.patch(self.h.sched, "add_job", slow_add)
        jobs = [{"task": "greet", "trigger": ("interval", "30s"), "id": job_id}
                for job_id in "abcd"] + [{"task": "nope", "trigger": ("interval", "30s")}]
        d = self.client.add_jobs(jobs)
        self.h.pump.flush()
        held["d"].callback(None)
        self.h.pump.flush()
        self.assertNoResult(d)
        held["b"].callback(None)
        results = self.ok(d)
        self.assertEqual([r.get("id", r.get("error")) for r in results],
                         ["a", "b", "c", "d", "UNKNOWN_TASK"])

    def test_trigger_built_once_per_batch_hashed_fields_per_job(self):
        jobs = [{"task": "greet", "trigger": ("interval", "30s"), "id": "i1"},
                {"task": "greet", "trigger": ("interval", "30s"), "id": "i2"},
                {"task": "greet", "trigger": ("cron", "H * * * *"), "id": "c1"},
                {"task": "greet", "trigger": ("cron", "H * * * *"), "id": "c2"}]
        self.ok(self.client.add_jobs(jobs))
        stored = self.h.sched._default_store()._jobs
        self.assertIs(stored["i1"].trigger, stored["i2"].trigger)
        now = self.h.sched.now()
        minutes = [stored[job_id].trigger.next_fire_time(None, now).minute
                   for job_id in ("c1", "c2")]
        self.assertNotEqual(minutes[0], minutes[1])      # each job its own minute
        alone = build_remote_trigger(self.h.sched, "cron", "H * * * *")
        self.assertEqual(minutes, [alone.bound_to(job_id).next_fire_time(None, now).minute
                                   for job_id in ("c1", "c2")])

    def test_many_jobs_go_in_several_batches(self):
        sent = []
        real = self.client._call
        self.patch(self.client, "_call", lambda command, **kw: sent.append(command) or
                   real(command, **kw))
        jobs = [{"task": "greet", "trigger": ("interval", "30s"), "id": "j%d" % (i,),
                 "args": ["x" * 100]} for i in range(1200)]
        results = self.ok(self.client.add_jobs(jobs, batch_size=500))
        self.assertEqual([r["id"] for r in results], ["j%d" % (i,) for i in range(1200)])
        self.assertGreaterEqual(len(sent), 3)     # 500 jobs, or 60 kB, a batch
        self.assertEqual(self.ok(self.h.sched.count_jobs()), 1200)

    def test_job_too_big_for_one_value_refused_alone(self):
        jobs = [{"task": "greet", "trigger": ("interval", "30s"), "args": ["z" * 70000]},
                {"task": "greet", "trigger": ("interval", "30s"), "id": "small"}]
        results = self.ok(self.client.add_jobs(jobs))
        self.assertEqual(results[0]["error"], "BAD_ARGUMENT")
        self.assertEqual(results[1]["id"], "small")

    def test_malformed_batches(self):
        for text in ("{}", "[1, 2]", "not json"):
            answer = self.h.client._call(AddJobs, jobs=text)
            if text == "[1, 2]":
                results = self.ok(answer)["results"]
                self.assertEqual([r["error"] for r in results], ["BAD_ARGUMENT"] * 2)
            else:
                self.error(answer, BadArgument)
        too_many = json.dumps([{"task": "greet"}] * (C.MAX_BATCH + 1))
        self.error(self.h.client._call(AddJobs, jobs=too_many), BadArgument)

    def test_batch_past_the_add_limit_waits_its_turn(self):
        """Jobs beyond the connection's rate are added as it allows, not refused."""
        h = Harness()
        h.factory.max_adds_per_second = 2
        server = h.factory.buildProtocol(None)
        self.assertIsNotNone(server.add_limit)
        server.makeConnection(StringTransport())
        answer = server.add_jobs(json.dumps(
            [{"task": "greet", "trigger_kind": "interval", "trigger": "30s",
              "id": "r%d" % (i,)} for i in range(5)]))
        self.assertNoResult(answer)
        self.assertEqual(self.successResultOf(h.sched.count_jobs()), 2)
        h.clock.advance(0.5)
        self.assertEqual(self.successResultOf(h.sched.count_jobs()), 3)
        h.clock.advance(1)
        results = self.successResultOf(answer)["results"]
        self.assertEqual([r.get("id") for r in results], ["r%d" % (i,) for i in range(5)])
        self.assertFalse([c for c in h.clock.getDelayedCalls()
                          if c.func == server._add_batch])


class InFlightTests(unittest.TestCase):
    """A connection with many questions unanswered is not read further."""

    def setUp(self):
        self.h = Harness()
        self.server = self.h.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.server.makeConnection(self.transport)
        self.waiting = []
        self.patch(self.h.sched, "count_jobs", self.slow_count)

    def slow_count(self):
        d = defer.Deferred()
        self.waiting.append(d)
        return d

    def ask(self, count):
        for tag in range(count):
            box = amp.AmpBox(_command=b"Stats", _ask=b"%d" % (tag,))
            self.server.dataReceived(box.serialize())

    def test_questions_past_the_bound_wait_and_input_pauses(self):
        self.ask(C.MAX_IN_FLIGHT + 5)
        self.assertEqual(len(self.waiting), C.MAX_IN_FLIGHT)
        self.assertEqual(len(self.server._held), 5)
        self.assertEqual(self.transport.producerState, "paused")
        for d in self.waiting[:3]:
            d.callback(0)
        self.assertEqual(len(self.waiting), C.MAX_IN_FLIGHT + 3)
        self.assertEqual(self.transport.producerState, "paused")
        for d in list(self.waiting[3:]):      # the last two come in meanwhile
            d.callback(0)
        self.assertEqual(len(self.waiting), C.MAX_IN_FLIGHT + 5)
        for d in self.waiting[-2:]:
            d.callback(0)
        self.assertEqual(len(self.server._held), 0)
        self.assertEqual(self.transport.producerState, "producing")
        self.assertEqual(self.transport.value().count(b"_answer"), C.MAX_IN_FLIGHT + 5)

    def test_answers_after_the_connection_closed(self):
        resumed = []
        self.patch(self.transport, "resumeProducing", lambda: resumed.append(True))
        self.ask(C.MAX_IN_FLIGHT + 1)
        self.server.connectionLost(Failure(error.ConnectionDone()))
        for d in list(self.waiting):
            d.callback(0)
        self.assertEqual((resumed, list(self.server._held)), ([], []))

    def test_answered_at_once_never_holds(self):
        self.patch(self.h.sched, "count_jobs", lambda: defer.succeed(0))
        self.ask(C.MAX_IN_FLIGHT * 3)
        self.assertEqual(self.server.in_flight, 0)
        self.assertEqual(self.transport.producerState, "producing")
        self.assertEqual(self.transport.value().count(b"_answer"), C.MAX_IN_FLIGHT * 3)


class FakeClient:
    """What ctl's list and import call, with pages and batches answered by tests."""

    def __init__(self):
        self.calls = []

    def get_jobs_page(self, offset, limit):
        d = defer.Deferred()
        self.calls.append((offset, limit, d))
        return d


class CtlPagingTests(unittest.TestCase):

    def setUp(self):
        self.out = StringIO()
        self.patch(sys, "stdout", self.out)
        self.args = ctl.build_parser().parse_args(["--timeout", "5", "list"])
        from twisted.internet import reactor
        self.reactor = reactor

    def test_each_page_has_its_own_timeout(self):
        from twisted.internet.task import Clock
        clock = Clock()
        self.patch(ctl, "_timeout", lambda d, reactor, seconds, what: C_timeout(
            d, clock, seconds, what))
        client = FakeClient()
        done = defer.ensureDeferred(ctl.do_list(client, self.args))
        job = ctl_job("a")
        clock.advance(4)
        client.calls[0][2].callback(([job], 1))
        self.assertIn("a ", self.out.getvalue())   # printed before the next page came
        clock.advance(4)                           # 8 s in all, 4 s on this page
        self.assertNoResult(done)
        client.calls[1][2].callback(([ctl_job("b")], None))
        self.successResultOf(done)
        lines = self.out.getvalue().splitlines()
        self.assertEqual([line.split()[0] for line in lines], ["ID", "a", "b"])

    def test_a_page_that_does_not_come_times_out(self):
        from twisted.internet.task import Clock
        clock = Clock()
        self.patch(ctl, "_timeout", lambda d, reactor, seconds, what: C_timeout(
            d, clock, seconds, what))
        client = FakeClient()
        done = defer.ensureDeferred(ctl.do_list(client, self.args))
        client.calls[0][2].callback(([ctl_job("a")], 1))
        clock.advance(5)
        failure = self.failureResultOf(done, ctl.Exit)
        self.assertIn("listing jobs from 1: no answer within 5 s", str(failure.value))


def C_timeout(d, clock, seconds, what, _real=ctl._timeout):
    return _real(d, clock, seconds, what)


def ctl_job(job_id):
    from twistedsched.client import RemoteJob
    return RemoteJob({"id": job_id, "name": job_id, "trigger": "interval[0:00:30]",
                      "next_run": "2030-01-01T00:00:00+00:00"})


class ReadJobsTests(unittest.TestCase):

    def write(self, text):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_list_and_lines(self):
        job = {"task": "greet", "trigger": ["interval", "30s"]}
        self.assertEqual(ctl.read_jobs(self.write(json.dumps([job, job]))), [job, job])
        self.assertEqual(ctl.read_jobs(self.write("%s\n\n%s\n" % (
            json.dumps(job), json.dumps(job)))), [job, job])

    def test_bad_file(self):
        error = self.assertRaises(ctl.Exit, ctl.read_jobs, self.write("[{"))
        self.assertIn("is not JSON", str(error))
        error = self.assertRaises(ctl.Exit, ctl.read_jobs, self.mktemp())
        self.assertIn("cannot read", str(error))


class CtlImportAgainstDaemonTests(DaemonTestCase):
    """twistedsched-ctl import against a real daemon."""

    def test_import_then_list(self):
        path = os.path.abspath(os.path.join(self.workdir, "jobs.jsonl"))
        with open(path, "w") as f:
            for i in range(1200):
                f.write(json.dumps({"task": "echo", "trigger": ["interval", "1h"],
                                    "id": "imp-%04d" % (i,), "args": ["hi"]}) + "\n")
            f.write(json.dumps({"task": "os:system", "trigger": ["interval", "1h"]}) + "\n")
        out, err = self.assertCtl(1, "import", path)
        self.assertIn("imported 1200 of 1201 jobs", out)
        self.assertIn("job 1201: UNKNOWN_TASK: no task is registered as 'os:system'", err)
        out, _ = self.assertCtl(0, "list")
        lines = out.splitlines()
        self.assertEqual(lines[0].split()[0], "ID")
        self.assertEqual([line.split()[0] for line in lines[1:]],
                         ["imp-%04d" % (i,) for i in range(1200)])
        self.assertNotIn("Traceback", self.daemon_log())
