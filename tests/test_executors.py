"""
Tests for the reactor and thread executors (the thread pool reports back
through the real reactor), and for job timeouts.  The process executor has
its own module, test_executors_processes.
"""

import threading

from twisted.internet import defer, reactor
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from twistedsched import Scheduler
from twistedsched import events as ev
from twistedsched.errors import BadArgumentError, JobTimedOut
from twistedsched.executors import (
    ProcessPoolExecutor, ReactorExecutor, ThreadPoolExecutor, make_executor)
from twistedsched.interfaces import IExecutor

from tests import jobfuncs
from tests.helpers import EventRecorder, make_scheduler


class _Host:
    """Just enough of a scheduler for an executor's start()."""
    reactor = reactor


class ReactorExecutorTests(unittest.TestCase):

    def test_interface(self):
        verifyObject(IExecutor, ReactorExecutor())

    def test_value_exception_deferred_coroutine(self):
        executor = ReactorExecutor()
        self.assertEqual(self.successResultOf(executor.run(jobfuncs.square, (3,), {})), 9)
        self.failureResultOf(executor.run(jobfuncs.fail, ("x",), {}), ValueError)
        self.assertEqual(self.successResultOf(
            executor.run(defer.succeed, ("d",), {})), "d")
        self.assertEqual(self.successResultOf(
            executor.run(jobfuncs.coroutine, (), {})), "coroutine")


class TimeoutTests(unittest.TestCase):
    """The job option C{timeout}, and what the reactor executor does with it."""

    def test_option_defaults_and_changes(self):
        sched, _ = make_scheduler(self, timeout=30)
        job = self.successResultOf(sched.add_job(jobfuncs.square, "interval", seconds=5))
        self.assertEqual(job.timeout, 30)
        job = self.successResultOf(sched.add_job(
            jobfuncs.square, "interval", seconds=5, timeout=None))
        self.assertIsNone(job.timeout)
        job = self.successResultOf(sched.modify_job(job.id, timeout=2.5))
        self.assertEqual(self.successResultOf(sched.get_job(job.id)).timeout, 2.5)
        self.assertRaises(BadArgumentError, sched.modify_job, job.id, timeout=0)
        self.assertRaises(BadArgumentError, sched.add_job, jobfuncs.square, timeout="5s")

    def test_reactor_job_cancelled_at_timeout(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_EXECUTED | ev.EVENT_JOB_ERROR)
        cancelled = []
        never = defer.Deferred(cancelled.append)
        sched.add_job(lambda: never, "interval", seconds=60, timeout=5, id="slow")
        clock.advance(60)
        self.assertEqual(sched.running_instances("slow"), 1)
        clock.advance(4.5)
        self.assertEqual(recorder.events, [])
        clock.advance(0.5)
        [event] = recorder.events
        self.assertEqual(event.code, ev.EVENT_JOB_ERROR)
        self.assertTrue(event.failure.check(JobTimedOut))
        self.assertIn("timed out after 5 s", event.failure.getErrorMessage())
        self.assertEqual(sched.running_instances("slow"), 0)
        self.assertEqual(cancelled, [never])
        self.assertEqual(len(self.flushLoggedErrors(JobTimedOut)), 1)
        [run] = self.successResultOf(sched.job_history("slow"))
        self.assertEqual(run["outcome"], "timeout")
        self.assertIn("timed out after 5 s", run["error"])

    def test_reactor_job_in_time(self):
        sched, clock = make_scheduler(self)
        recorder = EventRecorder(sched, ev.EVENT_JOB_EXECUTED | ev.EVENT_JOB_ERROR)
        sched.add_job(lambda: defer.Deferred().addTimeout(1, clock), "interval",
                      seconds=60, timeout=5)
        sched.add_job(jobfuncs.square, "interval", seconds=60, args=(3,), timeout=5)
        clock.advance(60)
        clock.advance(1)
        self.assertEqual(sorted(e.code for e in recorder.events),
                         [ev.EVENT_JOB_EXECUTED, ev.EVENT_JOB_ERROR])
        self.assertEqual([e.retval for e in recorder.events
                          if e.code == ev.EVENT_JOB_EXECUTED], [9])
        [failed] = [e for e in recorder.events if e.code == ev.EVENT_JOB_ERROR]
        self.assertFalse(failed.failure.check(JobTimedOut))     # its own timeout, at 1 s
        clock.advance(10)
        self.assertEqual(len(recorder.events), 2)
        self.flushLoggedErrors(defer.TimeoutError)

    def test_old_executor_without_timeout_argument(self):
        """An executor written before timeouts still runs jobs that have none."""

        class OldExecutor(ReactorExecutor):
            def run(self, func, args, kwargs):
                return super().run(func, args, kwargs)
        sched, clock = make_scheduler(self, executors={"default": OldExecutor()})
        recorder = EventRecorder(sched, ev.EVENT_JOB_EXECUTED | ev.EVENT_JOB_ERROR)
        sched.add_job(jobfuncs.square, "date", run_date=sched.now(), args=(4,))
        sched.add_job(jobfuncs.square, "date", run_date=sched.now(), args=(5,), timeout=3)
        clock.advance(0)
        codes = sorted((e.code, e.retval) for e in recorder.events)
        self.assertEqual(codes, [(ev.EVENT_JOB_EXECUTED, 16), (ev.EVENT_JOB_ERROR, None)])
        self.assertEqual(len(self.flushLoggedErrors(TypeError)), 1)


class ThreadPoolExecutorTests(unittest.TestCase):

    def setUp(self):
        self.executor = ThreadPoolExecutor(max_workers=2)
        self.executor.start(_Host(), "threads")
        self.addCleanup(self.executor.shutdown)

    def test_interface(self):
        verifyObject(IExecutor, self.executor)

    @defer.inlineCallbacks
    def test_runs_in_pool_thread(self):
        name = yield self.executor.run(jobfuncs.thread_name, (), {})
        self.assertIn("twistedsched-threads", name)

    @defer.inlineCallbacks
    def test_exception_fails_deferred(self):
        with self.assertRaises(ValueError):
            yield self.executor.run(jobfuncs.fail, ("in a thread",), {})

    @defer.inlineCallbacks
    def test_coroutine_refused(self):
        with self.assertRaises(TypeError) as caught:
            yield self.executor.run(jobfuncs.coroutine, (), {})
        self.assertIn("reactor", str(caught.exception))

    def test_bad_size(self):
        self.assertRaises(BadArgumentError, ThreadPoolExecutor, max_workers=0)

    @defer.inlineCallbacks
    def test_timeout_fails_the_run_and_the_thread_runs_on(self):
        release = threading.Event()
        self.addCleanup(release.set)
        with self.assertRaises(JobTimedOut) as caught:
            yield self.executor.run(jobfuncs.wait_for_event, (release,), {}, timeout=0.1)
        self.assertIn("timed out after 0.1 s", str(caught.exception))
        self.assertIn("runs on", str(caught.exception))
        result = yield self.executor.run(jobfuncs.square, (7,), {}, timeout=30)
        self.assertEqual(result, 49)


class SchedulerExecutorTests(unittest.TestCase):
    """Jobs choose their executor; the scheduler starts and stops pools."""

    @defer.inlineCallbacks
    def test_job_on_thread_executor(self):
        sched = Scheduler(reactor=reactor)
        sched.startService()
        done = defer.Deferred()
        sched.add_listener(lambda e: done.callback(e.retval), ev.EVENT_JOB_EXECUTED)
        sched.add_job(jobfuncs.thread_name, executor="threads")
        name = yield done
        yield sched.stopService()
        self.assertIn("twistedsched-threads", name)

    def test_make_executor(self):
        self.assertIsInstance(make_executor("threads", max_workers=3), ThreadPoolExecutor)
        self.assertIsInstance(make_executor("processes", max_workers=3), ProcessPoolExecutor)
        self.assertRaises(BadArgumentError, make_executor, "fibers")
