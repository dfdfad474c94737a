"""
Previous fire times (croniter's C{get_prev}), found with a trigger's forward
search: gallop back from C{before} until a fire time turns up, then halve the
span between the last fire time known and the first instant known to have
none after it.  About 100 forward searches, each bounded by the span.
"""

import datetime as _dt

from twistedsched.timeutil import UTC, to_utc

_TICK = _dt.timedelta(microseconds=1)
#: No datetime is earlier (with a day's margin for time zones).
EARLIEST = _dt.datetime(1, 1, 2, tzinfo=UTC)


def last_fire_before(first_in, before, floor=None):
    """
    The last fire time strictly before C{before}, or None.

    @param first_in: C{first_in(moment, until)} returns the trigger's first
        fire time in [C{moment}, C{until}), or None.
    @param floor: no fire time is earlier than this (a start date).
    """
    before = to_utc(before)
    floor = max(to_utc(floor), EARLIEST) if floor is not None else EARLIEST
    window = _dt.timedelta(seconds=1)
    while True:
        moment = before - window if before - floor > window else floor
        found = first_in(moment, before)
        if found is not None:
            break
        if moment <= floor:
            return None
        window *= 2
    until = before      # no fire time in [until, before)
    while True:
        after = found + _TICK
        if after >= until:
            return found
        middle = after + (until - after) / 2
        later = first_in(middle, until)
        if later is not None:
            found = later
        else:
            until = middle
