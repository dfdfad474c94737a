"""
The interval trigger: run every so many weeks, days, hours, minutes, seconds.
"""

import datetime as _dt
import math

from zope.interface import implementer

from twistedsched.errors import TriggerError
from twistedsched.interfaces import ITrigger
from twistedsched.timeutil import to_utc
from twistedsched.triggers.base import BaseTrigger

_TICK = _dt.timedelta(microseconds=1)


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 \
            or value != value or value in (float("inf"),):
        raise TriggerError("%s: expected a number >= 0, not %r" % (name, value))
    return value


@implementer(ITrigger)
class IntervalTrigger(BaseTrigger):
    """
    Fires at C{start_date + k * interval}.  The interval is real elapsed time:
    across a DST change the wall-clock time of the runs shifts, the spacing
    does not.  Without a start date the first run is one interval after
    C{now}.
    """

    type_name = "interval"

    def __init__(self, weeks=0, days=0, hours=0, minutes=0, seconds=0,
                 start_date=None, end_date=None, timezone=None, jitter=None, *,
                 now=None, default_timezone=None):
        try:
            self.interval = _dt.timedelta(
                weeks=_number("weeks", weeks), days=_number("days", days),
                hours=_number("hours", hours), minutes=_number("minutes", minutes),
                seconds=_number("seconds", seconds))
        except OverflowError:
            raise TriggerError("interval: too large") from None
        if self.interval <= _dt.timedelta(0):
            raise TriggerError("interval: must be longer than zero")
        if start_date is None and now is not None:
            try:
                start_date = now + self.interval
            except OverflowError:
                raise TriggerError("interval: %s from now is past the year 9999" % (
                    self.interval,)) from None
        self._set_common(timezone, start_date, end_date, jitter, default_timezone)
        if self.start_date is None:
            raise TriggerError("start_date: an interval trigger needs a start date or now")

    def next_fire_time(self, previous, now):
        try:
            candidate = self._next(previous, now)
        except OverflowError:  # past the year 9999
            return None
        if self.end_date is not None and candidate > self.end_date:
            return None
        return candidate

    def _next(self, previous, now):
        start = to_utc(self.start_date)
        if previous is not None:
            return to_utc(previous) + self.interval
        if now <= start:
            return start
        steps = math.ceil((to_utc(now) - start) / self.interval)
        return start + steps * self.interval

    def previous_fire_time(self, before):
        """The last fire time strictly before C{before}, or None."""
        start = to_utc(self.start_date)
        before = to_utc(before)
        if self.end_date is not None:
            before = min(before, to_utc(self.end_date) + _TICK)
        if before <= start:
            return None
        return start + ((before - start - _TICK) // self.interval) * self.interval

    def to_dict(self):
        data = {"type": "interval", "seconds": self.interval.total_seconds()}
        data.update(self._common_dict())
        return data

    @classmethod
    def from_dict(cls, data):
        return cls(seconds=data["seconds"], **cls._common_kwargs(data))

    def __str__(self):
        return "interval[%s]" % (self.interval,)
