"""
A repeat count: C{max_runs=N} removes a job once it has run N times.

Every run that started counts, whatever its outcome (a manual C{run_job}
too); runs that were missed or skipped do not.  The count is kept in the
job's stored state, so that it survives restarts and holds for every
scheduler sharing the store (a Redis store counts it atomically).
"""

from twistedsched.errors import BadArgumentError

OPTION = "max_runs"

#: The key this policy keeps in a job's state.
RUNS = "runs"


def check(value):
    """C{value} if it is C{None} or a whole number >= 1."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or value < 1):
        raise BadArgumentError("max_runs: expected a whole number >= 1 or None, not %r"
                               % (value,))
    return value


def reached(job, runs):
    """Has C{job} run C{max_runs} times, with C{runs} counted?"""
    return job.max_runs is not None and runs >= job.max_runs


def after_run(job, state):
    """Count a run in C{state}; true if the job has now run C{max_runs} times."""
    if job.max_runs is None:
        return False
    state[RUNS] = state.get(RUNS, 0) + 1
    return reached(job, state[RUNS])
