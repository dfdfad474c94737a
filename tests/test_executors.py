"""
Tests for the executors, using the real reactor where threads or processes
report back through it.
"""

import os

from twisted.internet import defer, reactor
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from twistedsched import Scheduler
from twistedsched import events as ev
from twistedsched.errors import BadArgumentError
from twistedsched.executors import (
    ProcessPoolExecutor, ReactorExecutor, ThreadPoolExecutor, make_executor)
from twistedsched.interfaces import IExecutor

from tests import jobfuncs


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


class ProcessPoolExecutorTests(unittest.TestCase):

    def setUp(self):
        self.executor = ProcessPoolExecutor(max_workers=1)
        self.executor.start(_Host(), "processes")
        self.addCleanup(self.executor.shutdown)

    def test_interface(self):
        verifyObject(IExecutor, self.executor)

    @defer.inlineCallbacks
    def test_runs_in_another_process(self):
        pid = yield self.executor.run(jobfuncs.whoami, (), {})
        self.assertNotEqual(pid, os.getpid())
        result = yield self.executor.run(jobfuncs.square, (12,), {})
        self.assertEqual(result, 144)

    @defer.inlineCallbacks
    def test_exception_fails_deferred(self):
        with self.assertRaises(ValueError):
            yield self.executor.run(jobfuncs.fail, ("in a process",), {})


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
        self.assertRaises(BadArgumentError, make_executor, "fibers")
