"""
Job policies: what happens around a job's runs, beyond its trigger.

One small module per policy:

  - L{twistedsched.policies.nextfire}: a trigger's or a job's next fire times;
  - L{twistedsched.policies.maxruns}: C{max_runs}, a repeat count;
  - L{twistedsched.policies.pausefailures}: C{pause_after_failures};
  - L{twistedsched.policies.retry}: C{retries}, C{retry_delay}, C{retry_max_delay};
  - L{twistedsched.policies.backfill}: C{Scheduler.backfill};
  - L{twistedsched.policies.calendars}: C{exclude}, dates a job never fires on;
  - L{twistedsched.policies.overlap}: C{overlap}, a run due while one runs.

A job carries its policy options as attributes (stored in its JSON
document like every other option, so every job store keeps them) and the
state the policies keep (counts, a pause reason) in C{job.policy_state}, a
JSON object stored with it.  After each run of a job with policies
(L{applies}), the scheduler retries a failed attempt that has attempts
left (L{retry.RetryTimers}), else calls L{run_ended}; it also asks
L{run_label} what a run's record should say and calls L{resumed} when a
job is resumed.

A store shared by several schedulers provides L{IPolicyStore} (Redis): the
counters are then counted there atomically, runs held by C{overlap} wait
there for an instance running on another scheduler, and pending retries are
kept there, so that every policy holds for the whole cluster.
"""

from twisted.internet import defer
from zope.interface import Interface

from twistedsched.errors import BadArgumentError, JobLookupError
from twistedsched.events import EVENT_JOB_PAUSED, JobPausedEvent
from twistedsched.policies import calendars, maxruns, overlap, pausefailures, retry


class IPolicyStore(Interface):
    """
    A job store shared by several schedulers that keeps what the policies
    need to hold across them (see L{twistedsched.stores.redispolicy}).
    """

    def count_run_end(job_id, count_run, failed):
        """
        Count atomically the end of a run: fire with C{(runs, failures)}
        (failures in a row), or C{None} if the job is not stored.
        """

    def reset_counts(job_id, names):
        """Forget some counters of a job (a resumed job's C{failures})."""

    def hold_run(job_id, run_times, room, cancel=False):
        """
        Hold a run for an instance of its job running on another scheduler
        (at most C{room} wait); with C{cancel}, have that instance
        cancelled.  Fire with 1 (held), -1 (no room) or 0 (none runs
        elsewhere: run it now).
        """

    def take_held(job_id, token):
        """An instance (C{token}) ended here: fire with the run times of the first held run, or C{None}."""

    def add_retry(job_id, attempt, run_time, due, job=None):
        """Keep a pending retry (carrying C{job} when it has left the store); fire with its key."""

    def take_retry(key):
        """Take a pending retry, once: fire with true if this caller got it."""

    def pending_retries():
        """
        Fire with the first pending retries: (key, job id, attempt, run time,
        due, the job carried or C{None}) tuples.
        """

#: The policies that act on a scheduled run's final outcome.
RUN_POLICIES = (maxruns, pausefailures)
#: Every policy option (job options), and the defaults of a job.
OPTIONS = tuple(policy.OPTION for policy in RUN_POLICIES) + retry.OPTIONS + (
    calendars.OPTION, overlap.OPTION)
DEFAULTS = dict(retry.DEFAULTS, exclude=None, overlap=None,
                **{policy.OPTION: None for policy in RUN_POLICIES})


def check_option(key, value):
    """A policy option's value, checked (L{BadArgumentError} if wrong)."""
    for policy in RUN_POLICIES:
        if policy.OPTION == key:
            return policy.check(value)
    if key in retry.OPTIONS:
        return retry.check(key, value)
    if key == calendars.OPTION:
        return calendars.check(value)
    if key == overlap.OPTION:
        return overlap.check(value)
    raise BadArgumentError("unknown job option %r" % (key,))


def check_state(state):
    """A job's policy state: a dict (from its JSON document)."""
    if state is None:
        return {}
    if not isinstance(state, dict):
        raise BadArgumentError("policy_state: expected a JSON object, not %r" % (state,))
    return dict(state)


#: The counts of a job's policy state that an export keeps and an import may give.
COUNTS = (maxruns.RUNS, pausefailures.FAILURES)


def check_counts(counts):
    """
    The counts a remote client gives a job (C{policy_state} of an import:
    C{{"runs": 2, "failures": 0}}), checked (L{BadArgumentError} if wrong).
    """
    if not isinstance(counts, dict):
        raise BadArgumentError("policy_state: expected a JSON object of counts, not %r"
                               % (counts,))
    for key, value in counts.items():
        if key not in COUNTS:
            raise BadArgumentError("policy_state: unknown count %r (known: %s)" % (
                key, ", ".join(COUNTS)))
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10 ** 12:
            raise BadArgumentError("policy_state: %s: expected a whole number >= 0, not %r"
                                   % (key, value))
    return dict(counts)


def exported_counts(described):
    """The counts of a job's described state (L{describe_state}) worth exporting."""
    return {key: described[key] for key in COUNTS if described.get(key)}


def applies(job):
    """Does any policy act after this job's runs?  (Cheap: asked after every run.)"""
    return job.origin is None and (job.max_runs is not None or bool(job.retries)
                                   or job.pause_after_failures is not None)


def run_label(job, failed):
    """
    What a run's record says besides its outcome (C{"attempt 2 of 4"},
    C{"backfill"}), or C{None}.
    """
    if job.origin is not None:
        return job.origin
    return retry.label(job, failed) if job.retries else None


def run_ended(scheduler, job, failure=None):
    """
    Let the policies act on a run of C{job} that ended (C{failure}: how it
    failed, C{None} if it succeeded): count it in the stored job's state
    (atomically, in a store that provides L{IPolicyStore}), remove or pause
    the job.  Fires with the events to dispatch.
    """
    if job.max_runs is None and job.pause_after_failures is None:
        return defer.succeed([])        # (retries alone count nothing)
    store = scheduler.jobstores.get(job.jobstore)
    if IPolicyStore.providedBy(store):
        d = store.count_run_end(job.id, job.max_runs is not None,
                                None if job.pause_after_failures is None else failure is not None)
        d.addCallback(_apply_counts, scheduler, job, failure)
    else:
        d = scheduler.get_job(job.id, job.jobstore)
        d.addCallback(_apply, scheduler, failure)
    d.addErrback(lambda f: f.trap(JobLookupError) and [])     # removed meanwhile
    return d


def _apply_counts(counts, scheduler, job, failure):
    """Act on a run's end counted by the store (L{IPolicyStore}): C{(runs, failures)}."""
    if counts is None:
        return []                   # removed meanwhile
    runs, failures = counts
    if maxruns.reached(job, runs):
        return scheduler._end_job(job).addCallback(lambda _: [])
    reason = pausefailures.reason(job, failures, failure)
    if reason is None:
        return []
    state = dict(job.policy_state)
    if job.max_runs is not None:
        state[maxruns.RUNS] = runs
    state[pausefailures.FAILURES] = failures
    state[pausefailures.REASON] = reason
    d = scheduler.modify_job(job.id, job.jobstore, next_run_time=None, policy_state=state)
    return d.addCallback(lambda _: [
        JobPausedEvent(EVENT_JOB_PAUSED, job.id, job.jobstore, reason)])


def _apply(job, scheduler, failure):
    if job is None:
        return []
    state = dict(job.policy_state)
    if maxruns.after_run(job, state):
        return scheduler._end_job(job).addCallback(lambda _: [])
    reason = pausefailures.after_run(job, state, failure)
    changes = {"policy_state": state}
    if reason is not None:
        changes["next_run_time"] = None
    d = scheduler.modify_job(job.id, job.jobstore, **changes)
    if reason is None:
        return d.addCallback(lambda _: [])
    return d.addCallback(lambda _: [
        JobPausedEvent(EVENT_JOB_PAUSED, job.id, job.jobstore, reason)])


def resumed(scheduler, job):
    """
    Clear what a pause by a policy left in a job's state (the job is
    resumed), in its store's counters too.  Fires with the job.
    """
    job.policy_state = pausefailures.resumed(job.policy_state)
    store = scheduler.jobstores.get(job.jobstore)
    if IPolicyStore.providedBy(store) and job.pause_after_failures is not None:
        return store.reset_counts(job.id, [pausefailures.FAILURES]).addCallback(lambda _: job)
    return defer.succeed(job)


def describe_options(job):
    """A job's policy options, as a dict."""
    return {option: getattr(job, option) for option in OPTIONS}


def describe_state(job):
    """
    A job's policy state for people and clients: runs counted, failures
    in a row, and why a policy paused it (while it is paused).
    """
    state = job.policy_state
    return {"runs": state.get(maxruns.RUNS, 0),
            "failures": state.get(pausefailures.FAILURES, 0),
            "paused_reason": state.get(pausefailures.REASON) if job.paused else None}


__all__ = ["IPolicyStore", "OPTIONS", "DEFAULTS", "COUNTS", "check_option", "check_state",
           "check_counts", "exported_counts", "applies", "run_ended",
           "run_label", "resumed", "describe_options", "describe_state"]
