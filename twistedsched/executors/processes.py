"""
The process executor: runs CPU-bound jobs in a pool of worker processes.

Each worker is a Python running L{twistedsched.executors.worker}, spawned by
the reactor and spoken to in AMP over its stdin and stdout (see
L{twistedsched.executors.worker}).  A job travels as its function's text
reference and JSON arguments; its result comes back as JSON.
"""

import collections
import json
import os
import sys

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.error import ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IAddress, IReactorProcess
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure
from zope.interface import implementer

from twistedsched.errors import (
    BadArgumentError, JobFailedInWorker, SchedulerStateError, WorkerDied, describe_error)
from twistedsched.executors.base import check_max_workers, timed_out
from twistedsched.executors.worker import MAX_VALUE, Hello, RunJob
from twistedsched.interfaces import IExecutor, IJobChecker
from twistedsched.job import check_json_arguments
from twistedsched.refs import reference_to

#: What a worker process runs (not C{-m}: this package imports the module).
WORKER_MAIN = "from twistedsched.executors.worker import main; main()"

#: The longest pause between attempts to start workers that keep failing.
MAX_RESTART_DELAY = 60.0

#: Seconds a new worker has to answer L{Hello} before it counts as failed.
STARTUP_TIMEOUT = 60.0

log = Logger()


def job_reference(func):
    """The C{module:qualname} a worker imports C{func} by; L{BadArgumentError} if none."""
    ref = reference_to(func)
    if ref is None:
        raise BadArgumentError(
            "the processes executor imports a job's function by its text reference, and "
            "%r has none (a lambda, nested function or method?): use a module-level "
            "function" % (func,))
    return ref


def encode_arguments(args, kwargs):
    """C{args} and C{kwargs} as JSON text; L{BadArgumentError} if they cannot travel."""
    check_json_arguments(args, kwargs)
    encoded = json.dumps(list(args)), json.dumps(dict(kwargs))
    for what, text in zip(("args", "kwargs"), encoded):
        if len(text) > MAX_VALUE:
            raise BadArgumentError(
                "%s: %d bytes of JSON, more than the %d a worker process accepts" % (
                    what, len(text), MAX_VALUE))
    return encoded


def worker_environment():
    """The worker's environment: ours, with our C{sys.path} as its C{PYTHONPATH}."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(path) for path in sys.path)
    return env


class _Call:
    """A job on its way through the pool."""

    def __init__(self, ref, args, kwargs, timeout, cancel):
        self.ref, self.args, self.kwargs, self.timeout = ref, args, kwargs, timeout
        self.deferred = Deferred(lambda _: cancel(self))


@implementer(IAddress)
class _WorkerAddress:
    """The ends of a worker's pipes, for AMP's log lines."""

    def __init__(self, text):
        self.text = text

    def __str__(self):
        return self.text


class _WorkerProcess(ProcessProtocol):
    """
    One worker process: carries AMP over its stdin and stdout (it is the AMP
    protocol's transport) and logs what it writes to stderr.
    """

    disconnecting = False

    def __init__(self, worker):
        self.worker = worker

    @property
    def pid(self):
        return self.transport.pid

    def connectionMade(self):
        self.worker.makeConnection(self)

    def write(self, data):
        self.transport.write(data)

    def writeSequence(self, data):
        self.transport.writeSequence(data)

    def loseConnection(self):
        """Close its stdin: an idle worker exits."""
        self.transport.closeStdin()

    def kill(self):
        try:
            self.transport.signalProcess("KILL")
        except ProcessExitedAlready:
            pass

    def getPeer(self):
        return _WorkerAddress("worker process %s" % (self.pid,))

    def getHost(self):
        return _WorkerAddress("process %s" % (os.getpid(),))

    def outReceived(self, data):
        self.worker.dataReceived(data)

    def errReceived(self, data):
        for line in data.decode("utf-8", "replace").splitlines():
            log.info("process worker {pid}: {line}", pid=self.pid, line=line)

    def processEnded(self, reason):
        self.worker.connectionLost(reason)


class _Worker(amp.AMP):
    """The pool's side of one worker process, in AMP."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool
        self.pid = None
        self.call = None            # the _Call it runs
        self.ready = False          # it answered Hello
        self.lost = False           # its process has ended
        self.timed_out = False
        self.ended = Deferred()     # fires when the process is gone

    def connectionMade(self):
        super().connectionMade()
        self.pid = self.transport.pid

    def close(self):
        self.transport.loseConnection()

    def kill(self):
        self.transport.kill()

    def connectionLost(self, reason):
        self.lost = True
        self.pool._worker_lost(self, reason)
        super().connectionLost(reason)      # fails the call it was running
        self.ended.callback(None)


def _exit_description(reason):
    if reason.check(ProcessTerminated):
        if reason.value.signal is not None:
            return "killed by signal %d" % (reason.value.signal,)
        return "exit code %s" % (reason.value.exitCode,)
    return reason.getErrorMessage()


@implementer(IExecutor, IJobChecker)
class ProcessPoolExecutor:
    """
    Runs jobs in C{max_workers} worker processes, started on first use and
    kept at that number: a worker that dies, or is killed because its job
    ran past the job's C{timeout}, is replaced.  Jobs wait in order for a
    free worker.  The function must be importable by its text reference and
    the arguments and result JSON values (at most 64 KiB of JSON each).
    """

    def __init__(self, max_workers=2):
        self.max_workers = check_max_workers(max_workers)
        self._reactor = None
        self._stopping = False
        self._workers = set()               # spawned and not yet gone
        self._idle = []                     # ready for a job
        self._queue = collections.deque()   # _Calls waiting for a worker
        self._failures = 0                  # workers in a row that failed to start
        self._restart = None                # the delayed call retrying a start

    def start(self, scheduler, alias):
        self._reactor = scheduler.reactor
        self._stopping = False

    @property
    def pids(self):
        """The process ids of the live workers."""
        return sorted(worker.pid for worker in self._workers if worker.pid is not None)

    def check(self, func, args, kwargs):
        job_reference(func)
        encode_arguments(args, kwargs)

    def run(self, func, args, kwargs, timeout=None):
        if self._reactor is None or self._stopping:
            raise SchedulerStateError("the process executor is not started")
        if not IReactorProcess.providedBy(self._reactor):
            raise SchedulerStateError(
                "the process executor needs a reactor that spawns processes, not %r" % (
                    self._reactor,))
        call = _Call(job_reference(func), *encode_arguments(args, kwargs), timeout,
                     self._cancel)
        self._queue.append(call)
        self._fill()
        self._dispatch()
        return call.deferred

    def shutdown(self, wait=True):
        """
        Stop every worker once it is idle.  With C{wait}, jobs already given
        still run; without, waiting jobs fail and busy workers are killed.
        Fires when all worker processes are gone.
        """
        self._stopping = True
        if self._restart is not None and self._restart.active():
            self._restart.cancel()
        if not wait:
            self._fail_queued(SchedulerStateError(
                "the process executor shut down before the job started"))
        ended = [worker.ended for worker in self._workers]
        for worker in list(self._workers):
            if worker.call is not None and not wait:
                worker.kill()
            elif not worker.ready and not self._queue:
                worker.close()
        if not self._queue:
            self._close_idle()
        return DeferredList(ended).addCallback(lambda _: None)

    # -- Workers -----------------------------------------------------------

    def _fill(self):
        """Start workers until there are C{max_workers}."""
        while not self._stopping and len(self._workers) < self.max_workers and not (
                self._restart is not None and self._restart.active()):
            self._spawn()

    def _spawn(self):
        worker = _Worker(self)
        args = [sys.executable, "-c", WORKER_MAIN]
        try:
            self._reactor.spawnProcess(_WorkerProcess(worker), sys.executable, args,
                                       env=worker_environment())
        except Exception:
            self._worker_failed(Failure(), worker)
            return
        self._workers.add(worker)
        d = worker.callRemote(Hello).addTimeout(STARTUP_TIMEOUT, self._reactor)
        d.addCallbacks(self._worker_ready, self._worker_failed,
                       callbackArgs=(worker,), errbackArgs=(worker,))

    def _worker_ready(self, answer, worker):
        self._failures = 0
        worker.pid = answer["pid"]
        worker.ready = True
        self._release(worker)

    def _worker_failed(self, failure, worker):
        """A worker could not start: fail waiting jobs if none runs; retry later."""
        self._workers.discard(worker)
        if worker.transport is not None and not worker.lost:
            worker.kill()
        if self._stopping:
            self._check_stranded()
            return
        self._failures += 1
        delay = min(MAX_RESTART_DELAY, 0.5 * 2 ** self._failures)
        log.error("a process worker failed to start ({error}); trying again in {delay} s",
                  error=describe_error(failure), delay=delay)
        if not any(other.ready for other in self._workers):
            self._fail_queued(WorkerDied("no worker process could start: %s" % (
                failure.getErrorMessage(),)))
        self._restart = self._reactor.callLater(delay, self._fill)

    def _worker_lost(self, worker, reason):
        """A worker's process ended: forget it and, unless stopping, replace it."""
        self._workers.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        if self._stopping:
            self._check_stranded()
        elif worker.ready:
            log.warn("process worker {pid} ended ({why}); starting another",
                     pid=worker.pid, why=_exit_description(reason))
            self._fill()

    def _release(self, worker):
        """A worker is free: give it the next job; when stopping and none is left, close it."""
        self._idle.append(worker)
        self._dispatch()
        if self._stopping and not self._queue:
            self._close_idle()

    def _close_idle(self):
        idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()

    def _check_stranded(self):
        """When stopping: fail waiting jobs if no worker is left to run them."""
        if not self._workers:
            self._fail_queued(WorkerDied("the process executor shut down and its last "
                                         "worker ended before the job started"))

    # -- Jobs --------------------------------------------------------------

    def _dispatch(self):
        while self._queue and self._idle:
            self._send(self._idle.pop(), self._queue.popleft())

    def _send(self, worker, call):
        worker.call = call
        timer = None
        if call.timeout is not None:
            timer = self._reactor.callLater(call.timeout, self._time_out, worker)
        d = maybeDeferred(worker.callRemote, RunJob, func=call.ref, args=call.args,
                          kwargs=call.kwargs)
        d.addBoth(self._answered, worker, call, timer)

    def _cancel(self, call):
        """
        A job's Deferred was cancelled (it fails with C{CancelledError}): a
        job still waiting is dropped, a running one's worker is killed (and
        replaced).
        """
        if call in self._queue:
            self._queue.remove(call)
            return
        for worker in self._workers:
            if worker.call is call:
                log.info("cancelling a job: killing its worker process {pid}", pid=worker.pid)
                worker.kill()

    def _time_out(self, worker):
        worker.timed_out = True
        worker.kill()

    def _answered(self, answer, worker, call, timer):
        if timer is not None and timer.active():
            timer.cancel()
        worker.call = None
        if isinstance(answer, Failure) and worker.lost:
            outcome = Failure(self._lost_job(worker, call, answer))
        elif isinstance(answer, Failure):
            outcome = answer            # the worker is fine; the call went wrong
        elif answer.get("error") is not None:
            outcome = Failure(JobFailedInWorker(answer["error"], answer.get("traceback")))
        else:
            outcome = json.loads(answer["result"])
        if not worker.lost:
            self._release(worker)
        if not call.deferred.called:       # (a cancelled job's has fired)
            call.deferred.callback(outcome)

    def _lost_job(self, worker, call, reason):
        """The error of a job whose worker died under it."""
        if worker.timed_out:
            return timed_out(call.timeout, "its worker process (pid %s) was killed and "
                                           "replaced" % (worker.pid,))
        if self._stopping:
            return WorkerDied("the process executor shut down while the job ran; its "
                              "worker process (pid %s) was killed" % (worker.pid,))
        return WorkerDied("the worker process (pid %s) running the job died (%s); "
                          "another replaces it" % (worker.pid, _exit_description(reason)))

    def _fail_queued(self, error):
        queued, self._queue = list(self._queue), collections.deque()
        for call in queued:
            call.deferred.errback(Failure(error))
