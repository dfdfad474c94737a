"""
Parsing of cron field expressions.

A field expression is a comma-separated list of terms: C{*}, C{*/n}, C{a},
C{a-b}, C{a-b/n}, C{a/n} (C{a} to the field's maximum), names (C{jan},
C{mon}), and for days C{last}/C{L}, C{L-n} (n days before the last),
C{a-L}, C{15W} (the weekday nearest the 15th), C{LW} (the last weekday),
C{last fri}/C{5L}/C{friL} and C{2nd mon}/C{mon#2}.  A range whose end is
below its start wraps around (C{fri-mon}, C{nov-feb}, C{22-2}).  C{H},
C{H/n}, C{H(a-b)} and C{H(a-b)/n} pick values from a hash of the job id
(L{HashedTerm}).  Only ASCII text is read.  L{parse_field} turns one into a
L{Field}; every error is a L{TriggerError} naming the field and the bad
value.
"""

import binascii
import calendar
import re
from array import array

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

_RANGE = re.compile(r"^(\*|\?|[a-z0-9]+)(?:-([a-z0-9]+))?(?:/([0-9]+))?$", re.ASCII)
_NTH_WORDS = re.compile(r"^(1st|2nd|3rd|4th|5th|last) ([a-z0-9]+)$", re.ASCII)
_HASH = re.compile(r"^([a-z0-9]+)#([1-5])$", re.ASCII)
_LAST_SUFFIX = re.compile(r"^([a-z0-9]+)l$", re.ASCII)
_NEAREST_WEEKDAY = re.compile(r"^([0-9]+|l)w$", re.ASCII)
_LAST_MINUS = re.compile(r"^l-([0-9]+)$", re.ASCII)
_HASHED = re.compile(r"^h(?:\(([0-9]+)-([0-9]+)\))?(?:/([0-9]+))?$", re.ASCII)
#: The index croniter gives each field when it hashes (the hash is shifted
#: right by it), so that C{H} picks the same values as croniter's.
_HASH_INDEX = {"minute": 0, "hour": 1, "day": 2, "month": 3, "day_of_week": 4,
               "second": 5, "week": 7}


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
    """The last day of a month, or the day C{before} days before it."""

    def __init__(self, before=0):
        self.before = before

    def day_in(self, year, month):
        day = calendar.monthrange(year, month)[1] - self.before
        return day if day >= 1 else None


class NearestWeekday:
    """
    The weekday (monday to friday) nearest to C{day} in the same month, as
    in Quartz and croniter; C{day} past the month's end means its last day
    (so the last day gives C{LW}, the last weekday).
    """

    def __init__(self, day):
        self.day = day

    def day_in(self, year, month):
        first_weekday, length = calendar.monthrange(year, month)
        day = min(self.day, length)
        weekday = (first_weekday + day - 1) % 7
        if weekday == 5:  # saturday: the friday before, or monday if that is in the last month
            return day - 1 if day > 1 else day + 2
        if weekday == 6:  # sunday: the monday after, or friday if that is in the next month
            return day + 1 if day < length else day - 2
        return day


class HashedTerm:
    """
    C{H} terms: values picked from a hash of a seed (the job id) so that
    jobs written alike spread out.  C{H} is one value in C{lo}-C{hi};
    C{H/n} starts at a hashed value below C{lo + n} and steps by C{n}.  The
    hash is croniter's: the CRC-32 of the seed's UTF-8, shifted right by the
    field's index, modulo the width.
    """

    def __init__(self, name, lo, hi, step):
        self.name, self.lo, self.hi, self.step = name, lo, hi, step

    def values(self, seed):
        crc = binascii.crc32(seed.encode("utf-8", "surrogatepass")) & 0xFFFFFFFF
        crc >>= _HASH_INDEX[self.name]
        if self.step is None:
            return {self.lo + crc % (self.hi - self.lo + 1)}
        top = min(self.lo + self.step - 1, self.hi)
        return set(range(self.lo + crc % (top - self.lo + 1), self.hi + 1, self.step))


class Field:
    """
    A parsed field: C{values} (a sorted list of plain values), C{dynamic}
    (day terms that depend on the month: L{LastDay}, L{NthWeekday},
    L{NearestWeekday}), C{hashed} (L{HashedTerm}s, whose values
    L{with_seed} adds), C{star} (the text starts with C{*} or C{?}) and
    C{full} (every value matches).
    """

    def __init__(self, name, values, dynamic, star, hashed=(), crontab=False):
        lo, hi = _BOUNDS[name]
        self.name = name
        self.values = compact_values(values)
        self.value_set = (frozenset(self.values) if isinstance(self.values, list)
                          else self.values)
        self.dynamic = tuple(dynamic)
        self.hashed = tuple(hashed)
        self.star = star
        self.crontab = crontab
        self.full = not dynamic and len(self.value_set) == hi - lo + 1

    def with_seed(self, seed):
        """This field with its C{H} terms' values picked for C{seed}."""
        if not self.hashed:
            return self
        values = set(self.value_set)
        for term in self.hashed:
            picked = term.values(seed)
            if self.name == "day_of_week" and self.crontab:
                picked = {(v - 1) % 7 for v in picked}
            values |= picked
        return Field(self.name, values, self.dynamic, self.star, crontab=self.crontab)


#: Fields with at most this many values keep them in a plain list.
SMALL_FIELD = 64


def compact_values(values):
    """
    C{values} (small non-negative ints) sorted: a list when there are a few
    (the fastest to search), else in little memory: a C{range} when they are
    evenly spaced (C{*}, C{a-b}, C{*/n}: the year field's 8,030 values in 48
    bytes), or an C{array} of unsigned shorts.  All are sequences that
    C{bisect} searches.
    """
    ordered = sorted(values)
    if len(ordered) <= SMALL_FIELD:
        return ordered
    step = ordered[1] - ordered[0] if len(ordered) > 1 else 1
    if all(b - a == step for a, b in zip(ordered, ordered[1:])):
        return range(ordered[0], ordered[-1] + 1, step)
    return array("H", ordered)


def _error(field, text, why):
    return TriggerError("%s: %s in %r" % (field, why, text))


def _number(field, text, token, names, crontab):
    """The value of one token: a number or a name."""
    if token.isascii() and token.isdigit():
        value = _small_int(field, text, token)
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


def _small_int(field, text, digits):
    """The int of ASCII C{digits}; more than 9 of them are out of any range."""
    if len(digits) > 9:
        raise _error(field, text, "value %s... is too large" % (digits[:9],))
    return int(digits)


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


def _month_day_term(text, term):
    """A L{LastDay} (C{L}, C{L-3}) or L{NearestWeekday} (C{15W}, C{LW}) term, or None."""
    if term in ("last", "l"):
        return LastDay()
    match = _LAST_MINUS.match(term)
    if match:
        before = _small_int("day", text, match.group(1))
        if before > 30:
            raise _error("day", text, "L-%d: at most 30 days before the last" % (before,))
        return LastDay(before)
    match = _NEAREST_WEEKDAY.match(term)
    if match:
        token = match.group(1)
        return NearestWeekday(31 if token == "l" else _number("day", text, token, None, False))
    return None


def _dynamic_term(field, text, term, crontab):
    """A term whose day depends on the month (L{LastDay}, L{NearestWeekday},
    L{NthWeekday}), or None if C{term} is not one."""
    if field not in ("day", "day_of_week"):
        return None
    if field == "day":
        special = _month_day_term(text, term)
        if special is not None:
            return special
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
    cyclic_dow = field == "day_of_week" and crontab
    if first in ("*", "?"):
        if last is not None or (first == "?" and step is not None):
            raise _error(field, text, "cannot parse %r" % (term,))
        start, stop = (0, 6) if cyclic_dow else (lo, hi)
    else:
        start = _number(field, text, first, names, crontab)
        if last is not None:
            stop = _range_end(field, text, last, names, crontab)
        elif step is not None:
            stop = 7 if cyclic_dow else hi
        else:
            stop = start
    step = 1 if step is None else _small_int(field, text, step)
    if step < 1:
        raise _error(field, text, "step %d must be at least 1" % (step,))
    if cyclic_dow:
        if stop == 0 and last is not None and start > 0:
            stop = 7        # "fri-sun", "5-0": sunday ends a range as 7
        elif start == 7 and last is not None:
            start = 0       # "sun-tue", "7-2": and starts one as 0
    if stop < start:
        if field == "year":
            raise _error(field, text, "range %r goes backwards" % (term,))
        cycle_lo, cycle_hi = (0, 6) if cyclic_dow else (lo, hi)
        values = (list(range(start, cycle_hi + 1)) + list(range(cycle_lo, stop + 1)))[::step]
    else:
        values = range(start, stop + 1, step)
    if cyclic_dow:
        return {(v - 1) % 7 for v in values}
    return set(values)


def _range_end(field, text, token, names, crontab):
    """A range's end: a number, a name, or C{L}/C{last} (the month's last day)."""
    if field == "day" and token in ("l", "last"):
        return 31       # days past a month's end never match
    return _number(field, text, token, names, crontab)


def _hashed_term(field, text, term, crontab):
    """A L{HashedTerm} for C{H}, C{H/n}, C{H(a-b)}, C{H(a-b)/n}, or None."""
    match = _HASHED.match(term)
    if not match:
        return None
    if field == "year":
        raise _error(field, text, "H is not allowed in the year field")
    first, last, step = match.groups()
    if first is None:
        lo, hi = (1, 28) if field == "day" else _BOUNDS[field]
        if field == "day_of_week" and crontab:
            lo, hi = 0, 6
    else:
        lo = _number(field, text, first, None, crontab)
        hi = _number(field, text, last, None, crontab)
        if hi < lo:
            raise _error(field, text, "range in %r goes backwards" % (term,))
    step = None if step is None else _small_int(field, text, step)
    if step is not None and step < 1:
        raise _error(field, text, "step %s must be at least 1" % (step,))
    return HashedTerm(field, lo, hi, step)


def parse_field(field, value, crontab=False):
    """
    Parse the expression C{value} (text or int) of field C{field}.  With
    C{crontab}, the day of week is numbered as crontab does (0 or 7 =
    sunday); otherwise 0 = monday.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TriggerError("%s: expected an int or text, not %r" % (field, value))
    text = str(value).strip()
    if not text.isascii():
        raise TriggerError("%s: only ASCII letters, digits and signs are allowed, not %r" % (
            field, text))
    text = text.lower()
    if not text:
        raise TriggerError("%s: empty expression" % (field,))
    values, dynamic, hashed = set(), [], []
    for term in text.split(","):
        term = " ".join(term.split())
        if not term:
            raise _error(field, text, "empty list item")
        special = _dynamic_term(field, text, term, crontab)
        if special is not None:
            dynamic.append(special)
            continue
        hashed_term = _hashed_term(field, text, term, crontab)
        if hashed_term is not None:
            hashed.append(hashed_term)
        elif "w" in term and field == "day" and _RANGE.match(term):
            raise _error(field, text, "W goes with one day (15W, LW), not a range: %r" % (
                term,))
        else:
            values |= _range_values(field, text, term, crontab)
    return Field(field, values, dynamic, star=text[0] in "*?", hashed=hashed, crontab=crontab)
