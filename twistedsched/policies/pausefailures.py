"""
Pause on failure: C{pause_after_failures=N} pauses a job after N failed
runs in a row (an exception or a timeout).  A run that succeeds sets the
count back to zero; so does resuming the job.  The reason is kept in the
job's state until it is resumed, for C{show} and C{jobs} to display.
"""

from twistedsched.errors import BadArgumentError
from twistedsched.history import failure_summary

OPTION = "pause_after_failures"

#: The keys this policy keeps in a job's state.
FAILURES, REASON = "failures", "paused_reason"


def check(value):
    """C{value} if it is C{None} or a whole number >= 1."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 1):
        raise BadArgumentError(
            "pause_after_failures: expected a whole number >= 1 or None, not %r" % (value,))
    return value


def after_run(job, state, failure):
    """
    Count a failed run in C{state} (C{failure} is its
    L{Failure <twisted.python.failure.Failure>}, C{None} after a success);
    return the reason to pause the job, or C{None}.
    """
    if job.pause_after_failures is None:
        return None
    if failure is None:
        state.pop(FAILURES, None)
        return None
    state[FAILURES] = state.get(FAILURES, 0) + 1
    found = reason(job, state[FAILURES], failure)
    if found is not None:
        state[REASON] = found
    return found


def reason(job, failures, failure):
    """
    Why C{job} is paused after C{failures} failed runs in a row (the last
    one's L{Failure <twisted.python.failure.Failure>}), or C{None} if it
    is not.
    """
    if job.pause_after_failures is None or failure is None \
            or failures < job.pause_after_failures:
        return None
    return "paused after %d failed runs in a row (last: %s)" % (
        failures, failure_summary(failure))


def resumed(state):
    """The state of a job being resumed: failures forgiven, no reason to show."""
    return {key: value for key, value in state.items() if key not in (FAILURES, REASON)}
