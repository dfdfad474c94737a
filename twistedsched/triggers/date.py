"""
The date trigger: run once, at a given time.
"""

from zope.interface import implementer

from twistedsched.errors import TriggerError
from twistedsched.interfaces import ITrigger
from twistedsched.timeutil import from_iso, iso, timezone_name, to_utc
from twistedsched.triggers.base import BaseTrigger, check_jitter, trigger_datetime, trigger_timezone


@implementer(ITrigger)
class DateTrigger(BaseTrigger):
    """
    Fires once at C{run_date} (an aware or naive datetime, or ISO text; naive
    times are read in C{timezone}).  Without a run date, fires at C{now}.
    """

    __slots__ = ("timezone", "run_date", "jitter")    # small: one per one-shot job
    type_name = "date"

    def __init__(self, run_date=None, timezone=None, jitter=None, *, now=None,
                 default_timezone=None):
        self.timezone = trigger_timezone(timezone, default_timezone)
        if run_date is None:
            if now is None:
                raise TriggerError("run_date: a date trigger needs a run date")
            run_date = now
        self.run_date = trigger_datetime(run_date, self.timezone, "run_date")
        self.jitter = check_jitter(jitter)

    def next_fire_time(self, previous, now):
        return None if previous is not None else to_utc(self.run_date)

    def to_dict(self):
        return {"type": "date", "run_date": iso(self.run_date),
                "timezone": timezone_name(self.timezone), "jitter": self.jitter}

    @classmethod
    def from_dict(cls, data):
        return cls(run_date=from_iso(data["run_date"]), timezone=data.get("timezone"),
                   jitter=data.get("jitter"))

    def __str__(self):
        return "date[%s]" % (self.run_date.astimezone(self.timezone).isoformat(sep=" "),)
