"""
Retries: C{retries=N} runs a failed run again, up to N more times, after a
back-off: C{retry_delay} seconds before the first retry, doubling each
time up to C{retry_max_delay}, each delay drawn at random between half and
all of it (jitter, so that many jobs failing together do not retry
together).

A retry is a run of the same scheduled time: its history record and its
events say which attempt it was (C{attempt 2 of 4}).  Retries wait on
timers of their own, so the job's next regular run is never delayed by
them; a job removed or paused meanwhile is not retried.  A job that ended
as it ran (a one-shot job: it has left its store) is retried as it was
when its attempt failed: the retry carries the job.

In a store that provides L{IPolicyStore <twistedsched.policies.IPolicyStore>}
(Redis), a pending retry is kept in the store: every scheduler of the store
looks at the pending retries every L{WATCH_INTERVAL} seconds and sets a
timer for each, and the first to take one when it is due runs it.  So a
retry outlives the scheduler that set it (stopped, or dead): another one,
or the same one restarted, runs it.  Elsewhere the timers live in the
process that ran the failed attempt: a retry pending when it stops is
dropped (the failure stays on the record).
"""

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from twistedsched.errors import BadArgumentError
from twistedsched.events import EVENT_JOB_RETRY, JobRetryEvent

#: The options of this policy, and their defaults.
OPTIONS = ("retries", "retry_delay", "retry_max_delay")
DEFAULTS = {"retries": None, "retry_delay": 10, "retry_max_delay": 600}

#: Seconds between two looks at the retries pending in shared stores.
WATCH_INTERVAL = 10

log = Logger()


def check(key, value):
    """A retry option's value, checked (L{BadArgumentError} if wrong)."""
    if key == "retries":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= 100):
            raise BadArgumentError(
                "retries: expected a whole number from 0 to 100 or None, not %r" % (value,))
    elif value is None or isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not 0 < value < 1e7:
        raise BadArgumentError("%s: expected seconds > 0 (below 1e7), not %r" % (key, value))
    return value


def total(job):
    """How many attempts a scheduled run of C{job} may take."""
    return 1 + (job.retries or 0)


def label(job, failed):
    """C{"attempt 2 of 4"} for a run's record, or C{None} when nothing is worth saying."""
    if not job.retries or (job.attempt == 1 and not failed):
        return None
    return "attempt %d of %d" % (job.attempt, total(job))


def delay(job, random):
    """
    Seconds to wait before retrying the attempt of C{job} that failed, or
    C{None} when it has no attempt left.  C{random} is a
    C{random.Random}.
    """
    if job.attempt >= total(job):
        return None
    full = min(job.retry_max_delay, job.retry_delay * 2 ** (job.attempt - 1))
    return random.uniform(full / 2, full)


class RetryTimers:
    """
    The timers of one scheduler's pending retries.  When one is due, the
    job is read again from its store (a job removed or paused meanwhile is
    not retried), or taken as carried if it had ended, and handed to
    C{submit(job, run_time, ended)} with its attempt counted.  C{stores()} gives the (alias, store) pairs whose stores keep
    pending retries (L{IPolicyStore <twistedsched.policies.IPolicyStore>}).
    """

    def __init__(self, reactor, find_job, submit, stores=lambda: ()):
        self.reactor = reactor
        self.find_job = find_job
        self.submit = submit
        self.stores = stores
        self.pending = {}           # key -> its timer (key: a stored retry's, or the timer)
        self._watches = {}          # store -> the LoopingCall that looks at its retries
        self.stopped = False

    def retry_later(self, job, run_time, random, store=None, ended=False):
        """
        Set a timer to retry the failed attempt of C{job} due at
        C{run_time} (kept in C{store} if it can; carrying the job if it
        C{ended}, having left its store); return the L{JobRetryEvent} to
        report, or C{None} if it has no attempt left.
        """
        seconds = delay(job, random)
        if seconds is None:
            return None
        attempt = job.attempt + 1
        carried = job if ended else None
        if hasattr(store, "add_retry"):
            due = self.reactor.seconds() + seconds
            d = store.add_retry(job.id, attempt, run_time, due, carried)
            d.addCallbacks(self._stored, self._not_stored,
                           callbackArgs=(job.jobstore, store, job.id, attempt, run_time, due,
                                         carried),
                           errbackArgs=(job, attempt, run_time, seconds, carried))
        else:
            self._local(job.id, job.jobstore, attempt, run_time, seconds, carried)
        return JobRetryEvent(EVENT_JOB_RETRY, job.id, job.jobstore, run_time, attempt,
                             total(job), seconds)

    def _local(self, job_id, alias, attempt, run_time, seconds, carried=None):
        call = self.reactor.callLater(
            seconds, lambda: self._fire(call, job_id, alias, attempt, run_time, carried))
        self.pending[call] = call

    def _not_stored(self, failure, job, attempt, run_time, seconds, carried):
        log.failure("job {job_id!r}: keeping its retry in its store failed; this "
                    "scheduler alone will run it", failure, job_id=job.id)
        self._local(job.id, job.jobstore, attempt, run_time, seconds, carried)

    def _stored(self, key, alias, store, job_id, attempt, run_time, due, carried=None):
        """Set a timer for a stored retry due at C{due} (POSIX seconds)."""
        if key in self.pending or self.stopped:
            return
        call = self.reactor.callLater(max(0, due - self.reactor.seconds()),
                                      lambda: self._take(key, store, job_id, alias, attempt,
                                                         run_time, carried))
        self.pending[key] = call

    def _take(self, key, store, job_id, alias, attempt, run_time, carried=None):
        """A stored retry is due: run it if this scheduler is the first to take it."""
        self.pending.pop(key, None)
        d = store.take_retry(key)
        d.addCallback(lambda taken: taken and self._fire(None, job_id, alias, attempt,
                                                         run_time, carried))
        d.addErrback(lambda f: log.failure("job {job_id!r}: taking its retry failed", f,
                                           job_id=job_id))
        return d

    def _fire(self, call, job_id, alias, attempt, run_time, carried=None):
        self.pending.pop(call, None)
        if carried is not None:
            return self._run(carried, attempt, run_time, ended=True)
        d = self.find_job(job_id, alias)
        d.addCallback(self._run, attempt, run_time)
        return d

    def _run(self, job, attempt, run_time, ended=False):
        if job is None or job.paused:
            return
        job.attempt = attempt
        self.submit(job, run_time, ended)

    def watch(self):
        """
        Look at the retries pending in each shared store now and every
        L{WATCH_INTERVAL} s (on the store's own reactor, as its heartbeat).
        """
        self.stopped = False
        for alias, store in self.stores():
            if store not in self._watches:
                loop = self._watches[store] = LoopingCall(self._look, alias, store)
                loop.clock = getattr(store, "reactor", self.reactor)
                loop.start(WATCH_INTERVAL, now=True)

    def _look(self, alias, store):
        """Set a timer for each pending retry of a shared store that has none here."""
        if (alias, store) not in list(self.stores()):        # the store was removed
            self._watches.pop(store).stop()
            return None
        d = store.pending_retries()
        d.addCallback(self._seen, alias, store)
        d.addErrback(lambda f: log.warn(
            "looking at the retries pending in job store {alias!r} failed: {error}",
            alias=alias, error=f.getErrorMessage()))
        return d

    def _seen(self, retries, alias, store):
        for key, job_id, attempt, run_time, due, carried in retries:
            self._stored(key, alias, store, job_id, attempt, run_time, due, carried)

    def cancel_all(self):
        """Drop every pending timer (the scheduler stops; stored retries stay stored)."""
        self.stopped = True
        for loop in self._watches.values():
            if loop.running:
                loop.stop()
        self._watches.clear()
        for call in self.pending.values():
            if call.active():
                call.cancel()
        self.pending.clear()
