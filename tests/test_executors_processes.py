"""
Tests for the process executor, with real worker processes on the real
reactor.  Each test waits for the Deferreds the workers answer through;
trial's C{timeout} bounds them.
"""

import os
import signal
import sys
import unittest as pyunit

from twisted.internet import defer, reactor
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from twistedsched import Scheduler
from twistedsched import events as ev
from twistedsched.errors import (
    BadArgumentError, JobFailedInWorker, JobTimedOut, SchedulerStateError, WorkerDied)
from twistedsched.executors import ProcessPoolExecutor
from twistedsched.interfaces import IExecutor, IJobChecker

from tests import jobfuncs
from tests.daemonprocess import DaemonTestCase, stop_process
from tests.test_console_e2e import PROMPT, Client


class _Host:
    """Just enough of a scheduler for an executor's start()."""
    reactor = reactor


def alive(pid):
    """True if a process with this pid exists (and is not a zombie we reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def ended(executor, pid):
    """A Deferred that fires when the worker with this pid has gone."""
    [worker] = [w for w in executor._workers if w.pid == pid]
    return worker.ended


class ProcessTestCase(unittest.TestCase):
    timeout = 60
    workers = 2

    def setUp(self):
        self.executor = ProcessPoolExecutor(max_workers=self.workers)
        self.executor.start(_Host(), "processes")
        self.addCleanup(self.stop)

    def all_busy(self):
        """Run one job in every worker at once (so all have started); fire with their pids."""
        directory = self.mktemp()
        os.mkdir(directory)
        return defer.gatherResults([self.executor.run(jobfuncs.meet, (directory, self.workers), {})
                                    for _ in range(self.workers)])

    @defer.inlineCallbacks
    def stop(self):
        pids = self.executor.pids
        yield self.executor.shutdown(wait=False)
        self.assertEqual(self.executor.pids, [])
        self.assertEqual([pid for pid in pids if alive(pid)], [])


class RunTests(ProcessTestCase):

    def test_interfaces(self):
        verifyObject(IExecutor, self.executor)
        verifyObject(IJobChecker, self.executor)

    def test_bad_size(self):
        for bad in (0, -1, 1.5, "2", True):
            self.assertRaises(BadArgumentError, ProcessPoolExecutor, max_workers=bad)

    @defer.inlineCallbacks
    def test_result_from_another_process(self):
        pid = yield self.executor.run(jobfuncs.whoami, (), {})
        self.assertNotEqual(pid, os.getpid())
        self.assertIn(pid, self.executor.pids)
        self.assertEqual(len(self.executor.pids), 2)
        result = yield self.executor.run(jobfuncs.square, (12,), {})
        self.assertEqual(result, 144)

    @defer.inlineCallbacks
    def test_json_in_and_out(self):
        result = yield self.executor.run(
            jobfuncs.echo, (["a", 1, {"b": None}],), {"flag": True})
        self.assertEqual(result, [["a", 1, {"b": None}], {"flag": True}])

    @defer.inlineCallbacks
    def test_exception_in_the_job(self):
        with self.assertRaises(JobFailedInWorker) as caught:
            yield self.executor.run(jobfuncs.fail, ("in a process",), {})
        self.assertEqual(str(caught.exception), "ValueError: in a process")
        self.assertIn("in fail", caught.exception.remote_traceback)

    @defer.inlineCallbacks
    def test_exit_in_the_job(self):
        """sys.exit() in a job is its error; the worker serves on."""
        pids = yield self.all_busy()
        with self.assertRaises(JobFailedInWorker) as caught:
            yield self.executor.run(sys.exit, (4,), {})
        self.assertEqual(str(caught.exception), "SystemExit: 4")
        self.assertEqual(self.executor.pids, sorted(pids))

    @defer.inlineCallbacks
    def test_non_json_result(self):
        with self.assertRaises(JobFailedInWorker) as caught:
            yield self.executor.run(jobfuncs.unserializable, (), {})
        self.assertIn("not a JSON value", str(caught.exception))
        self.assertEqual((yield self.executor.run(jobfuncs.square, (2,), {})), 4)

    @defer.inlineCallbacks
    def test_coroutine_refused(self):
        with self.assertRaises(JobFailedInWorker) as caught:
            yield self.executor.run(jobfuncs.coroutine, (), {})
        self.assertIn("reactor", str(caught.exception))

    @defer.inlineCallbacks
    def test_output_does_not_disturb_the_channel(self):
        self.assertEqual((yield self.executor.run(jobfuncs.noisy, ("quiet",), {})), "quiet")

    @defer.inlineCallbacks
    def test_jobs_wait_for_a_free_worker(self):
        results = yield defer.gatherResults(
            [self.executor.run(jobfuncs.square, (n,), {}) for n in range(7)])
        self.assertEqual(results, [n * n for n in range(7)])
        self.assertEqual(len(self.executor.pids), 2)

    @defer.inlineCallbacks
    def test_workers_run_jobs_at_once(self):
        """Two jobs that wait for each other finish: they ran in two processes at once."""
        pids = yield self.all_busy()
        self.assertEqual(sorted(pids), self.executor.pids)


class CheckTests(unittest.TestCase):
    """What cannot travel to a worker is refused before it runs, with a clear error."""

    def setUp(self):
        self.executor = ProcessPoolExecutor()

    def test_functions_without_reference(self):
        for func in (lambda: 1, jobfuncs.make_closure(), _Host().__init__):
            e = self.assertRaises(BadArgumentError, self.executor.check, func, (), {})
            self.assertIn("module-level function", str(e))

    def test_arguments_not_json(self):
        for args, kwargs, label in [((object(),), {}, "args[0]"),
                                    ((), {"s": {1, 2}}, "kwargs['s']"),
                                    ((float("nan"),), {}, "args[0]")]:
            e = self.assertRaises(BadArgumentError, self.executor.check,
                                  jobfuncs.square, args, kwargs)
            self.assertIn(label, str(e))

    def test_arguments_too_big(self):
        e = self.assertRaises(BadArgumentError, self.executor.check,
                              jobfuncs.square, ("x" * 70000,), {})
        self.assertIn("more than the 65535", str(e))

    def test_run_refuses_too(self):
        self.executor.start(_Host(), "processes")
        self.assertRaises(BadArgumentError, self.executor.run, lambda: 1, (), {})
        self.assertEqual(self.executor.pids, [])

    def test_not_started(self):
        self.assertRaises(SchedulerStateError, self.executor.run, jobfuncs.square, (1,), {})


class ReplacementTests(ProcessTestCase):
    """A worker that crashes, hangs or is killed is replaced; the pool keeps its size."""

    @defer.inlineCallbacks
    def test_crash_in_a_job(self):
        first = yield self.executor.run(jobfuncs.whoami, (), {})
        with self.assertRaises(WorkerDied) as caught:
            yield self.executor.run(jobfuncs.crash, (3,), {})
        self.assertIn("died (exit code 3)", str(caught.exception))
        self.assertEqual(len(self.executor.pids), 2)
        results = yield defer.gatherResults(
            [self.executor.run(jobfuncs.square, (n,), {}) for n in range(4)])
        self.assertEqual(results, [0, 1, 4, 9])
        self.assertEqual(len(self.executor.pids), 2)
        self.assertNotEqual(self.executor.pids, [first])

    @defer.inlineCallbacks
    def test_hang_past_timeout(self):
        before = set((yield self.all_busy()))
        with self.assertRaises(JobTimedOut) as caught:
            yield self.executor.run(jobfuncs.hang, (), {}, timeout=0.5)
        self.assertIn("timed out after 0.5 s", str(caught.exception))
        self.assertIn("killed and replaced", str(caught.exception))
        [hung] = before - set(self.executor.pids)
        self.assertFalse(alive(hung))
        self.assertEqual(len(self.executor.pids), 2)
        self.assertEqual((yield self.executor.run(jobfuncs.square, (5,), {}, timeout=30)), 25)

    @defer.inlineCallbacks
    def test_idle_worker_killed_from_outside(self):
        victim = yield self.executor.run(jobfuncs.whoami, (), {})
        gone = ended(self.executor, victim)
        os.kill(victim, signal.SIGKILL)
        yield gone
        self.assertNotIn(victim, self.executor.pids)
        self.assertEqual(len(self.executor.pids), 2)
        results = yield defer.gatherResults(
            [self.executor.run(jobfuncs.whoami, (), {}) for _ in range(4)])
        self.assertNotIn(victim, results)


class ShutdownTests(ProcessTestCase):

    @defer.inlineCallbacks
    def test_no_worker_left(self):
        yield self.executor.run(jobfuncs.square, (1,), {})
        pids = self.executor.pids
        self.assertEqual(len(pids), 2)
        yield self.executor.shutdown()
        self.assertEqual([pid for pid in pids if alive(pid)], [])
        self.assertRaises(SchedulerStateError, self.executor.run, jobfuncs.square, (1,), {})

    @defer.inlineCallbacks
    def test_without_wait_kills_busy_workers(self):
        pids = yield self.all_busy()
        hung = self.executor.run(jobfuncs.hang, (), {})
        queued = [self.executor.run(jobfuncs.hang, (), {}) for _ in range(2)]
        yield self.executor.shutdown(wait=False)
        self.assertEqual([pid for pid in pids if alive(pid)], [])
        error = self.failureResultOf(hung, WorkerDied).value
        self.assertIn("shut down while the job ran", str(error))
        for d in queued[1:]:
            self.assertIn("before the job started",
                          str(self.failureResultOf(d, SchedulerStateError).value))
        self.failureResultOf(queued[0], WorkerDied)

    @defer.inlineCallbacks
    def test_with_wait_lets_running_jobs_finish(self):
        running = self.executor.run(jobfuncs.square, (6,), {})
        yield self.executor.shutdown(wait=True)
        self.assertEqual(self.successResultOf(running), 36)


class SchedulerTests(unittest.TestCase):
    """Jobs on the processes executor of a running scheduler."""

    timeout = 60

    def setUp(self):
        self.sched = Scheduler(reactor=reactor, executors={
            "default": "reactor", "processes": ProcessPoolExecutor(max_workers=1)})
        self.sched.startService()
        self.addCleanup(self.sched.shutdown, wait=False)
        self.outcomes = {}
        self.sched.add_listener(self._record, ev.EVENT_JOB_EXECUTED | ev.EVENT_JOB_ERROR)

    def _record(self, event):
        self.outcomes.pop(event.job_id).callback(event)

    def outcome(self, job_id):
        d = self.outcomes[job_id] = defer.Deferred()
        return d

    @defer.inlineCallbacks
    def test_registered_task_by_name(self):
        self.sched.tasks.register("square", jobfuncs.square)
        done = self.outcome("sq")
        job = yield self.sched.add_job("square", args=(9,), id="sq", executor="processes")
        self.assertEqual(job.task, "square")
        event = yield done
        self.assertEqual((event.code, event.retval), (ev.EVENT_JOB_EXECUTED, 81))

    @defer.inlineCallbacks
    def test_reference_and_timeout(self):
        done = self.outcome("stuck")
        # An interval job, so that it stays stored with its history.
        yield self.sched.add_job("tests.jobfuncs:hang", "interval", hours=1, id="stuck",
                                 executor="processes", timeout=0.5,
                                 next_run_time=self.sched.now())
        event = yield done
        self.assertEqual(event.code, ev.EVENT_JOB_ERROR)
        self.assertIn("timed out after 0.5 s", event.failure.getErrorMessage())
        self.assertEqual(len(self.flushLoggedErrors(JobTimedOut)), 1)
        [run] = yield self.sched.job_history("stuck")
        self.assertEqual(run["outcome"], "timeout")
        self.assertIn("timed out after 0.5 s", run["error"])
        done = self.outcome("after")
        yield self.sched.add_job(jobfuncs.square, args=(3,), id="after", executor="processes")
        self.assertEqual((yield done).retval, 9)

    @defer.inlineCallbacks
    def test_exception_reported_as_job_error(self):
        done = self.outcome("bad")
        yield self.sched.add_job(jobfuncs.fail, args=("no luck",), id="bad",
                                 executor="processes")
        event = yield done
        self.assertEqual(event.code, ev.EVENT_JOB_ERROR)
        self.assertEqual(event.failure.getErrorMessage(), "ValueError: no luck")
        self.assertEqual(len(self.flushLoggedErrors(JobFailedInWorker)), 1)

    def test_refused_at_add_time(self):
        self.sched.tasks.register("anonymous", lambda: 1)
        for func, args in [(lambda: 1, ()), ("anonymous", ()), (jobfuncs.square, (object(),)),
                           (jobfuncs.make_closure(), ())]:
            self.assertRaises(BadArgumentError, self.sched.add_job, func, args=args,
                              executor="processes")
        self.assertEqual(self.successResultOf(self.sched.get_jobs()), [])

    def test_refused_at_modify_time(self):
        job = self.successResultOf(self.sched.add_job(
            lambda: 1, "interval", seconds=60, id="local"))
        self.failureResultOf(self.sched.modify_job(job.id, executor="processes"),
                             BadArgumentError)
        self.assertEqual(self.successResultOf(self.sched.get_job("local")).executor, "default")


def children(pid):
    """The pids of the processes whose parent is C{pid} (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % (entry,)) as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry))
    return found


class DaemonTests(DaemonTestCase):
    """The daemon runs console-added jobs in worker processes and leaves none behind."""

    def daemon_args(self):
        return ["--console", "tcp:%d:interface=127.0.0.1" % (self.console_port,),
                "--control", "none", "--max-processes", "3"]

    def listening_port(self):
        return self.console_port

    def setUp(self):
        if not os.path.isdir("/proc/self"):
            raise pyunit.SkipTest("needs /proc to find the daemon's worker processes")
        return super().setUp()

    def test_job_in_a_worker_process(self):
        client = Client(self.console_port)
        self.addCleanup(client.close)
        client.read_until(PROMPT)
        lines = client.cmd("""add echo every 1s id=p args='["hi"]' executor=processes """
                           """timeout=30""")
        self.assertTrue(lines[0].startswith("added job p (echo)"), lines)
        self.assertIn("job_executed job_id=p", client.watch_one("job_executed job_error"))
        self.assertRegex("\n".join(client.cmd("show p")), r"\ntimeout: +30\n")
        workers = children(self.daemon.pid)
        self.assertEqual(len(workers), 3)
        stop_process(self.daemon)
        self.assertEqual([pid for pid in workers if alive(pid)], [])
        log = self.daemon_log()
        self.assertIn("Server Shut Down", log)
        for pid in workers:
            self.assertIn("connection lost (HOST:process %d PEER:worker process %d)" % (
                self.daemon.pid, pid), log)
        self.assertNotIn("Traceback", log)
