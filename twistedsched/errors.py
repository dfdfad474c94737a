"""
Exceptions raised by twistedsched.

Every error a user can cause has its own type, so that the control port and the
console can turn it into a clear, typed answer.
"""

from twisted.internet import defer


def describe_error(error):
    """
    The message of an exception (or of a L{Failure
    <twisted.python.failure.Failure>}'s) as a sentence for a person: a
    Deferred's timeout says how long it waited instead of its arguments'
    repr, an error without text gives its type's name.
    """
    error = getattr(error, "value", error)
    if isinstance(error, defer.TimeoutError):
        seconds = error.args[0] if error.args else None
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
            return "no answer within %g s" % (seconds,)
        return "no answer in time"
    if isinstance(error, defer.CancelledError):
        return "cancelled before it finished"
    return str(error) or type(error).__name__


#: The most characters of a job id that an error message repeats.
SHOWN_ID = 100


def shown_id(job_id):
    """C{job_id}'s repr for a message, cut short (with its length) when long."""
    text = repr(job_id)
    if len(text) <= SHOWN_ID:
        return text
    return "%s... (%d characters)" % (text[:SHOWN_ID], len(job_id))


class SchedulerError(Exception):
    """Base class of every twistedsched error."""


class JobLookupError(SchedulerError, KeyError):
    """No job with the given id exists."""

    def __init__(self, job_id):
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self):
        return "no job with id %s" % (shown_id(self.job_id),)


class ConflictingIdError(SchedulerError, KeyError):
    """A job with the given id exists already."""

    def __init__(self, job_id):
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self):
        return "job id %s is already taken" % (shown_id(self.job_id),)


class TriggerError(SchedulerError, ValueError):
    """A trigger's expression or arguments are invalid."""


class BadReferenceError(SchedulerError, ValueError):
    """A text reference ``package.module:qualname`` does not name a callable."""


class UnknownTaskError(SchedulerError, LookupError):
    """No task is registered under the given name."""

    def __init__(self, name):
        super().__init__(name)
        self.name = name

    def __str__(self):
        return "no task is registered as %r" % (self.name,)


class BadArgumentError(SchedulerError, ValueError):
    """A job option or argument has a wrong type or value."""


class UnknownAliasError(SchedulerError, KeyError):
    """No job store or executor has the given alias."""

    def __str__(self):
        return str(self.args[0])


class SchedulerStateError(SchedulerError, RuntimeError):
    """The scheduler is not in a state that allows the operation."""


class TooManyJobsError(SchedulerError):
    """The scheduler holds as many jobs as its C{max_jobs} allows."""


class ArgumentBytesExceeded(TooManyJobsError):
    """A job store holds as many bytes of job arguments as it allows."""


class TooSoonError(SchedulerError):
    """A remote client asked to run a job again sooner than the minimum interval allows."""


class JobStoreUnavailable(SchedulerError, ConnectionError):
    """The job store's backend cannot be reached right now."""


class JobStoreOutcomeUnknown(JobStoreUnavailable):
    """
    A change was sent to the job store but no answer came: it may or may not
    have been made.  Adding the same job again is safe (an identical job
    under the same id counts as added).
    """


class JobTimedOut(SchedulerError, TimeoutError):
    """A job ran longer than its C{timeout}."""


class JobFailedInWorker(SchedulerError):
    """
    A job raised an exception in a worker process.  Its text is the
    exception's type and message; C{remote_traceback} is the worker's
    traceback.
    """

    def __init__(self, message, remote_traceback=None):
        super().__init__(message)
        self.remote_traceback = remote_traceback


class WorkerDied(SchedulerError):
    """A worker process exited (crashed, or was killed) while running a job."""
