"""
The contenders, behind one small interface so that every scenario drives
them the same way:

    c = CONTENDERS[name](reactor)
    when = c.prepare(posix_seconds)   # outside the timed part
    c.add(func, when, job_id, args)
    c.remove(job_id)                  # unless it has fired
    c.start()                         # let due jobs run (all begin stopped)
    c.stop()

- C{raw}: one C{reactor.callLater} per job, cancelled by its DelayedCall;
- C{twistedsched}: L{twistedsched.Scheduler}, memory store, reactor executor,
  as users get it: one log event and one history record per run;
- C{twistedsched-quiet}: the same with C{log_runs=False} (no log event for
  runs that went well), to show what the per-run log event costs;
- C{apscheduler}: APScheduler 3's C{TwistedScheduler} with its memory store
  and its default executor (the reactor's thread pool), as users get it;
- C{apscheduler-reactor}: the same with its C{DebugExecutor}, which calls
  jobs in the scheduler's thread, here the reactor thread.

All of them run date (one-shot) jobs with no misfire grace limit, so that
none skips a late run: they all do the same work.
"""

import datetime as dt

UTC = dt.timezone.utc


def to_datetime(when):
    """The aware UTC datetime the schedulers take for a POSIX time."""
    return dt.datetime.fromtimestamp(when, UTC)


class Raw:
    """C{reactor.callLater}, the floor: what one timer per job costs."""

    label = "raw callLater"
    calls_in_threads = False

    def __init__(self, reactor):
        self.reactor = reactor
        self.calls = {}

    @staticmethod
    def prepare(when):
        return when

    def add(self, func, when, job_id, args=()):
        delay = max(0.0, when - self.reactor.seconds())
        self.calls[job_id] = self.reactor.callLater(delay, func, *args)

    def remove(self, job_id):
        call = self.calls.pop(job_id)
        if call.active():
            call.cancel()

    def start(self):
        pass

    def stop(self):
        pass


class TwistedSched:
    """twistedsched's L{Scheduler} with its defaults (memory store, reactor executor)."""

    label = "twistedsched"
    calls_in_threads = False
    options = {}

    def __init__(self, reactor):
        from twistedsched import Scheduler
        self.scheduler = Scheduler(reactor=reactor, misfire_grace_time=None, **self.options)

    prepare = staticmethod(to_datetime)

    def add(self, func, when, job_id, args=()):
        self.scheduler.add_job(func, "date", run_date=when, id=job_id, args=args)

    def remove(self, job_id):
        from twistedsched.errors import JobLookupError
        self.scheduler.remove_job(job_id).addErrback(lambda f: f.trap(JobLookupError))

    def start(self):
        self.scheduler.startService()

    def stop(self):
        return self.scheduler.shutdown(wait=False)


class TwistedSchedQuiet(TwistedSched):
    """The same with C{log_runs=False}: no log event for runs that went well."""

    label = "twistedsched, quiet runs"
    options = {"log_runs": False}


class APScheduler:
    """APScheduler 3's C{TwistedScheduler}, memory store, thread-pool executor."""

    label = "APScheduler 3"
    calls_in_threads = True

    def __init__(self, reactor):
        from apscheduler.schedulers.twisted import TwistedScheduler
        self.scheduler = TwistedScheduler(reactor=reactor, executors=self.executors(),
                                          job_defaults={"misfire_grace_time": None})
        self.started = False

    prepare = staticmethod(to_datetime)

    def executors(self):
        return {}

    def add(self, func, when, job_id, args=()):
        self.scheduler.add_job(func, "date", run_date=when, id=job_id, args=args)

    def remove(self, job_id):
        from apscheduler.jobstores.base import JobLookupError
        try:
            self.scheduler.remove_job(job_id)
        except JobLookupError:
            pass        # it came due: its thread has not called it yet

    def start(self):
        if self.started:
            self.scheduler.resume()
        else:
            self.started = True
            self.scheduler.start()

    def start_paused(self):
        """Take in the jobs added so far, without running any (see L{start})."""
        self.started = True
        self.scheduler.start(paused=True)

    def stop(self):
        self.scheduler.shutdown(wait=False)


class APSchedulerInReactor(APScheduler):
    """APScheduler 3 with its C{DebugExecutor}: jobs called in the reactor thread."""

    label = "APScheduler 3 (reactor thread)"
    calls_in_threads = False

    def executors(self):
        from apscheduler.executors.debug import DebugExecutor
        return {"default": DebugExecutor()}


CONTENDERS = {
    "raw": Raw,
    "twistedsched": TwistedSched,
    "twistedsched-quiet": TwistedSchedQuiet,
    "apscheduler": APScheduler,
    "apscheduler-reactor": APSchedulerInReactor,
}


def available(name):
    """True if the contender's library is installed (APScheduler is a bench extra)."""
    if name.startswith("apscheduler"):
        try:
            import apscheduler  # noqa: F401
        except ImportError:
            return False
    return True
