"""
The worker daemon behind C{twistd sched-worker}: takes runs from a broker's
queues, runs the registered tasks and reports each outcome::

    twistd -n sched-worker --broker redis://127.0.0.1:6379/0 \\
        --queues default,reports --tasks mygame.tasks --concurrency 4

A worker runs at most C{--concurrency} runs at once, in the reactor, a
thread pool or a process pool (C{--executor}, as the scheduler's executors
do).  Every C{--heartbeat} seconds it records itself in the broker's worker
registry and keeps its runs in flight; every such interval it also takes
over runs that another worker left idle for C{--reclaim-after} seconds (it
died).  Before running a delivery it asks the broker whether the run id
finished or was abandoned already (then it acknowledges it unrun), or is
running on another worker (then it leaves it for redelivery); else it
takes a lease on the run id, renewed at each heartbeat.  See
C{docs/workers.rst}.
"""

import collections
import os
import socket

from twisted.application import service
from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python import usage

from twistedsched import tasks as _tasks
from twistedsched.brokers import make_broker
from twistedsched.brokers.base import check_name, outcome as make_outcome
from twistedsched.errors import BadArgumentError, BadReferenceError, SchedulerError
from twistedsched.executors import make_executor
from twistedsched.executors.worker import MAX_TRACEBACK, describe_exception, result_json
from twistedsched.refs import resolve_reference

log = Logger()

#: Run ids a worker remembers finishing (besides the broker's record).
REMEMBERED_RUNS = 10000

#: Attempts at reporting an outcome before the run is left to redelivery.
REPORT_ATTEMPTS = 5

#: Deliveries of a run after which it is reported failed, not run again:
#: each worker that took it died (a task that crashes its process).
MAX_DELIVERIES = 5


class Worker(service.Service):
    """
    Consumes runs from C{queues} of C{broker} and runs them with C{executor}.

    @param tasks: a L{TaskRegistry<twistedsched.tasks.TaskRegistry>} of the
        tasks it offers.
    @param modules: modules whose C{module:qualname} functions it runs too.
    """

    name = "worker"

    def __init__(self, broker, queues, tasks, *, modules=(), concurrency=4,
                 executor="reactor", worker_name=None, heartbeat=2.0, reclaim_after=10.0,
                 max_deliveries=MAX_DELIVERIES, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.broker = make_broker(broker, reactor=reactor) if isinstance(broker, str) \
            else broker
        self.queues = [check_name("queue", queue) for queue in queues]
        if not self.queues:
            raise BadArgumentError("a worker needs at least one queue")
        self.tasks = tasks
        self.modules = list(modules)
        self.concurrency = concurrency
        self.executor_kind = executor
        options = {} if executor == "reactor" else {"max_workers": concurrency}
        self.executor = make_executor(executor, **options)
        self.worker_name = check_name("worker", worker_name or "%s:%d" % (
            socket.gethostname(), os.getpid()))
        self.heartbeat_interval = heartbeat
        self.reclaim_after = reclaim_after
        self.max_deliveries = max_deliveries
        self.in_flight = {}                     # (queue, tag) -> Delivery
        self.counters = collections.Counter()
        self.started_at = None
        self._finished = collections.OrderedDict()   # run ids finished here
        self._handling = {}                     # run id -> Deferreds waiting for it here
        self._slot = None                       # Deferred: a slot came free
        self._loop = None
        self._beat = None
        self._next_reclaim = 0.0

    # -- Service -----------------------------------------------------------------

    def startService(self):
        service.Service.startService(self)
        self.started_at = self.reactor.seconds()
        self.executor.start(self, "worker")
        self._beat = task.LoopingCall(self.heartbeat)
        self._beat.clock = self.reactor
        self._beat.start(self.heartbeat_interval, now=True)
        self._loop = self._consume()
        log.info("worker {name} takes runs from {queues} on {broker} ({concurrency} at "
                 "once, {executor})", name=self.worker_name, queues=",".join(self.queues),
                 broker=self.broker, concurrency=self.concurrency,
                 executor=self.executor_kind)

    @defer.inlineCallbacks
    def stopService(self):
        """Stop taking runs, finish those in flight, leave the registry."""
        service.Service.stopService(self)
        if self._slot is not None and not self._slot.called:
            self._slot.callback(None)
        if self._beat is not None and self._beat.running:
            self._beat.stop()
        yield self._loop
        while self.in_flight:
            yield self._wait_for_slot()
        try:
            yield self.broker.retire(self.worker_name)
        except Exception:
            log.failure("leaving the worker registry failed")
        yield self.executor.shutdown(True)
        yield self.broker.close()

    # -- Taking runs -------------------------------------------------------------

    def _free(self):
        return self.concurrency - len(self.in_flight)

    def _wait_for_slot(self):
        if self._slot is None or self._slot.called:
            self._slot = defer.Deferred()
        return self._slot

    @defer.inlineCallbacks
    def _consume(self):
        while self.running:
            if self._free() <= 0:
                yield self._wait_for_slot()
                continue
            try:
                deliveries = []
                if self.reactor.seconds() >= self._next_reclaim:
                    self._next_reclaim = self.reactor.seconds() + self.heartbeat_interval
                    deliveries = yield self.broker.reclaim(
                        self.queues, self.worker_name, self.reclaim_after, self._free())
                if not deliveries and self.running:
                    deliveries = yield self.broker.read(
                        self.queues, self.worker_name, self._free(),
                        min(1.0, self.heartbeat_interval))
            except Exception:
                log.failure("taking runs from {broker} failed; trying again in 1 s",
                            broker=self.broker)
                yield task.deferLater(self.reactor, 1.0, lambda: None)
                continue
            for delivery in deliveries:
                self._start(delivery)

    def _start(self, delivery):
        key = (delivery.queue, delivery.tag)
        self.in_flight[key] = delivery
        delivery.since = self.reactor.seconds()
        d = self.handle(delivery)
        d.addErrback(lambda f: log.failure("handling {delivery!r} failed", f,
                                           delivery=delivery))
        d.addBoth(self._done, key)

    def _done(self, _, key):
        self.in_flight.pop(key, None)
        if self._slot is not None and not self._slot.called:
            self._slot.callback(None)

    # -- Running one -------------------------------------------------------------

    @defer.inlineCallbacks
    def handle(self, delivery):
        """Run one delivery (unless its run finished or was abandoned) and report it."""
        if delivery.message is None:
            self.counters["bad messages"] += 1
            log.error("dropping an unreadable message {tag} on queue {queue!r}: {error}",
                      tag=delivery.tag, queue=delivery.queue, error=delivery.error)
            yield self.broker.ack(delivery)
            return
        run_id = delivery.run_id
        while run_id in self._handling:
            # Another delivery of this run is handled here now (a run published
            # twice can come in one read): wait for it, then settle this copy.
            waiting = defer.Deferred()
            self._handling[run_id].append(waiting)
            yield waiting
        self._handling[run_id] = []
        try:
            yield self._handle_run(delivery)
        finally:
            for waiting in self._handling.pop(run_id):
                waiting.callback(None)

    @defer.inlineCallbacks
    def _handle_run(self, delivery):
        run_id = delivery.run_id
        if run_id in self._finished:
            state = "finished"
        elif self._past_timeout(delivery.message):
            state = "abandoned"
        else:
            state = yield self.broker.begin(run_id, self.worker_name, self.reclaim_after)
        if state == "held":
            # Another worker runs it now: leave this delivery for redelivery,
            # by which time that run has finished (then it is acknowledged) or
            # its worker has died (then it runs).
            self.counters["left (running elsewhere)"] += 1
            return
        if state != "started":
            self.counters["not rerun (%s)" % (state,)] += 1
            log.info("run {run_id} is {state}: acknowledged, not run again",
                     run_id=run_id, state=state)
            yield self.broker.ack(delivery)
            return
        if delivery.count > self.max_deliveries:
            self.counters["too many deliveries"] += 1
            outcome = make_outcome(
                delivery, self.worker_name, "error", self.reactor.seconds(), 0.0,
                error="delivered %d times, past the limit of %d: each worker that took it "
                      "died (does the task crash its process?); not run again" % (
                          delivery.count, self.max_deliveries))
        else:
            outcome = yield self.execute(delivery)
        yield self._report(delivery, outcome)

    def _past_timeout(self, message):
        """Has the scheduler given up on this run (its timeout passed since it was published)?"""
        timeout, published = message.get("timeout"), message.get("published")
        if not isinstance(timeout, (int, float)) or not isinstance(published, (int, float)):
            return False
        return self.reactor.seconds() > published + timeout

    def lookup(self, name):
        """The function of a task name, or of C{module:qualname} in a served module."""
        if name in self.tasks:
            return self.tasks.lookup(name)
        module, colon, _ = name.partition(":")
        if colon and module in self.modules:
            return resolve_reference(name)
        return None

    @defer.inlineCallbacks
    def execute(self, delivery):
        """Run the delivery's task; fire with its outcome dict."""
        message = delivery.message
        started = self.reactor.seconds()
        try:
            func = self.lookup(message["task"])
        except BadReferenceError:
            func = None
        if func is None:
            self.counters["no task"] += 1
            return make_outcome(delivery, self.worker_name, "no_task", started, 0.0,
                                error="worker %s does not offer task %r" % (
                                    self.worker_name, message["task"]))
        try:
            result = yield self.executor.run(func, message["args"], message["kwargs"],
                                             timeout=message.get("timeout"))
            result_json(result)
        except Exception as e:
            import traceback
            self.counters["error"] += 1
            outcome = make_outcome(delivery, self.worker_name, "error", started,
                                   self.reactor.seconds() - started,
                                   error=describe_exception(e)[:4096])
            outcome["traceback"] = traceback.format_exc()[-MAX_TRACEBACK:]
            return outcome
        self.counters["ok"] += 1
        return make_outcome(delivery, self.worker_name, "ok", started,
                            self.reactor.seconds() - started, result=result)

    @defer.inlineCallbacks
    def _report(self, delivery, outcome):
        for attempt in range(1, REPORT_ATTEMPTS + 1):
            try:
                yield self.broker.finish(delivery, outcome)
            except Exception:
                log.failure("reporting run {run_id} failed (attempt {attempt})",
                            run_id=delivery.run_id, attempt=attempt)
                yield task.deferLater(self.reactor, float(attempt), lambda: None)
                continue
            self._remember(delivery.run_id)
            return

    def _remember(self, run_id):
        self._finished[run_id] = None
        while len(self._finished) > REMEMBERED_RUNS:
            self._finished.popitem(last=False)

    # -- Heartbeats --------------------------------------------------------------

    def record(self):
        """What the worker registry shows of this worker."""
        return {"name": self.worker_name, "host": socket.gethostname(), "pid": os.getpid(),
                "queues": self.queues, "tasks": self.tasks.names(), "modules": self.modules,
                "concurrency": self.concurrency, "executor": self.executor_kind,
                "running": [{"run_id": d.run_id, "job_id": (d.message or {}).get("job_id"),
                             "task": (d.message or {}).get("task"), "since": d.since,
                             "deliveries": d.count} for d in self.in_flight.values()],
                "counters": dict(self.counters), "started": self.started_at,
                "heartbeat": self.reactor.seconds()}

    @defer.inlineCallbacks
    def heartbeat(self):
        """Record this worker as live and keep its runs in flight."""
        try:
            yield self.broker.heartbeat(self.record(), 3 * self.heartbeat_interval)
            if self.in_flight:
                yield self.broker.keep(list(self.in_flight.values()), self.worker_name,
                                       self.reclaim_after)
        except Exception:
            log.failure("the heartbeat to {broker} failed", broker=self.broker)


class Options(usage.Options):
    """Options of C{twistd sched-worker}."""

    synopsis = "--broker URL [options]"
    longdesc = ("Run a twistedsched worker: take runs from the named queues of the broker, "
                "run the tasks registered by the --tasks modules, report the outcomes to "
                "the schedulers. See docs/workers.rst.")

    optParameters = [
        ["broker", None, None, "Broker URL: redis://host:port/db, unix:///path?db=N or "
                               "amqp://user:password@host:port/vhost."],
        ["broker-namespace", None, "twistedsched-work", "Key prefix of the worker tier on the broker "
                                                 "(the same as the scheduler's)."],
        ["queues", None, "default", "Comma-separated queues to take runs from."],
        ["concurrency", None, 4, "Runs at once.", int],
        ["executor", None, "reactor", "Where tasks run: reactor, threads or processes."],
        ["name", None, None, "Name in the worker registry (default: hostname:pid)."],
        ["heartbeat", None, 2.0, "Seconds between heartbeats.", float],
        ["reclaim-after", None, 10.0, "Seconds a run may sit idle with a silent worker "
                                      "before another worker takes it over.", float],
        ["max-deliveries", None, MAX_DELIVERIES, "Deliveries after which a run is reported "
                                                 "failed instead of run again.", int],
    ]

    def __init__(self):
        usage.Options.__init__(self)
        self["tasks"] = []

    def opt_tasks(self, module):
        """Import MODULE: the tasks it registers are offered (repeatable)."""
        self["tasks"].append(module)

    def postOptions(self):
        if not self["broker"]:
            raise usage.UsageError("--broker is required (a redis:// or amqp:// URL)")
        for name in ("concurrency", "max-deliveries"):
            if self[name] < 1:
                raise usage.UsageError("--%s must be at least 1" % (name,))
        if self["executor"] not in ("reactor", "threads", "processes"):
            raise usage.UsageError("--executor: use reactor, threads or processes, not %r"
                                   % (self["executor"],))
        if not self["heartbeat"] > 0 or not self["reclaim-after"] > self["heartbeat"]:
            raise usage.UsageError("--heartbeat must be > 0 and --reclaim-after longer "
                                   "than it")
        self["queues"] = [q.strip() for q in self["queues"].split(",") if q.strip()]
        if not self["queues"]:
            raise usage.UsageError("--queues: name at least one queue")
        checks = [("queues", "queue", q) for q in self["queues"]] + [
            ("name", "worker", self["name"])]
        for option, what, value in checks:
            if value is not None:
                try:
                    check_name(what, value)
                except BadArgumentError as e:
                    raise usage.UsageError("--%s: %s" % (option, e)) from None


def makeService(options, reactor=None):
    """The worker service the options describe."""
    from twistedsched.daemon import import_tasks
    registry = _tasks.TaskRegistry()
    import_tasks(options["tasks"], registry)
    try:
        broker = make_broker(options["broker"], namespace=options["broker-namespace"],
                             **({"reactor": reactor} if reactor is not None else {}))
        return Worker(broker, options["queues"], registry, modules=options["tasks"],
                      concurrency=options["concurrency"], executor=options["executor"],
                      worker_name=options["name"], heartbeat=options["heartbeat"],
                      reclaim_after=options["reclaim-after"],
                      max_deliveries=options["max-deliveries"], reactor=reactor)
    except SchedulerError as e:
        raise usage.UsageError("--broker: %s" % (e,)) from None
