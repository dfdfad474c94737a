"""
The calendar-interval trigger: every so many years, months, weeks or days,
at the wall-clock time of day of its start.
"""

import calendar
import datetime as _dt

from zope.interface import implementer

from twistedsched.errors import TriggerError
from twistedsched.interfaces import ITrigger
from twistedsched.timeutil import UTC, to_utc, to_wall_time, wall_time_exists
from twistedsched.triggers.base import BaseTrigger
from twistedsched.triggers.budget import metered, spend
from twistedsched.triggers.previous import last_fire_before

_TICK = _dt.timedelta(microseconds=1)


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TriggerError("%s: expected a whole number >= 0, not %r" % (name, value))
    return value


@implementer(ITrigger)
class CalendarIntervalTrigger(BaseTrigger):
    """
    Fires at C{start_date}, then every C{years}/C{months}/C{weeks}/C{days}
    on the calendar, at the start's wall-clock time of day in C{timezone}
    ("every 2 months on the 15th at 09:30").  Run C{k} falls on the start's
    date plus C{k} times the months, then plus C{k} times the days.

    A run whose day does not exist (the 31st in a 30-day month, 29 February
    in a common year) is skipped, as is one whose wall time falls in a DST
    gap; a repeated wall time fires at its first occurrence.  A naive start
    inside a DST gap keeps its wall time: its own run is skipped, the next
    ones are at that time of day.
    """

    type_name = "calendarinterval"

    def __init__(self, years=0, months=0, weeks=0, days=0, start_date=None, end_date=None,
                 timezone=None, jitter=None, *, default_timezone=None):
        self.months = 12 * _count("years", years) + _count("months", months)
        self.days = 7 * _count("weeks", weeks) + _count("days", days)
        if not self.months and not self.days:
            raise TriggerError("calendarinterval: give years, months, weeks or days")
        if start_date is None:
            raise TriggerError("start_date: a calendarinterval trigger needs a start date")
        self._set_common(timezone, start_date, end_date, jitter, default_timezone)
        # The wall time given, even inside a DST gap (where start_date, an
        # instant, is shifted past the gap): the series keeps its time of day.
        self._anchor = to_wall_time(start_date, self.timezone, "start_date")

    def _wall(self, k):
        """The naive wall time of run C{k}, or None if its day does not exist."""
        anchor = self._anchor
        month_index = anchor.year * 12 + anchor.month - 1 + k * self.months
        year, month = divmod(month_index, 12)
        month += 1
        if year > 9999:
            raise OverflowError("past the year 9999")
        if anchor.day > calendar.monthrange(year, month)[1]:
            return None
        return anchor.replace(year=year, month=month) + _dt.timedelta(days=k * self.days)

    def _first_guess(self, bound):
        """A run index not after that of the first run at or after C{bound}."""
        wall = bound.astimezone(self.timezone).replace(tzinfo=None)
        if wall - self._anchor <= _dt.timedelta(days=2):
            return 0
        if not self.days:
            months = (wall.year - self._anchor.year) * 12 + wall.month - self._anchor.month
            return max(0, months // self.months - 1)
        elapsed = (wall - self._anchor).days - 1  # whole days, less a DST margin
        longest = self.months * 31 + self.days  # days one step can span, at most
        return max(0, elapsed // longest)

    @metered
    def next_fire_time(self, previous, now):
        bound = to_utc(previous) + _TICK if previous is not None else to_utc(now)
        bound = max(bound, to_utc(self.start_date))
        tz = self.timezone
        try:
            k = self._first_guess(bound)
            while True:
                spend()
                wall = self._wall(k)
                k += 1
                if wall is None:
                    continue
                local = wall.replace(tzinfo=tz)
                if not wall_time_exists(local):
                    continue
                fire = local.astimezone(UTC)
                if fire < bound:
                    continue
                if self.end_date is not None and fire > self.end_date:
                    return None
                return fire
        except OverflowError:
            return None

    @metered
    def previous_fire_time(self, before):
        """The last fire time strictly before C{before}, or None."""
        return last_fire_before(self._first_in, before, self.start_date)

    def _first_in(self, moment, until):
        fire = self.next_fire_time(None, moment)
        return fire if fire is not None and fire < until else None

    def to_dict(self):
        data = {"type": "calendarinterval", "months": self.months, "days": self.days}
        data.update(self._common_dict())
        if not wall_time_exists(self._anchor.replace(tzinfo=self.timezone)):
            data["start_date"] = self._anchor.isoformat()    # naive: a wall time in a gap
        return data

    @classmethod
    def from_dict(cls, data):
        return cls(years=data.get("years", 0), months=data.get("months", 0),
                   weeks=data.get("weeks", 0), days=data.get("days", 0),
                   **cls._common_kwargs(data))

    def __str__(self):
        parts = []
        if self.months:
            parts.append("%d month%s" % (self.months, "s" if self.months != 1 else ""))
        if self.days:
            parts.append("%d day%s" % (self.days, "s" if self.days != 1 else ""))
        return "calendarinterval[every %s from %s]" % (
            " and ".join(parts), self._anchor.isoformat(sep=" "))
