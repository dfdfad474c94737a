"""
Tests for twistedsched.scheduler: the timer, job options and the API.
"""

import datetime as _dt
import io
from zoneinfo import ZoneInfo

from twisted.internet import defer
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from twistedsched import events as ev
from twistedsched.errors import (
    BadArgumentError, BadReferenceError, ConflictingIdError, JobLookupError,
    TriggerError, UnknownAliasError, UnknownTaskError)
from twistedsched.triggers import DateTrigger, IntervalTrigger

from tests.helpers import START, EventRecorder, after, make_scheduler

calls = []


def record(*args, **kwargs):
    """A module-level job (so it has a text reference)."""
    calls.append((args, kwargs))
    return len(calls)


class TimerTests(unittest.TestCase):
    """The scheduler keeps exactly one timer, armed for the earliest job."""

    def test_no_timer_without_jobs(self):
        sched, clock = make_scheduler(self)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_one_timer_for_many_jobs(self):
        sched, clock = make_scheduler(self)
        for seconds in (30, 10, 20):
            sched.add_job(record, "interval", seconds=seconds)
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(10).timestamp())

    def test_rearmed_after_remove(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=10, id="soon")
        sched.add_job(record, "interval", seconds=60, id="later")
        sched.remove_job("soon")
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(60).timestamp())
        sched.remove_job("later")
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_rearmed_after_modify_pause_resume(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=10, id="a")
        sched.add_job(record, "interval", seconds=60, id="b")
        sched.modify_job("a", next_run_time=after(5))
        self.assertEqual([c.getTime() for c in clock.getDelayedCalls()], [after(5).timestamp()])
        sched.pause_job("a")
        self.assertEqual([c.getTime() for c in clock.getDelayedCalls()], [after(60).timestamp()])
        clock.advance(33)
        sched.resume_job("a")
        self.assertEqual([c.getTime() for c in clock.getDelayedCalls()], [after(40).timestamp()])

    def test_rearmed_after_each_run(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=10)
        for n in range(1, 4):
            clock.advance(10)
            [timer] = clock.getDelayedCalls()
            self.assertEqual(timer.getTime(), after(10 * (n + 1)).timestamp())

    def test_no_timer_before_start_or_after_stop(self):
        sched, clock = make_scheduler(self, start=False)
        sched.add_job(record, "interval", seconds=10)
        self.assertEqual(clock.getDelayedCalls(), [])
        sched.startService()
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        self.successResultOf(sched.stopService())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_job_added_by_a_running_job_keeps_one_timer(self):
        sched, clock = make_scheduler(self)

        def spawn():
            sched.add_job(record, "interval", seconds=5)
        sched.add_job(spawn, "date", run_date=after(1))
        clock.advance(1)
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(6).timestamp())


class RunningTests(unittest.TestCase):
    """Jobs of each kind run, and their outcomes are events."""

    def setUp(self):
        del calls[:]

    def test_plain_function_runs_with_arguments(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=10, args=(1, 2), kwargs={"x": 3})
        clock.advance(10)
        self.assertEqual(calls, [((1, 2), {"x": 3})])
        clock.advance(10)
        self.assertEqual(len(calls), 2)

    def test_date_job_runs_once_and_is_removed(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched)
        sched.add_job(record, "date", run_date=after(5), id="once")
        clock.advance(5)
        self.assertEqual(len(calls), 1)
        self.assertIsNone(self.successResultOf(sched.get_job("once")))
        self.assertIn(ev.EVENT_JOB_REMOVED, recorder.codes())
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_date_job_may_set_itself_again_under_its_id(self):
        """A respawn timer: a one-shot job that adds its successor with its own id."""
        sched, clock = make_scheduler(self)
        fired = []

        def respawn():
            fired.append(clock.seconds())
            if len(fired) < 3:
                sched.add_job(respawn, "date", run_date=sched.now() + _dt.timedelta(seconds=5),
                              id="respawn")
        sched.add_job(respawn, "date", run_date=after(5), id="respawn")
        for _ in range(4):
            clock.advance(5)
        self.assertEqual([t - fired[0] for t in fired], [0, 5, 10])
        self.assertIsNone(self.successResultOf(sched.get_job("respawn")))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_executed_event_has_return_value(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_EXECUTED)
        sched.add_job(lambda: "done", "date", run_date=after(1), id="j")
        clock.advance(1)
        [event] = recorder.events
        self.assertEqual((event.job_id, event.retval), ("j", "done"))
        self.assertEqual(event.scheduled_run_time, after(1))

    def test_exception_is_logged_and_reported(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_ERROR)
        logged = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)

        def broken():
            raise ValueError("boom")
        sched.add_job(broken, "interval", seconds=1, id="bad")
        clock.advance(1)
        clock.advance(1)
        self.assertEqual(len(recorder.events), 2)
        self.assertTrue(recorder.events[0].failure.check(ValueError))
        self.assertTrue(any("bad" in str(e.get("job_id")) for e in logged if "log_failure" in e))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 2)
        self.assertEqual(len(clock.getDelayedCalls()), 1, "the scheduler carries on")

    def test_deferred_job_counts_as_running_until_it_fires(self):
        sched, clock = make_scheduler(self)
        pending = []

        def slow():
            d = defer.Deferred()
            pending.append(d)
            return d
        recorder = EventRecorder(sched)
        sched.add_job(slow, "interval", seconds=10, id="slow")
        clock.advance(10)
        self.assertEqual(sched.running_instances("slow"), 1)
        self.assertNotIn(ev.EVENT_JOB_EXECUTED, recorder.codes())
        clock.advance(10)     # still running: max_instances=1 skips this run
        self.assertEqual(len(pending), 1)
        self.assertIn(ev.EVENT_JOB_MAX_INSTANCES, recorder.codes())
        pending[0].callback("ok")
        self.assertEqual(sched.running_instances("slow"), 0)
        self.assertEqual(recorder.of(ev.EVENT_JOB_EXECUTED)[0].retval, "ok")
        clock.advance(10)
        self.assertEqual(len(pending), 2)

    def test_failed_deferred_is_job_error(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_ERROR)
        sched.add_job(lambda: defer.fail(KeyError("k")), "date", run_date=after(1))
        clock.advance(1)
        self.assertTrue(recorder.events[0].failure.check(KeyError))
        self.flushLoggedErrors(KeyError)

    def test_async_def_job_holds_max_instances(self):
        sched, clock = make_scheduler(self, max_instances=2)
        gates = []

        async def job():
            gate = defer.Deferred()
            gates.append(gate)
            return await gate
        recorder = EventRecorder(sched)
        sched.add_job(job, "interval", seconds=1, id="async")
        clock.advance(1)
        clock.advance(1)
        self.assertEqual(sched.running_instances("async"), 2)
        clock.advance(1)
        self.assertEqual(len(gates), 2)
        self.assertEqual(len(recorder.of(ev.EVENT_JOB_MAX_INSTANCES)), 1)
        gates[0].callback(42)
        self.assertEqual(sched.running_instances("async"), 1)
        self.assertEqual(recorder.of(ev.EVENT_JOB_EXECUTED)[0].retval, 42)

    def test_submitted_event_precedes_execution(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_SUBMITTED | ev.EVENT_JOB_EXECUTED)
        sched.add_job(record, "date", run_date=after(1))
        clock.advance(1)
        self.assertEqual(recorder.codes(), [ev.EVENT_JOB_SUBMITTED, ev.EVENT_JOB_EXECUTED])

    def test_listener_exception_does_not_stop_scheduler(self):
        sched, clock = make_scheduler(self)

        def bad_listener(event):
            raise RuntimeError("listener")
        sched.add_listener(bad_listener)
        sched.add_job(record, "interval", seconds=1)
        clock.advance(1)
        clock.advance(1)
        sched.remove_listener(bad_listener)
        self.assertEqual(len(calls), 2)
        self.assertTrue(self.flushLoggedErrors(RuntimeError))

    def test_remove_listener(self):
        sched, clock = make_scheduler(self)
        seen = []
        sched.add_listener(seen.append)
        sched.remove_listener(seen.append)
        sched.add_job(record, "date", run_date=after(1))
        clock.advance(1)
        self.assertEqual(seen, [])

    def test_mask_selects_events(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_ADDED | ev.EVENT_JOB_REMOVED)
        sched.add_job(record, "date", run_date=after(1), id="x")
        sched.remove_job("x")
        self.assertEqual(recorder.codes(), [ev.EVENT_JOB_ADDED, ev.EVENT_JOB_REMOVED])


class MisfireTests(unittest.TestCase):
    """Late runs, coalescing, and max_instances."""

    def setUp(self):
        del calls[:]

    def test_run_within_grace_time_runs(self):
        sched, clock = make_scheduler(self, misfire_grace_time=30)
        sched.add_job(record, "date", run_date=after(10))
        clock.advance(35)      # 25 s late
        self.assertEqual(len(calls), 1)

    def test_run_beyond_grace_time_is_missed(self):
        sched, clock = make_scheduler(self, misfire_grace_time=30)
        recorder = EventRecorder(sched, ev.EVENT_JOB_MISSED)
        sched.add_job(record, "date", run_date=after(10), id="late")
        clock.advance(50)      # 40 s late
        self.assertEqual(calls, [])
        [event] = recorder.events
        self.assertEqual((event.job_id, event.scheduled_run_times), ("late", [after(10)]))

    def test_runs_judged_by_when_the_store_answered(self):
        """
        A store that answers late (the process was stopped between its claim
        and the runs) does not make a run late past its grace time.
        """
        from twistedsched.stores import MemoryJobStore

        class Stalling(MemoryJobStore):
            def acquire_due_jobs(self, now, limit):
                d = MemoryJobStore.acquire_due_jobs(self, now, limit)
                clock.advance(5)            # stopped for 5 s meanwhile
                return d
        store = Stalling()
        sched, clock = make_scheduler(self, misfire_grace_time=1,
                                      jobstores={"default": store})
        recorder = EventRecorder(sched, ev.EVENT_JOB_MISSED)
        sched.add_job(record, "date", run_date=after(10), id="stalled")
        clock.advance(10)
        self.assertEqual(calls, [])
        self.assertEqual([e.job_id for e in recorder.events], ["stalled"])

    def test_per_job_grace_time_overrides_default(self):
        sched, clock = make_scheduler(self, misfire_grace_time=1)
        sched.add_job(record, "date", run_date=after(10), misfire_grace_time=100)
        clock.advance(60)
        self.assertEqual(len(calls), 1)

    def test_no_grace_limit_runs_however_late(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "date", run_date=after(10), misfire_grace_time=None)
        clock.advance(10 ** 6)
        self.assertEqual(len(calls), 1)

    def test_coalesce_runs_overdue_runs_once(self):
        sched, clock = make_scheduler(self, misfire_grace_time=None)
        recorder = EventRecorder(sched, ev.EVENT_JOB_EXECUTED)
        sched.add_job(record, "interval", seconds=10, coalesce=True)
        clock.advance(55)      # runs due at 10..50: five
        self.assertEqual(len(calls), 1)
        self.assertEqual(recorder.events[0].scheduled_run_time, after(50))
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(60).timestamp())

    def test_coalesced_runs_are_on_the_record(self):
        """The runs coalescing folds are missed runs: a record, an event, counted."""
        sched, clock = make_scheduler(self, misfire_grace_time=None)
        recorder = EventRecorder(sched, ev.EVENT_JOB_MISSED | ev.EVENT_JOB_RUN)
        sched.add_job(record, "interval", seconds=10, id="a", coalesce=True)
        clock.advance(55)      # runs due at 10..50: 50 runs, 10..40 are folded
        folded, missed, ran = recorder.events
        self.assertEqual(missed.code, ev.EVENT_JOB_MISSED)
        self.assertEqual(missed.scheduled_run_times, [after(s) for s in (10, 20, 30, 40)])
        self.assertEqual((folded.outcome, folded.record["error"], folded.runs,
                          folded.scheduled_run_time),
                         ("missed", "5 runs folded into one", 4, after(10)))
        self.assertEqual((ran.outcome, ran.runs, ran.scheduled_run_time), ("ok", 1, after(50)))
        self.assertEqual(sched.counters["missed"], 4)
        [_, kept] = self.successResultOf(sched.job_history("a"))
        self.assertEqual((kept["outcome"], kept["error"]), ("missed", "5 runs folded into one"))

    def test_one_overdue_run_is_not_folded(self):
        sched, clock = make_scheduler(self, misfire_grace_time=None)
        recorder = EventRecorder(sched, ev.EVENT_JOB_MISSED)
        sched.add_job(record, "interval", seconds=10, coalesce=True)
        clock.advance(15)
        self.assertEqual((recorder.events, sched.counters["missed"]), ([], 0))

    def test_without_coalesce_every_overdue_run_runs(self):
        sched, clock = make_scheduler(self, misfire_grace_time=None)
        recorder = EventRecorder(sched, ev.EVENT_JOB_EXECUTED)
        sched.add_job(record, "interval", seconds=10, coalesce=False)
        clock.advance(55)
        self.assertEqual(len(calls), 5)
        self.assertEqual([e.scheduled_run_time for e in recorder.events],
                         [after(s) for s in (10, 20, 30, 40, 50)])

    def test_without_coalesce_late_runs_are_missed_one_by_one(self):
        sched, clock = make_scheduler(self, misfire_grace_time=15)
        recorder = EventRecorder(sched, ev.EVENT_JOB_MISSED | ev.EVENT_JOB_EXECUTED)
        sched.add_job(record, "interval", seconds=10, coalesce=False)
        clock.advance(45)      # 10, 20 are late by 35 and 25; 30, 40 are within 15 s
        self.assertEqual(recorder.codes(), [ev.EVENT_JOB_MISSED, ev.EVENT_JOB_MISSED,
                                            ev.EVENT_JOB_EXECUTED, ev.EVENT_JOB_EXECUTED])

    def test_coalesced_run_can_still_be_missed(self):
        sched, clock = make_scheduler(self, misfire_grace_time=2)
        recorder = EventRecorder(sched, ev.EVENT_JOB_MISSED)
        sched.add_job(record, "interval", seconds=10, coalesce=True)
        clock.advance(55)      # the last overdue run (50) is 5 s late
        self.assertEqual(calls, [])
        self.assertEqual([e.scheduled_run_times for e in recorder.events],
                         [[after(10), after(20), after(30), after(40)], [after(50)]])

    def test_long_downtime_does_not_list_every_run(self):
        sched, clock = make_scheduler(self, misfire_grace_time=None)
        recorder = EventRecorder(sched, ev.EVENT_JOB_RUN)
        sched.add_job(record, "interval", seconds=1, coalesce=True)
        clock.advance(10 ** 6)
        self.assertEqual(len(calls), 1)
        self.assertEqual(recorder.events[0].record["error"],
                         "at least 1000 runs folded into one")
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(10 ** 6 + 1).timestamp())

    def test_max_instances_defaults_to_one(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_MAX_INSTANCES)
        sched.add_job(defer.Deferred, "interval", seconds=1, id="never-ends")
        clock.advance(1)
        clock.advance(1)
        self.assertEqual(sched.running_instances("never-ends"), 1)
        self.assertEqual(recorder.events[0].job_id, "never-ends")


class JitterTests(unittest.TestCase):

    def test_jitter_delays_runs_within_bound(self):
        import random
        sched, clock = make_scheduler(self, random=random.Random(7))
        times = []
        sched.add_job(lambda: times.append(clock.seconds()), "interval", seconds=60, jitter=10)
        for _ in range(20 * 60 + 11):
            clock.advance(1)
        self.assertEqual(len(times), 20)
        offsets = [(t - START.timestamp()) % 60 for t in times]
        self.assertTrue(all(0 <= o <= 10 for o in offsets), offsets)
        self.assertTrue(len(set(offsets)) > 1, "jitter varies from run to run")

    def test_jitter_does_not_drift_the_schedule(self):
        import random
        sched, clock = make_scheduler(self, random=random.Random(3))
        sched.add_job(record, "interval", seconds=60, jitter=30, id="j")
        for _ in range(50 * 60):
            clock.advance(1)
        job = self.successResultOf(sched.get_job("j"))
        self.assertEqual((job.scheduled_run_time - START).total_seconds() % 60, 0)


class APITests(unittest.TestCase):
    """Adding, finding, changing and removing jobs."""

    def setUp(self):
        del calls[:]

    def test_add_job_fires_with_job(self):
        sched, clock = make_scheduler(self)
        job = self.successResultOf(sched.add_job(record, "interval", minutes=5, id="r",
                                                 name="Respawn"))
        self.assertEqual((job.id, job.name), ("r", "Respawn"))
        self.assertEqual(job.next_run_time, after(300))
        self.assertEqual(str(job.trigger), "interval[0:05:00]")

    def test_generated_ids_are_unique(self):
        sched, clock = make_scheduler(self)
        ids = {self.successResultOf(sched.add_job(record, "interval", seconds=1)).id
               for _ in range(50)}
        self.assertEqual(len(ids), 50)

    def test_duplicate_id_fails(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=1, id="dup")
        failure = self.failureResultOf(sched.add_job(record, "interval", seconds=2, id="dup"),
                                       ConflictingIdError)
        self.assertIn("'dup'", str(failure.value))

    def test_replace_existing(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=1, id="r")
        self.successResultOf(sched.add_job(record, "interval", seconds=99, id="r",
                                           replace_existing=True))
        job = self.successResultOf(sched.get_job("r"))
        self.assertEqual(job.trigger.interval, _dt.timedelta(seconds=99))
        self.assertEqual(len(self.successResultOf(sched.get_jobs())), 1)

    def test_text_reference(self):
        sched, clock = make_scheduler(self)
        job = self.successResultOf(sched.add_job("tests.test_scheduler:record", "date",
                                                 run_date=after(1), args=("ref",)))
        self.assertEqual(job.func_ref, "tests.test_scheduler:record")
        clock.advance(1)
        self.assertEqual(calls, [(("ref",), {})])

    def test_module_function_gets_reference(self):
        sched, clock = make_scheduler(self)
        job = self.successResultOf(sched.add_job(record, "date", run_date=after(1)))
        self.assertEqual(job.func_ref, "tests.test_scheduler:record")

    def test_bad_text_references(self):
        sched, clock = make_scheduler(self)
        for ref, words in [("no.such.module:func", "cannot import"),
                           ("tests.test_scheduler:nothing", "no attribute"),
                           ("tests.test_scheduler:calls", "not callable"),
                           ("tests.test_scheduler:", "not a reference")]:
            e = self.assertRaises(BadReferenceError, sched.add_job, ref, "date",
                                  run_date=after(1))
            self.assertIn(words, str(e))

    def test_registered_task_by_name(self):
        sched, clock = make_scheduler(self)

        @sched.task("respawn")
        def respawn(zone):
            calls.append(zone)
        job = self.successResultOf(sched.add_job("respawn", "date", run_date=after(1),
                                                 args=("forest",)))
        self.assertEqual((job.task, job.name), ("respawn", "respawn"))
        clock.advance(1)
        self.assertEqual(calls, ["forest"])

    def test_unknown_task(self):
        sched, clock = make_scheduler(self)
        e = self.assertRaises(UnknownTaskError, sched.add_job, "nosuchtask")
        self.assertIn("nosuchtask", str(e))

    def test_bad_trigger_arguments(self):
        sched, clock = make_scheduler(self)
        self.assertRaises(TriggerError, sched.add_job, record, "interval", seconds=0)
        self.assertRaises(TriggerError, sched.add_job, record, "interval", seconds=-5)
        self.assertRaises(TriggerError, sched.add_job, record, "interval", fortnights=1)
        self.assertRaises(TriggerError, sched.add_job, record, "sometimes")
        e = self.assertRaises(TriggerError, sched.add_job, record, "date",
                              run_date="next tuesday")
        self.assertIn("run_date", str(e))

    def test_bad_options(self):
        sched, clock = make_scheduler(self)
        for option in [dict(max_instances=0), dict(coalesce="yes"),
                       dict(misfire_grace_time=-1), dict(jitter="lots"),
                       dict(args="abc"), dict(kwargs=[1])]:
            self.assertRaises(BadArgumentError, sched.add_job, record, "date",
                              run_date=after(1), **option)

    def test_unknown_store_and_executor(self):
        sched, clock = make_scheduler(self)
        self.assertRaises(UnknownAliasError, sched.add_job, record, jobstore="nowhere")
        self.assertRaises(UnknownAliasError, sched.add_job, record, executor="nobody")

    def test_no_trigger_runs_now(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record)
        clock.advance(0)
        self.assertEqual(len(calls), 1)

    def test_naive_datetimes_and_iso_text_read_in_scheduler_zone(self):
        sched, clock = make_scheduler(self, timezone="Europe/Paris")
        job = self.successResultOf(sched.add_job(record, "date", run_date="2026-01-05T14:00"))
        self.assertEqual(job.next_run_time, START + _dt.timedelta(hours=1))
        job = self.successResultOf(sched.add_job(
            record, "date", run_date=_dt.datetime(2026, 1, 5, 14, 0)))
        self.assertEqual(job.next_run_time, START + _dt.timedelta(hours=1))

    def test_naive_datetimes_read_in_trigger_zone(self):
        sched, clock = make_scheduler(self, timezone="Europe/Paris")
        job = self.successResultOf(sched.add_job(record, "date", run_date="2026-01-05 14:00",
                                                 timezone="America/New_York"))
        self.assertEqual(job.next_run_time, START + _dt.timedelta(hours=7))

    def test_aware_iso_text(self):
        sched, clock = make_scheduler(self)
        job = self.successResultOf(sched.add_job(record, "date",
                                                 run_date="2026-01-05T13:00:00+01:00"))
        self.assertEqual(job.next_run_time, START)

    def test_trigger_object(self):
        sched, clock = make_scheduler(self)
        trigger = IntervalTrigger(seconds=30, start_date=after(5))
        job = self.successResultOf(sched.add_job(record, trigger))
        self.assertIs(job.trigger, trigger)
        self.assertEqual(job.next_run_time, after(5))
        self.assertRaises(TriggerError, sched.add_job, record, trigger, seconds=3)

    def test_next_run_time_none_adds_paused(self):
        sched, clock = make_scheduler(self)
        job = self.successResultOf(sched.add_job(record, "interval", seconds=1,
                                                 next_run_time=None))
        self.assertTrue(job.paused)
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_unknown_job_id_errors(self):
        sched, clock = make_scheduler(self)
        for method in (sched.remove_job, sched.pause_job, sched.resume_job, sched.run_job):
            failure = self.failureResultOf(method("ghost"), JobLookupError)
            self.assertEqual(str(failure.value), "no job with id 'ghost'")
        self.failureResultOf(sched.modify_job("ghost", name="x"), JobLookupError)
        self.failureResultOf(sched.reschedule_job("ghost", trigger="interval", seconds=1),
                             JobLookupError)
        self.assertIsNone(self.successResultOf(sched.get_job("ghost")))

    def test_modify_job(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=10, id="m")
        job = self.successResultOf(sched.modify_job("m", name="renamed", args=(7,),
                                                    max_instances=3))
        self.assertEqual((job.name, job.args, job.max_instances), ("renamed", (7,), 3))
        clock.advance(10)
        self.assertEqual(calls, [((7,), {})])

    def test_modify_job_checks_changes_at_once(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=10, id="m")
        self.assertRaises(BadArgumentError, sched.modify_job, "m", max_instances=-1)
        self.assertRaises(BadArgumentError, sched.modify_job, "m", colour="blue")
        self.assertRaises(BadArgumentError, sched.modify_job, "m", trigger="cron")
        self.assertRaises(UnknownTaskError, sched.modify_job, "m", func="nosuchtask")

    def test_job_modified_event(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_MODIFIED)
        sched.add_job(record, "interval", seconds=10, id="m")
        sched.modify_job("m", name="x")
        self.assertEqual(recorder.events[0].job_id, "m")

    def test_reschedule_job(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=10, id="r")
        job = self.successResultOf(sched.reschedule_job("r", trigger="interval", minutes=1))
        self.assertEqual(job.next_run_time, after(60))
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(60).timestamp())

    def test_pause_and_resume_job(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=10, id="p")
        job = self.successResultOf(sched.pause_job("p"))
        self.assertTrue(job.paused)
        clock.advance(105)
        self.assertEqual(calls, [])
        job = self.successResultOf(sched.resume_job("p"))
        self.assertEqual(job.next_run_time, after(110))
        self.assertEqual(calls, [], "runs that fell in the pause are not made up")
        clock.advance(5)
        self.assertEqual(len(calls), 1)

    def test_resume_overdue_date_job_is_missed_then_removed(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_MISSED)
        sched.add_job(record, "date", run_date=after(10), id="d")
        sched.pause_job("d")
        clock.advance(20)
        self.successResultOf(sched.resume_job("d"))
        clock.advance(0)
        self.assertEqual(calls, [])
        self.assertEqual(len(recorder.events), 1)
        self.assertIsNone(self.successResultOf(sched.get_job("d")))

    def test_resume_job_whose_trigger_ended_removes_it(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=10, end_date=after(15), id="e")
        sched.pause_job("e")
        clock.advance(20)
        self.assertIsNone(self.successResultOf(sched.resume_job("e")))
        self.assertIsNone(self.successResultOf(sched.get_job("e")))

    def test_run_job_now_keeps_schedule(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=60, id="r")
        self.successResultOf(sched.run_job("r"))
        self.assertEqual(len(calls), 1)
        job = self.successResultOf(sched.get_job("r"))
        self.assertEqual(job.next_run_time, after(60))
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(60).timestamp())

    def test_run_job_respects_max_instances(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_MAX_INSTANCES)
        sched.add_job(defer.Deferred, "interval", seconds=60, id="r")
        sched.run_job("r")
        sched.run_job("r")
        self.assertEqual(len(recorder.events), 1)

    def test_remove_all_jobs(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_ALL_JOBS_REMOVED)
        for _ in range(3):
            sched.add_job(record, "interval", seconds=5)
        self.successResultOf(sched.remove_all_jobs())
        self.assertEqual(self.successResultOf(sched.get_jobs()), [])
        self.assertEqual(clock.getDelayedCalls(), [])
        self.assertEqual(len(recorder.events), 1)

    def test_get_jobs_ordered_by_next_run_paused_last(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=30, id="c")
        sched.add_job(record, "interval", seconds=10, id="a", next_run_time=None)
        sched.add_job(record, "interval", seconds=20, id="b")
        self.assertEqual([j.id for j in self.successResultOf(sched.get_jobs())],
                         ["b", "c", "a"])

    def test_get_jobs_pages_one_store(self):
        sched, clock = make_scheduler(self)
        for n in range(10):
            sched.add_job(record, "interval", seconds=n + 1, id="j%d" % n)
        page = self.successResultOf(sched.get_jobs("default", offset=3, limit=4))
        self.assertEqual([j.id for j in page], ["j3", "j4", "j5", "j6"])
        self.assertRaises(BadArgumentError, sched.get_jobs, None, 3, 4)

    def test_job_shortcuts(self):
        sched, clock = make_scheduler(self)
        job = self.successResultOf(sched.add_job(record, "interval", seconds=10, id="s"))
        self.assertTrue(self.successResultOf(job.pause()).paused)
        self.assertFalse(self.successResultOf(job.resume()).paused)
        self.assertEqual(self.successResultOf(job.modify(name="n")).name, "n")
        self.successResultOf(job.remove())
        self.assertIsNone(self.successResultOf(sched.get_job("s")))

    def test_scheduled_job_decorator(self):
        sched, clock = make_scheduler(self)

        @sched.scheduled_job("interval", seconds=5, id="deco")
        def tick():
            calls.append("tick")
        self.assertTrue(callable(tick))
        clock.advance(5)
        self.assertEqual(calls, ["tick"])

    def test_print_jobs(self):
        sched, clock = make_scheduler(self, timezone="Europe/Helsinki")
        sched.add_job(record, "interval", minutes=5, id="respawn", name="Respawn")
        sched.add_job(record, "interval", seconds=1, id="p", next_run_time=None)
        out = io.StringIO()
        self.successResultOf(sched.print_jobs(out))
        lines = out.getvalue().splitlines()
        self.assertEqual(lines[0].split(), ["ID", "NAME", "TRIGGER", "NEXT", "RUN"])
        self.assertEqual(lines[1].split(), ["respawn", "Respawn", "interval[0:05:00]",
                                            "2026-01-05", "14:05:00+02:00"])
        self.assertEqual(lines[2].split()[-1], "paused")
        self.assertEqual(lines[1].index("interval"), lines[2].index("interval"))

    def test_print_jobs_empty(self):
        sched, clock = make_scheduler(self)
        out = io.StringIO()
        sched.print_jobs(out)
        self.assertEqual(out.getvalue(), "No scheduled jobs\n")

    def test_stats(self):
        sched, clock = make_scheduler(self, misfire_grace_time=1)
        sched.add_job(record, "interval", seconds=10)
        sched.add_job(lambda: 1 / 0, "interval", seconds=10)
        sched.add_job(record, "date", run_date=after(5))
        clock.advance(10)     # the date job is 5 s late: missed
        stats = self.successResultOf(sched.stats())
        self.assertEqual((stats["jobs"], stats["executed"], stats["errors"], stats["missed"]),
                         (2, 1, 1, 1))
        self.flushLoggedErrors(ZeroDivisionError)

    def test_job_history(self):
        sched, clock = make_scheduler(self)
        sched.add_job(record, "interval", seconds=10, id="h")
        clock.advance(10)
        clock.advance(10)
        history = self.successResultOf(sched.job_history("h"))
        self.assertEqual([entry["outcome"] for entry in history], ["ok", "ok"])
        self.assertEqual(history[0]["scheduled_run_time"], after(20))


class SchedulerStateTests(unittest.TestCase):

    def setUp(self):
        del calls[:]

    def test_pause_and_resume_scheduler(self):
        sched, clock = make_scheduler(self, misfire_grace_time=None)
        recorder = EventRecorder(sched, ev.EVENT_SCHEDULER_PAUSED | ev.EVENT_SCHEDULER_RESUMED)
        sched.add_job(record, "interval", seconds=10)
        sched.pause()
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(35)
        self.assertEqual(calls, [])
        sched.add_job(record, "interval", seconds=10)
        self.assertEqual(clock.getDelayedCalls(), [], "still no timer while paused")
        sched.resume()
        clock.advance(0)
        self.assertEqual(len(calls), 1, "overdue runs coalesced on resume")
        self.assertEqual(recorder.codes(), [ev.EVENT_SCHEDULER_PAUSED,
                                            ev.EVENT_SCHEDULER_RESUMED])

    def test_started_and_shutdown_events(self):
        sched, clock = make_scheduler(self, start=False)
        recorder = EventRecorder(sched)
        sched.startService()
        self.successResultOf(sched.stopService())
        self.assertEqual(recorder.codes(), [ev.EVENT_SCHEDULER_STARTED,
                                            ev.EVENT_SCHEDULER_SHUTDOWN])

    def test_stop_waits_for_running_jobs(self):
        sched, clock = make_scheduler(self, start=False)
        sched.startService()
        gate = defer.Deferred()
        sched.add_job(lambda: gate, "date", run_date=after(1))
        clock.advance(1)
        stopped = sched.stopService()
        self.assertNoResult(stopped)
        self.assertEqual(clock.getDelayedCalls(), [])
        gate.callback(None)
        self.successResultOf(stopped)

    def test_stop_without_waiting(self):
        sched, clock = make_scheduler(self, start=False, wait_on_shutdown=False)
        sched.startService()
        sched.add_job(defer.Deferred, "date", run_date=after(1))
        clock.advance(1)
        self.successResultOf(sched.stopService())

    def test_jobs_added_before_start_run_after(self):
        sched, clock = make_scheduler(self, start=False)
        sched.add_job(record, "interval", seconds=10)
        clock.advance(5)
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        clock.advance(5)
        self.assertEqual(len(calls), 1)

    def test_second_store_and_executor(self):
        from twistedsched.stores import MemoryJobStore
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOBSTORE_ADDED | ev.EVENT_EXECUTOR_ADDED)
        sched.add_jobstore(MemoryJobStore(), alias="other")
        sched.add_executor("reactor", alias="mine")
        sched.add_job(record, "interval", seconds=20, jobstore="other", executor="mine")
        sched.add_job(record, "interval", seconds=30)
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(20).timestamp())
        clock.advance(20)
        self.assertEqual(len(calls), 1)
        self.assertEqual(len(recorder.events), 2)
        self.assertRaises(BadArgumentError, sched.add_jobstore, "memory", alias="other")
        self.assertRaises(BadArgumentError, sched.add_jobstore, "nonsense://", alias="x")


class TimeZoneTests(unittest.TestCase):

    def test_scheduler_zone_by_name_and_tzinfo(self):
        sched, _ = make_scheduler(self, start=False, timezone="Asia/Kathmandu")
        self.assertEqual(sched.timezone, ZoneInfo("Asia/Kathmandu"))
        sched, _ = make_scheduler(self, start=False, timezone=ZoneInfo("Europe/London"))
        self.assertEqual(sched.timezone.key, "Europe/London")
        self.assertRaises(BadArgumentError, make_scheduler, self, start=False,
                          timezone="Mars/Olympus")

    def test_interval_counts_elapsed_time_across_dst(self):
        # Europe/London springs forward at 01:00 UTC on 2026-03-29.
        start = _dt.datetime(2026, 3, 28, 12, 0, tzinfo=ZoneInfo("Europe/London"))
        trigger = IntervalTrigger(hours=24, start_date=start)
        second = trigger.next_fire_time(start, start)
        self.assertEqual(second - start.astimezone(_dt.timezone.utc), _dt.timedelta(hours=24))
        self.assertEqual(second.astimezone(ZoneInfo("Europe/London")).hour, 13)

    def test_date_trigger_in_nonexistent_wall_time_moves_forward(self):
        trigger = DateTrigger("2026-03-29T01:30", timezone="Europe/London")
        self.assertEqual(trigger.next_fire_time(None, START),
                         _dt.datetime(2026, 3, 29, 1, 30, tzinfo=_dt.timezone.utc))

    def test_repeated_wall_time_is_first_occurrence(self):
        trigger = DateTrigger("2026-10-25T01:30", timezone="Europe/London")
        self.assertEqual(trigger.next_fire_time(None, START),
                         _dt.datetime(2026, 10, 25, 0, 30, tzinfo=_dt.timezone.utc))


class FlakyStore:
    """A memory store whose backend can be switched off."""

    def __init__(self):
        from twistedsched.stores import MemoryJobStore
        self.inner = MemoryJobStore()
        self.down = False

    def __getattr__(self, name):
        method = getattr(self.inner, name)
        if name in ("start", "shutdown"):
            return method

        def call(*args, **kwargs):
            from twistedsched.errors import JobStoreUnavailable
            if self.down:
                return defer.fail(JobStoreUnavailable("backend is away"))
            return method(*args, **kwargs)
        return call


class StoreFailureTests(unittest.TestCase):
    """A store that goes away: errors are reported, retried with backoff, nothing lost."""

    def setUp(self):
        del calls[:]
        from zope.interface import directlyProvides
        from twistedsched.interfaces import IJobStore
        self.store = FlakyStore()
        directlyProvides(self.store, IJobStore)
        self.sched, self.clock = make_scheduler(self, jobstores={"default": self.store},
                                                misfire_grace_time=None)
        self.logged = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.logged.append)

    def test_unavailable_store_is_retried_with_backoff_then_recovers(self):
        recorder = EventRecorder(self.sched, ev.EVENT_JOBSTORE_ERROR)
        self.sched.add_job(record, "interval", seconds=10, id="j")
        self.store.down = True
        self.clock.advance(10)           # due, but the store is away
        self.assertEqual(calls, [])
        delays = []
        for _ in range(4):
            [timer] = self.clock.getDelayedCalls()
            delays.append(timer.getTime() - self.clock.seconds())
            self.clock.advance(delays[-1])
        self.assertEqual(delays, [1.0, 2.0, 4.0, 8.0])
        self.assertEqual(len(recorder.events), 5)
        errors = [e for e in self.logged if "unavailable" in e.get("log_format", "")]
        self.assertTrue(errors)
        self.assertFalse([e for e in errors if "log_failure" in e], "one line, no traceback")
        self.store.down = False
        [timer] = self.clock.getDelayedCalls()
        self.clock.advance(timer.getTime() - self.clock.seconds())
        self.assertEqual(len(calls), 1, "the overdue run happens once the store is back")
        self.assertIsNotNone(self.successResultOf(self.sched.get_job("j")))
        [timer] = self.clock.getDelayedCalls()
        self.assertEqual(timer.getTime() % 10, START.timestamp() % 10, "back on schedule")

    def test_backoff_is_capped(self):
        self.sched.max_retry_delay = 5
        self.sched.add_job(record, "interval", seconds=10)
        self.store.down = True
        self.clock.advance(10)
        for _ in range(6):
            [timer] = self.clock.getDelayedCalls()
            self.assertLessEqual(timer.getTime() - self.clock.seconds(), 5)
            self.clock.advance(5)

    def test_api_calls_fail_clearly_while_down(self):
        from twistedsched.errors import JobStoreUnavailable
        self.store.down = True
        self.failureResultOf(self.sched.add_job(record, "interval", seconds=10),
                             JobStoreUnavailable)
        self.failureResultOf(self.sched.get_jobs(), JobStoreUnavailable)
        self.failureResultOf(self.sched.remove_job("x"), JobStoreUnavailable)


class MaxJobsTests(unittest.TestCase):

    def test_adding_past_the_limit_fails_and_keeps_the_jobs(self):
        from twistedsched.errors import TooManyJobsError
        sched, clock = make_scheduler(self, max_jobs=2)
        sched.add_job(record, "interval", seconds=1, id="a")
        sched.add_job(record, "interval", seconds=1, id="b")
        failure = self.failureResultOf(sched.add_job(record, "interval", seconds=1, id="c"),
                                       TooManyJobsError)
        self.assertIn("holds 2 jobs", str(failure.value))
        self.assertEqual([j.id for j in self.successResultOf(sched.get_jobs())], ["a", "b"])
        sched.remove_job("a")
        self.successResultOf(sched.add_job(record, "interval", seconds=1, id="c"))
