"""
Time zones and datetimes.

Inside twistedsched every datetime is time-zone aware.  Run times are compared
and stored in UTC: Python compares two datetimes that share a ``tzinfo`` by
their wall time, which is wrong around a DST fall-back, so never compare local
times directly.
"""

import datetime as _dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from twistedsched.errors import BadArgumentError

UTC = _dt.timezone.utc
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)


def as_timezone(value):
    """
    Return a tzinfo for C{value}: an IANA name such as C{"Europe/London"}, a
    tzinfo (returned as is) or C{None} (UTC).
    """
    if value is None:
        return UTC
    if isinstance(value, _dt.tzinfo):
        return value
    if isinstance(value, str):
        if value.upper() in ("UTC", "Z"):
            return UTC
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise BadArgumentError("unknown time zone %r" % (value,)) from None
    raise BadArgumentError("a time zone must be a name or a tzinfo, not %r" % (value,))


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
    if value.tzinfo is None or value.utcoffset() is None:
        return localize(value, as_timezone(tz))
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
