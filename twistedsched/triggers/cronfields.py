"""
Parsing of cron field expressions.

A field expression is a comma-separated list of terms: C{*}, C{*/n}, C{a},
C{a-b}, C{a-b/n}, C{a/n} (C{a} to the field's maximum), names (C{jan},
C{mon}), and for days C{last}/C{L}, C{last fri}/C{5L}/C{friL} and
C{2nd mon}/C{mon#2}.  L{parse_field} turns one into a L{Field}; every error
is a L{TriggerError} naming the field and the bad value.
"""

import calendar
import re

from twistedsched.errors import TriggerError

#: (name, lowest value, highest value) of each field, most significant first.
FIELD_RANGES = (
    ("year", 1970, 9999),
    ("month", 1, 12),
    ("day", 1, 31),
    ("week", 1, 53),
    ("day_of_week", 0, 6),
    ("hour", 0, 23),
    ("minute", 0, 59),
    ("second", 0, 59),
)
FIELD_NAMES = tuple(name for name, _, _ in FIELD_RANGES)
_BOUNDS = {name: (lo, hi) for name, lo, hi in FIELD_RANGES}

MONTHS = {name: i for i, name in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)}
#: Keyword numbering (Python's): monday is 0, sunday 6.
WEEKDAYS = {name: i for i, name in enumerate("mon tue wed thu fri sat sun".split())}
#: Crontab numbering: sunday is 0 (and 7), saturday 6.
CRONTAB_WEEKDAYS = {name: (i + 1) % 7 for name, i in WEEKDAYS.items()}
_NTH = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "last": -1}

_RANGE = re.compile(r"^(\*|\?|[a-z0-9]+)(?:-([a-z0-9]+))?(?:/(\d+))?$")
_NTH_WORDS = re.compile(r"^(1st|2nd|3rd|4th|5th|last)\s+([a-z0-9]+)$")
_HASH = re.compile(r"^([a-z0-9]+)#([1-5])$")
_LAST_SUFFIX = re.compile(r"^([a-z0-9]+)l$")


class NthWeekday:
    """The C{nth} (1-5, or -1 for the last) C{weekday} (0 = monday) of a month."""

    def __init__(self, nth, weekday):
        self.nth, self.weekday = nth, weekday

    def day_in(self, year, month):
        """The day of the month it falls on, or None if the month has none."""
        first_weekday, length = calendar.monthrange(year, month)
        first = 1 + (self.weekday - first_weekday) % 7
        if self.nth == -1:
            return first + 7 * ((length - first) // 7)
        day = first + 7 * (self.nth - 1)
        return day if day <= length else None


class LastDay:
    """The last day of a month."""

    def day_in(self, year, month):
        return calendar.monthrange(year, month)[1]


class Field:
    """
    A parsed field: C{values} (a sorted list of plain values), C{dynamic}
    (day terms that depend on the month: L{LastDay}, L{NthWeekday}),
    C{star} (the text starts with C{*} or C{?}) and C{full} (every value
    matches).
    """

    def __init__(self, name, values, dynamic, star):
        lo, hi = _BOUNDS[name]
        self.name = name
        self.values = sorted(values)
        self.value_set = frozenset(values)
        self.dynamic = tuple(dynamic)
        self.star = star
        self.full = not dynamic and len(self.value_set) == hi - lo + 1


def _error(field, text, why):
    return TriggerError("%s: %s in %r" % (field, why, text))


def _number(field, text, token, names, crontab):
    """The value of one token: a number or a name."""
    if token.isdigit():
        value = int(token)
    elif names and token in names:
        value = names[token]
    elif names and token[:3] in names and token == _full_name(token[:3], names):
        value = names[token[:3]]
    else:
        raise _error(field, text, "%r is not a number%s" % (
            token, " or a name" if names else ""))
    lo, hi = _BOUNDS[field]
    if field == "day_of_week" and crontab:
        lo, hi = 0, 7
    if not lo <= value <= hi:
        raise _error(field, text, "value %s is out of range %d-%d" % (token, lo, hi))
    return value


def _full_name(abbrev, names):
    """The full English name of a month or weekday abbreviation."""
    if names is MONTHS:
        return calendar.month_name[names[abbrev]].lower()
    return calendar.day_name[WEEKDAYS[abbrev]].lower()


def _names_for(field, crontab):
    if field == "month":
        return MONTHS
    if field == "day_of_week":
        return CRONTAB_WEEKDAYS if crontab else WEEKDAYS
    return None


def _weekday(text, token, crontab):
    """A weekday token, converted to keyword numbering (0 = monday)."""
    value = _number("day_of_week", text, token, CRONTAB_WEEKDAYS if crontab else WEEKDAYS,
                    crontab)
    return (value - 1) % 7 if crontab else value


def _dynamic_term(field, text, term, crontab):
    """A L{LastDay} or L{NthWeekday} term, or None if C{term} is not one."""
    if field not in ("day", "day_of_week"):
        return None
    if field == "day" and term in ("last", "l"):
        return LastDay()
    match = _NTH_WORDS.match(term)
    if match:
        return NthWeekday(_NTH[match.group(1)], _weekday(text, match.group(2), crontab))
    if field == "day_of_week":
        match = _HASH.match(term)
        if match:
            return NthWeekday(int(match.group(2)), _weekday(text, match.group(1), crontab))
        match = _LAST_SUFFIX.match(term)
        if match:
            return NthWeekday(-1, _weekday(text, match.group(1), crontab))
    return None


def _range_values(field, text, term, crontab):
    """The values of a C{*}, C{a}, C{a-b} term with an optional C{/step}."""
    match = _RANGE.match(term)
    if not match:
        raise _error(field, text, "cannot parse %r" % (term,))
    first, last, step = match.groups()
    names = _names_for(field, crontab)
    lo, hi = _BOUNDS[field]
    if first in ("*", "?"):
        if last is not None or (first == "?" and step is not None):
            raise _error(field, text, "cannot parse %r" % (term,))
        start, stop = lo, hi
        if field == "day_of_week" and crontab:
            start, stop = 0, 6
    else:
        start = _number(field, text, first, names, crontab)
        if last is not None:
            stop = _number(field, text, last, names, crontab)
        elif step is not None:
            stop = 7 if field == "day_of_week" and crontab else hi
        else:
            stop = start
    if stop < start:
        raise _error(field, text, "range %r goes backwards" % (term,))
    step = 1 if step is None else int(step)
    if step < 1:
        raise _error(field, text, "step %d must be at least 1" % (step,))
    values = range(start, stop + 1, step)
    if field == "day_of_week" and crontab:
        return {(v - 1) % 7 for v in values}
    return set(values)


def parse_field(field, value, crontab=False):
    """
    Parse the expression C{value} (text or int) of field C{field}.  With
    C{crontab}, the day of week is numbered as crontab does (0 or 7 =
    sunday); otherwise 0 = monday.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TriggerError("%s: expected an int or text, not %r" % (field, value))
    text = str(value).strip().lower()
    if not text:
        raise TriggerError("%s: empty expression" % (field,))
    values, dynamic = set(), []
    for term in text.split(","):
        term = " ".join(term.split())
        if not term:
            raise _error(field, text, "empty list item")
        special = _dynamic_term(field, text, term, crontab)
        if special is not None:
            dynamic.append(special)
        else:
            values |= _range_values(field, text, term, crontab)
    return Field(field, values, dynamic, star=text[0] in "*?")
