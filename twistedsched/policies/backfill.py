"""
Backfill: run a job once for every time its trigger would have fired in a
past range, in order, as a one-off action (after an outage, or for a job
added late).  The runs go through the job's executor one after the other as
one instance (C{max_instances} applies to it as a whole), outside the misfire
rules; their history records say C{backfill}.  They are not retried and do
not count for C{max_runs} or C{pause_after_failures}.
"""

from twistedsched.errors import BadArgumentError
from twistedsched.timeutil import to_utc

#: The most runs one backfill may make.
MAX_BACKFILL = 1000

#: What a backfilled copy of a job says it is (C{job.origin}).
ORIGIN = "backfill"


def backfill_times(trigger, start, end, now, limit=MAX_BACKFILL):
    """
    The trigger's fire times from C{start} to C{end} (both included, aware
    datetimes, C{end} not after C{now}), in order.  L{BadArgumentError}
    when the range is wrong or holds more than C{limit} runs.
    """
    start, end = to_utc(start), to_utc(end)
    if start is None or end is None or start.tzinfo is None:
        raise BadArgumentError("backfill: give a start and an end")
    if start > end:
        raise BadArgumentError("backfill: the start (%s) is after the end (%s)"
                               % (start.isoformat(), end.isoformat()))
    if end > now:
        raise BadArgumentError("backfill: the end (%s) is in the future; backfill runs "
                               "what is past" % (end.isoformat(),))
    times = []
    fire_time = to_utc(trigger.next_fire_time(None, start))
    while fire_time is not None and fire_time <= end:
        if len(times) == limit:
            raise BadArgumentError(
                "backfill: the range holds more than %d runs; give a shorter one" % (limit,))
        times.append(fire_time)
        fire_time = to_utc(trigger.next_fire_time(fire_time, start))
    return times


def backfill_copy(job):
    """A copy of C{job} to run the backfill with: no folding, marked as a backfill."""
    copy = job.copy()
    copy.coalesce = False
    copy.origin = ORIGIN
    return copy
