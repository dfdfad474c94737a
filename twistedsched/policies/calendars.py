"""
Exclusion calendars: C{exclude=[...]} keeps a job from firing on given
dates, whatever its trigger.  Each entry is a date (C{"2026-12-25"}) or the
name of a calendar the scheduler knows (C{Scheduler(calendars={"holidays":
[...]})}, L{load_calendar} reads one from a file).  A date is read in the
trigger's time zone (else the scheduler's).

A job with C{exclude} sees its trigger through an L{ExcludingTrigger}: the
trigger's fire times on excluded dates are passed over, for its next runs,
its next fire times and backfills alike.  The option is stored with the job;
calendars are the scheduler's (each daemon on a Redis namespace needs the
same ones).
"""

import datetime as _dt
import re

from zope.interface import implementer

from twistedsched.errors import BadArgumentError
from twistedsched.interfaces import ITrigger
from twistedsched.timeutil import UTC

OPTION = "exclude"

#: The most entries of one job's C{exclude}, and dates of one calendar.
MAX_ENTRIES = 1000
MAX_CALENDAR_DATES = 10000
#: The most excluded days in a row a trigger is searched through.
MAX_SKIPPED_DAYS = 3660

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")


def parse_date(text, what="exclude"):
    """A C{datetime.date} from ISO text C{YYYY-MM-DD}."""
    if isinstance(text, _dt.date) and not isinstance(text, _dt.datetime):
        return text
    if isinstance(text, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
        try:
            return _dt.date.fromisoformat(text.strip())
        except ValueError:
            pass
    raise BadArgumentError("%s: %r is not a date (YYYY-MM-DD)" % (what, text))


def check(value):
    """C{exclude}: C{None}, or a list of dates (ISO text) and calendar names."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise BadArgumentError("exclude: expected a list of dates and calendar names, "
                               "not %r" % (value,))
    if len(value) > MAX_ENTRIES:
        raise BadArgumentError("exclude: at most %d entries, not %d" % (MAX_ENTRIES, len(value)))
    checked = []
    for entry in value:
        if isinstance(entry, _dt.date) and not isinstance(entry, _dt.datetime):
            entry = entry.isoformat()
        if isinstance(entry, str) and entry[:1].isdigit():
            entry = parse_date(entry).isoformat()
        elif not isinstance(entry, str) or not _NAME.fullmatch(entry):
            raise BadArgumentError("exclude: %r is neither a date (YYYY-MM-DD) nor a "
                                   "calendar name" % (entry,))
        checked.append(entry)
    return checked or None


def check_calendar(name, dates):
    """A calendar's name and its dates (ISO text or dates) as a frozenset of dates."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise BadArgumentError("calendar: %r is not a name (letters, digits, _ . -)" % (name,))
    if isinstance(dates, str) or not hasattr(dates, "__iter__"):
        raise BadArgumentError("calendar %r: expected a list of dates, not %r" % (name, dates))
    dates = list(dates)
    if len(dates) > MAX_CALENDAR_DATES:
        raise BadArgumentError("calendar %r: at most %d dates" % (name, MAX_CALENDAR_DATES))
    return frozenset(parse_date(date, "calendar %r" % (name,)) for date in dates)


def load_calendar(path):
    """
    The dates of a calendar file: one date (YYYY-MM-DD) per line, then
    anything (a holiday's name); blank lines and lines from C{#} ignored.
    """
    dates = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if line:
                try:
                    dates.append(parse_date(line.split()[0]))
                except BadArgumentError:
                    raise BadArgumentError("%s, line %d: %r is not a date (YYYY-MM-DD)"
                                           % (path, number, line)) from None
    return dates


def check_names(exclude, calendars):
    """L{BadArgumentError} if C{exclude} names a calendar not in C{calendars}."""
    for entry in exclude or ():
        if not entry[:1].isdigit() and entry not in calendars:
            raise BadArgumentError("exclude: no calendar named %r (known: %s)" % (
                entry, ", ".join(sorted(calendars)) or "none"))


def excluded_dates(exclude, calendars):
    """
    The set of dates C{exclude} names.  A calendar this scheduler does not
    know (a job added by another daemon) excludes nothing.
    """
    dates = set()
    for entry in exclude:
        if entry[:1].isdigit():
            dates.add(_dt.date.fromisoformat(entry))
        else:
            dates.update(calendars.get(entry, ()))
    return frozenset(dates)


def excluding(trigger, exclude, scheduler):
    """C{trigger} seen through C{exclude} (with C{scheduler}'s calendars and zone)."""
    dates = excluded_dates(exclude, getattr(scheduler, "calendars", None) or {})
    return ExcludingTrigger(trigger, dates, getattr(scheduler, "timezone", None))


@implementer(ITrigger)
class ExcludingTrigger:
    """
    A trigger seen through a set of excluded dates: its fire times on them
    are passed over.  Everything else (its text, dict, zone) is the
    trigger's own.
    """

    def __init__(self, trigger, dates, default_timezone=None):
        self.trigger = trigger
        self.dates = dates
        self.zone = getattr(trigger, "timezone", None) or default_timezone or UTC

    def _excluded(self, when):
        return when.astimezone(self.zone).date() in self.dates

    def next_fire_time(self, previous, now):
        fire_time = self.trigger.next_fire_time(previous, now)
        for _ in range(MAX_SKIPPED_DAYS):
            if fire_time is None or not self._excluded(fire_time):
                return fire_time
            # Jump to the next day rather than walk an excluded day's fire times.
            local = fire_time.astimezone(self.zone)
            next_day = _dt.datetime.combine(local.date() + _dt.timedelta(days=1),
                                            _dt.time(), self.zone)
            following = self.trigger.next_fire_time(None, next_day)
            if following is not None and following <= fire_time:
                return None         # the trigger does not move on (a past date)
            fire_time = following
        return None

    def to_dict(self):
        return self.trigger.to_dict()

    def __getattr__(self, name):
        return getattr(self.trigger, name)

    def __str__(self):
        return "%s except %d dates" % (self.trigger, len(self.dates))

    def __repr__(self):
        return "<ExcludingTrigger %r except %d dates>" % (self.trigger, len(self.dates))
