"""
Triggers: when jobs run.

C{build_trigger("interval", minutes=5)} makes a trigger from a name and
keyword arguments; C{trigger_from_dict(d)} reads back C{trigger.to_dict()}.
Trigger kinds register themselves in L{TRIGGER_TYPES}.
"""

from twistedsched.errors import TriggerError
from twistedsched.interfaces import ITrigger
from twistedsched.triggers.budget import check_dict_tree
from twistedsched.triggers.calendarinterval import CalendarIntervalTrigger
from twistedsched.triggers.combining import AndTrigger, OrTrigger
from twistedsched.triggers.cron import CronTrigger
from twistedsched.triggers.date import DateTrigger
from twistedsched.triggers.interval import IntervalTrigger

TRIGGER_TYPES = {
    "date": DateTrigger,
    "interval": IntervalTrigger,
    "cron": CronTrigger,
    "and": AndTrigger,
    "or": OrTrigger,
    "calendarinterval": CalendarIntervalTrigger,
}


def register_trigger_type(name, cls):
    """Make C{cls} known as C{name} to L{build_trigger} and L{trigger_from_dict}."""
    TRIGGER_TYPES[name] = cls


def _trigger_class(name):
    try:
        return TRIGGER_TYPES[name]
    except (KeyError, TypeError):
        raise TriggerError("unknown trigger type %r (known: %s)" % (
            name, ", ".join(sorted(TRIGGER_TYPES)))) from None


def build_trigger(trigger, now, default_timezone, **trigger_args):
    """
    Return an L{ITrigger} from a trigger object, or a type name with its
    keyword arguments.  C{now} and C{default_timezone} fill what the
    arguments leave open (an interval's start, a naive time's zone).
    """
    if trigger is None:
        trigger = "date"
    if not isinstance(trigger, str) and ITrigger.providedBy(trigger):
        if trigger_args:
            raise TriggerError("trigger arguments %s given with a trigger object" % (
                ", ".join(sorted(trigger_args)),))
        return trigger
    cls = _trigger_class(trigger)
    if cls in (DateTrigger, IntervalTrigger):
        trigger_args.setdefault("now", now)
    try:
        return cls(default_timezone=default_timezone, **trigger_args)
    except TypeError as e:
        raise TriggerError("%s trigger: %s" % (trigger, e)) from None


def bind_trigger(trigger, job_id):
    """
    The trigger that the job C{job_id} runs on: C{trigger} with its C{H}
    (hashed) cron fields picked from the job id (C{trigger.bound_to}), or
    C{trigger} itself.
    """
    bind = getattr(trigger, "bound_to", None)
    return bind(job_id) if bind is not None else trigger


def trigger_from_dict(data):
    """Read back what a trigger's C{to_dict()} returned."""
    if not isinstance(data, dict):
        raise TriggerError("a trigger must be a JSON object, not %r" % (data,))
    cls = _trigger_class(data.get("type"))
    check_dict_tree(data)
    try:
        return cls.from_dict(data)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, TriggerError):
            raise
        raise TriggerError("bad %s trigger %r: %s" % (data.get("type"), data, e)) from None


__all__ = ["DateTrigger", "IntervalTrigger", "CronTrigger", "AndTrigger", "OrTrigger",
           "CalendarIntervalTrigger", "build_trigger", "trigger_from_dict",
           "register_trigger_type", "bind_trigger", "TRIGGER_TYPES"]
