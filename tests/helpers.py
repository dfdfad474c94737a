"""
Shared test helpers: a scheduler on a Clock, and event recording.
"""

import datetime as _dt

from twisted.internet.task import Clock

from twistedsched import Scheduler

#: 2026-01-05 12:00:00 UTC, a Monday: where test clocks start.
START = _dt.datetime(2026, 1, 5, 12, 0, tzinfo=_dt.timezone.utc)


def make_clock(start=START):
    clock = Clock()
    clock.advance(start.timestamp())
    return clock


def make_scheduler(testcase, start=True, **kwargs):
    """A Scheduler on a fresh Clock, stopped when the test ends."""
    clock = kwargs.pop("reactor", None) or make_clock()
    sched = Scheduler(reactor=clock, **kwargs)
    if start:
        sched.startService()
        testcase.addCleanup(lambda: sched.shutdown(wait=False))
    return sched, clock


class EventRecorder:
    """Collects events; C{codes()} lists their codes in order."""

    def __init__(self, sched, mask=None):
        self.events = []
        if mask is None:
            sched.add_listener(self.events.append)
        else:
            sched.add_listener(self.events.append, mask)

    def codes(self):
        return [event.code for event in self.events]

    def of(self, code):
        return [event for event in self.events if event.code == code]


def after(seconds):
    """START plus some seconds."""
    return START + _dt.timedelta(seconds=seconds)


def utc(*args):
    """A UTC datetime from its fields."""
    return _dt.datetime(*args, tzinfo=_dt.timezone.utc)


def fire_times(trigger, now, count):
    """A trigger's first C{count} fire times as the scheduler would see them from C{now}."""
    result, previous = [], None
    for _ in range(count):
        previous = trigger.next_fire_time(previous, now)
        if previous is None:
            break
        result.append(previous)
    return result
