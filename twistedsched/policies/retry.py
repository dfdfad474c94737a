"""
Retries: C{retries=N} runs a failed run again, up to N more times, after a
back-off: C{retry_delay} seconds before the first retry, doubling each
time up to C{retry_max_delay}, each delay drawn at random between half and
all of it (jitter, so that many jobs failing together do not retry
together).

A retry is a run of the same scheduled time: its history record and its
events say which attempt it was (C{attempt 2 of 4}).  Retries wait on
timers of their own, so the job's next regular run is never delayed by
them; a job removed or paused meanwhile is not retried.  The timers live
in the process that ran the failed attempt: a retry pending when it stops
is dropped (the failure stays on the record).
"""

from twistedsched.errors import BadArgumentError
from twistedsched.events import EVENT_JOB_RETRY, JobRetryEvent

#: The options of this policy, and their defaults.
OPTIONS = ("retries", "retry_delay", "retry_max_delay")
DEFAULTS = {"retries": None, "retry_delay": 10, "retry_max_delay": 600}


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
    not retried) and handed to C{submit(job, run_time)} with its attempt
    counted.
    """

    def __init__(self, reactor, find_job, submit):
        self.reactor = reactor
        self.find_job = find_job
        self.submit = submit
        self.pending = set()

    def retry_later(self, job, run_time, random):
        """
        Set a timer to retry the failed attempt of C{job} due at
        C{run_time}; return the L{JobRetryEvent} to report, or C{None} if
        it has no attempt left.
        """
        seconds = delay(job, random)
        if seconds is None:
            return None
        attempt = job.attempt + 1
        call = self.reactor.callLater(seconds, lambda: self._fire(call, job, attempt, run_time))
        self.pending.add(call)
        return JobRetryEvent(EVENT_JOB_RETRY, job.id, job.jobstore, run_time, attempt,
                             total(job), seconds)

    def _fire(self, call, job, attempt, run_time):
        self.pending.discard(call)
        d = self.find_job(job.id, job.jobstore)
        d.addCallback(self._run, attempt, run_time)
        return d

    def _run(self, job, attempt, run_time):
        if job is None or job.paused:
            return
        job.attempt = attempt
        self.submit(job, run_time)

    def cancel_all(self):
        """Drop every pending retry (the scheduler stops)."""
        for call in self.pending:
            if call.active():
                call.cancel()
        self.pending.clear()
