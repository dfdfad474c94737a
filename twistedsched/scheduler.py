"""
The scheduler: a Twisted service that runs jobs when their triggers say.

One C{callLater} at a time drives it, armed for the earliest next run time of
any job and re-armed whenever jobs change or run.  There is no polling loop
and no scheduler thread.
"""

import collections
import datetime as _dt
import random as _random
import sys
import time

from twisted.application import service
from twisted.internet import defer
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from twistedsched import events as ev
from twistedsched import policies
from twistedsched.errors import (
    BadArgumentError, ConflictingIdError, JobLookupError, JobStoreUnavailable,
    JobTimedOut, TooManyJobsError, TriggerError, UnknownAliasError, describe_error)
from twistedsched.executors import ReactorExecutor, make_executor
from twistedsched.history import (
    default_scheduler_id, failure_summary, make_record, ok_run, summarize, summarize_result,
    with_datetimes)
from twistedsched.interfaces import (
    IClusterStore, IImmediateExecutor, IJobChecker, IRunExecutor, ITrigger)
from twistedsched.job import (
    OPTION_NAMES, Job, check_job_id, check_options, describe_callable)
from twistedsched.policies import backfill, calendars, overlap, retry
from twistedsched.policies.nextfire import check_count, next_fire_times
from twistedsched.runlog import RunLog
from twistedsched.steps import steps
from twistedsched.stores import MemoryJobStore, make_jobstore
from twistedsched.table import JOB_HEADERS, format_table, job_rows
from twistedsched.tasks import TaskRegistry
from twistedsched.threadcheck import reactor_thread_only
from twistedsched.timeutil import (
    as_timezone, to_datetime, to_timestamp, to_utc)
from twistedsched.triggers import DateTrigger, bind_trigger, build_trigger
from twistedsched.triggers.budget import MAX_WORK, metered_cost

_UTC = _dt.timezone.utc
#: The options of the job policies, which add_job takes among its keywords.
_POLICY_OPTIONS = frozenset(policies.OPTIONS)

#: Marks an argument the caller did not give (None is a meaningful value).
UNSET = object()

#: The most overdue run times of a job listed at once; past them the
#: scheduler skips ahead to the present.
DUE_LIMIT = 1000
#: Runs that were not yet due when the scheduler last looked wait at least
#: this long after that look (the epoll reactor waits whole milliseconds
#: anyway): with many runs due microseconds apart, the next one is often
#: overdue by the time the reactor computes its wait, and the scheduler
#: would wake at once for it alone (at 100,000 runs a second it woke every
#: few runs and spent a core doing so).  Runs due when it looked do not wait.
MIN_DELAY = 0.001
#: How many times the scheduler looks again for jobs that came due while it
#: ran those due when it woke, before it returns to the reactor.
RECHECKS = 16
#: The trigger work (L{twistedsched.triggers.budget} steps) that listing one
#: job's overdue run times may cost, about 50 ms; past it the scheduler skips
#: ahead to the present.  Plain triggers list DUE_LIMIT runs well within it.
CATCH_UP_WORK = 10 * MAX_WORK


class _Overdue(list):
    """A job's overdue run times; C{complete} is false when some were not listed."""

    complete = True

#: How long (seconds) the history of a job that ended as it ran is kept by
#: default, and for how many such jobs at most (per store).
RETENTION = 86400
RETAINED_JOBS = 1000

#: Changes C{modify_job} accepts besides the options in L{check_options}.
JOB_FIELDS = ("name", "func", "args", "kwargs", "trigger", "executor", "next_run_time",
              "policy_state")


class Scheduler(service.Service):
    """
    A job scheduler that is a Twisted L{Service <twisted.application.service.Service>}.

    @param reactor: an C{IReactorTime} (tests pass a
        L{Clock <twisted.internet.task.Clock>}); the global reactor when C{None}.
    @param timezone: an IANA zone name or tzinfo for naive datetimes and for
        display; UTC by default.
    @param misfire_grace_time: default seconds a run may be late and still
        run (C{None}: any lateness).
    @param coalesce: default for folding several overdue runs into one.
    @param max_instances: default number of instances of a job that may run
        at once.
    @param timeout: default seconds a run may take before it fails with
        L{JobTimedOut} (C{None}: no limit); see each executor for what
        happens to the job.
    @param jobstores: a dict of alias to store ("memory", a URL, or an
        L{IJobStore}); a memory store is the default.
    @param executors: a dict of alias to executor; by default C{"default"}
        (the reactor), C{"threads"} and C{"processes"}.
    @param wait_on_shutdown: whether stopping waits for running jobs.
    @param batch_size: how many due jobs to take from a store at once.
    @param history_size: how many past runs each job store keeps per job
        (0: none); see L{job_history}.
    @param history_retention: seconds a job removed as it runs (its trigger
        has no more fire times: a one-shot job) keeps its runs, with the
        records of its last runs, so that L{job_history} still answers for
        it (0: its history goes with it).
    @param history_retained_jobs: the most such ended jobs whose runs each
        store keeps at once (the oldest go first).
    @param scheduler_id: names this scheduler in run records and logs
        (default C{hostname:pid}).
    @param log_runs: log every run (C{True}: those that went well in one
        burst share an event, see L{twistedsched.runlog}), or only runs
        that failed (C{False}: for very busy schedulers).
    @param max_jobs: adding a job fails with L{TooManyJobsError} once the
        stores hold this many (C{None}: no limit).
    @param calendars: named exclusion calendars, a dict of name to dates
        (see L{add_calendar}).
    @param policy_defaults: defaults of the job policies' options for jobs
        that do not give them, e.g. C{{"retries": 2}} (see
        L{twistedsched.policies}).
    """

    name = "twistedsched"

    def __init__(self, reactor=None, timezone=None, *, misfire_grace_time=1, coalesce=True,
                 max_instances=1, jitter=None, timeout=None, jobstores=None, executors=None,
                 tasks=None, wait_on_shutdown=True, batch_size=100, history_size=10,
                 random=None, max_retry_delay=60.0, max_jobs=None, scheduler_id=None,
                 log_runs=True, calendars=None, policy_defaults=None,
                 history_retention=RETENTION, history_retained_jobs=RETAINED_JOBS):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.timezone = as_timezone(timezone)
        self.job_defaults = check_options(dict(
            misfire_grace_time=misfire_grace_time, coalesce=coalesce,
            max_instances=max_instances, jitter=jitter, timeout=timeout,
            **(policy_defaults or {})))
        self.tasks = tasks if tasks is not None else TaskRegistry()
        self.wait_on_shutdown = wait_on_shutdown
        self.batch_size = batch_size
        self.max_retry_delay = max_retry_delay
        self.max_jobs = max_jobs
        self.calendars = {}
        for name, dates in (calendars or {}).items():
            self.add_calendar(name, dates)
        self._random = random or _random.Random()
        self._paused = False
        self._timer = None
        self._arm_generation = 0
        self._processing = False
        self._looked_until = float("-inf")        # (reactor time) see MIN_DELAY
        self._retry_delay = None
        self._listeners = []
        self._wanted = 0                          # OR of the listeners' masks
        self._running = {}                        # job id -> instances running
        self._in_flight = {}                      # Deferred of a running instance -> job id
        self._ended_runs = []                     # (job, failure) for the policies, later
        self._policies_done = defer.succeed(None)     # policies act one run at a time
        self._buffers = overlap.Buffers()          # runs waiting by their overlap policy
        self._retry_timers = retry.RetryTimers(
            reactor, self.get_job, self._retry,
            lambda: [(alias, store) for alias, store in self._jobstores.items()
                     if policies.IPolicyStore.providedBy(store)])
        if isinstance(history_size, bool) or not isinstance(history_size, int) \
                or history_size < 0:
            raise BadArgumentError("history_size: expected a whole number >= 0, not %r"
                                   % (history_size,))
        self._history_size = history_size
        for name, value in (("history_retention", history_retention),
                            ("history_retained_jobs", history_retained_jobs)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise BadArgumentError("%s: expected a number >= 0, not %r" % (name, value))
        self.history_retention = history_retention if history_retained_jobs else 0
        self.history_retained_jobs = int(history_retained_jobs)
        self.scheduler_id = str(scheduler_id or default_scheduler_id())
        self.log_runs = log_runs
        self._last_iso = (None, None)             # the last run time put in ISO text
        self._run_log = RunLog(self._emit, lambda: self.scheduler_id)   # runs that went well
        self._ended = set()                       # due jobs removed as they run (one-shot)
        self._immediate = {}                      # executor -> provides IImmediateExecutor
        self._clustered = {}                      # store -> itself if IClusterStore, or None
        self._checkers = {}                       # executor -> provides IJobChecker
        self._references = {}                     # callable -> its text reference or None
        self.log = self.log        # bound once: the descriptor builds a Logger per access
        self.counters = collections.Counter()
        self._jobstores = {}
        self._executors = {}
        for alias, store in (jobstores or {}).items():
            self._jobstores[alias] = make_jobstore(store)
        if executors is None:
            executors = {"default": ReactorExecutor(), "threads": "threads",
                         "processes": "processes"}
        for alias, executor in executors.items():
            self._executors[alias] = make_executor(executor)

    # -- Service -----------------------------------------------------------

    def startService(self):
        """Start stores and executors, then arm the timer."""
        service.Service.startService(self)
        self._default_store()
        for alias, store in list(self._jobstores.items()):
            self._start_store(store, alias)
        for alias, executor in self._executors.items():
            executor.start(self, alias)
        self._dispatch(ev.SchedulerEvent(ev.EVENT_SCHEDULER_STARTED))
        self._retry_timers.watch()
        self._arm()

    def stopService(self):
        """Stop; the Deferred waits for running jobs unless C{wait_on_shutdown} is off."""
        return self.shutdown(wait=self.wait_on_shutdown)

    def shutdown(self, wait=True):
        """
        Stop the scheduler: cancel the timer, stop executors and stores.
        The Deferred fires when done; with C{wait}, after running jobs finish.
        """
        if not self.running:
            return defer.succeed(None)
        service.Service.stopService(self)
        self._cancel_timer()
        self._retry_timers.cancel_all()
        self._buffers.clear()
        self._arm_generation += 1
        if wait:
            d = defer.DeferredList(list(self._in_flight), consumeErrors=True)
        else:
            d = defer.succeed(None)

        def stop_all(_):
            stopping = []
            for executor in self._unique_executors():
                stopping.append(defer.maybeDeferred(executor.shutdown, wait))
            for store in self._jobstores.values():
                stopping.append(defer.maybeDeferred(store.shutdown))
            return defer.DeferredList(stopping, consumeErrors=True)
        d.addCallback(stop_all)
        d.addCallback(lambda _: self._dispatch(
            ev.SchedulerEvent(ev.EVENT_SCHEDULER_SHUTDOWN)))
        return d

    @reactor_thread_only
    def pause(self):
        """Stop running jobs until L{resume}; jobs can still be changed."""
        if not self._paused:
            self._paused = True
            self._cancel_timer()
            self._dispatch(ev.SchedulerEvent(ev.EVENT_SCHEDULER_PAUSED))

    @reactor_thread_only
    def resume(self):
        """Run jobs again, starting with any that came due while paused."""
        if self._paused:
            self._paused = False
            self._dispatch(ev.SchedulerEvent(ev.EVENT_SCHEDULER_RESUMED))
            self._arm()

    @property
    def paused(self):
        return self._paused

    # -- Stores and executors ----------------------------------------------

    def _default_store(self):
        if "default" not in self._jobstores:
            self._jobstores["default"] = MemoryJobStore()
        return self._jobstores["default"]

    def _start_store(self, store, alias):
        d = defer.maybeDeferred(store.start, self, alias)
        d.addErrback(self._store_failed, alias, "starting")
        return d

    @reactor_thread_only
    def add_jobstore(self, jobstore, alias="default", **options):
        """
        Add a job store: an L{IJobStore}, C{"memory"}, or a URL
        (C{"redis://localhost:6379/0"}).  Returns a Deferred that fires when
        the store is ready.
        """
        if alias in self._jobstores:
            raise BadArgumentError("a job store named %r exists already" % (alias,))
        store = make_jobstore(jobstore, **options)
        self._jobstores[alias] = store
        d = self._start_store(store, alias) if self.running else defer.succeed(None)
        if self.running:
            self._retry_timers.watch()
        self._dispatch(ev.SchedulerEvent(ev.EVENT_JOBSTORE_ADDED, alias))
        d.addCallback(lambda _: self._arm())
        return d

    @reactor_thread_only
    def remove_jobstore(self, alias, shutdown=True):
        """Remove a job store (and its jobs from this scheduler's view)."""
        store = self._lookup_jobstore(alias)
        del self._jobstores[alias]
        self._dispatch(ev.SchedulerEvent(ev.EVENT_JOBSTORE_REMOVED, alias))
        self._arm()
        return defer.maybeDeferred(store.shutdown) if shutdown else defer.succeed(None)

    def add_executor(self, executor, alias="default", **options):
        """Add an executor: an L{IExecutor} or a kind ("threads", "processes", "reactor")."""
        if alias in self._executors:
            raise BadArgumentError("an executor named %r exists already" % (alias,))
        executor = make_executor(executor, **options)
        self._executors[alias] = executor
        if self.running:
            executor.start(self, alias)
        self._dispatch(ev.SchedulerEvent(ev.EVENT_EXECUTOR_ADDED, alias))

    def remove_executor(self, alias, shutdown=True):
        executor = self._lookup_executor(alias)
        del self._executors[alias]
        self._immediate.pop(executor, None)
        self._checkers.pop(executor, None)
        self._dispatch(ev.SchedulerEvent(ev.EVENT_EXECUTOR_REMOVED, alias))
        return executor.shutdown() if shutdown else defer.succeed(None)

    def _lookup_jobstore(self, alias):
        if alias == "default":
            return self._default_store()
        try:
            return self._jobstores[alias]
        except (KeyError, TypeError):
            raise UnknownAliasError("no job store named %r" % (alias,)) from None

    def _lookup_executor(self, alias):
        if alias == "reactor" and alias not in self._executors:
            alias = "default"
        elif isinstance(alias, str) and alias.startswith("queue:") \
                and alias not in self._executors:
            alias = "queue"         # the queue executor serves every "queue:NAME"
        try:
            return self._executors[alias]
        except (KeyError, TypeError):
            raise UnknownAliasError("no executor named %r" % (alias,)) from None

    def _unique_executors(self):
        seen = []
        for executor in self._executors.values():
            if not any(executor is other for other in seen):
                seen.append(executor)
        return seen

    @property
    def jobstores(self):
        return dict(self._jobstores)

    @property
    def executors(self):
        return dict(self._executors)

    def add_calendar(self, name, dates):
        """
        Name a list of dates (ISO text or dates) that jobs may exclude with
        C{exclude=[name]}; L{twistedsched.policies.calendars.load_calendar}
        reads one from a file.
        A calendar given again replaces the first.
        """
        self.calendars[name] = calendars.check_calendar(name, dates)

    # -- Tasks ---------------------------------------------------------------

    def task(self, name=None):
        """Decorator: register a function as a task remote clients may schedule."""
        return self.tasks.task(name)

    # -- Listeners -----------------------------------------------------------

    def add_listener(self, callback, mask=ev.EVENT_ALL):
        """Call C{callback(event)} for each event whose code is in C{mask}."""
        self._listeners.append((callback, mask))
        self._wanted |= mask

    def remove_listener(self, callback):
        self._listeners = [(cb, mask) for cb, mask in self._listeners if cb != callback]
        self._wanted = 0
        for _, mask in self._listeners:
            self._wanted |= mask

    def _wants(self, code):
        """True if some listener wants events of C{code} (hot paths skip building others)."""
        return self._wanted & code

    def _dispatch(self, event):
        for callback, mask in list(self._listeners):
            if event.code & mask:
                try:
                    callback(event)
                except Exception:
                    self.log.failure("listener {callback!r} failed on {event!r}",
                                     callback=callback, event=event)

    def notify(self, event):
        """Tell the listeners of an event (for executors and stores)."""
        self._dispatch(event)

    log = Logger()

    # -- Time ----------------------------------------------------------------

    def now(self):
        """The current time, aware, in UTC, from the reactor's clock."""
        return _dt.datetime.fromtimestamp(self.reactor.seconds(), _UTC)  # (from_timestamp's, faster)

    def _jittered(self, fire_time, job):
        jitter = job.jitter
        if jitter is None:
            jitter = getattr(job.trigger, "jitter", None)
        if fire_time is None or not jitter:
            return fire_time
        return fire_time + _dt.timedelta(seconds=self._random.uniform(0, jitter))

    def _schedule(self, job, fire_time):
        """Set a job's next fire time (and its jittered run time)."""
        if fire_time is not None and fire_time.tzinfo is not _UTC:
            fire_time = to_utc(fire_time)
        job.scheduled_run_time = fire_time
        if job.jitter is None and job.exclude is None \
                and getattr(job._trigger, "jitter", None) is None:
            job.next_run_time = fire_time       # (what _jittered gives without jitter)
        else:
            job.next_run_time = self._jittered(fire_time, job)

    # -- Adding and changing jobs -------------------------------------------

    @reactor_thread_only
    def add_job(self, func, trigger=None, *, args=(), kwargs=None, id=None, name=None,
                misfire_grace_time=UNSET, coalesce=UNSET, max_instances=UNSET,
                jitter=UNSET, timeout=UNSET, recover=UNSET, next_run_time=UNSET,
                replace_existing=False, policy_state=None,
                jobstore="default", executor="default", **trigger_args):
        """
        Schedule C{func}: a callable, a registered task name, or a text
        reference C{"package.module:qualname"}.  C{trigger} is "date",
        "interval", "cron" (with C{trigger_args}) or a trigger object; no
        trigger means run once, now.  C{next_run_time=None} adds the job
        paused.  The keywords also take the options of the job policies
        (C{max_runs}, C{pause_after_failures}, C{retries}, C{retry_delay},
        C{retry_max_delay}: see L{twistedsched.policies}); C{policy_state}
        the counts it starts with (C{{"runs": 2}}: those of an export).

        Wrong arguments raise at once; the returned Deferred fires with the
        L{Job}, or fails with L{ConflictingIdError} when the id is taken.
        """
        if id is not None:
            check_job_id(id)
        # A date trigger with its run date needs no "now" (half the cost of the time).
        now = None if trigger.__class__ is str and trigger == "date" \
            and trigger_args.get("run_date") is not None else self.now()
        policy_keys = trigger_args.keys() & _POLICY_OPTIONS if trigger_args else ()
        given = {key: trigger_args.pop(key) for key in policy_keys} if policy_keys else {}
        trigger = build_trigger(trigger, now, self.timezone, **trigger_args)
        func, task, func_ref = self._describe_callable(func)
        options = self.job_defaults           # checked when the scheduler was made
        if not (misfire_grace_time is coalesce is max_instances is jitter is timeout
                is recover is UNSET):
            given.update((key, value) for key, value in (
                ("misfire_grace_time", misfire_grace_time), ("coalesce", coalesce),
                ("max_instances", max_instances), ("jitter", jitter), ("timeout", timeout),
                ("recover", recover)) if value is not UNSET)
        if given:
            options = dict(options, **check_options(given))
        store = self._jobstores.get(jobstore)
        if store is None:
            store = self._lookup_jobstore(jobstore)
        runner = self._executors.get(executor)
        if runner is None:
            runner = self._lookup_executor(executor)
        job = Job(self, func, trigger, id=id, name=name, args=args, kwargs=kwargs,
                  task=task, func_ref=func_ref, executor=executor, jobstore=jobstore,
                  options_checked=True, policy_state=policy_state, **options)
        self._check_runnable(job, runner)
        if job.exclude is not None:
            calendars.check_names(job.exclude, self.calendars)
        if next_run_time is UNSET:
            if now is None and (job.exclude is not None or job._trigger is not trigger):
                now = self.now()        # (a trigger that is not the date trigger built)
            self._schedule(job, job.trigger.next_fire_time(None, now))
        elif next_run_time is not None:
            tz = getattr(trigger, "timezone", None) or self.timezone
            job.next_run_time = job.scheduled_run_time = to_utc(
                to_datetime(next_run_time, tz, "next_run_time"))
        add_now = getattr(store, "add_job_now", None)
        if self.max_jobs:
            d = self._check_room().addCallback(lambda _: store.add_job(job))
        elif add_now is not None:
            # A store that adds at once (the memory store): no Deferred of its own.
            try:
                d = add_now(job)
            except ConflictingIdError:
                if not replace_existing:
                    return defer.fail()
                d = store.update_job(job)
                d.addCallback(lambda _: self._job_changed(ev.EVENT_JOB_ADDED, job))
                return d
            except Exception:
                return defer.fail()
            if d is None:
                return defer.succeed(self._job_added(job))
            # (A store that answered with a Deferred after all, such as a proxy.)
        else:
            d = store.add_job(job)
        if replace_existing:
            d.addErrback(lambda f: f.trap(ConflictingIdError) and store.update_job(job))
        d.addCallback(lambda _: self._job_changed(ev.EVENT_JOB_ADDED, job))
        return d

    def _describe_callable(self, func):
        """
        L{describe_callable}, with the text reference of a callable that is
        no task looked up once (importing and comparing is most of an add).
        """
        if isinstance(func, str) or self.tasks.name_of(func) is not None:
            return describe_callable(func, self.tasks)
        try:
            ref = self._references.get(func, UNSET)
        except TypeError:       # not hashable
            return describe_callable(func, self.tasks)
        if ref is UNSET:
            func, _, ref = describe_callable(func, self.tasks)
            if len(self._references) >= 1024:
                self._references.clear()
            self._references[func] = ref
        return func, None, ref

    def _check_runnable(self, job, executor):
        """Let a job's executor refuse at once a job it cannot run (L{IJobChecker})."""
        checker = self._checkers.get(executor)
        if checker is None:
            checker = self._checkers[executor] = bool(IJobChecker.providedBy(executor))
        if checker:
            executor.check(job.func, job.args, job.kwargs)

    def _check_room(self):
        """Fail with L{TooManyJobsError} when the stores hold C{max_jobs} jobs."""
        def check(count):
            if count >= self.max_jobs:
                raise TooManyJobsError("the scheduler holds %d jobs, its limit" % (count,))
        return self.count_jobs().addCallback(check)

    def scheduled_job(self, trigger=None, **add_job_args):
        """Decorator form of L{add_job}: schedules the function, returns it unchanged."""
        def decorate(func):
            self.add_job(func, trigger, **add_job_args)
            return func
        return decorate

    def _job_changed(self, code, job):
        if self._wants(code):
            self._dispatch(ev.JobEvent(code, job.id, job.jobstore))
        if code == ev.EVENT_JOB_ADDED:
            rearm = self._runs_before_timer(job)
        elif code == ev.EVENT_JOB_REMOVED:
            rearm = self._timer_may_be_for(job)
        else:
            rearm = True
        if rearm:
            self._arm()
        return job

    def _job_added(self, job):
        """L{_job_changed} for an added job, inline (the usual case of L{add_job})."""
        if self._wanted & ev.EVENT_JOB_ADDED:
            self._dispatch(ev.JobEvent(ev.EVENT_JOB_ADDED, job.id, job.jobstore))
        timer = self._timer
        if timer is None or not timer.active() or self._retry_delay is not None or (
                job.next_run_time is not None
                and job.next_run_time.timestamp() < timer.getTime()):
            self._arm()         # (_runs_before_timer)
        return job

    def _timer_is_armed(self):
        timer = self._timer
        return timer is not None and timer.active() and self._retry_delay is None

    def _runs_before_timer(self, job):
        """False if the armed timer fires no later than a new job needs it."""
        if not self._timer_is_armed():
            return True
        return job.next_run_time is not None and \
            job.next_run_time.timestamp() < self._timer.getTime()

    def _timer_may_be_for(self, job):
        """
        False if a removed job ran after the armed timer (which is never
        later than the earliest job): the earliest run time is unchanged.
        A millisecond of slack covers rounding in the timer's time.
        """
        if not self._timer_is_armed():
            return True
        return job.next_run_time is not None and \
            job.next_run_time.timestamp() <= self._timer.getTime() + 0.001

    def _find_job(self, job_id, jobstore=None):
        """Fire with (job, alias) or fail with L{JobLookupError}."""
        aliases = [jobstore] if jobstore is not None else list(self._jobstores) or ["default"]
        stores = [(alias, self._lookup_jobstore(alias)) for alias in aliases]
        return self._search(stores, job_id)

    @steps
    def _search(self, stores, job_id):
        for alias, store in stores:
            job = yield store.lookup_job(job_id)
            if job is not None:
                return self._own(job, alias)
        raise JobLookupError(job_id)

    def _prepare_changes(self, changes):
        """Check C{modify_job}'s changes now, so that mistakes raise at once."""
        prepared = {}
        options = {}
        for key, value in changes.items():
            if key in OPTION_NAMES:
                options[key] = value
            elif key == "func":
                prepared["func"] = describe_callable(value, self.tasks)
            elif key == "trigger":
                if not ITrigger.providedBy(value):
                    raise BadArgumentError(
                        "trigger: expected a trigger object (use reschedule_job for "
                        "a trigger by name), not %r" % (value,))
                prepared[key] = value
            elif key == "executor":
                self._lookup_executor(value)
                prepared[key] = value
            elif key == "next_run_time":
                prepared[key] = value
            elif key in ("name", "args", "kwargs"):
                prepared[key] = value
            elif key == "policy_state":
                prepared[key] = policies.check_state(value)
            else:
                raise BadArgumentError("modify_job: unknown field %r (known: %s)" % (
                    key, ", ".join(JOB_FIELDS + OPTION_NAMES)))
        prepared.update(check_options(options))
        calendars.check_names(prepared.get("exclude"), self.calendars)
        return prepared

    def _apply_changes(self, job, changes):
        for key, value in changes.items():
            if key == "func":
                job.func, job.task, job.func_ref = value
            elif key == "trigger":
                job.trigger = bind_trigger(value, job.id)
            elif key == "next_run_time":
                if value is None:
                    job.next_run_time = job.scheduled_run_time = None
                else:
                    tz = getattr(job.trigger, "timezone", None) or self.timezone
                    job.next_run_time = job.scheduled_run_time = to_utc(
                        to_datetime(value, tz, "next_run_time"))
            else:
                setattr(job, key, value)
        # Re-validate arguments by rebuilding them as the constructor does.
        Job(self, job.func, job.trigger, id=job.id, args=job.args, kwargs=job.kwargs)
        job.args = tuple(job.args)
        self._check_runnable(job, self._lookup_executor(job.executor))
        return job

    @reactor_thread_only
    def modify_job(self, job_id, jobstore=None, **changes):
        """
        Change fields of a job (name, func, args, kwargs, trigger,
        executor, next_run_time, and the options).  Fires with the new L{Job}.
        """
        prepared = self._prepare_changes(changes)
        d = self._find_job(job_id, jobstore)
        d.addCallback(self._apply_changes, prepared)
        d.addCallback(self._store_update)
        d.addCallback(lambda job: self._job_changed(ev.EVENT_JOB_MODIFIED, job))
        return d

    def _store_update(self, job):
        d = self._lookup_jobstore(job.jobstore).update_job(job)
        d.addCallback(lambda _: job)
        return d

    @reactor_thread_only
    def reschedule_job(self, job_id, jobstore=None, trigger=None, **trigger_args):
        """Give a job a new trigger; its next run time is computed from now."""
        now = self.now()
        trigger = bind_trigger(build_trigger(trigger, now, self.timezone, **trigger_args),
                               job_id)
        d = self._find_job(job_id, jobstore)

        def change(job):
            job.trigger = trigger
            return self._reschedule_at(job, job.trigger.next_fire_time(None, now))
        return d.addCallback(change)

    def _reschedule_at(self, job, fire_time):
        """Store a job's new fire time, or remove it when there is none; fire with the job."""
        if fire_time is None:
            return self._remove_finished(job)
        self._schedule(job, fire_time)
        return self._store_update(job).addCallback(
            lambda job: self._job_changed(ev.EVENT_JOB_MODIFIED, job))

    @reactor_thread_only
    def pause_job(self, job_id, jobstore=None):
        """Stop a job from running until L{resume_job}."""
        return self.modify_job(job_id, jobstore, next_run_time=None)

    @reactor_thread_only
    def resume_job(self, job_id, jobstore=None):
        """
        Let a paused job run again, from its trigger's next fire time after
        now (runs that fell in the pause are not made up).  A job whose
        trigger has nothing left is removed.  Fires with the job, or C{None}
        if it was removed.
        """
        d = self._find_job(job_id, jobstore)

        def resume(job):
            fire_time = job.trigger.next_fire_time(None, self.now())
            d = self._reschedule_at(job, fire_time)
            return d if fire_time is not None else d.addCallback(lambda _: None)
        d.addCallback(lambda job: policies.resumed(self, job))
        return d.addCallback(resume)

    @reactor_thread_only
    def remove_job(self, job_id, jobstore=None):
        """
        Remove a job; fails with L{JobLookupError} if there is none.  A job
        whose stored form cannot be loaded (edited by hand, or of a task this
        scheduler lacks) is removed by its id, with a warning.
        """
        d = self._find_job(job_id, jobstore)
        d.addCallbacks(self._remove_finished, self._remove_unloadable,
                       errbackArgs=(job_id, jobstore))
        return d

    @defer.inlineCallbacks
    def _remove_unloadable(self, failure, job_id, jobstore):
        if failure.check(JobLookupError, JobStoreUnavailable):
            return failure
        for alias in [jobstore] if jobstore is not None else list(self._jobstores):
            try:
                yield self._lookup_jobstore(alias).remove_job(job_id)
            except JobLookupError:
                continue
            self.log.warn("job {job_id!r} of job store {alias!r} could not be loaded "
                          "({error}); removed by its id", job_id=job_id, alias=alias,
                          error=describe_error(failure))
            if self._wants(ev.EVENT_JOB_REMOVED):
                self._dispatch(ev.JobEvent(ev.EVENT_JOB_REMOVED, job_id, alias))
            self._arm()
            return None
        return failure

    def _end_job(self, job):
        """
        Remove a job that a policy ended (C{max_runs}): a store that can
        (C{end_job}) keeps its runs as it keeps those of a job whose trigger
        ended, for C{history_retention} seconds.
        """
        end = getattr(self._lookup_jobstore(job.jobstore), "end_job", None)
        if end is None:
            return self.remove_job(job.id, job.jobstore)
        d = end(job.id)
        d.addCallback(lambda _: self._job_changed(ev.EVENT_JOB_REMOVED, job))
        return d

    def _remove_finished(self, job):
        d = self._lookup_jobstore(job.jobstore).remove_job(job.id)
        d.addCallback(lambda _: self._job_changed(ev.EVENT_JOB_REMOVED, job))
        return d

    @reactor_thread_only
    def remove_all_jobs(self, jobstore=None):
        """Remove every job (of one store, or of all)."""
        aliases = [jobstore] if jobstore is not None else list(self._jobstores)
        removals = []
        for alias in aliases:
            d = self._lookup_jobstore(alias).remove_all_jobs()
            d.addCallback(lambda _, alias=alias: self._dispatch(
                ev.SchedulerEvent(ev.EVENT_ALL_JOBS_REMOVED, alias)))
            removals.append(d)
        d = gather(removals)
        d.addCallback(lambda _: self._arm())
        return d

    @reactor_thread_only
    def get_job(self, job_id, jobstore=None):
        """Fire with the job, or C{None} if there is none."""
        d = self._find_job(job_id, jobstore)
        d.addErrback(lambda f: f.trap(JobLookupError) and None)
        return d

    @reactor_thread_only
    def get_jobs(self, jobstore=None, offset=0, limit=None):
        """
        Fire with jobs ordered by next run time (paused last).  C{offset}
        and C{limit} page through one store's jobs (give C{jobstore}).
        """
        if jobstore is not None:
            d = self._lookup_jobstore(jobstore).get_jobs(offset, limit)
            return d.addCallback(self._attach, jobstore)
        if offset or limit is not None:
            raise BadArgumentError("get_jobs: paging needs a jobstore alias")
        self._default_store()
        listings = [self._lookup_jobstore(alias).get_jobs().addCallback(self._attach, alias)
                    for alias in self._jobstores]
        d = gather(listings)
        d.addCallback(lambda lists: sorted(
            (job for jobs in lists for job in jobs),
            key=lambda job: (job.next_run_time is None,
                             job.next_run_time or _dt.datetime.min.replace(
                                 tzinfo=_dt.timezone.utc))))
        return d

    def get_jobs_by_id(self, jobstore="default", after=None, limit=None):
        """
        Fire with at most C{limit} jobs of one store whose id comes after
        C{after}, by id: page through with the last id of each page to list
        every job exactly once, however jobs fire meanwhile.
        """
        d = self._lookup_jobstore(jobstore).get_jobs_by_id(after, limit)
        return d.addCallback(self._attach, jobstore)

    def _attach(self, jobs, alias):
        return [self._own(job, alias) for job in jobs]

    def _own(self, job, alias):
        """A copy of a stored job, bound to this scheduler and its store alias."""
        return self._bind(job.copy(), alias)

    def _bind(self, job, alias):
        """
        Bind a job a store handed out to this scheduler and the store's alias.
        Due jobs are not copied: the scheduler changes nothing in them but
        their run times, which it writes back at once with C{update_job}.
        """
        job._scheduler = self
        job.jobstore = alias
        return job

    @reactor_thread_only
    def count_jobs(self):
        """Fire with the number of jobs in all stores."""
        self._default_store()
        return gather([store.count_jobs() for store in self._jobstores.values()]).addCallback(sum)

    def print_jobs(self, out=None, jobstore=None):
        """Write an aligned table of jobs (id, name, trigger, next run) to C{out}."""
        out = out or sys.stdout

        def write(jobs):
            if not jobs:
                out.write("No scheduled jobs\n")
            else:
                for line in format_table(JOB_HEADERS, job_rows(jobs, self.timezone)):
                    out.write(line + "\n")
        return self.get_jobs(jobstore).addCallback(write)

    @reactor_thread_only
    def run_job(self, job_id, jobstore=None, run_time=None):
        """
        Run a job now, outside its schedule (which stays as it is).  Fires
        with the job once submitted; max_instances applies.  C{run_time}:
        the scheduled run time to report (now by default; a store
        recovering the run of a dead scheduler gives the run's own).
        """
        d = self._find_job(job_id, jobstore)

        def run(job):
            self._submit(job, [run_time or self.now()], force=True)
            return job
        return d.addCallback(run)

    def cancel_running(self, job_id, jobstore=None):
        """
        Cancel the running instances of a job in this process: their
        Deferreds are cancelled, so each run ends as C{"cancelled"} (not
        retried).  What that does to the job depends on its executor: see
        L{twistedsched.executors}.  A one-shot job, gone from its store
        once it started, is found too.  Fires with how many were cancelled;
        fails with L{JobLookupError} if the job neither runs nor exists.
        """
        running = [d for d, running_id in self._in_flight.items() if running_id == job_id]
        if not running:
            return self._find_job(job_id, jobstore).addCallback(lambda _: 0)
        for d in running:
            d.cancel()
        return defer.succeed(len(running))

    def backfill(self, job_id, start, end, jobstore=None):
        """
        Run a job once for every time its trigger would have fired from
        C{start} to C{end} (aware datetimes or ISO text, naive ones in the
        scheduler's zone; both included; not in the future), in order, as
        one instance.  Fires with the run times submitted, or fails with
        L{BadArgumentError} (a wrong range, more than
        L{MAX_BACKFILL <twistedsched.policies.backfill.MAX_BACKFILL>} runs,
        the job running at its C{max_instances}).  See
        L{twistedsched.policies.backfill}.
        """
        try:
            start = to_datetime(start, self.timezone, "start")
            end = to_datetime(end, self.timezone, "end")
        except Exception:
            return defer.fail()

        def run(job):
            times = backfill.backfill_times(job.trigger, start, end, self.now())
            if times:
                if self.running_instances(job.id) >= job.max_instances:
                    raise BadArgumentError(
                        "backfill: job %r is running (max_instances %d); try again once "
                        "it ends" % (job.id, job.max_instances))
                self._submit(backfill.backfill_copy(job), times, force=True)
            return times
        return self._find_job(job_id, jobstore).addCallback(run)

    def next_fire_times(self, job_or_trigger, count=10, jobstore=None):
        """
        Fire with the next C{count} fire times (aware, UTC) of a job (its
        id) or of a trigger object not added to any job, so that an
        expression can be checked before it is deployed.  A job's list
        starts at its next run time (before jitter); a paused job's is
        empty.  See L{twistedsched.policies.nextfire}.
        """
        try:
            check_count(count)
        except BadArgumentError:
            return defer.fail()
        if ITrigger.providedBy(job_or_trigger):
            return defer.maybeDeferred(next_fire_times, job_or_trigger, self.now(), count)

        def of_job(job):
            if job.paused:
                return []
            return next_fire_times(job.trigger, self.now(), count,
                                   first=job.scheduled_run_time or job.next_run_time)
        return self._find_job(job_or_trigger, jobstore).addCallback(of_job)

    # -- The timer -----------------------------------------------------------

    def wakeup(self):
        """Re-arm the timer now (job stores call this when others change jobs)."""
        self._arm()

    def _cancel_timer(self):
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def _arm(self, _=None):
        """Ask the stores for the earliest run time and set the one timer for it."""
        if not self.running or self._paused:
            self._cancel_timer()
            return
        if self._processing:
            return      # processing re-arms when it ends
        self._arm_generation += 1
        generation = self._arm_generation
        d = self._earliest_run_time()
        if d.called and not d.paused and not isinstance(d.result, Failure):
            self._set_timer(d.result, generation)     # (the usual: no callbacks to chain)
            return
        d.addCallbacks(self._set_timer, self._arm_failed,
                       callbackArgs=(generation,), errbackArgs=(generation,))

    @steps
    def _earliest_run_time(self):
        best = None
        for alias, store in list(self._jobstores.items()):
            try:
                when = yield store.get_next_run_time()
            except Exception:
                self._store_failed(Failure(), alias, "looking up the next run time")
                raise _RetryLater()
            if when is not None and (best is None or when < best):
                best = when
        return best

    def _safety_interval(self):
        intervals = [getattr(store, "poll_interval", None) for store in self._jobstores.values()]
        intervals = [i for i in intervals if i]
        return min(intervals) if intervals else None

    def _set_timer(self, when, generation):
        if generation != self._arm_generation or not self.running or self._paused:
            return
        self._retry_delay = None
        limit = self._safety_interval()
        if when is None:
            delay = limit
        else:
            target = to_timestamp(when)
            if target > self._looked_until:
                # Not due when the scheduler last looked: not sooner than
                # MIN_DELAY after that look.
                target = max(target, self._looked_until + MIN_DELAY)
            delay = max(0.0, target - self.reactor.seconds())
            if limit is not None:
                delay = min(delay, limit)
        if delay is None:
            self._cancel_timer()
        elif self._timer is not None and self._timer.active():
            self._timer.reset(delay)
        else:
            self._timer = self.reactor.callLater(delay, self._on_timer)

    def _arm_failed(self, failure, generation):
        if not failure.check(_RetryLater):
            self.log.failure("arming the scheduler's timer failed", failure)
        if generation == self._arm_generation and self.running and not self._paused:
            self._retry_later()

    def _retry_later(self):
        """After a store failed: try again after a delay that doubles each time."""
        self._retry_delay = min(self.max_retry_delay, (self._retry_delay or 0.5) * 2)
        self._cancel_timer()
        self._timer = self.reactor.callLater(self._retry_delay, self._on_timer)

    def _store_failed(self, failure, alias, doing):
        """Log a store failure (one line when the store is merely away) and report it."""
        if failure.check(JobStoreUnavailable):
            self.log.error("job store {alias!r} is unavailable while {doing}: {error}; "
                           "retrying", alias=alias, doing=doing,
                           error=failure.getErrorMessage())
        else:
            self.log.failure("job store {alias!r} failed while {doing}", failure,
                             alias=alias, doing=doing)
        self._dispatch(ev.SchedulerEvent(ev.EVENT_JOBSTORE_ERROR, alias))

    def _on_timer(self):
        self._timer = None
        d = self._process_due_jobs()
        if not d.called or d.paused or isinstance(d.result, Failure):
            d.addErrback(lambda f: self.log.failure("processing due jobs failed", f))

    @steps
    def _process_due_jobs(self):
        """Run what is due in every store, then re-arm."""
        if not self.running or self._paused:
            return
        self._processing = True
        failed = False
        looked = []
        try:
            for alias in list(self._jobstores):
                try:
                    looked.append((yield from self._process_store(alias)))
                except Exception:
                    self._store_failed(Failure(), alias, "processing due jobs")
                    failed = True
        finally:
            self._processing = False
            self._run_log.flush()
        if looked and None not in looked:
            self._looked_until = to_timestamp(min(looked))
        ended, self._ended_runs = self._ended_runs, []
        for job, run_time, failure in ended:
            self._run_ended(job, run_time, failure)
        if failed:
            self._retry_later()
        else:
            self._arm()

    def _process_store(self, alias):
        """
        The steps of running what is due in one store (part of
        L{_process_due_jobs}); returns the time up to which it looked.
        """
        store = self._jobstores.get(alias)
        if store is None:
            return None
        now = self.now()
        rechecks = 0
        writing = None      # the write-backs of the last full batch, on their way
        try:
            for _ in range(1000):
                jobs = yield store.acquire_due_jobs(now, self.batch_size)
                # Runs are judged by when they are in hand: a store that answered
                # late (this process stopped meanwhile) does not make them run late.
                in_hand = self.now() if jobs else now
                writes = []
                for job in jobs:
                    if not self.running:
                        break
                    job._scheduler = self           # (what _bind does)
                    job.jobstore = alias
                    d = self._handle_due_job(job, store, in_hand)
                    if d is not None and (not d.called or d.paused
                                          or isinstance(d.result, Failure)):
                        # Still on its way to the store (a called Deferred waiting on
                        # a chained one is paused) or failed; fired ones need no trip.
                        writes.append(d)
                # A batch's write-backs travel together.  After a full batch they
                # are waited for once the next batch ran, so that the store
                # writes one batch while the next runs; else at once.
                if writing is not None:
                    yield writing
                writing = gather(writes) if writes else None
                if not self.running or len(jobs) < self.batch_size:
                    if writing is not None:
                        yield writing
                        writing = None
                    if not self.running or not jobs:
                        return now
                    # All that was due ran.  Jobs that came due meanwhile run
                    # now (a few rounds at most), rather than after a trip through
                    # the reactor and the timer: many jobs due a few microseconds
                    # apart would otherwise take a wakeup each for a few jobs.
                    later = self.now()
                    if later == now or rechecks >= RECHECKS:
                        return now
                    rechecks += 1
                    now = later
            if writing is not None:
                yield writing
                writing = None
            return now
        finally:
            if writing is not None:
                # Not waited for: an error left the loop (the store's failure is
                # reported once, as that error; a Redis store retries the
                # write-backs it could not make before its next claim).
                writing.addErrback(lambda _: None)

    def _handle_due_job(self, job, store, now):
        """
        Run a due job (by the misfire rules) and store its next run time.
        Returns the Deferred of the store's write, or C{None} when the store
        wrote at once (a store with C{remove_job_now} and C{update_job_now},
        such as the memory store).
        """
        fire_time = job.scheduled_run_time or job.next_run_time
        if job._trigger.__class__ is DateTrigger and fire_time is not None and fire_time <= now:
            run_times, following = [fire_time], None    # (_due_run_times' first case, inline)
        else:
            run_times, following = self._due_run_times(job, now)
        if following is None:
            # Removed before it runs, so that it may add a job under its own id
            # (a timer that sets itself again), and its store keeps no history.
            d = _write_due(store, "remove_job_now", "remove_job", job.id)
            if self._wanted & ev.EVENT_JOB_REMOVED:
                removed = lambda _=None: self._dispatch(
                    ev.JobEvent(ev.EVENT_JOB_REMOVED, job.id, job.jobstore))
                if d is None:
                    removed()
                elif d is not _GONE:
                    d.addCallback(removed)
            if run_times:
                self._submit_ended(job, run_times, now)
        else:
            if run_times:
                self._submit(job, run_times, now)
            self._schedule(job, following)
            d = _write_due(store, "update_job_now", "update_job", job)
        if d is None or d is _GONE:
            return None
        if not d.called or d.paused or isinstance(d.result, Failure):
            d.addErrback(_trap_lookup_error)        # (a fired success needs nothing)
        return d

    def _due_run_times(self, job, now, limit=DUE_LIMIT):
        """
        The trigger's fire times from the job's scheduled run time up to
        C{now} (a list of at most C{limit}, costing at most
        L{CATCH_UP_WORK}; an L{_Overdue} not C{complete} when some were not
        listed), and the first fire time after C{now}.
        """
        fire_time = job.scheduled_run_time or job.next_run_time
        if fire_time is None or fire_time > now:
            return [], fire_time
        # The usual case, one run due: the trigger is asked once (a date
        # trigger not at all: nothing follows its one fire time).
        if job._trigger.__class__ is DateTrigger:
            return [fire_time], None
        run_times = [fire_time]
        fire_time, work = self._next_fire(job, fire_time, now)
        while fire_time is not None and fire_time <= now:
            if len(run_times) >= limit or work > CATCH_UP_WORK:
                # Too many missed runs to list: skip ahead to the present.
                run_times = _Overdue(run_times)
                run_times.complete = False
                fire_time = self._next_fire(job, None, now)[0]
                while fire_time is not None and fire_time <= now:
                    fire_time = self._next_fire(job, fire_time, now)[0]
                break
            run_times.append(fire_time)
            fire_time, cost = self._next_fire(job, fire_time, now)
            work += cost
        return run_times, fire_time

    def _next_fire(self, job, previous, now):
        """
        The job's next fire time (UTC) and the trigger work it cost; C{None},
        so that the job ends, when its trigger fails (it gave up: L{TriggerError}).
        """
        try:
            fire_time, cost = metered_cost(job.trigger.next_fire_time, previous, now)
            return to_utc(fire_time), cost
        except TriggerError as e:
            self.log.error("job {job_id!r} ends: its trigger failed: {error}",
                           job_id=job.id, error=str(e))
            return None, 0

    # -- Running jobs ----------------------------------------------------------

    def _submit(self, job, run_times, now=None, force=False, elsewhere=None):
        """
        Apply coalesce, misfire grace and max_instances to the runs due, and
        start one instance for those left.  C{elsewhere}: how many instances
        run on other schedulers of a shared store, if known (else as the
        store saw them when it handed the job out).
        """
        if job.coalesce and len(run_times) > 1:
            self._fold(job, run_times)
            run_times = run_times[-1:]
        if not force and job.misfire_grace_time is not None:
            run_times = self._drop_missed(job, run_times, now or self.now())
        if not run_times:
            return None
        here = self._running.get(job.id, 0)
        cluster = self._clustered.get(self._jobstores.get(job.jobstore), UNSET)
        if cluster is UNSET:
            cluster = self._cluster_store(job)
        if cluster is None:
            running = here
        else:
            running = here + (cluster.instances_elsewhere(job.id) if elsewhere is None
                              else elsewhere)
        # (With none running, every overlap policy runs it: max_instances >= 1.)
        if running:
            if self._overlaps(job, run_times, here, running, cluster):
                return None         # buffered, held or skipped
            here = self._running.get(job.id, 0)     # (cancel_other may have ended some)
        executor = self._executors.get(job.executor)
        if executor is None:
            try:
                executor = self._lookup_executor(job.executor)
            except UnknownAliasError:
                self.log.failure("job {job_id!r} names an unknown executor", job_id=job.id)
                return None
        self._running[job.id] = here + 1
        token = None if cluster is None else cluster.instance_started(
            job.id, run_times[-1] if job.recover else None)
        self.counters["submitted"] += 1
        if self._wanted & ev.EVENT_JOB_SUBMITTED:
            self._dispatch(ev.JobSubmissionEvent(
                ev.EVENT_JOB_SUBMITTED, job.id, job.jobstore, run_times))
        if len(run_times) == 1:
            d = self._run_once(None, job, executor, run_times[0])
        else:
            d = self._run_instance(job, executor, run_times)
        if d is None:                   # ended at once, and reported
            if token is None and not self._buffers.waiting:
                running = self._running.pop(job.id, 0) - 1      # (_instance_done, inline)
                if running > 0:
                    self._running[job.id] = running
            else:
                self._instance_done(None, job, None, cluster, token)
            return None
        self._in_flight[d] = job.id
        d.addBoth(self._instance_done, job, d, cluster, token)
        return d

    def _overlaps(self, job, run_times, here, running, cluster=None):
        """
        Apply the job's overlap policy to a run due while C{running}
        instances run (C{here} of them in this process): true if the run
        was buffered, held in the shared store C{cluster} or skipped (and
        reported), false if it may start (after the others were cancelled,
        for C{cancel_other}).
        """
        action = overlap.decide(job, running)
        if action in (overlap.BUFFER, overlap.CANCEL) and not here:
            # The instance runs on another scheduler of the store: hold the run
            # in the store, for whichever scheduler sees an instance end.
            if overlap.hold_elsewhere(self, job, run_times, cluster, action):
                return True
            action = overlap.decide(job, 0)
        if action == overlap.BUFFER and self._buffers.hold(job, run_times):
            self._dispatch(ev.JobSubmissionEvent(
                ev.EVENT_JOB_BUFFERED, job.id, job.jobstore, run_times))
            return True
        if action == overlap.CANCEL:
            for d in [d for d, running_id in self._in_flight.items() if running_id == job.id]:
                d.cancel()
        elif action != overlap.RUN:
            self._skip(job, run_times, "skipped: %d instances running" % (running,))
            return True
        return False

    def _skip(self, job, run_times, outcome):
        """A run not started (its instances run): on the record, counted, told."""
        self.counters["skipped"] += 1
        self._record(job, run_times[-1], outcome)
        self._dispatch(ev.JobSubmissionEvent(
            ev.EVENT_JOB_MAX_INSTANCES, job.id, job.jobstore, run_times))

    def _cluster_store(self, job):
        """
        The job's store if it counts instances across schedulers
        (L{IClusterStore}), else C{None}.  Asked once per store.
        """
        store = self._jobstores.get(job.jobstore)
        try:
            return self._clustered[store]
        except KeyError:
            answer = self._clustered[store] = \
                store if IClusterStore.providedBy(store) else None
            return answer

    def _is_immediate(self, executor):
        """
        Does C{executor} provide L{IImmediateExecutor}?  C{None} if it
        provides L{IRunExecutor} instead.  Asked once per executor.
        """
        try:
            return self._immediate[executor]
        except KeyError:
            answer = bool(IImmediateExecutor.providedBy(executor))
            if IRunExecutor.providedBy(executor):
                answer = None
            self._immediate[executor] = answer
            return answer

    def _fold(self, job, run_times):
        """
        Coalescing folds overdue runs into the last one: the others are on
        the record as one C{"missed: N runs folded into one"} record (N:
        all the runs due), one C{EVENT_JOB_MISSED}
        listing them, and counted as missed.
        """
        folded = run_times[:-1]
        self.counters["missed"] += len(folded)
        at_least = "" if getattr(run_times, "complete", True) else "at least "
        self._record(job, folded[0], "missed: %s%d runs folded into one" % (
            at_least, len(run_times)), runs=len(folded))
        self._dispatch(ev.JobSubmissionEvent(ev.EVENT_JOB_MISSED, job.id, job.jobstore, folded))

    def _drop_missed(self, job, run_times, now):
        """The run times still within the job's misfire grace time; report the others."""
        on_time = []
        grace = job.misfire_grace_time
        for run_time in run_times:
            due = job.next_run_time if run_time == job.scheduled_run_time else run_time
            if (now - (due or run_time)).total_seconds() > grace:
                self._record(job, run_time, "missed")
                self.counters["missed"] += 1
                self._dispatch(ev.JobSubmissionEvent(
                    ev.EVENT_JOB_MISSED, job.id, job.jobstore, [run_time]))
            else:
                on_time.append(run_time)
        return on_time

    def _run_instance(self, job, executor, run_times):
        """
        Call the job once per run time, one after the other.  Returns a
        Deferred of the last run's end, or C{None} if all ended at once.
        """
        for index, run_time in enumerate(run_times):
            d = self._run_once(None, job, executor, run_time)
            if d is not None:
                for later in run_times[index + 1:]:
                    d.addCallback(self._run_once, job, executor, later)
                return d
        return None

    def _run_once(self, _, job, executor, run_time):
        """
        Run the job once and report how it ended: a Deferred of that report,
        or C{None} when the job ended at once (an immediate executor's job
        that returned a plain value or raised: no Deferred is made).
        """
        started = self.reactor.seconds()
        details = None
        immediate = self._immediate.get(executor, UNSET)
        if immediate is UNSET:
            immediate = self._is_immediate(executor)
        if immediate is None:        # it runs jobs by run_job
            details = {}
            try:
                outcome = executor.run_job(job, run_time, job.timeout, details)
            except Exception:
                outcome = Failure()
        elif job.timeout is not None:
            # The executor enforces it on the Deferred it returns.
            try:
                outcome = executor.run(job.func, job.args, job.kwargs, timeout=job.timeout)
            except Exception:
                outcome = Failure()
        elif immediate:
            try:
                outcome = executor.call(job.func, job.args, job.kwargs)
            except BaseException:
                outcome = Failure()
        else:
            try:
                outcome = executor.run(job.func, job.args, job.kwargs)
            except Exception:
                outcome = Failure()
        if outcome is None or not isinstance(outcome, (Failure, defer.Deferred)):
            self._run_succeeded(outcome, job, run_time, started)      # (None: the usual)
            return None
        if isinstance(outcome, Failure):
            self._run_failed(outcome, job, run_time, started, details)
            return None
        outcome.addCallbacks(self._run_succeeded, self._run_failed,
                             callbackArgs=(job, run_time, started, details),
                             errbackArgs=(job, run_time, started, details))
        return outcome

    def _run_succeeded(self, result, job, run_time, started, details=None):
        duration = self.reactor.seconds() - started
        self.counters["executed"] += 1
        quiet = not self._wanted & _OK_RUN_EVENTS and not details
        if quiet and (not self._history_size or (
                job in self._ended and not self.history_retention)):
            # The usual run: no record, no event, at most a line in the burst's log.
            if self.log_runs:
                self._log_ok(job, run_time, started, duration)
        elif quiet and result is None and not job.retries and job.origin is None:
            self._keep_ok(job, run_time, started, duration)
        else:
            self._record(job, run_time, "ok", started, duration, details=details,
                         result=None if result is None else summarize_result(result))
            if self._wants(ev.EVENT_JOB_EXECUTED):
                self._dispatch(ev.JobExecutionEvent(
                    ev.EVENT_JOB_EXECUTED, job.id, job.jobstore, run_time,
                    retval=result, duration=duration))
        if policies.applies(job):
            self._run_ended(job, run_time, None)

    def _run_failed(self, failure, job, run_time, started, details=None):
        duration = self.reactor.seconds() - started
        self.counters["errors"] += 1
        outcome = "timeout" if failure.check(JobTimedOut) else \
            "cancelled" if failure.check(defer.CancelledError) else "error"
        self._record(job, run_time, outcome, started, duration, failure, details)
        self._dispatch(ev.JobExecutionEvent(
            ev.EVENT_JOB_ERROR, job.id, job.jobstore, run_time,
            failure=failure, duration=duration))
        if policies.applies(job):
            self._run_ended(job, run_time, failure)

    def _submit_ended(self, job, run_times, now=None, force=False):
        """
        L{_submit} for a job that has left its store (its trigger ended): it
        is in C{_ended} while it runs, so that its records go to its store's
        kept history and a retry of it carries it.
        """
        self._ended.add(job)
        d = self._submit(job, run_times, now, force)
        if d is None:                   # (ended at once)
            self._ended.discard(job)
        return d

    def _retry(self, job, run_time, ended):
        """Run a retry of C{job} (one that C{ended}, having left its store, is carried)."""
        if ended:
            self._submit_ended(job, [run_time], force=True)
        else:
            self._submit(job, [run_time], force=True)

    def _run_ended(self, job, run_time, failure):
        """
        The one place the job policies act after a run (see
        L{twistedsched.policies}): a failed attempt with attempts left is
        retried later; a run's final outcome is counted, one run after the
        other.  A run that ended while due jobs are processed waits until
        its job's new run time is stored, so that the two writes do not cross.
        """
        if failure is not None and job.retries and not failure.check(defer.CancelledError):
            event = self._retry_timers.retry_later(job, run_time, self._random,
                                                   self._jobstores.get(job.jobstore),
                                                   ended=job in self._ended)
            if event is not None:
                self._dispatch(event)
                return
        if self._processing:
            self._ended_runs.append((job, run_time, failure))
            return
        self._policies_done.addCallback(lambda _: self._apply_policies(job, failure))

    def _apply_policies(self, job, failure):
        d = policies.run_ended(self, job, failure)
        d.addCallback(lambda events: [self._dispatch(event) for event in events])
        d.addErrback(lambda f: self.log.failure(
            "job {job_id!r}: applying its policies after a run failed", f, job_id=job.id))
        return d

    def _instance_done(self, result, job, d, cluster=None, token=None):
        if token is not None:
            cluster.instance_ended(job.id, token)
        running = self._running.pop(job.id, 0) - 1
        if running > 0:
            self._running[job.id] = running
        if d is not None:
            self._in_flight.pop(d, None)
            self._ended.discard(job)
        if isinstance(result, Failure):
            self.log.failure("job {job_id!r}: instance failed", result, job_id=job.id)
        held = self._buffers.next(job.id) if self._buffers.waiting else None
        if held is not None:             # a run buffered by its overlap policy
            self._submit(held[0], held[1], force=True)
        elif token is not None and job.overlap in overlap.HOLDING:
            overlap.take_held(self, job, cluster, token)     # held in a shared store
        return None

    def _record(self, job, run_time, outcome, started=None, duration=None, failure=None,
                details=None, runs=1, result=None):
        """
        Note how a run ended (C{outcome}: "ok", "error", "timeout", "missed", or
        "kind: detail"): log it, keep it in the job's store, and tell
        L{twistedsched.events.EVENT_JOB_RUN} listeners.  A run that raised logs its traceback.
        C{details} (worker, deliveries) from an L{IRunExecutor} join the record.
        C{runs}: how many scheduled runs the record stands for (folded missed runs).
        """
        # A job removed as it runs (one-shot) keeps its history for a retention
        # time (its store retains it), else none.
        keep = self._history_size and (self.history_retention or job not in self._ended)
        if outcome == "ok" and not (keep or self._wants(ev.EVENT_JOB_RUN)):
            # Nobody reads a record: at most a line in the burst's log event.
            if self.log_runs:
                self._log_ok(job, run_time, started, duration)
            return
        if failure is None and not (self.log_runs or keep or self._wants(ev.EVENT_JOB_RUN)):
            return      # nobody would read the record
        outcome, _, detail = outcome.partition(": ")
        if failure is not None:
            error = failure_summary(failure)
        else:
            error = summarize(detail) if detail else None
        if job.retries or job.origin is not None:
            label = policies.run_label(job, failure is not None)
            if label is not None:
                error = label if error is None else summarize(label + ": " + error)
        record = make_record(run_time, outcome, self.scheduler_id, started, duration, error,
                             result)
        if details:
            record.update(details)
        self._log_run(job, run_time, record, failure)
        if keep:
            store = self._jobstores.get(job.jobstore)
            if store is not None:
                self._append_run(store, job.id, record)
        if self._wants(ev.EVENT_JOB_RUN):
            self._dispatch(ev.JobRunEvent(job.id, job.jobstore, job.name, record,
                                          run_time, started, runs))

    def _keep_ok(self, job, run_time, started, duration):
        """
        What L{_record} does for a run that went well, returned nothing, and
        is kept for its history only (no listener, no policy label): the
        usual run of a one-shot job its store retains.
        """
        duration = self._log_ok(job, run_time, started, duration) if self.log_runs \
            else round(duration * 1e6) / 1e6
        store = self._jobstores.get(job.jobstore)
        if store is None:
            return
        at_once = getattr(store, "append_run_now", None)
        if at_once is not None:         # the memory store: a tuple
            try:
                at_once(job.id, ok_run(run_time, self.scheduler_id, started, duration),
                        self._history_size)
            except Exception:
                self._history_failed(Failure(), job.id)
            return
        self._append_run(store, job.id, make_record(run_time, "ok", self.scheduler_id, started,
                                                    duration))

    def _append_run(self, store, job_id, record):
        """Send a run's record to its job's store; a failed write is logged."""
        try:
            d = store.append_run(job_id, record, self._history_size)
        except Exception:
            d = defer.fail()
        if not d.called or isinstance(d.result, Failure):   # (a done write: no more)
            d.addErrback(self._history_failed, job_id)

    def _log_run(self, job, run_time, record, failure):
        """One structured log event per run (fields for C{twistd --logger} JSON output)."""
        if failure is None and not self.log_runs:
            return
        if failure is None and record["outcome"] == "ok":
            self._log_ok(job, run_time, record["started"], record["duration"])
            return
        fields = dict(job_id=job.id, job_name=job.name, target=job.target,
                      run_time=record["started"],
                      scheduled=self._iso(run_time), duration=record["duration"],
                      outcome=record["outcome"], error=record["error"],
                      scheduler_id=self.scheduler_id)
        if failure is not None:
            self.log.failure(_RUN_FAILED, failure, **fields)
            if self._processing:
                self._run_log.failed_run(job.id)
        else:
            self._emit(LogLevel.warn, _RUN_NOT_STARTED if record["error"] is None
                       else _RUN_NOT_STARTED_BECAUSE, fields)

    def _log_ok(self, job, run_time, started, duration):
        """
        Log a run that went well: a line of the burst's event while due jobs
        are processed (see L{twistedsched.runlog}), else an event of its own.
        Made cheap (it is most of the cost of the usual run): the scheduled
        time's text reused (L{_iso}'s, inline), the duration rounded to the
        microsecond at a third of C{round(duration, 6)}'s cost; returns it.
        """
        duration = round(duration * 1e6) / 1e6
        last = self._last_iso
        self._run_log.went_well(job.id, job.name, job.task or job.func_ref or job.name,
                                started, last[1] if run_time == last[0] else self._iso(run_time),
                                duration)
        if not self._processing:
            self._run_log.flush()
        return duration

    def _emit(self, level, format, event):
        """
        What C{self.log.emit(level, format, **event)} does, less its check
        that C{level} is a L{LogLevel <twisted.logger.LogLevel>} (half its
        cost, and ours always are): run events are on the hot path.
        """
        log = self.log
        event.update(log_logger=log, log_level=level, log_namespace=log.namespace,
                     log_source=log.source, log_format=format, log_time=time.time())
        log.observer(event)

    def _iso(self, when):
        """C{when} in ISO 8601, formatted once for the runs due at one instant."""
        if when != self._last_iso[0]:
            self._last_iso = (when, when.isoformat())
        return self._last_iso[1]

    def _history_failed(self, failure, job_id):
        self.log.failure("keeping the run history of job {job_id!r} failed", failure,
                         job_id=job_id)

    @reactor_thread_only
    def job_history(self, job_id, jobstore=None, limit=None):
        """
        Fire with the last runs of a job (at most C{limit}), newest first, as
        kept by its job store (of every store, without C{jobstore}): dicts
        of scheduled_run_time, started, ended (aware datetimes, or None),
        duration (seconds), outcome ("ok", "error", "missed", "skipped"...),
        error (one line, or None), scheduler (the id of the scheduler
        that ran it) and result (what it returned, when not None, bounded).
        See L{twistedsched.history}.
        """
        aliases = [jobstore] if jobstore is not None else list(self._jobstores) or ["default"]
        stores = [self._lookup_jobstore(alias) for alias in aliases]
        d = gather([store.get_runs(job_id, limit) for store in stores])
        return d.addCallback(lambda lists: [
            with_datetimes(record) for runs in lists for record in runs][:limit])

    def running_instances(self, job_id=None):
        """How many instances run now (of one job, or in all)."""
        if job_id is not None:
            return self._running.get(job_id, 0)
        return sum(self._running.values())

    @reactor_thread_only
    def cluster_members(self):
        """
        Fire with the schedulers this one shares its stores with (stores
        that count across schedulers, L{IClusterStore}, such as Redis): a
        list of dicts with C{id}, C{alive}, C{self} and C{store}.  Without
        such a store, this scheduler alone.
        """
        stores = [(alias, store) for alias, store in sorted(self._jobstores.items())
                  if IClusterStore.providedBy(store)]
        if not stores:
            return defer.succeed([{"id": self.scheduler_id, "alive": True, "self": True,
                                   "store": None}])

        def label(rows, alias):
            return [dict(row, store=alias) for row in rows]
        return gather([store.members().addCallback(label, alias) for alias, store in stores]
                      ).addCallback(lambda lists: [row for rows in lists for row in rows])

    def stats(self):
        """Fire with a dict of counts: jobs, running, submitted, executed, errors, missed, skipped."""
        def build(jobs):
            return {"jobs": jobs, "running": self.running_instances(),
                    "submitted": self.counters["submitted"],
                    "executed": self.counters["executed"],
                    "errors": self.counters["errors"], "missed": self.counters["missed"],
                    "skipped": self.counters["skipped"], "paused": self._paused}
        return self.count_jobs().addCallback(build)


#: The events a run that went well may be told to listeners in.
_OK_RUN_EVENTS = ev.EVENT_JOB_RUN | ev.EVENT_JOB_EXECUTED


#: What L{_write_due} returns when the store no longer held the job.
_GONE = object()


def _write_due(store, at_once, deferred, argument):
    """
    Write a due job back to its store: by its method C{at_once}
    (C{remove_job_now}, C{update_job_now}: the memory store) if it has one,
    then C{None}, or L{_GONE} for a job that is gone; else the Deferred of
    its method C{deferred} (C{remove_job}, C{update_job}), or the Deferred
    the C{at_once} method returned (a proxy of a store may).  (Methods by
    name: the one not called is not looked up.)
    """
    write = getattr(store, at_once, None)
    if write is None:
        return getattr(store, deferred)(argument)
    try:
        return write(argument)
    except JobLookupError:
        return _GONE
    except Exception:
        return defer.fail()


def _trap_lookup_error(failure):
    """Ignore a job that is gone (removed while it ran)."""
    failure.trap(JobLookupError)


def gather(deferreds):
    """Fire with all results, or fail with the first failure itself."""
    d = defer.gatherResults(deferreds, consumeErrors=True)
    d.addErrback(lambda f: f.value.subFailure if f.check(defer.FirstError) else f)
    return d


#: The sentences of the per-run log events (formatted only if someone reads them).
#: No format specs: JSON logs (flattened events) drop them.
#: They name the callable that ran (C{target}), which a stored job's name may belie.
_RUN_FAILED = ("job {job_id!r} ({job_name}): {target} raised an exception after "
               "{duration} s (due {scheduled})")
_RUN_NOT_STARTED = ("job {job_id!r} ({job_name}): the run of {target} due {scheduled} "
                    "was {outcome}")
_RUN_NOT_STARTED_BECAUSE = _RUN_NOT_STARTED + " ({error})"


class _RetryLater(Exception):
    """A store failed; it was logged; try again after a delay."""
