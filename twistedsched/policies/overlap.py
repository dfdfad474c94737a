"""
Overlap: what to do when a run of a job is due while an earlier one still
runs (C{overlap=...}):

  - C{None} (the default) or C{"allow"}: runs may overlap, up to
    C{max_instances}; past it the run is skipped (an
    C{EVENT_JOB_MAX_INSTANCES} event, a "skipped" record);
  - C{"skip"}: the run is skipped while another runs (one at a time);
  - C{"buffer_one"}: the run waits and starts when the running one ends;
    one run waits at most, later ones are skipped;
  - C{"buffer_all"}: every such run waits, and they start one after the
    other, in order (at most L{MAX_BUFFERED}; past it they are skipped);
  - C{"cancel_other"}: the running instance is cancelled (as by
    C{cancel_running}), then the run starts.

This holds within one scheduler process: with several daemons on one
Redis, each applies it to the instances it runs.
"""

import collections

from twistedsched.errors import BadArgumentError

OPTION = "overlap"
POLICIES = ("allow", "skip", "buffer_one", "buffer_all", "cancel_other")

#: The most runs of one job that C{buffer_all} keeps waiting.
MAX_BUFFERED = 100

RUN, SKIP, BUFFER, CANCEL = "run", "skip", "buffer", "cancel"


def check(value):
    """C{value} if it is C{None} or one of L{POLICIES}."""
    if value is not None and value not in POLICIES:
        raise BadArgumentError("overlap: expected one of %s, not %r" % (
            ", ".join(POLICIES), value))
    return value


def decide(job, running):
    """What to do with a run of C{job} due while C{running} instances run."""
    policy = job.overlap
    if policy is None or policy == "allow":
        return RUN if running < job.max_instances else SKIP
    if not running:
        return RUN
    if policy == "skip":
        return SKIP
    if policy == "cancel_other":
        return CANCEL
    return BUFFER


class Buffers:
    """The runs that wait for a running instance of their job to end."""

    def __init__(self):
        self.waiting = {}          # job id -> deque of (job, run_times)

    def hold(self, job, run_times):
        """Keep a run until its job's instance ends; false if there is no room."""
        queue = self.waiting.setdefault(job.id, collections.deque())
        room = 1 if job.overlap == "buffer_one" else MAX_BUFFERED
        if len(queue) >= room:
            return False
        queue.append((job, run_times))
        return True

    def next(self, job_id):
        """The run that waited longest for C{job_id}, or C{None}."""
        queue = self.waiting.get(job_id)
        if not queue:
            return None
        held = queue.popleft()
        if not queue:
            del self.waiting[job_id]
        return held

    def clear(self):
        self.waiting.clear()
