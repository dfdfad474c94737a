"""
Tests for the code paths added for speed: the immediate executor path (no
Deferred for a job that ends at once), L{steps}, the memory store's handed
out heap entries and compaction, and the slotted L{Job}.
"""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.trial import unittest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twistedsched import events as ev
from twistedsched.errors import ConflictingIdError, JobLookupError
from twistedsched.executors import ReactorExecutor
from twistedsched.executors.base import call_in_reactor
from twistedsched.interfaces import IExecutor, IImmediateExecutor
from twistedsched.job import Job
from twistedsched.stores import MemoryJobStore
from twistedsched.steps import steps
from twistedsched.triggers import DateTrigger

from tests import jobfuncs
from tests.helpers import EventRecorder, after, make_scheduler
from tests.test_memory_store import MemoryStoreTestCase, make_job


@implementer(IExecutor)
class DeferringExecutor:
    """An executor that is not immediate: every outcome comes as a Deferred."""

    def __init__(self, broken=False):
        self.broken = broken

    def start(self, scheduler, alias):
        pass

    def shutdown(self, wait=True):
        return defer.succeed(None)

    def run(self, func, args, kwargs):
        if self.broken:
            raise RuntimeError("executor broken")
        return call_in_reactor(func, args, kwargs)


class ImmediateExecutorTests(unittest.TestCase):

    def test_reactor_executor_is_immediate(self):
        executor = ReactorExecutor()
        verifyObject(IImmediateExecutor, executor)
        self.assertEqual(executor.call(jobfuncs.square, (3,), {}), 9)
        self.assertIsNone(executor.call(lambda: None, (), {}))
        self.assertRaises(ValueError, executor.call, jobfuncs.fail, ("x",), {})
        d = executor.call(jobfuncs.coroutine, (), {})
        self.assertEqual(self.successResultOf(d), "coroutine")
        pending = defer.Deferred()
        self.assertIs(executor.call(lambda: pending, (), {}), pending)

    def test_plain_job_counts_as_running_while_it_runs(self):
        sched, clock = make_scheduler(self)
        seen = []
        sched.add_job(lambda: seen.append(sched.running_instances("j")), "date",
                      run_date=after(1), id="j")
        clock.advance(1)
        self.assertEqual(seen, [1])
        self.assertEqual(sched.running_instances(), 0)
        self.assertFalse(sched._in_flight, "no Deferred kept for a job that ended")
        self.successResultOf(sched.shutdown())

    def test_job_that_runs_itself_meets_max_instances(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched)
        sched.add_job(lambda: sched.run_job("j"), "interval", seconds=1, id="j")
        clock.advance(1)
        self.assertEqual(recorder.codes().count(ev.EVENT_JOB_MAX_INSTANCES), 1)
        self.assertEqual(recorder.codes().count(ev.EVENT_JOB_EXECUTED), 1)
        self.assertEqual(sched.counters["skipped"], 1)
        self.assertEqual(sched.running_instances(), 0)

    def test_events_and_counters_of_plain_and_failing_jobs(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_EXECUTED | ev.EVENT_JOB_ERROR)
        runs = EventRecorder(sched, ev.EVENT_JOB_RUN)
        sched.add_job(jobfuncs.square, "date", run_date=after(1), args=(4,), id="ok")
        sched.add_job(jobfuncs.fail, "date", run_date=after(2), args=("no",), id="bad")
        sched.add_job(lambda: Failure(KeyError("k")), "date", run_date=after(3), id="f")
        for _ in range(3):
            clock.advance(1)
        executed, failed, returned = recorder.events
        self.assertEqual((executed.job_id, executed.retval, executed.duration), ("ok", 16, 0))
        self.assertEqual(executed.scheduled_run_time, after(1))
        self.assertEqual(failed.code, ev.EVENT_JOB_ERROR)
        self.assertTrue(failed.failure.check(ValueError))
        self.assertTrue(returned.failure.check(KeyError), "a returned Failure is an error")
        self.assertEqual((sched.counters["executed"], sched.counters["errors"]), (1, 2))
        self.assertEqual([(e.job_id, e.record["outcome"]) for e in runs.events],
                         [("ok", "ok"), ("bad", "error"), ("f", "error")])
        self.flushLoggedErrors(ValueError, KeyError)

    def test_history_keeps_the_last_runs_newest_first(self):
        sched, clock = make_scheduler(self, history_size=2)
        sched.add_job(jobfuncs.square, "interval", seconds=10, args=(2,), id="j")
        for _ in range(3):
            clock.advance(10)
        history = self.successResultOf(sched.job_history("j"))
        self.assertEqual([h["scheduled_run_time"] for h in history], [after(30), after(20)])
        self.assertEqual([h["outcome"] for h in history], ["ok", "ok"])

    def test_without_coalesce_later_runs_wait_for_a_deferred(self):
        sched, clock = make_scheduler(self, coalesce=False, misfire_grace_time=None)
        gates = []

        def job():
            if not gates:
                gates.append(defer.Deferred())
                return gates[0]
            return "plain"
        recorder = EventRecorder(sched, ev.EVENT_JOB_EXECUTED)
        sched.pause()
        sched.add_job(job, "interval", seconds=10, id="j")
        clock.advance(30)
        sched.resume()          # three runs are due
        clock.advance(0)
        self.assertEqual(recorder.events, [])
        self.assertEqual(sched.running_instances("j"), 1)
        gates[0].callback("first")
        self.assertEqual([e.retval for e in recorder.events], ["first", "plain", "plain"])
        self.assertEqual([e.scheduled_run_time for e in recorder.events],
                         [after(10), after(20), after(30)])
        self.assertEqual(sched.running_instances("j"), 0)

    def test_executor_that_is_not_immediate(self):
        sched, clock = make_scheduler(self)
        sched.add_executor(DeferringExecutor(), "deferring")
        sched.add_executor(DeferringExecutor(broken=True), "broken")
        recorder = EventRecorder(sched, ev.EVENT_JOB_EXECUTED | ev.EVENT_JOB_ERROR)
        sched.add_job(jobfuncs.square, "date", run_date=after(1), args=(5,),
                      executor="deferring")
        sched.add_job(jobfuncs.square, "date", run_date=after(2), args=(5,),
                      executor="broken")
        clock.advance(2)
        executed, failed = recorder.events
        self.assertEqual(executed.retval, 25)
        self.assertTrue(failed.failure.check(RuntimeError))
        self.assertEqual(sched.running_instances(), 0)
        self.flushLoggedErrors(RuntimeError)


class RemovalRearmTests(unittest.TestCase):
    """Removing a job re-arms the timer only when the earliest run time may change."""

    def test_removing_a_later_job_keeps_the_timer(self):
        sched, clock = make_scheduler(self)
        sched.add_job(print, "date", run_date=after(10), id="early")
        sched.add_job(print, "date", run_date=after(20), id="late")
        sched.add_job(print, "date", run_date=after(5), id="paused", next_run_time=None)
        [timer] = clock.getDelayedCalls()
        for job_id in ("late", "paused"):
            self.successResultOf(sched.remove_job(job_id))
            self.assertEqual(clock.getDelayedCalls(), [timer])
            self.assertEqual(timer.getTime(), after(10).timestamp())

    def test_removing_the_earliest_job_rearms(self):
        sched, clock = make_scheduler(self)
        sched.add_job(print, "date", run_date=after(10), id="early")
        sched.add_job(print, "date", run_date=after(20), id="late")
        self.successResultOf(sched.remove_job("early"))
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(20).timestamp())
        self.successResultOf(sched.remove_job("late"))
        self.assertEqual(clock.getDelayedCalls(), [])

    def test_removing_while_paused_or_retrying_rearms_as_before(self):
        sched, clock = make_scheduler(self)
        sched.add_job(print, "date", run_date=after(10), id="early")
        sched.add_job(print, "date", run_date=after(20), id="late")
        sched.pause()
        self.successResultOf(sched.remove_job("late"))
        self.assertEqual(clock.getDelayedCalls(), [])
        sched.resume()
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(10).timestamp())


class StepsTests(unittest.TestCase):

    def test_fired_deferreds_are_taken_at_once(self):
        @steps
        def add():
            a = yield defer.succeed(1)
            b = yield defer.succeed(2)
            c = yield 3                       # a plain value comes back as is
            return a + b + c
        self.assertEqual(self.successResultOf(add()), 6)

    def test_waits_for_unfired_deferreds(self):
        gate = defer.Deferred()
        reached = []

        @steps
        def wait():
            value = yield gate
            reached.append(value)
            return value * 2
        d = wait()
        self.assertNoResult(d)
        gate.callback(21)
        self.assertEqual(reached, [21])
        self.assertEqual(self.successResultOf(d), 42)

    def test_failures_are_raised_in_the_generator(self):
        later = defer.Deferred()

        @steps
        def catch():
            caught = []
            for d in (defer.fail(KeyError("now")), later):
                try:
                    yield d
                except KeyError as e:
                    caught.append(e.args[0])
            return caught
        d = catch()
        later.errback(KeyError("later"))
        self.assertEqual(self.successResultOf(d), ["now", "later"])

    def test_uncaught_exception_fails_the_deferred(self):
        @steps
        def broken():
            yield defer.succeed(None)
            raise ValueError("broken")
        self.failureResultOf(broken(), ValueError)

    def test_deferred_running_its_callbacks(self):
        """A Deferred yielded from inside its own callbacks is waited for."""
        outer = defer.Deferred()
        results = []

        @steps
        def inner():
            value = yield outer
            results.append(value)

        def callback(value):
            inner()             # outer is running its callbacks right now
            return value + 1
        outer.addCallback(callback)
        outer.callback(1)
        self.assertEqual(results, [2])


class MemoryStoreFastPathTests(MemoryStoreTestCase):

    def next_run_time(self):
        return self.successResultOf(self.store.get_next_run_time())

    def test_due_job_written_back_as_the_same_instance(self):
        self.add("a", 1)
        self.add("b", 5)
        [job] = self.successResultOf(self.store.acquire_due_jobs(after(1), 10))
        job.next_run_time = job.scheduled_run_time = after(9)
        self.successResultOf(self.store.update_job(job))
        self.assertEqual(self.next_run_time(), after(5))
        due = self.successResultOf(self.store.acquire_due_jobs(after(9), 10))
        self.assertEqual([j.id for j in due], ["b", "a"])

    def test_due_job_written_back_unchanged_stays_scheduled(self):
        self.add("a", 1)
        self.successResultOf(self.store.acquire_due_jobs(after(1), 10))
        self.successResultOf(self.store.update_job(make_job("a", 1)))
        self.assertEqual(self.next_run_time(), after(1))
        self.assertEqual(len(self.successResultOf(self.store.acquire_due_jobs(after(1), 10))), 1)

    def test_due_jobs_not_written_back_return(self):
        for n in range(5):
            self.add("j%d" % n, n)
        due = self.successResultOf(self.store.acquire_due_jobs(after(4), 10))
        self.assertEqual(len(due), 5)
        self.successResultOf(self.store.remove_job("j0"))
        self.assertEqual(self.next_run_time(), after(1))
        due = self.successResultOf(self.store.acquire_due_jobs(after(4), 10))
        self.assertEqual([j.id for j in due], ["j1", "j2", "j3", "j4"])

    def test_removals_far_from_the_top_are_compacted(self):
        for n in range(2000):
            self.add("j%d" % n, n)
        for n in range(100, 2000):
            self.successResultOf(self.store.remove_job("j%d" % n))
        self.assertLessEqual(len(self.store._heap), 2 * 100 + 64)
        due = self.successResultOf(self.store.acquire_due_jobs(after(5000), 5000))
        self.assertEqual([j.id for j in due], ["j%d" % n for n in range(100)])

    def test_listing_ties_in_order_of_addition(self):
        for job_id in ("c", "a", "b"):
            self.add(job_id, 10)
        self.successResultOf(self.store.update_job(make_job("c", 10)))
        jobs = self.successResultOf(self.store.get_jobs())
        self.assertEqual([j.id for j in jobs], ["c", "a", "b"])


    def test_remove_and_update_at_once(self):
        job = self.add("a", 1)
        self.add("b", 5)
        self.store.acquire_due_jobs(after(1), 10)
        job.next_run_time = job.scheduled_run_time = after(7)
        self.assertIsNone(self.store.update_job_now(job))
        self.assertIsNone(self.store.remove_job_now("b"))
        self.assertEqual([j.id for j in self.successResultOf(self.store.get_jobs())], ["a"])
        self.assertEqual(self.next_run_time(), after(7))

    def test_add_at_once(self):
        job = make_job("a", 3)
        self.assertIsNone(self.store.add_job_now(job))
        self.assertEqual(self.next_run_time(), after(3))
        self.assertRaises(ConflictingIdError, self.store.add_job_now, make_job("a", 5))
        self.assertEqual(self.successResultOf(self.store.lookup_job("a")), job)

    def test_remove_and_update_at_once_of_a_job_that_is_gone(self):
        self.assertRaises(JobLookupError, self.store.remove_job_now, "a")
        self.assertRaises(JobLookupError, self.store.update_job_now, make_job("a", 1))
        self.assertEqual(self.successResultOf(self.store.count_jobs()), 0)


class _BrokenUpdates(MemoryJobStore):
    """A memory store whose writes of due jobs fail."""

    def update_job_now(self, job):
        raise RuntimeError("the store broke")


class _DeferredWrites(MemoryJobStore):
    """A memory store without the at-once writes: due jobs go back by Deferred."""

    remove_job_now = update_job_now = append_run_now = None
    writes = 0

    def remove_job(self, job_id):
        self.writes += 1
        return MemoryJobStore.remove_job(self, job_id)

    def update_job(self, job):
        self.writes += 1
        return MemoryJobStore.update_job(self, job)


class DueJobWriteTests(unittest.TestCase):
    """Due jobs are written back at once to a store that can, by Deferred to others."""

    def test_store_without_at_once_writes(self):
        store = _DeferredWrites()
        sched, clock = make_scheduler(self, jobstores={"default": store})
        recorder = EventRecorder(sched, ev.EVENT_JOB_REMOVED)
        sched.add_job(jobfuncs.square, "date", run_date=after(1), args=(2,), id="once")
        sched.add_job(jobfuncs.square, "interval", seconds=5, args=(2,), id="every")
        clock.advance(1)
        clock.advance(4)
        self.assertEqual((store.writes, sched.counters["executed"]), (2, 2))
        self.assertEqual([e.job_id for e in recorder.events], ["once"])
        job = self.successResultOf(sched.get_job("every"))
        self.assertEqual(job.next_run_time, after(10))

    def test_job_that_removes_itself_is_not_written_back(self):
        sched, clock = make_scheduler(self)
        errors = EventRecorder(sched, ev.EVENT_JOBSTORE_ERROR)
        sched.add_job(lambda: sched.remove_job("j"), "interval", seconds=5, id="j")
        clock.advance(5)
        self.assertEqual((sched.counters["executed"], errors.events), (1, []))
        self.assertIsNone(self.successResultOf(sched.get_job("j")))
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_failed_write_is_a_store_failure_retried_later(self):
        sched, clock = make_scheduler(self, jobstores={"default": _BrokenUpdates()})
        errors = EventRecorder(sched, ev.EVENT_JOBSTORE_ERROR)
        sched.add_job(jobfuncs.square, "interval", seconds=5, args=(2,), id="j")
        clock.advance(5)
        self.assertEqual([e.alias for e in errors.events], ["default"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertIsNotNone(sched._retry_delay, "processing is retried after a delay")

    def test_duration_of_a_run_is_rounded_to_the_microsecond(self):
        clock = Clock()
        clock.advance(1000)     # (small times: fractions of a microsecond are kept)
        sched, clock = make_scheduler(self, reactor=clock)
        logged = []
        sched.log = Logger(observer=logged.append)

        def slow():
            d = defer.Deferred()
            clock.callLater(0.12345678, d.callback, None)
            return d
        sched.add_job(slow, "date", run_date=sched.now(), id="j")
        clock.advance(0)
        clock.advance(0.12345678)
        [event] = logged
        self.assertEqual(event["duration"], 0.123457)


class KeptRunTests(unittest.TestCase):
    """A run kept at once (append_run_now, a tuple) reads back as a full record."""

    def _history(self, store, trigger, **options):
        sched, clock = make_scheduler(self, jobstores={"default": store})
        clock.advance(0.25)         # a start time with a fraction

        def slow():                 # (a run that takes time: started != ended)
            d = defer.Deferred()
            clock.callLater(1.5, d.callback, None)
            return d
        sched.add_job(slow, trigger, id="j", **options)
        clock.advance(10)
        clock.advance(1.5)
        return self.successResultOf(sched.job_history("j"))

    def test_same_record_as_by_append_run(self):
        for trigger, options in (("date", {"run_date": after(10)}),
                                 ("interval", {"seconds": 10})):
            fast = self._history(MemoryJobStore(), trigger, **options)
            slow = self._history(_DeferredWrites(), trigger, **options)
            self.assertEqual(len(fast), 1)
            self.assertEqual(fast, slow)
            self.assertEqual((fast[0]["outcome"], fast[0]["error"], fast[0]["result"],
                              fast[0]["duration"]), ("ok", None, None, 1.5))

    def test_a_failing_write_at_once_is_logged_and_the_job_goes_on(self):
        store = MemoryJobStore()

        def broken(*args):
            raise RuntimeError("store is sad")
        store.append_run_now = broken
        sched, clock = make_scheduler(self, jobstores={"default": store})
        sched.add_job(jobfuncs.nothing, "interval", seconds=10, id="j")
        clock.advance(10)
        clock.advance(10)
        self.assertEqual(sched.counters["executed"], 2)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)


class AddTests(unittest.TestCase):
    """add_job with a store that adds at once."""

    def test_an_earlier_job_rearms_a_later_one_does_not(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_ADDED)
        sched.add_job(jobfuncs.square, "date", run_date=after(10), args=(1,), id="a")
        [timer] = clock.getDelayedCalls()
        sched.add_job(jobfuncs.square, "date", run_date=after(20), args=(1,), id="b")
        self.assertEqual(clock.getDelayedCalls(), [timer], "the timer is kept")
        sched.add_job(jobfuncs.square, "date", run_date=after(5), args=(1,), id="c")
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(5).timestamp())
        self.assertEqual([e.job_id for e in recorder.events], ["a", "b", "c"])

    def test_taken_id(self):
        sched, clock = make_scheduler(self)
        job = self.successResultOf(sched.add_job(jobfuncs.square, "date", run_date=after(10),
                                                 args=(1,), id="a"))
        self.failureResultOf(sched.add_job(jobfuncs.square, "date", run_date=after(5),
                                           args=(2,), id="a"), ConflictingIdError)
        replaced = self.successResultOf(sched.add_job(
            jobfuncs.square, "date", run_date=after(5), args=(2,), id="a",
            replace_existing=True))
        self.assertEqual(self.successResultOf(sched.get_job("a")).args, (2,))
        self.assertIsNot(replaced, job)
        [timer] = clock.getDelayedCalls()
        self.assertEqual(timer.getTime(), after(5).timestamp())

    def test_date_job_with_excluded_dates_asks_the_time(self):
        sched, clock = make_scheduler(self)
        job = self.successResultOf(sched.add_job(
            jobfuncs.square, "date", run_date=after(10), args=(1,), id="a",
            exclude=["2026-01-06"]))
        self.assertEqual(job.next_run_time, after(10))
        job = self.successResultOf(sched.add_job(
            jobfuncs.square, "date", run_date=after(10), args=(1,), id="b",
            exclude=[after(10).date().isoformat()]))
        self.assertIsNone(job.next_run_time, "its one date is excluded: it never runs")


class WakeupTests(unittest.TestCase):
    """Runs that come due while the scheduler runs others, and runs microseconds apart."""

    def setUp(self):
        self.sched, self.clock = make_scheduler(self)
        self.logged = []
        self.sched.log = Logger(observer=self.logged.append)
        self.ran = []

    def job(self, name, busy=0.0):
        def run():
            self.ran.append((name, self.clock.seconds()))
            if busy:
                self.clock.advance(busy)        # a run that takes a while
        return run

    def test_runs_that_came_due_meanwhile_run_in_the_same_pass(self):
        self.sched.add_job(self.job("a", busy=0.0005), "date", run_date=after(1), id="a")
        self.sched.add_job(self.job("b"), "date", run_date=after(1.0003), id="b")
        self.clock.advance(1)
        self.assertEqual([name for name, _ in self.ran], ["a", "b"])
        [burst] = self.logged
        self.assertEqual(burst["run_count"], 2, "one pass, one burst")

    def test_a_run_due_just_after_a_look_waits_a_millisecond(self):
        self.sched.add_job(self.job("a"), "date", run_date=after(1), id="a")
        self.sched.add_job(self.job("b"), "date", run_date=after(1.0002), id="b")
        self.clock.advance(1)
        [timer] = self.clock.getDelayedCalls()
        self.assertAlmostEqual(timer.getTime(), after(1.001).timestamp(), places=6)
        self.clock.advance(0.0002)
        self.assertEqual([name for name, _ in self.ran], ["a"])
        self.clock.advance(0.0008)
        self.assertEqual([name for name, _ in self.ran], ["a", "b"])

    def test_a_run_due_when_the_scheduler_looked_does_not_wait(self):
        def add_another():
            self.ran.append(("a", self.clock.seconds()))
            self.sched.add_job(self.job("c"), "date", run_date=self.sched.now(), id="c")
        self.sched.add_job(add_another, "date", run_date=after(1), id="a")
        self.clock.advance(1)
        self.assertEqual(self.ran, [("a", after(1).timestamp()), ("c", after(1).timestamp())])

    def test_a_run_due_long_after_the_last_look_is_not_moved(self):
        self.sched.add_job(self.job("a"), "date", run_date=after(1), id="a")
        self.clock.advance(1)
        self.sched.add_job(self.job("b"), "date", run_date=after(1.5002), id="b")
        [timer] = self.clock.getDelayedCalls()
        self.assertAlmostEqual(timer.getTime(), after(1.5002).timestamp(), places=6)


class SlottedJobTests(unittest.TestCase):

    def test_copy_has_every_field_and_its_own_arguments(self):
        job = Job(None, print, DateTrigger(after(5)), id="j", name="n", args=[1],
                  kwargs={"k": 2}, executor="threads", jobstore="other",
                  misfire_grace_time=None, coalesce=False, max_instances=3, jitter=2,
                  next_run_time=after(5))
        self.assertFalse(hasattr(job, "__dict__"))
        clone = job.copy()
        for name in Job.__slots__:
            self.assertEqual(getattr(clone, name), getattr(job, name), name)
        self.assertIsNot(clone.kwargs, job.kwargs)
        clone.kwargs["k"] = 3
        self.assertEqual(job.kwargs, {"k": 2})
        self.assertFalse(hasattr(DateTrigger(after(5)), "__dict__"))
