"""
The queue executor: each run goes on a broker's queue as a message, and a
worker daemon (C{twistd sched-worker}, L{twistedsched.workerd}) runs it::

    sched = Scheduler(executors={"default": "reactor",
                                 "queue": QueueExecutor("redis://127.0.0.1:6379/0")})
    sched.add_job("report", "cron", hour=3, executor="queue:reports")

C{executor="queue:NAME"} sends a job's runs to the queue C{NAME}
(C{executor="queue"}: to C{default}).  The run's Deferred fires when a
worker reports the outcome, so max_instances and timeouts hold across
workers.  See C{docs/workers.rst} for the guarantees.
"""

import collections
import re
import uuid

from twisted.internet import defer, task
from twisted.logger import Logger
from zope.interface import implementer

from twistedsched import events as ev
from twistedsched.brokers import make_broker
from twistedsched.brokers.base import (
    NoWorkerError, QueueFull, check_name, offers, run_message)
from twistedsched.errors import BadArgumentError, JobFailedInWorker, SchedulerStateError
from twistedsched.executors.base import add_timeout
from twistedsched.interfaces import IJobChecker, IRunExecutor
from twistedsched.job import check_json_arguments
from twistedsched.refs import reference_to
from twistedsched.timeutil import from_timestamp

#: The queue of C{executor="queue"}.
DEFAULT_QUEUE = "default"

log = Logger()


def queue_of(executor_alias):
    """The queue a job's C{executor} names: C{"queue:reports"} -> C{"reports"}."""
    prefix, _, name = str(executor_alias).partition(":")
    return name or DEFAULT_QUEUE


class QueueEvent(ev.SchedulerEvent):
    """A queue had no live consumer for C{seconds} (L{twistedsched.events.EVENT_QUEUE_UNCONSUMED})."""

    def __init__(self, code, queue, seconds):
        super().__init__(code)
        self.queue = queue
        self.seconds = seconds

    def to_dict(self):
        return {"event": self.name, "queue": self.queue, "seconds": self.seconds}


class _Run:
    """A run on its way: published, waiting for its outcome."""

    def __init__(self, run_id, queue, details):
        self.run_id = run_id
        self.queue = queue
        self.details = details
        self.deferred = None


@implementer(IRunExecutor, IJobChecker)
class QueueExecutor:
    """
    Publishes runs on a broker's queues and fires each run's Deferred with
    the outcome a worker reports.

    @param broker: an L{IBroker<twistedsched.brokers.interfaces.IBroker>} or its URL.
    @param max_pending: back-pressure: a run is refused (L{QueueFull}) when
        this many runs of its queue are published and unfinished.
    @param check_interval: seconds between looks at the worker registry
        and the queues (for C{workers}, metrics and the unconsumed alarm).
    @param unconsumed_after: seconds a queue this executor uses may go
        without a live consumer before L{twistedsched.events.EVENT_QUEUE_UNCONSUMED} fires.
    @param queues: queues to watch from the start (others are watched once used).
    """

    def __init__(self, broker, *, max_pending=10000, check_interval=2.0,
                 unconsumed_after=60.0, queues=(), poll=1.0, **broker_options):
        self.broker = make_broker(broker, **broker_options)
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise BadArgumentError("max_pending: expected an integer >= 1, not %r" % (
                max_pending,))
        self.max_pending = max_pending
        self.check_interval = check_interval
        self.unconsumed_after = unconsumed_after
        self.poll = poll
        self.queues = {check_name("queue", q) for q in queues}
        self.workers = []                      # the registry, as last read
        self.stats = {}                        # queue -> stats dict, as last read
        self.counters = collections.Counter()  # (queue, outcome) -> runs
        self._runs = {}                        # run id -> _Run
        self._pending = collections.Counter()  # queue -> runs published, unfinished
        self._unconsumed_since = {}            # queue -> when it was first seen unconsumed
        self._alerted = set()                  # queues whose alarm fired
        self.rates = {}                        # queue -> runs/s between the last looks
        self._last_look = (None, {})
        self._scheduler = None
        self._reactor = None
        self._reply_to = None
        self._monitor = None
        self._reading = None
        self._stopping = False

    # -- IExecutor ---------------------------------------------------------------

    def start(self, scheduler, alias):
        self._scheduler = scheduler
        self._reactor = scheduler.reactor
        self._reply_to = re.sub(r"[^A-Za-z0-9_.:@-]", "_", scheduler.scheduler_id)[:128]
        self._stopping = False
        self._reading = self._read_results()
        self._monitor = task.LoopingCall(self.look)
        self._monitor.clock = self._reactor
        self._monitor.start(self.check_interval, now=True).addErrback(
            lambda f: log.failure("the queue monitor stopped", f))

    def shutdown(self, wait=True):
        self._stopping = True
        if self._monitor is not None and self._monitor.running:
            self._monitor.stop()
        for run in list(self._runs.values()):
            if run.deferred is not None and not run.deferred.called:
                run.deferred.errback(SchedulerStateError(
                    "the scheduler stopped before a worker reported run %s" % (run.run_id,)))
        self._runs.clear()
        reading, self._reading = self._reading, None
        d = self.broker.close()
        if reading is not None:
            d.addCallback(lambda _: reading)
        return d

    def check(self, func, args, kwargs):
        """A job must be a registered task or an importable function, with JSON arguments."""
        if self._task_name(func) is None:
            raise BadArgumentError(
                "the queue executor sends a job to workers by its task name, and %r has "
                "none: register it as a task (or use a module-level function)" % (func,))
        check_json_arguments(args, kwargs)

    def _task_name(self, func):
        tasks = getattr(self._scheduler, "tasks", None)
        name = tasks.name_of(func) if tasks is not None else None
        return name or reference_to(func)

    def run(self, func, args, kwargs, timeout=None):
        """Run a function outside any job (no job id; scheduled now)."""
        task = self._task_name(func)
        if task is None:
            self.check(func, args, kwargs)
        return self._publish(DEFAULT_QUEUE, "", task, args, kwargs,
                             from_timestamp(self._reactor.seconds()), timeout, {})

    def run_job(self, job, run_time, timeout, details):
        return self._publish(queue_of(job.executor), job.id,
                             job.task or job.func_ref or self._task_name(job.func),
                             job.args, job.kwargs, run_time, timeout, details)

    # -- Publishing --------------------------------------------------------------

    def _publish(self, queue, job_id, task_name, args, kwargs, run_time, timeout, details):
        if self._scheduler is None or self._stopping:
            raise SchedulerStateError("the queue executor is not started")
        check_name("queue", queue)
        if self._pending[queue] >= self.max_pending:
            self.counters[(queue, "refused")] += 1
            raise QueueFull("queue %r holds %d unfinished runs, its bound: run not queued"
                            % (queue, self._pending[queue]))
        self.queues.add(queue)
        run = _Run(uuid.uuid4().hex, queue, details)
        run.deferred = defer.Deferred(lambda _: self._abandon(run))
        self._runs[run.run_id] = run
        self._pending[queue] += 1
        message = run_message(run.run_id, job_id, task_name, args, kwargs,
                              run_time.isoformat(), self._reactor.seconds(), self._reply_to,
                              timeout)
        d = self._offered(queue, task_name)
        d.addCallback(lambda _: self.broker.publish(queue, message) if run.deferred
                      and not run.deferred.called else None)
        d.addErrback(self._not_published, run)
        return add_timeout(run.deferred, timeout, self._reactor,
                           "the run is abandoned: a worker that has not started it "
                           "acknowledges it unrun; one running it runs on, its outcome dropped")

    @defer.inlineCallbacks
    def _offered(self, queue, task_name):
        """Fail with L{NoWorkerError} unless a live worker on C{queue} offers C{task_name}."""
        if self._offering(queue, task_name):
            return
        self.workers = yield self.broker.workers()
        if not self._offering(queue, task_name):
            raise NoWorkerError("no live worker on queue %r offers task %r: the run was "
                                "not queued" % (queue, task_name))

    def _offering(self, queue, task_name):
        return any(queue in worker.get("queues", ()) and offers(worker, task_name)
                   for worker in self.workers)

    def _not_published(self, failure, run):
        if self._runs.pop(run.run_id, None) is not None:
            self._pending[run.queue] -= 1
            self.counters[(run.queue, "not queued")] += 1
            if not run.deferred.called:
                run.deferred.errback(failure)

    def _abandon(self, run):
        """The run's Deferred was cancelled (its timeout): tell the workers."""
        if self._runs.pop(run.run_id, None) is not None:
            self._pending[run.queue] -= 1
            self.counters[(run.queue, "abandoned")] += 1
            self.broker.abandon(run.run_id).addErrback(
                lambda f: log.failure("abandoning run {run_id} failed", f, run_id=run.run_id))

    # -- Outcomes ----------------------------------------------------------------

    @defer.inlineCallbacks
    def _read_results(self):
        while not self._stopping:
            try:
                outcomes = yield self.broker.results(self._reply_to, self.poll)
            except Exception:
                if self._stopping:
                    return
                log.failure("reading outcomes from {broker} failed; trying again",
                            broker=self.broker)
                yield task.deferLater(self._reactor, self.poll, lambda: None)
                continue
            for outcome in outcomes:
                self._outcome(outcome)

    def _outcome(self, outcome):
        run = self._runs.pop(outcome.get("run_id"), None)
        if run is None:
            self.counters[("-", "unclaimed outcomes")] += 1
            log.debug("an outcome for run {run_id} that this scheduler does not wait for "
                      "(timed out, or from before a restart)", run_id=outcome.get("run_id"))
            return
        self._pending[run.queue] -= 1
        kind = outcome.get("outcome")
        self.counters[(run.queue, kind)] += 1
        run.details.update(worker=outcome.get("worker"), deliveries=outcome.get("deliveries"))
        if kind == "ok":
            run.deferred.callback(outcome.get("result"))
        elif kind == "no_task":
            run.deferred.errback(NoWorkerError(outcome.get("error")))
        else:
            run.deferred.errback(JobFailedInWorker(
                "%s (on worker %s)" % (outcome.get("error"), outcome.get("worker")),
                outcome.get("traceback")))

    # -- Monitoring --------------------------------------------------------------

    @defer.inlineCallbacks
    def look(self):
        """Read the worker registry and queue statistics; raise the unconsumed alarm."""
        try:
            self.workers = yield self.broker.workers()
            for queue in sorted(self.queues):
                self.stats[queue] = yield self.broker.queue_stats(queue)
        except Exception:
            if not self._stopping:
                log.failure("looking at the workers on {broker} failed", broker=self.broker)
            return
        now = self._reactor.seconds()
        self._measure_rates(now)
        for queue in sorted(self.queues):
            if any(queue in worker.get("queues", ()) for worker in self.workers):
                self._unconsumed_since.pop(queue, None)
                self._alerted.discard(queue)
                continue
            since = self._unconsumed_since.setdefault(queue, now)
            if now - since >= self.unconsumed_after and queue not in self._alerted:
                self._alerted.add(queue)
                log.warn("queue {queue!r} has had no live worker for {seconds} s",
                         queue=queue, seconds=round(now - since, 1))
                self._scheduler.notify(QueueEvent(ev.EVENT_QUEUE_UNCONSUMED, queue,
                                                  round(now - since, 1)))

    def finished(self):
        """Runs that a worker finished, per queue."""
        done = collections.Counter()
        for (queue, kind), count in self.counters.items():
            if kind in ("ok", "error", "no_task"):
                done[queue] += count
        return done

    def _measure_rates(self, now):
        """Runs per second per queue that finished since the last look."""
        done = self.finished()
        last_time, last_done = self._last_look
        if last_time is not None and now > last_time:
            self.rates = {queue: (done[queue] - last_done.get(queue, 0)) / (now - last_time)
                          for queue in self.queues}
        self._last_look = (now, done)

    def overview(self):
        """The live workers and this executor's queues (see L{twistedsched.workerinfo})."""
        queues = []
        finished = self.finished()
        for queue in sorted(self.queues):
            stats = self.stats.get(queue, {})
            queues.append({
                "queue": queue, "depth": stats.get("depth"),
                "oldest_age": stats.get("oldest_age"), "in_flight": self._pending[queue],
                "runs_per_second": self.rates.get(queue, 0.0), "runs": finished[queue],
                "consumers": sum(1 for w in self.workers if queue in w.get("queues", ())),
                "unconsumed": queue in self._alerted})
        return {"workers": [dict(w) for w in self.workers], "queues": queues}

    def unconsumed(self):
        """The queues whose unconsumed alarm is raised."""
        return sorted(self._alerted)

    def pending(self, queue):
        """Runs of C{queue} published and not yet finished."""
        return self._pending[queue]
