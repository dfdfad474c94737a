"""
What every trigger shares: time zone, start/end dates, jitter, and the JSON
conversion helpers.
"""

from twistedsched.errors import BadArgumentError, TriggerError
from twistedsched.timeutil import UTC, as_timezone, from_iso, iso, timezone_name, to_datetime


def trigger_timezone(timezone, default=None):
    """The tzinfo a trigger reads wall times in: its own, else C{default}, else UTC."""
    if timezone is None and (default is None or default is UTC):
        return UTC          # (the usual case, at once)
    try:
        return as_timezone(timezone if timezone is not None else default)
    except BadArgumentError as e:
        raise TriggerError(str(e)) from None


def trigger_datetime(value, tz, argname):
    """An aware datetime from a trigger argument, or a L{TriggerError}."""
    try:
        return to_datetime(value, tz, argname)
    except BadArgumentError as e:
        raise TriggerError(str(e)) from None


def check_jitter(jitter):
    if jitter is None:
        return None
    if isinstance(jitter, bool) or not isinstance(jitter, (int, float)) \
            or not 0 <= jitter < 1e9:
        raise TriggerError("jitter: expected a number of seconds >= 0 (below 1e9), not %r"
                           % (jitter,))
    return jitter


class BaseTrigger:
    """
    Common attributes: C{timezone}, C{start_date}, C{end_date}, C{jitter}.
    Subclasses set C{type_name} and implement C{next_fire_time},
    C{_fields_dict} and C{_from_fields}.
    """

    __slots__ = ()      # so that a subclass may have slots only (see DateTrigger)
    type_name = None
    timezone = None
    start_date = None
    end_date = None
    jitter = None

    def _set_common(self, timezone, start_date, end_date, jitter, default_timezone=None):
        self.timezone = trigger_timezone(timezone, default_timezone)
        self.start_date = trigger_datetime(start_date, self.timezone, "start_date")
        self.end_date = trigger_datetime(end_date, self.timezone, "end_date")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise TriggerError("end_date %s is before start_date %s" % (
                self.end_date, self.start_date))
        self.jitter = check_jitter(jitter)

    def _common_dict(self):
        return {
            "timezone": timezone_name(self.timezone),
            "start_date": iso(self.start_date),
            "end_date": iso(self.end_date),
            "jitter": self.jitter,
        }

    @staticmethod
    def _common_kwargs(data):
        return {
            "timezone": data.get("timezone"),
            "start_date": from_iso(data.get("start_date")),
            "end_date": from_iso(data.get("end_date")),
            "jitter": data.get("jitter"),
        }

    def __eq__(self, other):
        if type(self) is not type(other):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self):
        return hash(repr(sorted(self.to_dict().items())))

    def __repr__(self):
        return "<%s %s>" % (type(self).__name__, self)
