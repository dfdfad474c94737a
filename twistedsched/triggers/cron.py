"""
The cron trigger: run when the wall clock matches field expressions.
"""

import bisect
import calendar
import datetime as _dt

from zope.interface import implementer

from twistedsched.errors import TriggerError
from twistedsched.interfaces import ITrigger
from twistedsched.timeutil import UTC, to_utc, wall_time_exists
from twistedsched.triggers.base import BaseTrigger
from twistedsched.triggers.budget import metered, run_metered, spend
from twistedsched.triggers.cronfields import FIELD_NAMES, parse_field
from twistedsched.triggers.previous import last_fire_before

#: What an omitted field means when a less significant field is given.
_DEFAULTS = {"year": "*", "month": 1, "day": 1, "week": "*", "day_of_week": "*",
             "hour": 0, "minute": 0, "second": 0}

_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_SECOND = _dt.timedelta(seconds=1)
#: What skipping a DST gap costs from the work budget, in steps (a month
#: looked at costs one).
_SKIP_COST = 10


def _next_in(values, value):
    """The smallest of the sorted C{values} that is >= C{value}, or None."""
    i = bisect.bisect_left(values, value)
    return values[i] if i < len(values) else None


def _ceil_second(moment):
    if moment.microsecond:
        return moment.replace(microsecond=0) + _SECOND
    return moment


def _offset_change(tz, lo, hi):
    """
    The first UTC instant in (C{lo}, C{hi}] (to the second) whose UTC offset
    in C{tz} is that of C{hi}: the DST transition between them.
    """
    target = hi.astimezone(tz).utcoffset()
    while hi - lo > _SECOND:
        mid = _ceil_second(lo + (hi - lo) / 2)
        if mid >= hi:
            break
        if mid.astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi


def _gap_end(wall, tz):
    """The first wall time after the DST gap that the naive C{wall} is in."""
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if after <= before:  # zones disagree about fold in gaps: order them
        before, after = after, before
    return _offset_change(tz, before, after).astimezone(tz).replace(tzinfo=None)


def _fold_end(first, bound, tz):
    """
    The wall time that ends the repeated (fall-back) hour holding the UTC
    instant C{first}, given a later instant C{bound} in its second pass.
    """
    offset = first.astimezone(tz).utcoffset()
    change = _offset_change(tz, first, bound)
    return change.replace(tzinfo=None) + offset


@implementer(ITrigger)
class CronTrigger(BaseTrigger):
    """
    Fires when the wall clock in C{timezone} matches every field: C{year},
    C{month}, C{day}, C{week} (ISO week), C{day_of_week} (0 or C{mon} =
    monday ... 6 or C{sun}), C{hour}, C{minute}, C{second}.  Fields left out
    that are more significant than the least significant given field mean
    C{*}; the others mean their minimum (so C{hour=4} fires at 04:00:00).

    Day of month and day of week: keyword fields are ANDed (a day must match
    both, as in APScheduler).  L{from_crontab} follows Vixie cron: when both
    day fields are restricted (neither starts with C{*}) a day matching
    either fires.

    DST: a wall time that does not exist is skipped; one that occurs twice
    fires once, at its first occurrence.  Fire times are returned in UTC.

    C{H} fields pick their values from a hash of C{hash_seed}: a job sets
    it to its id (L{bound_to}); without one, the empty text is hashed.
    """

    type_name = "cron"

    def __init__(self, year=None, month=None, day=None, week=None, day_of_week=None,
                 hour=None, minute=None, second=None, start_date=None, end_date=None,
                 timezone=None, jitter=None, *, crontab=None, hash_seed=None,
                 default_timezone=None):
        self._set_common(timezone, start_date, end_date, jitter, default_timezone)
        if hash_seed is not None and not isinstance(hash_seed, str):
            raise TriggerError("hash_seed: expected text, not %r" % (hash_seed,))
        given = {name: value for name, value in zip(FIELD_NAMES, (
            year, month, day, week, day_of_week, hour, minute, second)) if value is not None}
        if crontab is not None:
            if given:
                raise TriggerError("crontab: cannot be combined with fields %s" % (
                    ", ".join(given),))
            self.crontab = crontab
            self.given = {}
            exprs = _split_crontab(crontab)
        else:
            self.crontab = None
            self.given = {name: str(value) for name, value in given.items()}
            exprs = _with_defaults(given)
        fields = {name: parse_field(name, exprs[name], crontab is not None)
                  for name in FIELD_NAMES}
        self.hashed = any(field.hashed for field in fields.values())
        self.hash_seed = hash_seed if self.hashed else None
        self._compile({name: field.with_seed(hash_seed or "")
                       for name, field in fields.items()},
                      day_or=crontab is not None and not (
                          fields["day"].star or fields["day_of_week"].star))
        self._check_fires()

    def bound_to(self, seed):
        """
        This trigger with its C{H} fields hashed from C{seed} (the job id):
        itself if it has none or has that seed already.
        """
        if not self.hashed or seed == self.hash_seed:
            return self
        return type(self).from_dict(dict(self.to_dict(), hash_seed=seed))

    @classmethod
    def from_crontab(cls, expr, timezone=None, start_date=None, end_date=None, jitter=None,
                     *, default_timezone=None):
        """
        A trigger from a crontab line: C{"min hour day month day_of_week"},
        or six fields with seconds first, or a macro such as C{@daily}.
        The day of week counts from sunday (0 or 7); C{5L} is the last
        friday, C{mon#2} the second monday, C{L} in the day field the last
        day of the month.
        """
        if not isinstance(expr, str):
            raise TriggerError("crontab: expected text, not %r" % (expr,))
        return cls(crontab=expr, timezone=timezone, start_date=start_date, end_date=end_date,
                   jitter=jitter, default_timezone=default_timezone)

    def _compile(self, fields, day_or):
        self._years = fields["year"].values
        self._months = fields["month"].values
        self._hours = fields["hour"].values
        self._minutes = fields["minute"].values
        self._seconds = fields["second"].values
        self._day = fields["day"]
        self._weekday = fields["day_of_week"]
        self._week = fields["week"]
        self._day_or = day_or
        self._any_day = (self._day.full and self._weekday.full and self._week.full)

    def _check_fires(self):
        """Refuse fields that match no date at all (C{day=31, month=2})."""
        first = _dt.date(self._years[0], 1, 1)
        if run_metered(self._next_date, first, first.year + 400) is None:
            if self.crontab is not None:
                detail = repr(self.crontab)
            else:
                detail = ", ".join("%s=%r" % (name, self.given[name])
                                   for name in FIELD_NAMES[:5] if name in self.given)
            raise TriggerError("day: no date matches %s (the trigger would never fire)" % (
                detail,))

    # -- the search --------------------------------------------------------

    def _month_days(self, year, month):
        """Days of the month that the dynamic day terms (last, 2nd mon) pick."""
        return ({t.day_in(year, month) for t in self._day.dynamic},
                {t.day_in(year, month) for t in self._weekday.dynamic})

    def _next_day(self, year, month, day):
        """The first matching day >= C{day} in the month, or None."""
        length = calendar.monthrange(year, month)[1]
        if self._any_day:
            return day if day <= length else None
        extra_days, extra_weekdays = self._month_days(year, month)
        weekday = calendar.weekday(year, month, day) if day <= length else 0
        for d in range(day, length + 1):
            day_ok = d in self._day.value_set or d in extra_days
            weekday_ok = weekday in self._weekday.value_set or d in extra_weekdays
            if self._day_or:
                ok = day_ok or weekday_ok
            else:
                ok = day_ok and weekday_ok
            if ok and (self._week.full or
                       _dt.date(year, month, d).isocalendar()[1] in self._week.value_set):
                return d
            weekday = (weekday + 1) % 7
        return None

    def _next_date(self, date, last_year=9999):
        """The first matching date >= C{date}, or None."""
        year, month, day = date.year, date.month, date.day
        while True:
            spend()
            found = _next_in(self._years, year)
            if found is None or found > last_year:
                return None
            if found != year:
                year, month, day = found, 1, 1
            found = _next_in(self._months, month)
            if found is None:
                year, month, day = year + 1, 1, 1
                continue
            if found != month:
                month, day = found, 1
            found = self._next_day(year, month, day)
            if found is not None:
                return _dt.date(year, month, found)
            year, month, day = (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)

    def _next_time(self, hour, minute, second):
        """The first matching (hour, minute, second) >= the one given, or None."""
        h = _next_in(self._hours, hour)
        if h is None:
            return None
        if h == hour:
            m = _next_in(self._minutes, minute)
            if m == minute:
                s = _next_in(self._seconds, second)
                if s is not None:
                    return h, m, s
                m = _next_in(self._minutes, minute + 1)
            if m is not None:
                return h, m, self._seconds[0]
            h = _next_in(self._hours, hour + 1)
            if h is None:
                return None
        return h, self._minutes[0], self._seconds[0]

    def _next_wall(self, wall, last_year=9999):
        """The first naive wall time >= C{wall} that matches every field."""
        date = self._next_date(wall.date(), last_year)
        if date is None:
            return None
        start = (wall.hour, wall.minute, wall.second) if date == wall.date() else (0, 0, 0)
        found = self._next_time(*start)
        if found is None:
            try:
                date = self._next_date(date + _dt.timedelta(days=1), last_year)
            except OverflowError:
                return None
            if date is None:
                return None
            found = self._next_time(0, 0, 0)
        return _dt.datetime.combine(date, _dt.time(*found))

    @metered
    def next_fire_time(self, previous, now):
        try:
            return self._next_fire_time(previous, now)
        except OverflowError:  # past the year 9999
            return None

    @metered
    def previous_fire_time(self, before):
        """The last fire time strictly before C{before}, or None (as croniter's C{get_prev})."""
        if self.end_date is not None:
            before = min(to_utc(before), to_utc(self.end_date) + _dt.timedelta(microseconds=1))
        return last_fire_before(self._first_in, before, self.start_date)

    def _first_in(self, moment, until):
        """The first fire time in [C{moment}, C{until}), or None."""
        try:
            fire = self._next_fire_time(None, moment, until)
        except OverflowError:  # moment is past the year 9999 in the zone
            return None
        return fire if fire is not None and fire < until else None

    def _next_fire_time(self, previous, now, until=None):
        if previous is not None:
            bound = to_utc(previous).replace(microsecond=0) + _SECOND
        else:
            bound = _ceil_second(to_utc(now))
        if self.start_date is not None:
            bound = max(bound, _ceil_second(to_utc(self.start_date)))
        tz = self.timezone
        wall = bound.astimezone(tz).replace(tzinfo=None)
        last_year = 9999 if until is None or until.year >= 9999 else until.astimezone(tz).year
        while True:
            wall = self._next_wall(wall, last_year)
            if wall is None:
                return None
            local = wall.replace(tzinfo=tz)
            if not wall_time_exists(local):
                spend(_SKIP_COST)
                wall = _gap_end(wall, tz)
                continue
            fire = local.astimezone(UTC)
            if fire < bound:
                # A repeated wall time whose first occurrence has passed.
                wall = max(_fold_end(fire, bound, tz), wall + _SECOND)
                continue
            if self.end_date is not None and fire > self.end_date:
                return None
            return fire

    # -- serialization -----------------------------------------------------

    def to_dict(self):
        data = {"type": "cron"}
        if self.crontab is not None:
            data["crontab"] = self.crontab
        else:
            data.update(self.given)
        if self.hash_seed is not None:
            data["hash_seed"] = self.hash_seed
        data.update(self._common_dict())
        return data

    @classmethod
    def from_dict(cls, data):
        fields = {name: data[name] for name in FIELD_NAMES if data.get(name) is not None}
        return cls(crontab=data.get("crontab"), hash_seed=data.get("hash_seed"), **fields,
                   **cls._common_kwargs(data))

    def __str__(self):
        if self.crontab is not None:
            return "cron[%r]" % (self.crontab,)
        return "cron[%s]" % (", ".join("%s=%r" % (name, self.given[name])
                                       for name in FIELD_NAMES if name in self.given),)


def _with_defaults(given):
    """Every field's expression, filling omitted ones as APScheduler does."""
    exprs = {}
    remaining = set(given)
    for name in FIELD_NAMES:
        if name in given:
            exprs[name] = given[name]
            remaining.discard(name)
        elif given and not remaining:
            exprs[name] = _DEFAULTS[name]
        else:
            exprs[name] = "*"
    return exprs


def _split_crontab(expr):
    """The field expressions of a crontab line."""
    if not isinstance(expr, str):
        raise TriggerError("crontab: expected text, not %r" % (expr,))
    if not expr.isascii():
        raise TriggerError("crontab: only ASCII letters, digits and signs are allowed, "
                           "not %r" % (expr,))
    text = expr.strip().lower()
    if text.startswith("@"):
        if text not in _MACROS:
            raise TriggerError("crontab: unknown macro %r (known: %s)" % (
                expr.strip(), ", ".join(_MACROS)))
        text = _MACROS[text]
    parts = text.split()
    if len(parts) == 5:
        parts = ["0"] + parts
    if len(parts) != 6:
        raise TriggerError("crontab: expected 5 fields (or 6 with seconds first), got %d in %r"
                           % (len(parts), expr))
    second, minute, hour, day, month, day_of_week = parts
    return {"year": "*", "month": month, "day": day, "week": "*",
            "day_of_week": day_of_week, "hour": hour, "minute": minute, "second": second}
