"""
Exceptions raised by twistedsched.

Every error a user can cause has its own type, so that the control port and the
console can turn it into a clear, typed answer.
"""


class SchedulerError(Exception):
    """Base class of every twistedsched error."""


class JobLookupError(SchedulerError, KeyError):
    """No job with the given id exists."""

    def __init__(self, job_id):
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self):
        return "no job with id %r" % (self.job_id,)


class ConflictingIdError(SchedulerError, KeyError):
    """A job with the given id exists already."""

    def __init__(self, job_id):
        super().__init__(job_id)
        self.job_id = job_id

    def __str__(self):
        return "job id %r is already taken" % (self.job_id,)


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
