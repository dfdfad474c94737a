"""
Combinations of triggers: C{and} (when all of them fire at the same
instant) and C{or} (whenever any of them fires).
"""

import datetime as _dt

from zope.interface import implementer

from twistedsched.errors import TriggerError
from twistedsched.interfaces import ITrigger
from twistedsched.timeutil import to_utc
from twistedsched.triggers.base import BaseTrigger, check_jitter
from twistedsched.triggers.budget import check_tree, metered, spend

_TICK = _dt.timedelta(microseconds=1)


def first_at_or_after(trigger, moment):
    """The first fire time of C{trigger} at or after C{moment} (UTC), or None."""
    spend()
    fire = trigger.next_fire_time(None, moment)
    while fire is not None and fire < moment:
        # A date trigger answers its (past) run date: look past it.
        spend()
        fire = trigger.next_fire_time(fire, moment)
    return to_utc(fire)


def _bound(previous, now):
    return to_utc(previous) + _TICK if previous is not None else to_utc(now)


class _CombiningTrigger(BaseTrigger):
    """Shared by L{AndTrigger} and L{OrTrigger}: a list of triggers and a jitter."""

    def __init__(self, triggers, jitter=None, *, default_timezone=None):
        from twistedsched.triggers import trigger_from_dict
        if isinstance(triggers, (str, bytes, dict)) or not hasattr(triggers, "__iter__"):
            raise TriggerError("triggers: expected a list of triggers, not %r" % (triggers,))
        self.triggers = []
        for trigger in triggers:
            if isinstance(trigger, dict):
                trigger = trigger_from_dict(trigger)
            if not ITrigger.providedBy(trigger):
                raise TriggerError("triggers: %r is not a trigger" % (trigger,))
            self.triggers.append(trigger)
        if not self.triggers:
            raise TriggerError("triggers: an %s trigger needs at least one trigger" % (
                self.type_name,))
        self.tree_depth, self.tree_size = check_tree(self.triggers)
        self.timezone = self.triggers[0].timezone
        self.jitter = check_jitter(jitter)

    def bound_to(self, seed):
        """This combination with its parts' C{H} fields hashed from C{seed}."""
        from twistedsched.triggers import bind_trigger
        parts = [bind_trigger(t, seed) for t in self.triggers]
        if all(new is old for new, old in zip(parts, self.triggers)):
            return self
        return type(self)(parts, jitter=self.jitter)

    def to_dict(self):
        return {"type": self.type_name, "triggers": [t.to_dict() for t in self.triggers],
                "jitter": self.jitter}

    @classmethod
    def from_dict(cls, data):
        return cls(data["triggers"], jitter=data.get("jitter"))

    def __str__(self):
        return "%s[%s]" % (self.type_name, ", ".join(str(t) for t in self.triggers))


@implementer(ITrigger)
class AndTrigger(_CombiningTrigger):
    """
    Fires when every one of C{triggers} fires at the same instant.  The
    triggers' own jitter is ignored; this one's applies.  The search for
    an instant they agree on is bounded by the work budget
    (L{twistedsched.triggers.budget}): past it, C{next_fire_time} fails
    with L{TriggerWorkError <twistedsched.triggers.budget.TriggerWorkError>}.
    """

    type_name = "and"

    @metered
    def next_fire_time(self, previous, now):
        moment = _bound(previous, now)
        while True:
            fires = [first_at_or_after(t, moment) for t in self.triggers]
            if None in fires:
                return None
            latest = max(fires)
            if min(fires) == latest:
                return latest
            moment = latest


@implementer(ITrigger)
class OrTrigger(_CombiningTrigger):
    """
    Fires whenever any of C{triggers} fires (once for an instant at which
    several fire).  The triggers' own jitter is ignored; this one's applies.
    """

    type_name = "or"

    @metered
    def next_fire_time(self, previous, now):
        if previous is None:
            # Like its triggers, an "or" answers a past date on its first call.
            spend(len(self.triggers))
            fires = [t.next_fire_time(None, now) for t in self.triggers]
        else:
            moment = _bound(previous, now)
            fires = [first_at_or_after(t, moment) for t in self.triggers]
        fires = [to_utc(f) for f in fires if f is not None]
        return min(fires) if fires else None
