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
"""


from twistedsched.errors import BadArgumentError, JobLookupError
from twistedsched.events import EVENT_JOB_PAUSED, JobPausedEvent
from twistedsched.policies import calendars, maxruns, overlap, pausefailures, retry

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
    failed, C{None} if it succeeded): count it in the stored job's state,
    remove or pause the job.  Fires with the events to dispatch.
    """
    d = scheduler.get_job(job.id, job.jobstore)
    d.addCallback(_apply, scheduler, failure)
    d.addErrback(lambda f: f.trap(JobLookupError) and [])     # removed meanwhile
    return d


def _apply(job, scheduler, failure):
    if job is None:
        return []
    state = dict(job.policy_state)
    if maxruns.after_run(job, state):
        return scheduler.remove_job(job.id, job.jobstore).addCallback(lambda _: [])
    reason = pausefailures.after_run(job, state, failure)
    changes = {"policy_state": state}
    if reason is not None:
        changes["next_run_time"] = None
    d = scheduler.modify_job(job.id, job.jobstore, **changes)
    if reason is None:
        return d.addCallback(lambda _: [])
    return d.addCallback(lambda _: [
        JobPausedEvent(EVENT_JOB_PAUSED, job.id, job.jobstore, reason)])


def resumed(job):
    """Clear what a pause by a policy left in a job's state (the job is resumed)."""
    job.policy_state = pausefailures.resumed(job.policy_state)
    return job


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


__all__ = ["OPTIONS", "DEFAULTS", "check_option", "check_state", "applies", "run_ended",
           "run_label", "resumed", "describe_options", "describe_state"]
