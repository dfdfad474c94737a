"""
Tests for twistedsched.policies: each policy on a Clock, through the
scheduler's public API, and its options' JSON round trip.
"""

import datetime as _dt

from twisted.internet import defer
from twisted.trial import unittest
from zope.interface import implementer

from twistedsched import events as ev
from twistedsched import history
from twistedsched.errors import BadArgumentError, JobLookupError, JobTimedOut
from twistedsched.interfaces import IClusterStore
from twistedsched.job import Job
from twistedsched.stores import MemoryJobStore
from twistedsched.policies import (
    backfill, calendars, maxruns, nextfire, overlap, pausefailures, retry)
from twistedsched.triggers import CronTrigger, IntervalTrigger

from tests.helpers import START, EventRecorder, after, make_scheduler, utc

calls = []


def record(*args):
    """A module-level job (it has a text reference)."""
    calls.append(args)
    return len(calls)


def flaky(fail):
    """Fails while C{fail} says so (module-level, for the JSON round trip)."""
    if fail[0]:
        raise ValueError("boom")
    return "fine"


class NextFireTimesTests(unittest.TestCase):
    """scheduler.next_fire_times and policies.nextfire."""

    def test_trigger_not_added(self):
        sched, _ = make_scheduler(self)
        trigger = CronTrigger.from_crontab("0 4 * * mon-fri", timezone="UTC")
        times = self.successResultOf(sched.next_fire_times(trigger, 5))
        # START is Monday 2026-01-05 12:00: Tuesday to Friday, then Monday.
        self.assertEqual(times, [utc(2026, 1, day, 4) for day in (6, 7, 8, 9, 12)])

    def test_job_starts_at_its_next_run(self):
        sched, clock = make_scheduler(self)
        self.successResultOf(sched.add_job(record, "interval", seconds=30, id="j"))
        clock.advance(10)
        times = self.successResultOf(sched.next_fire_times("j", 3))
        self.assertEqual(times, [after(30), after(60), after(90)])

    def test_list_ends_with_the_trigger(self):
        sched, _ = make_scheduler(self)
        self.successResultOf(sched.add_job(record, "date", run_date=after(60), id="once"))
        self.assertEqual(self.successResultOf(sched.next_fire_times("once", 10)), [after(60)])

    def test_paused_job_has_none(self):
        sched, _ = make_scheduler(self)
        self.successResultOf(sched.add_job(record, "interval", seconds=30, id="p",
                                           next_run_time=None))
        self.assertEqual(self.successResultOf(sched.next_fire_times("p", 3)), [])

    def test_unknown_job(self):
        sched, _ = make_scheduler(self)
        self.failureResultOf(sched.next_fire_times("nope", 3), JobLookupError)

    def test_count_is_bounded(self):
        sched, _ = make_scheduler(self)
        trigger = IntervalTrigger(seconds=1, start_date=START)
        times = self.successResultOf(sched.next_fire_times(trigger, nextfire.MAX_FIRE_TIMES))
        self.assertEqual(len(times), nextfire.MAX_FIRE_TIMES)
        for bad in (0, -1, nextfire.MAX_FIRE_TIMES + 1, True, 2.5, "3", None):
            f = self.failureResultOf(sched.next_fire_times(trigger, bad), BadArgumentError)
            self.assertIn("count: expected a whole number from 1 to 100", str(f.value))

    def test_pure_function_from_now(self):
        trigger = IntervalTrigger(seconds=60, start_date=START)
        self.assertEqual(nextfire.next_fire_times(trigger, after(30), 2), [after(60), after(120)])


class MaxRunsTests(unittest.TestCase):
    """max_runs=N removes a job after N runs."""

    def setUp(self):
        del calls[:]

    def test_removed_after_n_runs(self):
        sched, clock = make_scheduler(self)
        events = EventRecorder(sched, ev.EVENT_JOB_REMOVED)
        self.successResultOf(sched.add_job(record, "interval", seconds=10, id="j", max_runs=3))
        for _ in range(2):
            clock.advance(10)
        self.assertEqual(self.successResultOf(sched.get_job("j")).policy_state, {"runs": 2})
        clock.advance(10)
        self.assertIsNone(self.successResultOf(sched.get_job("j")))
        self.assertEqual([e.job_id for e in events.of(ev.EVENT_JOB_REMOVED)], ["j"])
        clock.advance(100)
        self.assertEqual(len(calls), 3)

    def test_ended_job_keeps_its_runs(self):
        for retention, kept in ((3600, 3), (0, 0)):
            sched, clock = make_scheduler(self, history_retention=retention)
            self.successResultOf(sched.add_job(record, "interval", seconds=10, id="j",
                                               max_runs=3))
            for _ in range(3):
                clock.advance(10)
            self.assertIsNone(self.successResultOf(sched.get_job("j")))
            runs = self.successResultOf(sched.job_history("j"))
            self.assertEqual([r["scheduled_run_time"] for r in runs],
                             [after(30), after(20), after(10)][:kept])

    def test_removed_by_hand_keeps_nothing(self):
        sched, clock = make_scheduler(self, history_retention=3600)
        self.successResultOf(sched.add_job(record, "interval", seconds=10, id="j", max_runs=3))
        clock.advance(10)
        self.successResultOf(sched.remove_job("j"))
        self.assertEqual(self.successResultOf(sched.job_history("j")), [])

    def test_failed_runs_count(self):
        self.addCleanup(self.flushLoggedErrors, ValueError)
        sched, clock = make_scheduler(self)
        self.successResultOf(sched.add_job(flaky, "interval", seconds=10, id="j",
                                           args=([True],), max_runs=2))
        clock.advance(10)
        clock.advance(10)
        self.assertIsNone(self.successResultOf(sched.get_job("j")))

    def test_manual_runs_count(self):
        sched, clock = make_scheduler(self)
        self.successResultOf(sched.add_job(record, "interval", seconds=10, id="j", max_runs=2))
        self.successResultOf(sched.run_job("j"))
        self.successResultOf(sched.run_job("j"))
        self.assertIsNone(self.successResultOf(sched.get_job("j")))

    def test_missed_runs_do_not_count(self):
        sched, clock = make_scheduler(self, coalesce=False)
        self.successResultOf(sched.add_job(record, "interval", seconds=10, id="j", max_runs=2,
                                           misfire_grace_time=10))
        clock.advance(25)         # one run at 10 (late by 15: missed); 20 on time
        self.assertEqual(len(calls), 1)
        self.assertEqual(self.successResultOf(sched.get_job("j")).policy_state, {"runs": 1})

    def test_bad_values_refused(self):
        sched, _ = make_scheduler(self)
        for bad in (0, -1, True, 1.5, "3"):
            e = self.assertRaises(BadArgumentError, sched.add_job, record, "interval",
                                  seconds=10, max_runs=bad)
            self.assertIn("max_runs: expected a whole number >= 1 or None", str(e))
        self.assertIsNone(maxruns.check(None))

    def test_modify_sets_and_clears(self):
        sched, clock = make_scheduler(self)
        self.successResultOf(sched.add_job(record, "interval", seconds=10, id="j"))
        self.successResultOf(sched.modify_job("j", max_runs=1))
        clock.advance(10)
        self.assertIsNone(self.successResultOf(sched.get_job("j")))
        self.successResultOf(sched.add_job(record, "interval", seconds=10, id="k", max_runs=1))
        self.successResultOf(sched.modify_job("k", max_runs=None))
        clock.advance(20)
        self.assertIsNotNone(self.successResultOf(sched.get_job("k")))

    def test_job_without_policies_pays_nothing(self):
        sched, clock = make_scheduler(self)
        events = EventRecorder(sched, ev.EVENT_JOB_MODIFIED)
        self.successResultOf(sched.add_job(record, "interval", seconds=10, id="j"))
        clock.advance(10)
        self.assertEqual(events.events, [])
        self.assertEqual(self.successResultOf(sched.get_job("j")).policy_state, {})


class PauseAfterFailuresTests(unittest.TestCase):
    """pause_after_failures=N pauses a job after N failures in a row."""

    def tearDown(self):
        self.flushLoggedErrors(ValueError, JobTimedOut)

    def add(self, sched, n=3):
        self.fail_now = [True]
        d = sched.add_job(flaky, "interval", seconds=10, id="j", args=(self.fail_now,),
                          pause_after_failures=n)
        return self.successResultOf(d)

    def test_paused_with_reason_and_event(self):
        sched, clock = make_scheduler(self)
        events = EventRecorder(sched, ev.EVENT_JOB_PAUSED)
        self.add(sched)
        clock.advance(10)
        clock.advance(10)
        self.assertFalse(self.successResultOf(sched.get_job("j")).paused)
        clock.advance(10)
        job = self.successResultOf(sched.get_job("j"))
        self.assertTrue(job.paused)
        reason = "paused after 3 failed runs in a row (last: ValueError: boom)"
        self.assertEqual(job.policy_state["paused_reason"], reason)
        [event] = events.of(ev.EVENT_JOB_PAUSED)
        self.assertEqual(event.to_dict(), {"event": "job_paused", "job_id": "j",
                                           "jobstore": "default", "reason": reason})
        self.assertEqual(self.successResultOf(sched.next_fire_times("j", 1)), [])

    def test_success_resets_the_count(self):
        sched, clock = make_scheduler(self)
        self.add(sched, n=2)
        clock.advance(10)
        self.fail_now[0] = False
        clock.advance(10)
        self.fail_now[0] = True
        clock.advance(10)
        job = self.successResultOf(sched.get_job("j"))
        self.assertFalse(job.paused)
        self.assertEqual(job.policy_state, {"failures": 1})

    def test_resume_forgives(self):
        sched, clock = make_scheduler(self)
        self.add(sched, n=1)
        clock.advance(10)
        self.assertTrue(self.successResultOf(sched.get_job("j")).paused)
        job = self.successResultOf(sched.resume_job("j"))
        self.assertEqual(job.policy_state, {})
        self.assertFalse(job.paused)
        stored = self.successResultOf(sched.get_job("j"))
        self.assertEqual(stored.policy_state, {})
        clock.advance(10)             # fails again: paused again, after one more failure
        self.assertTrue(self.successResultOf(sched.get_job("j")).paused)

    def test_timeouts_count_as_failures(self):
        sched, clock = make_scheduler(self)
        self.successResultOf(sched.add_job(
            "tests.test_policies:never_ends", "interval", seconds=10, id="t", timeout=2,
            pause_after_failures=1, executor="default"))
        clock.advance(10)
        clock.advance(2)
        job = self.successResultOf(sched.get_job("t"))
        self.assertTrue(job.paused)
        self.assertIn("JobTimedOut", job.policy_state["paused_reason"])

    def test_bad_values_refused(self):
        sched, _ = make_scheduler(self)
        for bad in (0, -2, False, 0.5, "1"):
            e = self.assertRaises(BadArgumentError, sched.add_job, record, "interval",
                                  seconds=10, pause_after_failures=bad)
            self.assertIn("pause_after_failures: expected a whole number >= 1", str(e))
        self.assertIsNone(pausefailures.check(None))


def never_ends():
    return defer.Deferred()


class RoundTripTests(unittest.TestCase):
    """Policy options and state survive to_dict/from_dict (what job stores keep)."""

    def test_round_trip(self):
        sched, _ = make_scheduler(self)
        job = Job(sched, record, IntervalTrigger(seconds=5, start_date=START),
                  func_ref="tests.test_policies:record", max_runs=4,
                  pause_after_failures=2, policy_state={"runs": 1, "failures": 1})
        again = Job.from_dict(sched, job.to_dict())
        self.assertEqual((again.max_runs, again.pause_after_failures, again.policy_state),
                         (4, 2, {"runs": 1, "failures": 1}))

    def test_old_documents_load(self):
        sched, _ = make_scheduler(self)
        job = Job(sched, record, IntervalTrigger(seconds=5, start_date=START),
                  func_ref="tests.test_policies:record")
        data = job.to_dict()
        for key in ("max_runs", "pause_after_failures", "policy_state"):
            del data[key]
        again = Job.from_dict(sched, data)
        self.assertEqual((again.max_runs, again.pause_after_failures, again.policy_state),
                         (None, None, {}))

    def test_bad_state_refused(self):
        sched, _ = make_scheduler(self)
        self.assertRaises(BadArgumentError, Job, sched, record,
                          IntervalTrigger(seconds=5, start_date=START), policy_state=[1])

    def test_copy_does_not_share_state(self):
        sched, _ = make_scheduler(self)
        job = Job(sched, record, IntervalTrigger(seconds=5, start_date=START),
                  policy_state={"runs": 1})
        clone = job.copy()
        clone.policy_state["runs"] = 2
        self.assertEqual(job.policy_state, {"runs": 1})



class TopRandom:
    """A C{random.Random} stand-in whose uniform() gives the upper bound."""

    def uniform(self, low, high):
        return high


class RetryTests(unittest.TestCase):
    """retries=N runs a failed run again with back-off, as the same scheduled time."""

    def setUp(self):
        self.fail_now = [True]

    def tearDown(self):
        self.flushLoggedErrors(ValueError)

    def add(self, sched, **options):
        options.setdefault("retries", 3)
        return self.successResultOf(sched.add_job(
            flaky, "interval", seconds=100, id="j", args=(self.fail_now,), **options))

    def test_back_off_doubles_up_to_the_maximum(self):
        sched, clock = make_scheduler(self, random=TopRandom())
        events = EventRecorder(sched, ev.EVENT_JOB_RETRY | ev.EVENT_JOB_ERROR)
        self.add(sched, retry_delay=10, retry_max_delay=15)
        clock.advance(100)
        for delay in (10, 15, 15):
            clock.advance(delay)
        retries = events.of(ev.EVENT_JOB_RETRY)
        self.assertEqual([(e.attempt, e.attempts, e.delay) for e in retries],
                         [(2, 4, 10), (3, 4, 15), (4, 4, 15)])
        self.assertEqual({e.scheduled_run_time for e in retries}, {after(100)})
        self.assertEqual(len(events.of(ev.EVENT_JOB_ERROR)), 4)
        self.assertEqual(retries[0].to_dict()["attempt"], 2)
        clock.advance(60)          # the next regular run starts over at attempt 1
        last = events.of(ev.EVENT_JOB_RETRY)[-1]
        self.assertEqual((last.scheduled_run_time, last.attempt, last.delay), (after(200), 2, 10))

    def test_history_says_which_attempt(self):
        sched, clock = make_scheduler(self, random=TopRandom())
        self.add(sched, retries=3, retry_delay=10)
        clock.advance(100)
        clock.advance(10)
        self.fail_now[0] = False
        clock.advance(20)
        runs = self.successResultOf(sched.job_history("j"))
        self.assertEqual([(r["outcome"], r["error"], r["scheduled_run_time"]) for r in runs], [
            ("ok", "attempt 3 of 4", after(100)),
            ("error", "attempt 2 of 4: ValueError: boom", after(100)),
            ("error", "attempt 1 of 4: ValueError: boom", after(100))])

    def test_next_regular_run_not_delayed(self):
        sched, clock = make_scheduler(self, random=TopRandom())
        self.add(sched, retries=5, retry_delay=40)
        clock.advance(100)
        self.assertEqual(self.successResultOf(sched.get_job("j")).next_run_time, after(200))
        clock.advance(40)      # attempt 2 at 140
        clock.advance(60)      # the regular run at 200, before attempt 3 (at 220)
        runs = self.successResultOf(sched.job_history("j"))
        self.assertEqual([(r["scheduled_run_time"], r["error"][:14]) for r in runs[:2]],
                         [(after(200), "attempt 1 of 6"), (after(100), "attempt 2 of 6")])

    def test_one_shot_job_is_retried_after_leaving_its_store(self):
        sched, clock = make_scheduler(self, random=TopRandom())
        events = EventRecorder(sched, ev.EVENT_JOB_RETRY)
        self.successResultOf(sched.add_job(flaky, "date", run_date=after(100), id="once",
                                           args=(self.fail_now,), retries=2, retry_delay=10))
        clock.advance(100)
        self.assertIsNone(self.successResultOf(sched.get_job("once")))
        clock.advance(10)
        self.fail_now[0] = False
        clock.advance(20)
        self.assertEqual([e.attempt for e in events.of(ev.EVENT_JOB_RETRY)], [2, 3])
        runs = self.successResultOf(sched.job_history("once"))
        self.assertEqual([(r["outcome"], r["scheduled_run_time"]) for r in runs],
                         [("ok", after(100)), ("error", after(100)), ("error", after(100))])

    def test_jitter_between_half_and_all(self):
        sched, clock = make_scheduler(self)
        events = EventRecorder(sched, ev.EVENT_JOB_RETRY)
        self.add(sched, retries=1, retry_delay=10)
        clock.advance(100)
        [event] = events.of(ev.EVENT_JOB_RETRY)
        self.assertTrue(5 <= event.delay <= 10, event.delay)

    def test_final_outcome_counts_for_the_other_policies(self):
        sched, clock = make_scheduler(self, random=TopRandom())
        self.add(sched, retries=1, retry_delay=10, pause_after_failures=1, max_runs=5)
        clock.advance(100)
        job = self.successResultOf(sched.get_job("j"))
        self.assertEqual((job.paused, job.policy_state), (False, {}))
        clock.advance(10)
        job = self.successResultOf(sched.get_job("j"))
        self.assertTrue(job.paused)
        self.assertEqual(job.policy_state["runs"], 1)

    def test_no_retry_of_a_removed_or_paused_job(self):
        sched, clock = make_scheduler(self, random=TopRandom())
        events = EventRecorder(sched, ev.EVENT_JOB_ERROR)
        self.add(sched, retries=2, retry_delay=10)
        clock.advance(100)
        self.successResultOf(sched.pause_job("j"))
        clock.advance(10)
        self.assertEqual(len(events.events), 1)
        self.successResultOf(sched.resume_job("j"))
        clock.advance(90)          # the regular run at 200 fails: a retry is set
        self.successResultOf(sched.remove_job("j"))
        clock.advance(10)
        self.assertEqual(len(events.events), 2)

    def test_shutdown_drops_pending_retries(self):
        sched, clock = make_scheduler(self, random=TopRandom())
        self.add(sched, retries=2, retry_delay=10)
        clock.advance(100)
        self.assertEqual(len(sched._retry_timers.pending), 1)
        self.successResultOf(sched.shutdown(wait=False))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_success_needs_no_retry(self):
        sched, clock = make_scheduler(self)
        events = EventRecorder(sched, ev.EVENT_JOB_RETRY)
        self.fail_now[0] = False
        self.add(sched)
        clock.advance(100)
        self.assertEqual(events.events, [])
        [run] = self.successResultOf(sched.job_history("j"))
        self.assertIsNone(run["error"])

    def test_bad_values_refused(self):
        sched, _ = make_scheduler(self)
        for key, bad in (("retries", -1), ("retries", 101), ("retries", 1.5), ("retries", True),
                         ("retry_delay", 0), ("retry_delay", None), ("retry_delay", "5"),
                         ("retry_max_delay", -1), ("retry_max_delay", 1e7)):
            e = self.assertRaises(BadArgumentError, sched.add_job, record, "interval",
                                  seconds=10, **{key: bad})
            self.assertTrue(str(e).startswith(key + ": expected"), str(e))
        self.assertIsNone(retry.check("retries", None))

    def test_options_round_trip(self):
        sched, _ = make_scheduler(self)
        job = Job(sched, record, IntervalTrigger(seconds=5, start_date=START),
                  func_ref="tests.test_policies:record", retries=2, retry_delay=1.5,
                  retry_max_delay=30)
        data = job.to_dict()
        self.assertNotIn("attempt", data)
        again = Job.from_dict(sched, data)
        self.assertEqual((again.retries, again.retry_delay, again.retry_max_delay,
                          again.attempt), (2, 1.5, 30, 1))


def returns(value):
    """A module-level job returning C{value}."""
    return value


class ResultTests(unittest.TestCase):
    """A run's return value is kept in its record, bounded."""

    def run_returning(self, value):
        sched, clock = make_scheduler(self)
        self.successResultOf(sched.add_job(returns, "interval", seconds=10, id="r",
                                           args=(value,)))
        clock.advance(10)
        [run] = self.successResultOf(sched.job_history("r"))
        return run

    def test_json_value_kept(self):
        run = self.run_returning({"players": 12, "zones": ["forest"]})
        self.assertEqual(run["result"], {"players": 12, "zones": ["forest"]})

    def test_none_keeps_nothing(self):
        self.assertIsNone(self.run_returning(None).get("result"))

    def test_large_or_not_json_becomes_a_short_repr(self):
        big = self.run_returning("x" * (history.RESULT_LIMIT + 1))["result"]
        self.assertTrue(big.startswith("'xxx") and "..." in big, big)
        self.assertLessEqual(len(big), history.RESULT_LIMIT)
        self.assertEqual(self.run_returning({1, 2})["result"], "{1, 2}")
        self.assertEqual(self.run_returning(float("nan"))["result"], "nan")
        huge = self.run_returning(list(range(100000)))["result"]
        self.assertLessEqual(len(huge), history.RESULT_LIMIT)
        self.assertTrue(huge.startswith("[0, 1, 2"), huge)

    def test_tuple_kept_as_a_list(self):
        self.assertEqual(self.run_returning((1, "a"))["result"], [1, "a"])

    def test_last_result_line(self):
        run = self.run_returning(42)
        self.assertEqual(history.last_result([run]), "42 (due 2026-01-05 12:00:10+00:00)")
        self.assertIsNone(history.last_result([{"result": None}]))


class CancelRunningTests(unittest.TestCase):
    """scheduler.cancel_running cancels the Deferreds of a job's running instances."""

    def setUp(self):
        self.cancelled = []
        self.pending = []

    def tearDown(self):
        self.flushLoggedErrors(defer.CancelledError)

    def waits(self):
        d = defer.Deferred(lambda _: self.cancelled.append(True))
        self.pending.append(d)
        return d

    def test_cancel_ends_the_run_as_cancelled(self):
        sched, clock = make_scheduler(self)
        errors = EventRecorder(sched, ev.EVENT_JOB_ERROR | ev.EVENT_JOB_RETRY)
        self.successResultOf(sched.add_job(self.waits, "interval", seconds=10, id="w",
                                           retries=2, max_instances=2))
        clock.advance(10)
        clock.advance(10)
        self.assertEqual(sched.running_instances("w"), 2)
        self.assertEqual(self.successResultOf(sched.cancel_running("w")), 2)
        self.assertEqual(self.cancelled, [True, True])
        self.assertEqual(sched.running_instances("w"), 0)
        runs = self.successResultOf(sched.job_history("w"))
        self.assertEqual([run["outcome"] for run in runs], ["cancelled", "cancelled"])
        self.assertEqual([e.code for e in errors.events], [ev.EVENT_JOB_ERROR] * 2)  # no retry
        self.assertEqual(self.successResultOf(sched.cancel_running("w")), 0)

    def test_coroutine_is_cancelled(self):
        sched, clock = make_scheduler(self)
        waiting = self.waits

        async def job():
            await waiting()
        self.successResultOf(sched.add_job(job, "date", run_date=after(1), id="c"))
        clock.advance(1)
        self.assertEqual(self.successResultOf(sched.cancel_running("c")), 1)
        self.assertEqual(self.cancelled, [True])

    def test_other_jobs_run_on(self):
        sched, clock = make_scheduler(self)
        self.successResultOf(sched.add_job(self.waits, "interval", seconds=10, id="a"))
        self.successResultOf(sched.add_job(self.waits, "interval", seconds=10, id="b"))
        clock.advance(10)
        self.successResultOf(sched.cancel_running("a"))
        self.assertEqual((sched.running_instances("a"), sched.running_instances("b")), (0, 1))

    def test_unknown_job(self):
        sched, _ = make_scheduler(self)
        self.failureResultOf(sched.cancel_running("nope"), JobLookupError)


class BackfillTests(unittest.TestCase):
    """scheduler.backfill runs a job for every fire time of a past range, in order."""

    def setUp(self):
        del calls[:]

    def add(self, sched, **options):
        return self.successResultOf(sched.add_job(
            record, "cron", minute="*/5", id="b", args=("x",), timezone="UTC", **options))

    def test_runs_in_order_recorded_as_backfill(self):
        sched, clock = make_scheduler(self, history_size=20)
        submitted = EventRecorder(sched, ev.EVENT_JOB_SUBMITTED)
        self.add(sched, max_runs=2)
        times = self.successResultOf(sched.backfill("b", "2026-01-05T11:00:00+00:00",
                                                    utc(2026, 1, 5, 11, 59)))
        expected = [utc(2026, 1, 5, 11, minute) for minute in range(0, 60, 5)]
        self.assertEqual(times, expected)
        self.assertEqual(len(calls), 12)
        runs = self.successResultOf(sched.job_history("b"))
        self.assertEqual([(r["scheduled_run_time"], r["outcome"], r["error"]) for r in runs],
                         [(t, "ok", "backfill") for t in reversed(expected)])
        [event] = submitted.events
        self.assertEqual(event.scheduled_run_times, expected)
        job = self.successResultOf(sched.get_job("b"))       # max_runs=2 is not reached
        self.assertEqual((job.policy_state, job.next_run_time), ({}, utc(2026, 1, 5, 12, 0)))

    def test_naive_times_in_the_scheduler_zone(self):
        sched, _ = make_scheduler(self, timezone="Europe/Paris")
        self.add(sched)
        times = self.successResultOf(sched.backfill("b", "2026-01-05T12:00", "2026-01-05T12:10"))
        self.assertEqual(times, [utc(2026, 1, 5, 11, m) for m in (0, 5, 10)])

    def test_empty_range(self):
        sched, _ = make_scheduler(self)
        self.add(sched)
        self.assertEqual(self.successResultOf(sched.backfill(
            "b", utc(2026, 1, 5, 11, 1), utc(2026, 1, 5, 11, 4))), [])
        self.assertEqual(calls, [])

    def test_bounded(self):
        sched, _ = make_scheduler(self)
        self.add(sched)
        # 1000 runs every 5 minutes: 83 h 20 min, from 11:00 back.
        end = utc(2026, 1, 5, 11, 55)
        start = end - _dt.timedelta(minutes=5 * (backfill.MAX_BACKFILL - 1))
        self.assertEqual(len(self.successResultOf(sched.backfill("b", start, end))),
                         backfill.MAX_BACKFILL)
        f = self.failureResultOf(sched.backfill("b", start - _dt.timedelta(minutes=5), end),
                                 BadArgumentError)
        self.assertIn("more than 1000 runs; give a shorter one", str(f.value))

    def test_wrong_ranges(self):
        sched, _ = make_scheduler(self)
        self.add(sched)
        for start, end, message in (
                (after(-60), after(-120), "is after the end"),
                (after(-60), after(60), "is in the future"),
                ("yesterday", after(-60), "start: 'yesterday' is not an ISO 8601"),
                (after(-60), None, "give a start and an end")):
            f = self.failureResultOf(sched.backfill("b", start, end), BadArgumentError)
            self.assertIn(message, str(f.value))
        self.failureResultOf(sched.backfill("nope", after(-60), after(-1)), JobLookupError)
        self.assertEqual(calls, [])

    def test_refused_while_running_at_max_instances(self):
        sched, clock = make_scheduler(self)
        waiting = defer.Deferred()
        self.successResultOf(sched.add_job(lambda: waiting, "interval", seconds=10, id="w"))
        clock.advance(10)
        f = self.failureResultOf(sched.backfill("w", after(-100), after(10)), BadArgumentError)
        self.assertIn("job 'w' is running (max_instances 1)", str(f.value))
        waiting.callback(None)
        self.assertEqual(self.successResultOf(sched.backfill("w", after(-100), after(10))),
                         [after(10)])


class CalendarTests(unittest.TestCase):
    """exclude= keeps a job from firing on given dates, with every trigger kind."""

    def setUp(self):
        del calls[:]

    def test_cron_skips_excluded_dates(self):
        sched, clock = make_scheduler(self, calendars={"holidays": ["2026-01-07", "2026-01-08"]})
        self.successResultOf(sched.add_job(record, "cron", hour=4, id="c", timezone="UTC",
                                           exclude=["holidays", "2026-01-12"]))
        times = self.successResultOf(sched.next_fire_times("c", 4))
        self.assertEqual(times, [utc(2026, 1, day, 4) for day in (6, 9, 10, 11)])
        self.assertEqual(self.successResultOf(sched.get_job("c")).next_run_time,
                         utc(2026, 1, 6, 4))
        clock.advance(16 * 3600)      # ran on the 6th: next is the 9th
        self.assertEqual(len(calls), 1)
        self.assertEqual(self.successResultOf(sched.get_job("c")).next_run_time,
                         utc(2026, 1, 9, 4))

    def test_interval_skips_a_whole_day_at_once(self):
        sched, _ = make_scheduler(self)
        self.successResultOf(sched.add_job(record, "interval", seconds=1, id="i",
                                           exclude=["2026-01-06"]))
        trigger = self.successResultOf(sched.get_job("i")).trigger
        self.assertEqual(trigger.next_fire_time(utc(2026, 1, 5, 23, 59, 59), START),
                         utc(2026, 1, 7))

    def test_date_trigger_on_an_excluded_date_never_fires(self):
        sched, clock = make_scheduler(self)
        job = self.successResultOf(sched.add_job(record, "date", run_date=after(3600),
                                                 exclude=["2026-01-05"]))
        self.assertIsNone(job.next_run_time)
        self.assertEqual(self.successResultOf(sched.next_fire_times(job.id, 3)), [])
        clock.advance(7200)
        self.assertEqual(calls, [])

    def test_dates_in_the_trigger_zone(self):
        sched, _ = make_scheduler(self)
        self.successResultOf(sched.add_job(record, "cron", hour=0, minute=30, id="t",
                                           timezone="Asia/Tokyo", exclude=["2026-01-06"]))
        # 00:30 in Tokyo is 15:30 UTC the day before.
        times = self.successResultOf(sched.next_fire_times("t", 2))
        self.assertEqual(times, [utc(2026, 1, 6, 15, 30), utc(2026, 1, 7, 15, 30)])

    def test_round_trip_and_display(self):
        sched, _ = make_scheduler(self)
        job = self.successResultOf(sched.add_job(
            record, "cron", hour=4, id="c", exclude=["2026-12-25"]))
        data = job.to_dict()
        self.assertEqual((data["exclude"], data["trigger"]["type"]), (["2026-12-25"], "cron"))
        again = Job.from_dict(sched, data)
        self.assertEqual(again.exclude, ["2026-12-25"])
        self.assertIn("except 1 dates", str(again.trigger))
        self.successResultOf(sched.modify_job("c", exclude=None))
        self.assertNotIn("except", str(self.successResultOf(sched.get_job("c")).trigger))

    def test_reschedule_keeps_the_exclusions(self):
        sched, _ = make_scheduler(self)
        self.successResultOf(sched.add_job(record, "cron", hour=4, id="c", timezone="UTC",
                                           exclude=["2026-01-06"]))
        job = self.successResultOf(sched.reschedule_job("c", trigger="cron", hour=5))
        self.assertEqual(job.next_run_time, utc(2026, 1, 7, 5))

    def test_bad_values(self):
        sched, _ = make_scheduler(self, calendars={"holidays": []})
        for bad, message in (("2026-12-25", "expected a list"),
                             (["2026-13-01"], "is not a date"),
                             (["no such"], "neither a date"),
                             ([5], "neither a date"),
                             (["missing"], "no calendar named 'missing' (known: holidays)"),
                             (["2026-01-01"] * 1001, "at most 1000 entries")):
            e = self.assertRaises(BadArgumentError, sched.add_job, record, "cron", hour=4,
                                  exclude=bad)
            self.assertIn(message, str(e))
        self.successResultOf(sched.add_job(record, "cron", hour=4, id="c"))
        self.assertRaises(BadArgumentError, sched.modify_job, "c", exclude=["missing"])
        self.assertRaises(BadArgumentError, sched.add_calendar, "bad name", [])
        self.assertRaises(BadArgumentError, sched.add_calendar, "x", ["someday"])
        self.assertRaises(BadArgumentError, sched.add_calendar, "x", "2026-01-01")

    def test_unknown_calendar_of_another_daemon_excludes_nothing(self):
        sched, _ = make_scheduler(self, calendars={"holidays": ["2026-01-06"]})
        job = self.successResultOf(sched.add_job(record, "cron", hour=4, id="c",
                                                 timezone="UTC", exclude=["holidays"]))
        other, _ = make_scheduler(self)
        again = Job.from_dict(other, job.to_dict())
        self.assertEqual(again.trigger.next_fire_time(None, START), utc(2026, 1, 6, 4))

    def test_load_calendar(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("# holidays\n2026-12-25 Christmas\n\n2026-12-26  # Boxing Day\n")
        self.assertEqual(calendars.load_calendar(path),
                         [_dt.date(2026, 12, 25), _dt.date(2026, 12, 26)])
        with open(path, "w") as f:
            f.write("2026-12-25\nDec 26\n")
        e = self.assertRaises(BadArgumentError, calendars.load_calendar, path)
        self.assertIn("line 2: 'Dec 26' is not a date", str(e))


class OverlapTests(unittest.TestCase):
    """overlap= decides what a run due while another runs does."""

    def setUp(self):
        self.pending = []
        self.started = []

    def tearDown(self):
        self.flushLoggedErrors(defer.CancelledError)

    def slow(self, n=None):
        self.started.append(n)
        d = defer.Deferred()
        self.pending.append(d)
        return d

    def finish(self):
        self.pending.pop(0).callback(None)

    def add(self, sched, policy, **options):
        return self.successResultOf(sched.add_job(
            self.slow, "interval", seconds=10, id="o", overlap=policy, **options))

    def outcomes(self, sched):
        return [r["outcome"] for r in reversed(self.successResultOf(sched.job_history("o")))]

    def test_default_and_allow_go_up_to_max_instances(self):
        for policy in (None, "allow"):
            sched, clock = make_scheduler(self)
            self.add(sched, policy, max_instances=2)
            for _ in range(3):
                clock.advance(10)
            self.assertEqual(sched.running_instances("o"), 2)
            self.assertEqual(self.outcomes(sched), ["skipped"])

    def test_skip_runs_one_at_a_time(self):
        sched, clock = make_scheduler(self)
        self.add(sched, "skip", max_instances=5)
        clock.advance(10)
        clock.advance(10)
        self.assertEqual(sched.running_instances("o"), 1)
        self.assertEqual(self.outcomes(sched), ["skipped"])

    def test_buffer_one(self):
        sched, clock = make_scheduler(self)
        buffered = EventRecorder(sched, ev.EVENT_JOB_BUFFERED)
        self.add(sched, "buffer_one")
        for _ in range(3):
            clock.advance(10)          # 10 runs; 20 waits; 30 is skipped
        self.assertEqual([e.scheduled_run_times for e in buffered.events], [[after(20)]])
        self.assertEqual(self.outcomes(sched), ["skipped"])
        self.finish()                  # 10 ends: 20 starts at once
        self.assertEqual(sched.running_instances("o"), 1)
        self.assertEqual(len(self.started), 2)
        self.finish()
        self.assertEqual(sched.running_instances("o"), 0)
        runs = self.successResultOf(sched.job_history("o"))
        self.assertEqual([(r["scheduled_run_time"], r["outcome"]) for r in runs],
                         [(after(20), "ok"), (after(10), "ok"), (after(30), "skipped")])

    def test_buffer_all_in_order_and_bounded(self):
        sched, clock = make_scheduler(self)
        self.add(sched, "buffer_all")
        for _ in range(overlap.MAX_BUFFERED + 2):
            clock.advance(10)
        self.assertEqual(self.outcomes(sched), ["skipped"])       # one past the bound
        while self.pending:
            self.finish()
        runs = self.successResultOf(sched.job_history("o", limit=3))
        last = overlap.MAX_BUFFERED + 1          # the runs due at 10 s, 20 s ... in order
        self.assertEqual([r["scheduled_run_time"] for r in runs],
                         [after(10 * n) for n in (last, last - 1, last - 2)])
        self.assertEqual(len(self.started), overlap.MAX_BUFFERED + 1)

    def test_cancel_other(self):
        sched, clock = make_scheduler(self)
        self.add(sched, "cancel_other")
        clock.advance(10)
        first = self.pending[0]
        clock.advance(10)
        self.assertTrue(first.called)
        self.assertEqual(sched.running_instances("o"), 1)
        self.assertEqual(self.outcomes(sched), ["cancelled"])

    def test_bad_value_and_round_trip(self):
        sched, _ = make_scheduler(self)
        e = self.assertRaises(BadArgumentError, sched.add_job, record, "interval", seconds=1,
                              overlap="queue")
        self.assertIn("overlap: expected one of allow, skip, buffer_one", str(e))
        job = Job(sched, record, IntervalTrigger(seconds=5, start_date=START),
                  func_ref="tests.test_policies:record", overlap="buffer_one")
        self.assertEqual(Job.from_dict(sched, job.to_dict()).overlap, "buffer_one")

    def test_shutdown_drops_buffered_runs(self):
        sched, clock = make_scheduler(self)
        self.add(sched, "buffer_all")
        clock.advance(10)
        clock.advance(10)
        self.successResultOf(sched.shutdown(wait=False))
        self.finish()
        self.assertEqual(len(self.started), 1)


@implementer(IClusterStore)
class _SharedStore(MemoryJobStore):
    """A memory store that says instances of every job run on other schedulers."""

    elsewhere = 1

    def members(self):
        return defer.succeed([])

    def instances_elsewhere(self, job_id):
        return self.elsewhere

    def instance_started(self, job_id, recover_time=None):
        return "token"

    def instance_ended(self, job_id, token):
        pass


class ClusterOverlapTests(unittest.TestCase):
    """
    With a store shared by several schedulers that cannot hold runs (no
    IPolicyStore: Redis can, see tests.test_policies_cluster), allow and
    skip see the instances running on the others; buffer and cancel act on
    this scheduler's own (a run is never held for an instance it cannot see
    end).
    """

    setUp, tearDown = OverlapTests.setUp, OverlapTests.tearDown
    slow, add, outcomes = OverlapTests.slow, OverlapTests.add, OverlapTests.outcomes

    def shared(self):
        return make_scheduler(self, jobstores={"default": _SharedStore()})

    def test_skip_sees_the_cluster(self):
        sched, clock = self.shared()
        self.add(sched, "skip")
        clock.advance(10)
        self.assertEqual((self.started, self.outcomes(sched)),
                         ([], ["skipped"]))

    def test_allow_counts_the_cluster(self):
        sched, clock = self.shared()
        self.add(sched, "allow", max_instances=2)
        clock.advance(10)
        clock.advance(10)
        self.assertEqual(len(self.started), 1)      # 1 elsewhere + 1 here

    def test_buffer_does_not_wait_for_another_scheduler(self):
        for policy in ("buffer_one", "buffer_all", "cancel_other"):
            self.started = []
            sched, clock = self.shared()
            self.add(sched, policy)
            clock.advance(10)
            self.assertEqual(self.started, [None], policy)


@implementer(IClusterStore)
class _PolicyStore(_SharedStore):
    """A shared memory store whose policy methods answer as told (IPolicyStore's)."""

    def __init__(self):
        _SharedStore.__init__(self)
        self.hold_answer = defer.succeed(1)
        self.take_answer = defer.succeed(None)
        self.retries = []
        self.retry_answer = None

    def hold_run(self, job_id, run_times, room, cancel=False):
        self.held = (job_id, run_times, room, cancel)
        return self.hold_answer

    def take_held(self, job_id, token):
        return self.take_answer

    def add_retry(self, job_id, attempt, run_time, due, job=None):
        self.retries.append((job_id, attempt, run_time, due))
        return self.retry_answer if self.retry_answer is not None else defer.succeed("key")

    def take_retry(self, key):
        return defer.succeed(True)

    def pending_retries(self):
        return defer.succeed([])


class PolicyStoreGuardTests(unittest.TestCase):
    """What the scheduler does when a shared store's policy calls fail or answer no."""

    setUp, tearDown = OverlapTests.setUp, OverlapTests.tearDown
    slow, outcomes = OverlapTests.slow, OverlapTests.outcomes

    def shared(self, elsewhere=1):
        self.store = _PolicyStore()
        self.store.elsewhere = elsewhere
        return make_scheduler(self, jobstores={"default": self.store}, random=TopRandom())

    def add(self, sched, policy):
        return OverlapTests.add(self, sched, policy)

    def test_held_in_the_store(self):
        sched, clock = self.shared()
        buffered = EventRecorder(sched, ev.EVENT_JOB_BUFFERED)
        self.add(sched, "buffer_all")
        clock.advance(10)
        self.assertEqual((self.started, self.store.held),
                         ([], ("o", [after(10)], overlap.MAX_BUFFERED, False)))
        self.assertEqual(len(buffered.events), 1)

    def test_cancel_asks_the_store(self):
        sched, clock = self.shared()
        self.add(sched, "cancel_other")
        clock.advance(10)
        self.assertEqual(self.store.held[2:], (1, True))

    def test_no_instance_elsewhere_any_more_runs_at_once(self):
        sched, clock = self.shared()
        self.store.hold_answer = defer.succeed(0)
        self.add(sched, "buffer_one")
        clock.advance(10)
        self.assertEqual(self.started, [None])

    def test_no_room_is_skipped(self):
        sched, clock = self.shared()
        self.store.hold_answer = defer.succeed(-1)
        self.add(sched, "buffer_one")
        clock.advance(10)
        runs = self.successResultOf(sched.job_history("o"))
        self.assertEqual([(r["outcome"], r["error"]) for r in runs], [
            ("skipped", "1 runs wait for an instance running elsewhere")])

    def test_store_failing_to_hold_skips_and_logs(self):
        sched, clock = self.shared()
        self.store.hold_answer = defer.fail(RuntimeError("redis is sad"))
        self.add(sched, "buffer_one")
        clock.advance(10)
        self.assertEqual(self.started, [])
        self.assertEqual(self.outcomes(sched), ["skipped"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_taking_a_held_run_that_fails_is_logged(self):
        sched, clock = self.shared()
        self.store.elsewhere = 0
        self.store.take_answer = defer.fail(RuntimeError("redis is sad"))
        self.add(sched, "buffer_one")
        clock.advance(10)
        self.pending.pop().callback(None)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(sched.running_instances("o"), 0)

    def test_retry_the_store_cannot_keep_is_timed_here(self):
        self.addCleanup(self.flushLoggedErrors, ValueError)
        sched, clock = self.shared(elsewhere=0)
        self.store.retry_answer = defer.fail(RuntimeError("redis is sad"))
        fail_now = [True]
        self.successResultOf(sched.add_job(flaky, "interval", seconds=100, id="j",
                                           args=(fail_now,), retries=1, retry_delay=4))
        clock.advance(100)
        self.assertEqual(self.store.retries, [("j", 2, after(100), after(104).timestamp())])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        fail_now[0] = False
        clock.advance(4)
        runs = self.successResultOf(sched.job_history("j"))
        self.assertEqual([r["error"] for r in runs][0], "attempt 2 of 2")

    def test_retry_kept_in_the_store_after_shutdown_gets_no_timer(self):
        self.addCleanup(self.flushLoggedErrors, ValueError)
        sched, clock = self.shared(elsewhere=0)
        answer = defer.Deferred()
        self.store.retry_answer = answer
        self.successResultOf(sched.add_job(flaky, "interval", seconds=100, id="j",
                                           args=([True],), retries=1, retry_delay=4))
        clock.advance(100)
        self.successResultOf(sched.shutdown(wait=False))
        self.assertEqual(len(self.store.retries), 1)
        answer.callback("key")
        self.assertEqual(clock.getDelayedCalls(), [])
