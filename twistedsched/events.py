"""
Events the scheduler fires, and the constants to select them.

Constants are bits: OR them into a mask for C{Scheduler.add_listener}.
"""

from twistedsched.history import TIME_FIELDS
from twistedsched.timeutil import from_timestamp

EVENT_SCHEDULER_STARTED = 1 << 0
EVENT_SCHEDULER_SHUTDOWN = 1 << 1
EVENT_SCHEDULER_PAUSED = 1 << 2
EVENT_SCHEDULER_RESUMED = 1 << 3
EVENT_EXECUTOR_ADDED = 1 << 4
EVENT_EXECUTOR_REMOVED = 1 << 5
EVENT_JOBSTORE_ADDED = 1 << 6
EVENT_JOBSTORE_REMOVED = 1 << 7
EVENT_ALL_JOBS_REMOVED = 1 << 8
EVENT_JOB_ADDED = 1 << 9
EVENT_JOB_REMOVED = 1 << 10
EVENT_JOB_MODIFIED = 1 << 11
EVENT_JOB_EXECUTED = 1 << 12
EVENT_JOB_ERROR = 1 << 13
EVENT_JOB_MISSED = 1 << 14
EVENT_JOB_SUBMITTED = 1 << 15
EVENT_JOB_MAX_INSTANCES = 1 << 16
EVENT_JOBSTORE_ERROR = 1 << 17
#: A run ended, whatever the outcome, with its history record.  It repeats
#: what the events above say, so it is not part of EVENT_ALL: ask for it
#: by name ("job_run").
EVENT_JOB_RUN = 1 << 18
#: A queue of the worker tier had no live consumer for longer than its
#: bound (see L{twistedsched.executors.queue}).
EVENT_QUEUE_UNCONSUMED = 1 << 19
#: A policy paused a job (L{JobPausedEvent}: C{reason} says why).
EVENT_JOB_PAUSED = 1 << 20
#: A failed run will be retried (L{JobRetryEvent}: which attempt, when).
EVENT_JOB_RETRY = 1 << 21
#: A run due while another runs waits for it (the job's overlap policy).
EVENT_JOB_BUFFERED = 1 << 22

EVENT_ALL = ((1 << 23) - 1) & ~EVENT_JOB_RUN

EVENT_NAMES = {
    value: name[len("EVENT_"):].lower()
    for name, value in dict(globals()).items()
    if name.startswith("EVENT_") and name != "EVENT_ALL" and isinstance(value, int)
}
EVENT_CODES = {name: value for value, name in EVENT_NAMES.items()}


def mask_from_names(names):
    """A mask from event names such as C{["job_executed", "job_error"]}."""
    mask = 0
    for name in names:
        if name == "all":
            return EVENT_ALL
        try:
            mask |= EVENT_CODES[name]
        except KeyError:
            raise ValueError("unknown event %r (known: %s)" % (
                name, ", ".join(sorted(EVENT_CODES)))) from None
    return mask


class SchedulerEvent:
    """
    Something happened in the scheduler.  C{code} is one of the C{EVENT_*}
    constants; C{alias} names the job store or executor concerned, if any.
    """

    def __init__(self, code, alias=None):
        self.code = code
        self.alias = alias

    @property
    def name(self):
        return EVENT_NAMES.get(self.code, str(self.code))

    def to_dict(self):
        """A JSON-serializable description (for the control port and console)."""
        return {"event": self.name, "alias": self.alias}

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self.to_dict())


class JobEvent(SchedulerEvent):
    """Something happened to a job: added, removed, modified."""

    def __init__(self, code, job_id, jobstore):
        super().__init__(code)
        self.job_id = job_id
        self.jobstore = jobstore

    def to_dict(self):
        return {"event": self.name, "job_id": self.job_id, "jobstore": self.jobstore}


class JobSubmissionEvent(JobEvent):
    """A job was submitted to its executor, missed, or skipped at max instances."""

    def __init__(self, code, job_id, jobstore, scheduled_run_times):
        super().__init__(code, job_id, jobstore)
        self.scheduled_run_times = scheduled_run_times

    def to_dict(self):
        data = super().to_dict()
        data["scheduled_run_times"] = [t.isoformat() for t in self.scheduled_run_times]
        return data


class JobExecutionEvent(JobEvent):
    """
    A job ran: C{retval} is its result (C{EVENT_JOB_EXECUTED}) or C{failure}
    the L{Failure <twisted.python.failure.Failure>} it raised
    (C{EVENT_JOB_ERROR}).  C{scheduled_run_time} is when it was due;
    C{duration} how long it took, in seconds.
    """

    def __init__(self, code, job_id, jobstore, scheduled_run_time, retval=None,
                 failure=None, duration=None):
        super().__init__(code, job_id, jobstore)
        self.scheduled_run_time = scheduled_run_time
        self.retval = retval
        self.failure = failure
        self.duration = duration

    @property
    def exception(self):
        return None if self.failure is None else self.failure.value

    def to_dict(self):
        data = super().to_dict()
        data["scheduled_run_time"] = self.scheduled_run_time.isoformat()
        data["duration"] = self.duration
        if self.failure is not None:
            data["error"] = self.failure.getErrorMessage()
            data["error_type"] = self.failure.type.__name__
        else:
            data["retval"] = repr(self.retval)[:200]
        return data


class JobPausedEvent(JobEvent):
    """A policy paused a job (see L{twistedsched.policies}); C{reason} says why."""

    def __init__(self, code, job_id, jobstore, reason):
        super().__init__(code, job_id, jobstore)
        self.reason = reason

    def to_dict(self):
        data = super().to_dict()
        data["reason"] = self.reason
        return data


class JobRetryEvent(JobEvent):
    """
    The failed run of a job due at C{scheduled_run_time} will be tried
    again in C{delay} seconds, as attempt C{attempt} of C{attempts}.
    """

    def __init__(self, code, job_id, jobstore, scheduled_run_time, attempt, attempts, delay):
        super().__init__(code, job_id, jobstore)
        self.scheduled_run_time = scheduled_run_time
        self.attempt = attempt
        self.attempts = attempts
        self.delay = delay

    def to_dict(self):
        data = super().to_dict()
        data.update(scheduled_run_time=self.scheduled_run_time.isoformat(),
                    attempt=self.attempt, attempts=self.attempts, delay=round(self.delay, 3))
        return data


class JobRunEvent(JobEvent):
    """
    A run of a job ended, whatever its outcome (ok, error, missed,
    skipped...).  C{record} is its history record (see
    L{twistedsched.history}); C{scheduled_run_time} (aware datetime),
    C{started} (POSIX seconds or C{None}), C{duration} and C{outcome} are
    there as numbers for listeners such as L{twistedsched.metrics}.
    C{runs} is how many scheduled runs the record stands for: more than one
    for the runs that coalescing folded (C{"missed: N runs folded into one"}).
    """

    def __init__(self, job_id, jobstore, job_name, record, scheduled_run_time,
                 started=None, runs=1):
        super().__init__(EVENT_JOB_RUN, job_id, jobstore)
        self.runs = runs
        self.job_name = job_name
        self.record = record
        self.scheduled_run_time = scheduled_run_time
        self.started = started

    @property
    def outcome(self):
        return self.record["outcome"]

    @property
    def duration(self):
        return self.record["duration"]

    @property
    def lateness(self):
        """Seconds from the scheduled run time to the start, or C{None}."""
        if self.started is None:
            return None
        return self.started - self.scheduled_run_time.timestamp()

    def to_dict(self):
        data = super().to_dict()
        data["job_name"] = self.job_name
        data.update(self.record)
        for key in TIME_FIELDS:           # ISO text, as in the other events
            if data[key] is not None:
                data[key] = from_timestamp(data[key]).isoformat()
        return data
