"""
Tests for the per-burst log of runs (L{twistedsched.runlog}), the history
not kept for one-shot jobs, and the shortcuts of C{add_job}.
"""

import datetime as dt
import io

from twisted.logger import (
    Logger, eventAsJSON, eventAsText, eventFromJSON, formatEvent, textFileLogObserver)
from twisted.trial import unittest

from twistedsched import runlog
from twistedsched.errors import BadArgumentError
from twistedsched.executors import ReactorExecutor
from twistedsched.interfaces import IJobChecker
from twistedsched.timeutil import UTC, to_datetime
from zope.interface import implementer

from tests.helpers import after, make_scheduler


def ok():
    pass


def boom():
    raise ValueError("it broke")


class BurstTests(unittest.TestCase):
    """The runs that went well in one burst are logged in one event."""

    def setUp(self):
        self.sched, self.clock = make_scheduler(self, scheduler_id="n1")
        self.logged = []
        self.sched.log = Logger(observer=self.logged.append)

    def add(self, count, func=ok, prefix="j"):
        for i in range(count):
            self.sched.add_job(func, "date", run_date=after(10), id="%s%d" % (prefix, i),
                               name="N%d" % (i,))

    def test_burst_is_one_event_with_a_line_per_run(self):
        self.add(3)
        self.clock.advance(10)
        [event] = self.logged
        due = after(10).isoformat()
        self.assertEqual(formatEvent(event), "\n".join(
            ["3 runs went well:"] + ["job 'j%d' (N%d) ran tests.test_runlog:ok in 0.0 s (due %s)"
                                     % (i, i, due) for i in range(3)]))
        self.assertEqual((event["run_count"], event["ok_count"], event["failed_count"],
                          event["failed"], event["scheduler_id"]), (3, 3, 0, [], "n1"))
        self.assertEqual(event["run_fields"], runlog.RUN_FIELDS)
        self.assertEqual(event["runs"][0], ("j0", "N0", "tests.test_runlog:ok",
                                            after(10).timestamp(), due, 0.0))
        self.assertEqual(event["log_level"].name, "info")

    def test_twistd_file_observer_writes_one_readable_line_per_run(self):
        """twistd's text observer indents the lines after the first: one per run."""
        self.add(2)
        self.clock.advance(10)
        out = io.StringIO()
        textFileLogObserver(out)(self.logged[0])
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[0].endswith("2 runs went well:"), lines[0])
        self.assertTrue(lines[1].startswith("\tjob 'j0' (N0) ran tests.test_runlog:ok in 0.0 s"), lines[1])

    def test_failures_named_in_the_burst_and_logged_in_full(self):
        self.add(2)
        self.add(2, boom, prefix="b")
        self.clock.advance(10)
        failures = [e for e in self.logged if "log_failure" in e]
        self.assertEqual(sorted(e["job_id"] for e in failures), ["b0", "b1"])
        for event in failures:
            self.assertIn("it broke", eventAsText(event))
        [burst] = [e for e in self.logged if "run_count" in e]
        self.assertEqual((burst["run_count"], burst["ok_count"], burst["failed"]),
                         (4, 2, ["b0", "b1"]))
        self.assertTrue(formatEvent(burst).startswith(
            "4 runs, 2 failed (each logged in full): 'b0', 'b1'; 2 went well:\njob 'j0'"),
            formatEvent(burst))
        self.assertEqual(len(self.logged), 3)

    def test_failures_only_log_no_burst(self):
        self.add(2, boom, prefix="b")
        self.clock.advance(10)
        self.assertEqual([e["job_id"] for e in self.logged], ["b0", "b1"])

    def test_one_run_logs_the_per_run_event(self):
        self.add(1)
        self.clock.advance(10)
        [event] = self.logged
        self.assertEqual((event["job_id"], event["outcome"], event["run_time"]),
                         ("j0", "ok", after(10).timestamp()))
        self.assertNotIn("run_count", event)

    def test_quiet_logs_no_burst(self):
        self.sched.log_runs = False
        self.add(3)
        self.clock.advance(10)
        self.assertEqual(self.logged, [])

    def test_long_burst_is_split(self):
        self.patch(runlog, "BURST_LIMIT", 2)
        self.add(5)
        self.clock.advance(10)
        self.assertEqual([e.get("run_count", 1) for e in self.logged], [2, 2, 1])

    def test_run_ending_outside_a_burst_logs_at_once(self):
        """A run that ends later (a Deferred) is not held for a burst."""
        from twisted.internet import defer
        waiting = defer.Deferred()
        self.sched.add_job(lambda: waiting, "date", run_date=after(10), id="w", name="W")
        self.clock.advance(10)
        self.assertEqual(self.logged, [])
        waiting.callback(None)
        self.assertEqual([e["job_id"] for e in self.logged], ["w"])

    def test_json_round_trip(self):
        """twistd --logger JSON output keeps the runs and the text."""
        self.add(2)
        self.clock.advance(10)
        [event] = self.logged
        loaded = eventFromJSON(eventAsJSON(event))
        self.assertEqual(loaded["run_count"], 2)
        self.assertEqual([run[0] for run in loaded["runs"]], ["j0", "j1"])
        self.assertEqual(formatEvent(loaded), formatEvent(event))


class OneShotHistoryTests(unittest.TestCase):
    """
    A job removed as it runs keeps no record when ended jobs keep no history
    (history_retention=0); else its store keeps it for a while.
    """

    def records_sent(self, retention, *jobs):
        """The ids whose runs were sent to the store when C{jobs} (trigger args) ran."""
        sched, clock = make_scheduler(self, history_retention=retention)
        sent = []
        store = sched._default_store()
        real = store.append_run_now
        store.append_run_now = lambda *args: sent.append(args[0]) or real(*args)
        for job_id, trigger, options in jobs:
            sched.add_job(ok, trigger, id=job_id, **options)
        clock.advance(10)
        return sent

    def test_no_record_sent_for_a_one_shot_job(self):
        self.assertEqual(self.records_sent(0, ("once", "date", {"run_date": after(10)}),
                                           ("every", "interval", {"seconds": 10})), ["every"])

    def test_record_sent_for_a_one_shot_job_with_retention(self):
        self.assertEqual(self.records_sent(60, ("once", "date", {"run_date": after(10)})),
                         ["once"])

    def test_one_shot_run_still_told_to_listeners(self):
        from twistedsched import events as ev
        sched, clock = make_scheduler(self)
        runs = []
        sched.add_listener(runs.append, ev.EVENT_JOB_RUN)
        sched.add_job(ok, "date", run_date=after(10), id="once")
        clock.advance(10)
        self.assertEqual([(e.job_id, e.outcome) for e in runs], [("once", "ok")])
        self.assertEqual(sched._ended, set())


@implementer(IJobChecker)
class Refusing(ReactorExecutor):
    def check(self, func, args, kwargs):
        raise BadArgumentError("refused")


class AddJobShortcutTests(unittest.TestCase):
    """What add_job looks up once gives the same answers as looking it up each time."""

    def test_task_registered_after_a_first_add(self):
        sched, _ = make_scheduler(self)
        first = self.successResultOf(sched.add_job(ok, "date", run_date=after(10)))
        self.assertEqual((first.task, first.func_ref), (None, "tests.test_runlog:ok"))
        sched.tasks.register("okay", ok)
        second = self.successResultOf(sched.add_job(ok, "date", run_date=after(10)))
        self.assertEqual((second.task, second.func_ref), ("okay", None))

    def test_unhashable_callable(self):
        class Unhashable(list):
            def __call__(self):
                pass
        sched, _ = make_scheduler(self)
        job = self.successResultOf(sched.add_job(Unhashable(), "date", run_date=after(10)))
        self.assertIsNone(job.func_ref)

    def test_options_given_are_checked(self):
        sched, _ = make_scheduler(self)
        self.assertRaises(BadArgumentError, sched.add_job, ok, "date", run_date=after(10),
                          max_instances=0)
        job = self.successResultOf(sched.add_job(ok, "date", run_date=after(10),
                                                 coalesce=False))
        self.assertEqual((job.coalesce, job.max_instances), (False, 1))

    def test_executor_checker_asked_for_each_add(self):
        sched, _ = make_scheduler(self)
        sched.add_executor(Refusing(), "picky")
        for _ in range(2):
            self.assertRaises(BadArgumentError, sched.add_job, ok, "date",
                              run_date=after(10), executor="picky")

    def test_utc_datetime_near_the_end_of_the_range_still_checked(self):
        late = dt.datetime(9999, 12, 31, 23, tzinfo=UTC)
        self.assertRaises(BadArgumentError, to_datetime, late, "Pacific/Kiritimati")
        early = dt.datetime(1, 1, 1, 1, tzinfo=UTC)
        self.assertRaises(BadArgumentError, to_datetime, early, "America/New_York")
        usual = dt.datetime(2026, 1, 5, 12, tzinfo=UTC)
        self.assertIs(to_datetime(usual, "Europe/London"), usual)
