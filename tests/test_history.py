"""
Tests for run history (kept by the memory store), the EVENT_JOB_RUN event and
the one structured log event per run.
"""

import io
import json
import os
import socket
import sys
from zoneinfo import ZoneInfo

from twisted.internet import defer
from twisted.logger import (
    Logger, eventAsJSON, eventFromJSON, eventsFromJSONLogFile, formatEvent)
from twisted.trial import unittest

from twistedsched import events as ev
from twistedsched import jsonlog
from twistedsched.errors import BadArgumentError
from twistedsched.history import (
    ERROR_LIMIT, FIELDS, from_text, history_rows, make_record, ok_run, stored_record,
    summarize, to_text, with_datetimes)
from twistedsched.scheduler import Scheduler
from twistedsched.stores import MemoryJobStore

from tests.helpers import EventRecorder, after, make_scheduler


def ok():
    return "fine"


def boom():
    raise ValueError("it broke\nbadly")


class RecordTests(unittest.TestCase):

    def test_make_record(self):
        started = after(11).timestamp()
        record = make_record(after(10), "ok", "host:1", started=started, duration=0.5)
        self.assertEqual(record, {
            "scheduled_run_time": after(10).timestamp(), "started": started,
            "ended": started + 0.5, "duration": 0.5, "outcome": "ok", "error": None,
            "scheduler": "host:1"})
        self.assertEqual(json.loads(json.dumps(record)), record)
        self.assertEqual(make_record(after(1), "ok", "s", 0.0, 0.1234567)["duration"], 0.123457)
        missed = make_record(after(1), "missed", "s")
        self.assertEqual((missed["started"], missed["ended"], missed["duration"]),
                         (None, None, None))

    def test_short_ok_run_reads_as_its_full_record(self):
        """ok_run's short tuple reads back as make_record's record (ended rounded then)."""
        for started, duration in ((after(11).timestamp() + 0.1234567, 0.000123),
                                  (1764000000.4999996, 0.0), (0.25, 1.5)):
            full = dict.fromkeys(FIELDS)
            full.update(make_record(after(10), "ok", "host:1", started, duration))
            self.assertEqual(stored_record(ok_run(after(10), "host:1", started, duration)),
                             full)
        self.assertEqual(stored_record(tuple(full[key] for key in FIELDS)), full)

    def test_datetimes_and_text(self):
        record = make_record(after(10), "ok", "s", started=after(12).timestamp(), duration=1)
        python = with_datetimes(record)
        self.assertEqual((python["scheduled_run_time"], python["started"], python["ended"]),
                         (after(10), after(12), after(13)))
        text = to_text(python, ZoneInfo("Europe/Paris"))
        self.assertEqual(text["started"], "2026-01-05T13:00:12+01:00")
        self.assertEqual(from_text(text), python)
        self.assertEqual(history_rows([python]),
                         [("2026-01-05 12:00:10+00:00", "ok", "2.000s", "1.000s", "s", "")])
        # A run on the worker tier names its worker and deliveries too.
        python.update(worker="w1", deliveries=2)
        self.assertEqual(history_rows([python])[0][4], "s / worker w1 (2 deliveries)")
        python.update(deliveries=1)
        self.assertEqual(history_rows([python])[0][4], "s / worker w1 (1 delivery)")

    def test_error_summary_is_one_capped_line(self):
        self.assertEqual(summarize("a\nb\tc"), "a b c")
        long = summarize("x" * 1000)
        self.assertEqual(len(long), ERROR_LIMIT)
        self.assertTrue(long.endswith("..."))


class MemoryStoreHistoryTests(unittest.TestCase):

    def setUp(self):
        self.sched, self.clock = make_scheduler(self, history_size=3)
        self.store = self.sched.jobstores["default"]

    def runs(self, job_id, limit=None):
        return self.successResultOf(self.store.get_runs(job_id, limit))

    def test_capped_newest_first(self):
        self.sched.add_job(ok, "interval", seconds=10, id="a")
        for _ in range(5):
            self.clock.advance(10)
        runs = self.runs("a")
        self.assertEqual([r["scheduled_run_time"] for r in runs],
                         [after(50).timestamp(), after(40).timestamp(), after(30).timestamp()])
        self.assertEqual(len(self.runs("a", 1)), 1)

    def test_removed_with_the_job_and_not_kept_for_unknown_jobs(self):
        self.sched.add_job(ok, "interval", seconds=10, id="a")
        self.clock.advance(10)
        self.sched.remove_job("a")
        self.assertEqual(self.store._runs, {})
        self.successResultOf(self.store.append_run("a", {"outcome": "ok"}, 3))
        self.assertEqual(self.store._runs, {})
        self.sched.add_job(ok, "interval", seconds=10, id="a")
        self.assertEqual(self.runs("a"), [])

    def test_remove_all(self):
        self.sched.add_job(ok, "interval", seconds=10, id="a")
        self.clock.advance(10)
        self.sched.remove_all_jobs()
        self.assertEqual(self.store._runs, {})

    def test_one_shot_job_history_goes_with_it_without_retention(self):
        sched, clock = make_scheduler(self, history_retention=0)
        sched.add_job(ok, "date", run_date=after(5), id="once")
        clock.advance(5)
        self.assertIsNone(self.successResultOf(sched.get_job("once")))
        self.assertEqual(self.successResultOf(sched.job_history("once")), [])
        store = sched.jobstores["default"]
        self.assertEqual((store._runs, dict(store._retained)), ({}, {}))


class RetentionTests(unittest.TestCase):
    """A job removed as it runs (one-shot) keeps its history for a retention time."""

    def history(self, sched, job_id):
        return self.successResultOf(sched.job_history(job_id))

    def test_one_shot_job_keeps_its_run_and_result(self):
        sched, clock = make_scheduler(self, history_retention=600)
        sched.add_job(ok, "date", run_date=after(5), id="once")
        clock.advance(5)
        self.assertIsNone(self.successResultOf(sched.get_job("once")))
        [run] = self.history(sched, "once")
        self.assertEqual((run["outcome"], run["result"], run["scheduled_run_time"]),
                         ("ok", "fine", after(5)))
        clock.advance(599)
        self.assertEqual(len(self.history(sched, "once")), 1)
        clock.advance(1)                   # 600 s after it ran: gone
        self.assertEqual(self.history(sched, "once"), [])

    def test_default_retention_is_a_day(self):
        sched, clock = make_scheduler(self)
        self.assertEqual((sched.history_retention, sched.history_retained_jobs), (86400, 1000))
        sched.add_job(boom, "date", run_date=after(5), id="once")
        clock.advance(5)
        [run] = self.history(sched, "once")
        self.assertEqual(run["error"], "ValueError: it broke badly")
        clock.advance(86400)
        self.assertEqual(self.history(sched, "once"), [])
        self.flushLoggedErrors(ValueError)

    def test_earlier_runs_kept_with_the_last(self):
        sched, clock = make_scheduler(self, history_retention=60)
        sched.add_job(ok, "interval", seconds=10, end_date=after(30), id="ends")
        for _ in range(3):
            clock.advance(10)
        self.assertIsNone(self.successResultOf(sched.get_job("ends")))
        self.assertEqual([r["scheduled_run_time"] for r in self.history(sched, "ends")],
                         [after(30), after(20), after(10)])

    def test_bounded_in_count_oldest_first(self):
        sched, clock = make_scheduler(self, history_retention=600, history_retained_jobs=2)
        for n in range(3):
            sched.add_job(ok, "date", run_date=after(n + 1), id="once-%d" % (n,))
        clock.advance(1)
        clock.advance(1)
        clock.advance(1)
        self.assertEqual([len(self.history(sched, "once-%d" % (n,))) for n in range(3)],
                         [0, 1, 1])
        self.assertEqual(len(sched.jobstores["default"]._retained), 2)

    def test_removed_by_hand_takes_its_history(self):
        sched, clock = make_scheduler(self, history_retention=600)
        sched.add_job(ok, "interval", seconds=10, id="a")
        clock.advance(10)
        self.successResultOf(sched.remove_job("a"))
        self.assertEqual(self.history(sched, "a"), [])

    def test_added_again_continues_its_history(self):
        sched, clock = make_scheduler(self, history_retention=600)
        sched.add_job(ok, "date", run_date=after(5), id="t")
        clock.advance(5)
        sched.add_job(ok, "date", run_date=after(10), id="t")
        self.assertEqual(len(self.history(sched, "t")), 1)
        clock.advance(5)
        self.assertEqual(len(self.history(sched, "t")), 2)
        self.successResultOf(sched.remove_all_jobs())
        self.assertEqual(self.history(sched, "t"), [])

    def test_daemon_option(self):
        from twisted.python import usage
        from twistedsched import daemon

        def parse(*argv):
            options = daemon.Options()
            options.parseOptions(["--control", "none", "--console", "none"] + list(argv))
            return options
        sched = daemon.makeService(parse()).getServiceNamed("scheduler")
        self.assertEqual(sched.history_retention, 86400)
        sched = daemon.makeService(parse("--history-retention", "600")).getServiceNamed(
            "scheduler")
        self.assertEqual(sched.history_retention, 600)
        for bad in ("-1", "nan"):
            self.assertRaises(usage.UsageError, parse, "--history-retention", bad)

    def test_bad_settings(self):
        for bad in (-1, "3", True, None):
            self.assertRaises(BadArgumentError, Scheduler, history_retention=bad)
            self.assertRaises(BadArgumentError, Scheduler, history_retained_jobs=bad)
        self.assertEqual(Scheduler(history_retained_jobs=0).history_retention, 0)


class SchedulerHistoryTests(unittest.TestCase):

    def test_outcomes(self):
        sched, clock = make_scheduler(self, history_size=5, misfire_grace_time=1,
                                      scheduler_id="node-a")
        sched.add_job(ok, "interval", seconds=10, id="ok", coalesce=False)
        sched.add_job(boom, "interval", seconds=10, id="bad")
        slow = defer.Deferred()
        sched.add_job(lambda: slow, "interval", seconds=10, id="slow")
        clock.advance(10)
        clock.advance(10)                  # slow is still running: skipped
        sched.pause()
        clock.advance(30)
        sched.resume()                     # the runs due at 30 and 40 are late: missed
        clock.advance(0)
        history = lambda job_id: self.successResultOf(sched.job_history(job_id))
        self.assertEqual([r["outcome"] for r in history("ok")],
                         ["ok", "missed", "missed", "ok", "ok"])
        missed = history("ok")[1]
        self.assertEqual((missed["outcome"], missed["error"], missed["scheduler"],
                          missed["scheduled_run_time"]), ("missed", None, "node-a", after(40)))
        self.assertIsNone(missed["started"])
        self.assertIsNone(missed["duration"])
        # "bad" coalesces: of its runs due at 30, 40 and 50, the last ran and
        # the others are on the record as folded.
        folded = history("bad")[1]
        self.assertEqual((folded["outcome"], folded["error"], folded["scheduled_run_time"]),
                         ("missed", "3 runs folded into one", after(30)))
        self.assertIsNone(folded["started"])
        bad = history("bad")[2]
        self.assertEqual((bad["outcome"], bad["error"]), ("error", "ValueError: it broke badly"))
        self.assertEqual(bad["started"], after(20))
        self.assertEqual(bad["ended"], after(20))
        self.assertEqual(bad["duration"], 0.0)
        skipped = history("slow")[2]
        self.assertEqual((skipped["outcome"], skipped["error"], skipped["scheduled_run_time"]),
                         ("skipped", "1 instances running", after(20)))
        slow.callback(None)
        self.assertEqual(history("slow")[0]["outcome"], "ok")
        self.assertEqual(history("slow")[0]["duration"], 40.0)
        self.assertEqual(history("nothing"), [])
        self.flushLoggedErrors(ValueError)

    def test_history_size_zero_keeps_nothing(self):
        sched, clock = make_scheduler(self, history_size=0)
        sched.add_job(ok, "interval", seconds=10, id="a")
        clock.advance(10)
        self.assertEqual(self.successResultOf(sched.job_history("a")), [])

    def test_bad_history_size(self):
        for bad in (-1, 1.5, "3", True):
            self.assertRaises(BadArgumentError, Scheduler, history_size=bad)

    def test_default_scheduler_id(self):
        self.assertEqual(Scheduler().scheduler_id,
                         "%s:%d" % (socket.gethostname(), os.getpid()))

    def test_failed_history_write_is_logged_and_the_job_goes_on(self):
        store = MemoryJobStore()
        store.append_run = lambda *args: defer.fail(RuntimeError("store is sad"))
        sched, clock = make_scheduler(self, jobstores={"default": store})
        sched.add_job(ok, "interval", seconds=10, id="a")
        clock.advance(10)
        clock.advance(10)
        self.assertEqual(sched.counters["executed"], 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)


class RunEventTests(unittest.TestCase):

    def test_event_only_for_listeners_of_it(self):
        sched, clock = make_scheduler(self, misfire_grace_time=5)
        everything = EventRecorder(sched)
        runs = EventRecorder(sched, ev.EVENT_JOB_RUN)
        sched.add_job(ok, "interval", seconds=10, id="a", name="A")
        clock.advance(12)                  # 2 s late
        self.assertNotIn(ev.EVENT_JOB_RUN, everything.codes())
        [event] = runs.events
        self.assertEqual((event.job_id, event.job_name, event.outcome, event.duration),
                         ("a", "A", "ok", 0.0))
        self.assertEqual(event.lateness, 2.0)
        self.assertEqual(event.scheduled_run_time, after(10))
        data = event.to_dict()
        self.assertEqual((data["event"], data["job_id"], data["outcome"], data["job_name"]),
                         ("job_run", "a", "ok", "A"))
        self.assertEqual((data["scheduled_run_time"], data["started"], data["error"]),
                         (after(10).isoformat(), after(12).isoformat(), None))
        self.assertEqual(ev.mask_from_names(["job_run"]), ev.EVENT_JOB_RUN)

    def test_quiet_scheduler_without_history_still_tells_listeners(self):
        """With no log event and no history to keep, only a listener needs the record."""
        sched, clock = make_scheduler(self, log_runs=False, history_size=0)
        sched.add_job(ok, "interval", seconds=10, id="a")
        built = []
        real = ev.JobRunEvent
        self.patch(ev, "JobRunEvent", lambda *a, **k: built.append(a) or real(*a, **k))
        clock.advance(10)
        self.assertEqual(built, [], "no record for nobody")
        runs = EventRecorder(sched, ev.EVENT_JOB_RUN)
        clock.advance(10)
        self.assertEqual([(e.job_id, e.outcome) for e in runs.events], [("a", "ok")])

    def test_no_event_built_without_listener(self):
        sched, clock = make_scheduler(self)
        built = []
        self.patch(ev, "JobRunEvent", lambda *a, **k: built.append(a))
        sched.add_job(ok, "interval", seconds=10)
        clock.advance(10)
        self.assertEqual(built, [])


class RunLogTests(unittest.TestCase):
    """Every run logs one event with its fields."""

    FIELDS = ("job_id", "job_name", "run_time", "scheduled", "duration", "outcome",
              "scheduler_id", "error")

    def setUp(self):
        self.sched, self.clock = make_scheduler(self, scheduler_id="n1", misfire_grace_time=1)
        self.logged = []
        self.sched.log = Logger(observer=self.logged.append)

    def runs(self):
        return [e for e in self.logged if "outcome" in e]

    def test_ok(self):
        self.sched.add_job(ok, "interval", seconds=10, id="a", name="Alpha")
        self.clock.advance(10)
        [event] = self.runs()
        self.assertEqual({key: event[key] for key in self.FIELDS}, {
            "job_id": "a", "job_name": "Alpha", "run_time": after(10).timestamp(),
            "scheduled": after(10).isoformat(), "duration": 0.0, "outcome": "ok",
            "scheduler_id": "n1", "error": None})
        self.assertEqual(event["log_level"].name, "info")
        self.assertEqual(formatEvent(event),
                         "job 'a' (Alpha) ran tests.test_history:ok in 0.0 s "
                         "(due 2026-01-05T12:00:10+00:00)")
        # twistd --logger JSON output: the fields survive serialization.
        loaded = eventFromJSON(eventAsJSON(event))
        self.assertEqual({key: loaded[key] for key in self.FIELDS},
                         {key: event[key] for key in self.FIELDS})
        self.assertEqual(formatEvent(loaded), formatEvent(event))

    def test_error_logs_its_traceback_once(self):
        self.sched.add_job(boom, "interval", seconds=10, id="b")
        self.clock.advance(10)
        self.assertEqual(len(self.logged), 1)
        [event] = self.runs()
        self.assertEqual((event["outcome"], event["error"], event["log_level"].name),
                         ("error", "ValueError: it broke badly", "critical"))
        self.assertTrue(event["log_failure"].check(ValueError))
        self.assertEqual(formatEvent(event), "job 'b' (boom): tests.test_history:boom raised an "
                         "exception after "
                         "0.0 s (due 2026-01-05T12:00:10+00:00)")
        loaded = eventFromJSON(eventAsJSON(event))
        self.assertEqual((loaded["job_id"], loaded["outcome"]), ("b", "error"))
        self.assertIn("it broke", loaded["log_failure"].getTraceback())

    def test_quiet_logs_failures_only(self):
        self.sched.log_runs = False
        self.sched.add_job(ok, "interval", seconds=10, id="a")
        self.sched.add_job(boom, "interval", seconds=10, id="b")
        self.clock.advance(10)
        self.assertEqual([(e["job_id"], e["outcome"]) for e in self.runs()], [("b", "error")])

    def test_missed_and_skipped(self):
        slow = defer.Deferred()
        self.sched.add_job(lambda: slow, "interval", seconds=10, id="s", name="slow")
        self.sched.add_job(ok, "date", run_date=after(5), id="m", name="late")
        self.clock.advance(10)      # m is 5 s late: missed
        self.clock.advance(10)      # s is still running: skipped
        texts = [formatEvent(e) for e in self.runs() if e["outcome"] != "ok"]
        self.assertEqual(texts, [
            "job 'm' (late): the run of tests.test_history:ok due 2026-01-05T12:00:05+00:00 "
            "was missed",
            "job 's' (slow): the run of slow due 2026-01-05T12:00:20+00:00 was skipped "
            "(1 instances running)"])
        self.assertEqual({e["log_level"].name for e in self.runs() if e["outcome"] != "ok"},
                         {"warn"})
        slow.callback(None)


class JSONLogTests(unittest.TestCase):

    def test_twistd_logger_writes_run_events_as_json(self):
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        sched, clock = make_scheduler(self, scheduler_id="n1")
        sched.log = Logger(observer=jsonlog.observer())
        sched.add_job(ok, "interval", seconds=10, id="a", name="Alpha")
        clock.advance(10)
        out.seek(0)
        [event] = list(eventsFromJSONLogFile(out))
        self.assertEqual((event["job_id"], event["job_name"], event["outcome"],
                          event["scheduled"], event["scheduler_id"]),
                         ("a", "Alpha", "ok", after(10).isoformat(), "n1"))
        self.assertEqual(formatEvent(event),
                         "job 'a' (Alpha) ran tests.test_history:ok in 0.0 s "
                         "(due 2026-01-05T12:00:10+00:00)")
