"""
Time zones and datetimes.

Inside twistedsched every datetime is time-zone aware.  Run times are compared
and stored in UTC: Python compares two datetimes that share a ``tzinfo`` by
their wall time, which is wrong around a DST fall-back, so never compare local
times directly.
"""

import datetime as _dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from twistedsched.errors import BadArgumentError

UTC = _dt.timezone.utc
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)


#: IANA names are short (the longest is 32 characters); a longer one is refused
#: before it reaches the file system.
MAX_ZONE_NAME = 64


def as_timezone(value):
    """
    Return a tzinfo for C{value}: an IANA name such as C{"Europe/London"}, a
    tzinfo or C{None} (UTC).  A pytz zone becomes the C{ZoneInfo} of the same
    name (pytz zones give wrong times when used as plain tzinfos); other
    tzinfos are returned as they are.
    """
    if value is None:
        return UTC
    if isinstance(value, _dt.tzinfo):
        return _from_pytz(value)
    if isinstance(value, str):
        if value.upper() in ("UTC", "Z"):
            return UTC
        fixed = _FIXED_OFFSET.fullmatch(value)
        if fixed:
            return _fixed_offset(value, *fixed.groups())
        if len(value) > MAX_ZONE_NAME:
            raise BadArgumentError("unknown time zone %r... (a name of %d characters)" % (
                value[:20], len(value)))
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise BadArgumentError("unknown time zone %r" % (value,)) from None
    raise BadArgumentError("a time zone must be a name or a tzinfo, not %r" % (_short(value),))


#: What C{str()} of a fixed-offset C{datetime.timezone} gives: C{UTC+01:30}.
_FIXED_OFFSET = re.compile(r"UTC([+-])([0-9]{2}):([0-9]{2})", re.ASCII)


def _fixed_offset(text, sign, hours, minutes):
    offset = _dt.timedelta(hours=int(hours), minutes=int(minutes))
    if offset >= _dt.timedelta(hours=24):
        raise BadArgumentError("unknown time zone %r" % (text,))
    return _dt.timezone(-offset if sign == "-" else offset)


def _from_pytz(tz):
    """The zoneinfo equivalent of a pytz zone; any other tzinfo as it is."""
    if not type(tz).__module__.startswith("pytz"):
        return tz
    name = getattr(tz, "zone", None)
    if name in ("UTC", "Etc/UTC"):
        return UTC
    if name:
        return as_timezone(name)
    return _dt.timezone(tz.utcoffset(None))  # pytz.FixedOffset


def _without_pytz(aware):
    """
    C{aware} with a pytz zone replaced by its zoneinfo.  A pytz zone attached
    with C{replace(tzinfo=)} or C{datetime(..., tzinfo=)} (not C{localize})
    carries its local mean time offset: the wall time is taken as meant.
    """
    tz = aware.tzinfo
    zone = _from_pytz(tz)
    if zone is tz:
        return aware
    import pytz
    if tz.zone and tz is pytz.timezone(tz.zone):
        return localize(aware.replace(tzinfo=None), zone)
    return aware.astimezone(zone)


def _short(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + "..."


def timezone_name(tz):
    """Return a name for C{tz} that L{as_timezone} reads back."""
    if tz is UTC:
        return "UTC"
    key = getattr(tz, "key", None)
    if key:
        return key
    name = getattr(tz, "zone", None)
    if name:
        return name
    return str(tz)


def localize(naive, tz):
    """
    Attach C{tz} to a naive wall time.  A wall time that occurs twice (DST
    fall-back) is read as its first occurrence; one that does not exist
    (spring-forward) is shifted forward by the gap, as a wall clock would.
    """
    aware = naive.replace(tzinfo=tz, fold=0)
    if not wall_time_exists(aware):
        # The UTC offset before the gap, applied to the wall time, lands after it.
        return aware.astimezone(UTC).astimezone(tz)
    return aware


def wall_time_exists(aware):
    """True if C{aware}'s wall time occurs in its zone (not inside a DST gap)."""
    round_trip = aware.astimezone(UTC).astimezone(aware.tzinfo)
    return round_trip.replace(tzinfo=None) == aware.replace(tzinfo=None)


def to_datetime(value, tz, argname="datetime"):
    """
    Convert C{value} to an aware datetime.  Accepts an aware or naive
    datetime, a date, or an ISO 8601 string; naive values are read in C{tz}.
    C{None} stays C{None}.
    """
    if value.__class__ is _dt.datetime and value.tzinfo is UTC and 1 < value.year < 9999:
        return value    # aware, and a day from the ends of the range: in range in any zone
    value = _as_datetime(value, argname)
    if value is None:
        return None
    try:
        if value.tzinfo is None or value.utcoffset() is None:
            value = localize(value, as_timezone(tz))
        else:
            value = _without_pytz(value)
        value.astimezone(UTC)
        value.astimezone(as_timezone(tz))
    except OverflowError:
        raise BadArgumentError(
            "%s: %s is out of range: it must lie between the years 1 and 9999 in UTC "
            "and in the time zone %s" % (argname, value.isoformat(),
                                         timezone_name(as_timezone(tz)))) from None
    return value


def to_wall_time(value, tz, argname="datetime"):
    """
    The naive wall time in C{tz} that C{value} (as for L{to_datetime})
    names: a naive value as it is, even inside a DST gap; an aware one
    converted to C{tz}.
    """
    parsed = _as_datetime(value, argname)
    if parsed is not None and (parsed.tzinfo is None or parsed.utcoffset() is None):
        return parsed.replace(tzinfo=None)
    aware = to_datetime(value, tz, argname)
    return None if aware is None else aware.astimezone(as_timezone(tz)).replace(tzinfo=None)


def _as_datetime(value, argname):
    """A datetime (naive or aware) from a datetime, a date or ISO 8601 text."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            value = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise BadArgumentError(
                "%s: %r is not an ISO 8601 date or time" % (argname, value)) from None
    elif isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        value = _dt.datetime(value.year, value.month, value.day)
    if not isinstance(value, _dt.datetime):
        raise BadArgumentError(
            "%s: expected a datetime or ISO 8601 text, not %r" % (argname, value))
    return value


def to_utc(value):
    """An aware datetime, in UTC (C{None} stays C{None})."""
    if value is None:
        return None
    return value.astimezone(UTC)


def from_timestamp(seconds):
    """The aware UTC datetime of a POSIX timestamp."""
    return EPOCH + _dt.timedelta(seconds=seconds)


def to_timestamp(value):
    """The POSIX timestamp (float seconds) of an aware datetime."""
    return (value - EPOCH).total_seconds()


def iso(value):
    """ISO 8601 text of an aware datetime, or C{None}."""
    return None if value is None else value.isoformat()


def from_iso(text):
    """Read back what L{iso} wrote."""
    return None if text is None else _dt.datetime.fromisoformat(text)


def as_timedelta(value, argname="duration"):
    """A timedelta from a timedelta or a number of seconds."""
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _dt.timedelta(seconds=value)
    raise BadArgumentError("%s: expected seconds or a timedelta, not %r" % (argname, value))
