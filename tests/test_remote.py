"""
Tests for twistedsched.remote: the rules shared by the control port and the console.
"""

import datetime as dt
import json

from twisted.internet.task import Clock
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched.errors import (
    BadArgumentError, ConflictingIdError, TriggerError, UnknownTaskError)
from twistedsched.remote import (
    MAX_ARGUMENT_BYTES, add_remote_job, build_remote_trigger, job_to_wire, lookup_remote_task,
    modify_remote_job, parse_duration, parse_json_value)
from twistedsched.triggers import DateTrigger, IntervalTrigger

START = 1_700_000_000  # 2023-11-14 22:13:20 UTC


def make_scheduler(timezone="UTC"):
    clock = Clock()
    clock.advance(START)
    sched = Scheduler(reactor=clock, timezone=timezone)
    sched.calls = []
    sched.task("greet")(lambda *a, **kw: sched.calls.append((a, kw)))
    sched.task("game.respawn")(lambda zone: sched.calls.append(zone))
    sched.startService()
    return sched, clock


class LookupTaskTests(unittest.TestCase):

    def test_registered(self):
        sched, _ = make_scheduler()
        self.assertTrue(callable(lookup_remote_task(sched, "greet")))
        self.assertTrue(callable(lookup_remote_task(sched, "game.respawn")))

    def test_refused(self):
        sched, _ = make_scheduler()
        for name in ["os:system", "builtins:eval", "greet.__globals__", "greet:x",
                     "twistedsched.remote:parse_duration", "nope", "", None, 3, ["greet"]]:
            self.assertRaises(UnknownTaskError, lookup_remote_task, sched, name)


class ParseTests(unittest.TestCase):

    def test_durations(self):
        for text, seconds in [("30s", 30), ("5m", 300), ("1h30m", 5400), ("2d", 172800),
                              ("90", 90), ("1w", 604800), ("1.5h", 5400), (" 1h 5s ", 3605)]:
            self.assertEqual(parse_duration(text), seconds, text)

    def test_bad_durations(self):
        for text in ["", "x", "0", "0s", "5x", "m", "-5", "1h-5m", "s30", None, True, "nan"]:
            self.assertRaises(BadArgumentError, parse_duration, text)

    def test_json(self):
        self.assertEqual(parse_json_value('[1, "a"]', "args"), [1, "a"])
        for bad in ["[1,", "NaN", "[Infinity]", "{'a': 1}", "[" * 100000, None]:
            self.assertRaises(BadArgumentError, parse_json_value, bad, "args")


class TriggerTests(unittest.TestCase):

    def test_interval(self):
        sched, _ = make_scheduler()
        trigger = build_remote_trigger(sched, "every", "1h30m")
        self.assertIsInstance(trigger, IntervalTrigger)
        self.assertEqual(trigger.interval, dt.timedelta(hours=1, minutes=30))

    def test_at_naive_in_scheduler_zone(self):
        sched, _ = make_scheduler("Europe/Paris")
        trigger = build_remote_trigger(sched, "at", "2030-06-01T04:00")
        self.assertIsInstance(trigger, DateTrigger)
        self.assertEqual(trigger.run_date.utcoffset(), dt.timedelta(hours=2))

    def test_dict(self):
        sched, _ = make_scheduler()
        trigger = build_remote_trigger(sched, "json", '{"type": "interval", "seconds": 10}')
        self.assertEqual(trigger.interval, dt.timedelta(seconds=10))
        again = build_remote_trigger(sched, "json", trigger.to_dict())
        self.assertEqual(again, trigger)

    def test_bad(self):
        sched, _ = make_scheduler()
        for kind, spec in [("interval", "soon"), ("at", "tomorrow"), ("at", 5),
                           ("json", "{"), ("json", "[1]"), ("json", {"type": "nope"}),
                           ("json", {"type": "interval", "seconds": "x"}),
                           ("sometimes", "x"), ("cron", 5)]:
            self.assertRaises(TriggerError, build_remote_trigger, sched, kind, spec)


class AddRemoteJobTests(unittest.TestCase):

    def test_add_and_run(self):
        sched, clock = make_scheduler()
        job = self.successResultOf(add_remote_job(
            sched, "greet", ("interval", "30s"), args='["bob"]', kwargs='{"loud": true}',
            id="hello", name="Hello"))
        self.assertEqual((job.id, job.name, job.task), ("hello", "Hello", "greet"))
        clock.advance(30)
        self.assertEqual(sched.calls, [(("bob",), {"loud": True})])

    def test_errors_fail_the_deferred(self):
        sched, _ = make_scheduler()
        cases = [
            (UnknownTaskError, dict(task="os:system")),
            (TriggerError, dict(trigger=("interval", "often"))),
            (BadArgumentError, dict(args='{"a": 1}')),
            (BadArgumentError, dict(kwargs="[1]")),
            (BadArgumentError, dict(args="{}")),
            (BadArgumentError, dict(kwargs="[]")),
            (BadArgumentError, dict(args="[1,")),
            (BadArgumentError, dict(id="x" * 500)),
            (BadArgumentError, dict(id="a\nb")),
            (BadArgumentError, dict(options={"func_ref": "os:system"})),
            (BadArgumentError, dict(options={"max_instances": 0})),
            (BadArgumentError, dict(options={"timeout": 0})),
            (BadArgumentError, dict(options={"timeout": "soon"})),
        ]
        for error, overrides in cases:
            call = dict(task="greet", trigger=("interval", "30s"))
            call.update(overrides)
            self.failureResultOf(add_remote_job(sched, **call), error)

    def test_arguments_read_from_json_are_checked_once(self):
        """Read from JSON text (or a batch's): a number too big for a float, or too much."""
        sched, _ = make_scheduler()
        for decoded in (False, True):
            for args, kwargs in ((["1e400"], {}), ([], {"x": "-1e400"})):
                f = self.failureResultOf(add_remote_job(
                    sched, "greet", ("interval", "30s"), args="[%s]" % (",".join(args),),
                    kwargs="{%s}" % (",".join('"%s": %s' % kv for kv in kwargs.items()),),
                    decoded=decoded), BadArgumentError)
                self.assertIn("is not a JSON value", f.getErrorMessage())
            f = self.failureResultOf(add_remote_job(
                sched, "greet", ("interval", "30s"), args=json.dumps(["x" * 40000]),
                decoded=decoded), BadArgumentError)
            self.assertIn("more than the %d allowed" % (MAX_ARGUMENT_BYTES,), f.getErrorMessage())
        f = self.failureResultOf(add_remote_job(
            sched, "greet", ("interval", "30s"), args=[float("inf")], decoded=True),
            BadArgumentError)
        self.assertIn("args[0]", f.getErrorMessage())
        job = self.successResultOf(add_remote_job(
            sched, "greet", ("interval", "30s"), args=[1, {"a": [2.5, None]}], decoded=True))
        self.assertEqual(job.args, (1, {"a": [2.5, None]}))

    def test_taken_id(self):
        sched, _ = make_scheduler()
        add_remote_job(sched, "greet", ("interval", "30s"), id="a")
        self.successResultOf(add_remote_job(sched, "greet", ("interval", "30s"), id="a"))
        self.failureResultOf(add_remote_job(sched, "greet", ("interval", "31s"), id="a"),
                             ConflictingIdError)

    def test_json_combination_fills_interval_start_dates(self):
        """An interval inside and/or, written without a start date, starts from now."""
        sched, _ = make_scheduler()
        spec = json.dumps({"type": "or", "triggers": [
            {"type": "interval", "minutes": 30},
            {"type": "and", "triggers": [{"type": "interval", "hours": 1},
                                         {"type": "cron", "second": "*"}]}]})
        trigger = build_remote_trigger(sched, "json", spec)
        now = sched.now()
        self.assertEqual(trigger.next_fire_time(None, now), now + dt.timedelta(minutes=30))

    def test_recover(self):
        """Remote clients may ask for a recoverable run (issue 14 item 6), as a boolean only."""
        sched, _ = make_scheduler()
        job = self.successResultOf(add_remote_job(
            sched, "greet", ("interval", "30s"), options={"recover": True}))
        self.assertTrue(job.recover)
        self.assertTrue(job_to_wire(job, sched.timezone)["options"]["recover"])
        self.failureResultOf(add_remote_job(sched, "greet", ("interval", "30s"),
                                            options={"recover": "yes"}), BadArgumentError)

    def test_paused(self):
        sched, _ = make_scheduler()
        job = self.successResultOf(add_remote_job(
            sched, "greet", ("interval", "30s"), options={"paused": True}))
        self.assertTrue(job.paused)

    def test_modify(self):
        sched, _ = make_scheduler()
        add_remote_job(sched, "greet", ("interval", "30s"), id="a")
        job = self.successResultOf(modify_remote_job(
            sched, "a", {"args": [1], "name": "n", "timeout": 12}))
        self.assertEqual((job.args, job.name, job.timeout), ((1,), "n", 12))
        self.failureResultOf(modify_remote_job(sched, "a", {"task": "os:system"}),
                             UnknownTaskError)
        self.failureResultOf(modify_remote_job(sched, "a", {"func": "os:system"}),
                             BadArgumentError)


class WireTests(unittest.TestCase):

    def test_job_to_wire(self):
        sched, _ = make_scheduler("Europe/London")
        job = self.successResultOf(add_remote_job(
            sched, "greet", ("interval", "30s"), args="[1]", id="a", options={"timeout": 90}))
        wire = job_to_wire(job, sched.timezone)
        self.assertEqual(wire["id"], "a")
        self.assertEqual(wire["options"]["timeout"], 90)
        self.assertEqual(wire["task"], "greet")
        self.assertEqual(wire["args"], [1])
        self.assertEqual(wire["trigger_dict"]["type"], "interval")
        self.assertEqual(wire["next_run_time"], "2023-11-14T22:13:50+00:00")
        self.assertFalse(wire["paused"])

    def test_local_job_with_objects(self):
        sched, _ = make_scheduler()
        job = self.successResultOf(sched.add_job(
            "greet", "interval", seconds=5, args=(object(),), next_run_time=None))
        wire = job_to_wire(job, sched.timezone)
        self.assertIsInstance(wire["args"][0], str)
        self.assertTrue(wire["paused"])
