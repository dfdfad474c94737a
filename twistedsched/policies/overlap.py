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

With several schedulers on a store that provides L{IPolicyStore
<twistedsched.policies.IPolicyStore>} (Redis), it holds for the cluster: a
run due while an instance runs on another scheduler waits in the store
(L{hold_elsewhere}), and whichever scheduler ends an instance of the job
takes it (L{take_held}); C{cancel_other} has the other scheduler cancel its
instance (a message on the store's channel), and the run waits for it to
end.  Runs waiting here (L{Buffers}) are dropped when the scheduler stops;
those held in the store are not.
"""

import collections

from twisted.logger import Logger

from twistedsched import events as ev
from twistedsched.errors import BadArgumentError

OPTION = "overlap"
POLICIES = ("allow", "skip", "buffer_one", "buffer_all", "cancel_other")

#: The most runs of one job that C{buffer_all} keeps waiting.
MAX_BUFFERED = 100

RUN, SKIP, BUFFER, CANCEL = "run", "skip", "buffer", "cancel"

#: The policies under which a run may wait for an instance to end.
HOLDING = frozenset(["buffer_one", "buffer_all", "cancel_other"])

log = Logger()


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


def room(job):
    """How many runs of C{job} may wait at once."""
    return MAX_BUFFERED if job.overlap == "buffer_all" else 1


def hold_elsewhere(scheduler, job, run_times, store, action):
    """
    A run of C{job} is due while an instance runs on another scheduler of
    C{store}: hold it there (with C{action} L{CANCEL}, have that instance
    cancelled).  False if the store cannot (the run goes on as if none
    ran); else the store answers later: the run waits (an
    C{EVENT_JOB_BUFFERED} event), is skipped (no room), or starts at once
    (the instance ended meanwhile).
    """
    if not hasattr(store, "hold_run"):
        return False
    d = store.hold_run(job.id, run_times, room(job), cancel=action == CANCEL)
    d.addCallbacks(_held, _hold_failed, callbackArgs=(scheduler, job, run_times),
                   errbackArgs=(scheduler, job, run_times))
    return True


def _held(answer, scheduler, job, run_times):
    if answer > 0:
        scheduler.notify(ev.JobSubmissionEvent(
            ev.EVENT_JOB_BUFFERED, job.id, job.jobstore, run_times))
    elif answer < 0:
        scheduler._skip(job, run_times, "skipped: %d runs wait for an instance running "
                        "elsewhere" % (room(job),))
    elif scheduler.running:
        scheduler._submit(job, run_times, force=True, elsewhere=0)


def _hold_failed(failure, scheduler, job, run_times):
    log.failure("job {job_id!r}: holding its run for an instance on another scheduler "
                "failed", failure, job_id=job.id)
    scheduler._skip(job, run_times, "skipped: its store could not hold it")


def take_held(scheduler, job, store, token):
    """
    An instance of C{job} (C{token}) ended here: start the first run held
    for it in C{store} by another scheduler, if any.
    """
    if not hasattr(store, "take_held") or not scheduler.running:
        return
    d = store.take_held(job.id, token)

    def start(run_times):
        if run_times:
            scheduler._submit(job, run_times, force=True)
    d.addCallback(start)
    d.addErrback(lambda f: log.failure("job {job_id!r}: taking a run held in its store "
                                       "failed", f, job_id=job.id))
