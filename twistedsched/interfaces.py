"""
The pluggable seams of twistedsched: triggers, job stores and executors.
"""

from zope.interface import Attribute, Interface


class ITrigger(Interface):
    """
    Decides when a job runs.  A trigger is pure: the same arguments give the
    same answer, and it keeps no state between calls.
    """

    timezone = Attribute("The tzinfo in which the trigger reads wall times.")
    jitter = Attribute(
        "Seconds (or None): the scheduler delays each run by a random amount "
        "up to this.")

    def next_fire_time(previous, now):
        """
        Return the next fire time as an aware datetime, or C{None} when the
        trigger will never fire again.

        @param previous: the previous fire time (aware), or C{None} when the
            job has not fired yet.  With a previous time, the answer is the
            first fire time strictly after it, however long ago it was (the
            scheduler applies the misfire rules).
        @param now: the current time (aware).  Without a previous time, the
            answer is the first fire time at or after C{now} (or after the
            start date).
        """

    def to_dict():
        """
        Return a JSON-serializable dict with a C{"type"} key that
        L{twistedsched.triggers.trigger_from_dict} turns back into an equal
        trigger.
        """


class IJobStore(Interface):
    """
    Keeps jobs.  Every method returns a
    L{Deferred <twisted.internet.defer.Deferred>}; stores that need no I/O
    return already-fired ones.  Jobs are kept in UTC order of
    C{next_run_time}; paused jobs have C{next_run_time} C{None}.
    """

    def start(scheduler, alias):
        """Called when the store is added to a running scheduler or the
        scheduler starts.  May return a Deferred."""

    def shutdown():
        """Release resources.  May return a Deferred."""

    def add_job(job):
        """Store a new job; fail with L{ConflictingIdError} if its id is taken."""

    def update_job(job):
        """Replace the stored job with the same id (and release any claim on
        it); fail with L{JobLookupError} if there is none."""

    def remove_job(job_id):
        """Remove a job and its run history; fail with L{JobLookupError} if
        there is none."""

    def remove_all_jobs():
        """Remove every job and all run history."""

    def lookup_job(job_id):
        """Fire with the job, or C{None}."""

    def get_jobs(offset=0, limit=None):
        """Fire with jobs ordered by next run time (paused ones last), from
        position C{offset}, at most C{limit} of them."""

    def get_jobs_by_id(after=None, limit=None):
        """
        Fire with at most C{limit} jobs whose id comes after C{after} (from
        the first without it), ordered by id (code point order): a cursor
        that jobs firing meanwhile do not move, so that paging through with
        the last id of each page lists each stored job exactly once.
        """

    def count_jobs():
        """Fire with the number of stored jobs."""

    def acquire_due_jobs(now, limit):
        """
        Fire with at most C{limit} jobs whose next run time is at or before
        C{now}, earliest first.  A store shared by several schedulers claims
        them for this scheduler until it writes them back with C{update_job}
        or C{remove_job}.
        """

    def get_next_run_time():
        """Fire with the earliest next run time of any job (UTC), or C{None}."""

    def append_run(job_id, record, size):
        """
        Keep C{record} (a JSON-serializable dict, see
        L{twistedsched.history}) as the newest run of a job, and at most its
        C{size} newest runs.  A record for a job the store does not hold is
        dropped.  Fire when done (a store may batch writes); trouble with
        the store is logged by the store, never reported as a failure.
        """

    def get_runs(job_id, limit=None):
        """Fire with the kept runs of a job, newest first, at most C{limit}."""


class IClusterStore(Interface):
    """
    A job store shared by several schedulers that counts running instances
    across all of them, so that C{max_instances} holds for the cluster.
    The scheduler calls these synchronously, in the reactor thread.
    """

    def members():
        """
        The schedulers sharing this store: a Deferred list of dicts with
        C{id}, C{alive}, C{self} and C{expires_in} (seconds left of its
        liveness record).
        """

    def instances_elsewhere(job_id):
        """
        How many instances of the job ran on other schedulers when this
        store handed it out as due (by C{acquire_due_jobs}).
        """

    def instance_started(job_id, recover_time=None):
        """
        Count a new instance of the job run here; return a token for it.
        With C{recover_time} (the job has the C{recover} option), hold the
        run until it ends, so that another scheduler runs it again (as due
        at C{recover_time}) if this one dies first.
        """

    def instance_ended(job_id, token):
        """Stop counting the instance C{token}."""


class IExecutor(Interface):
    """
    Runs a job's callable somewhere (the reactor thread, a thread pool, a
    process pool) and reports the outcome through a Deferred.
    """

    def start(scheduler, alias):
        """Called when the scheduler starts or the executor is added."""

    def shutdown(wait=True):
        """Stop; fire the returned Deferred when done."""

    def run(func, args, kwargs, timeout=None):
        """
        Call C{func(*args, **kwargs)} and return a Deferred that fires with
        its result (awaiting a Deferred or coroutine it returns), or fails
        with its exception.

        @param timeout: seconds after which the run fails with
            L{twistedsched.errors.JobTimedOut}, or C{None}.  The scheduler
            passes it only for jobs that have a timeout, so an executor
            written before timeouts existed still runs the others.
        """


class IRunExecutor(IExecutor):
    """
    An executor that needs to know which job and which run it carries (the
    queue executor puts the job id and the scheduled time in each run's
    message).  The scheduler calls L{run_job} instead of C{run}.
    """

    def run_job(job, run_time, timeout, details):
        """
        Run C{job} once for C{run_time}; return a Deferred as C{run} does.

        @param details: a dict the executor may fill before the Deferred
            fires (C{worker}, C{deliveries}); the scheduler adds it to the
            run's history record.
        """


class IJobChecker(Interface):
    """
    An executor that cannot run every job (the process executor needs
    importable functions and JSON arguments) provides this too, so that
    C{add_job} and C{modify_job} refuse such a job at once.
    """

    def check(func, args, kwargs):
        """Raise L{twistedsched.errors.BadArgumentError} if this job cannot run here."""


class IImmediateExecutor(IExecutor):
    """
    An executor that calls jobs at once in the reactor thread, so that the
    scheduler can learn how a job that ended at once ended without a
    Deferred (the fast path of short jobs).
    """

    def call(func, args, kwargs):
        """
        Call C{func(*args, **kwargs)} now and return its result, or a
        Deferred of it when the job returned a Deferred or an awaitable;
        raise what the call raised.
        """
