"""
JSON round trip: for every trigger kind, C{trigger_from_dict(json(to_dict()))}
is an equal trigger that fires at the same times.
"""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from tests.helpers import fire_times, utc
from twistedsched.triggers import (
    TRIGGER_TYPES, AndTrigger, CalendarIntervalTrigger, CronTrigger, DateTrigger,
    IntervalTrigger, OrTrigger, trigger_from_dict)


def examples():
    """One or more triggers of every registered kind."""
    cron = CronTrigger(day="last fri", hour="9-17/2", minute=30, timezone="America/New_York",
                       start_date="2024-01-01", end_date=utc(2030, 1, 1), jitter=2.5)
    return [
        DateTrigger(utc(2024, 5, 1, 12, 0, 0, 250)),
        DateTrigger("2024-03-10 02:30", timezone="America/New_York", jitter=3),
        IntervalTrigger(minutes=5, start_date=utc(2024, 1, 1), timezone="Europe/London"),
        IntervalTrigger(seconds=0.5, start_date=utc(2024, 1, 1), end_date=utc(2024, 1, 2)),
        CronTrigger(hour=4, minute=0),
        cron,
        CronTrigger.from_crontab("*/5 9-17 13 * mon-fri", timezone="Australia/Lord_Howe"),
        CronTrigger.from_crontab("@weekly", timezone="Asia/Kathmandu", jitter=60),
        AndTrigger([CronTrigger(day=13), CronTrigger(day_of_week="fri")], jitter=1),
        OrTrigger([cron, IntervalTrigger(hours=7, start_date=utc(2024, 1, 1)),
                   AndTrigger([CronTrigger(minute="*/10"), CronTrigger(minute="*/15")])]),
        CalendarIntervalTrigger(months=2, start_date="2024-01-31 09:30",
                                timezone="Europe/London"),
        CalendarIntervalTrigger(years=1, weeks=1, days=2, start_date=utc(2024, 2, 29),
                                end_date=utc(2040, 1, 1), jitter=10),
    ]


def round_trip(trigger):
    return trigger_from_dict(json.loads(json.dumps(trigger.to_dict())))


class RoundTripTests(unittest.TestCase):

    def test_every_kind_is_covered(self):
        self.assertEqual({t.to_dict()["type"] for t in examples()}, set(TRIGGER_TYPES))

    def test_identity(self):
        for trigger in examples():
            back = round_trip(trigger)
            self.assertIs(type(back), type(trigger))
            self.assertEqual(back, trigger)
            self.assertEqual(back.to_dict(), trigger.to_dict())
            self.assertEqual(str(back), str(trigger))
            self.assertEqual(back.jitter, trigger.jitter)
            self.assertEqual(round_trip(back).to_dict(), trigger.to_dict())

    def test_same_fire_times(self):
        for trigger in examples():
            back = round_trip(trigger)
            for now in (utc(2024, 1, 1), utc(2024, 3, 10, 6, 59, 30), utc(2024, 11, 3, 5, 50)):
                self.assertEqual(fire_times(back, now, 4), fire_times(trigger, now, 4), str(trigger))

    def test_equal_triggers_hash_alike(self):
        for trigger in examples():
            self.assertEqual(hash(round_trip(trigger)), hash(trigger))


_ZONES = st.sampled_from(["UTC", "America/New_York", "Europe/London", "Asia/Kathmandu"])
_FIELD = st.sampled_from(["*", "*/7", "1-5", "2,4,6", "3-11/4", "5"])


class CronRoundTripProperties(unittest.TestCase):

    @settings(max_examples=60, deadline=None)
    @given(st.dictionaries(st.sampled_from(["month", "day", "hour", "minute", "second"]),
                           _FIELD), _ZONES, st.one_of(st.none(), st.integers(0, 60)))
    def test_keyword_cron(self, fields, zone, jitter):
        trigger = CronTrigger(timezone=zone, jitter=jitter, **fields)
        back = round_trip(trigger)
        self.assertEqual(back, trigger)
        now = utc(2024, 6, 1)
        self.assertEqual(fire_times(back, now, 2), fire_times(trigger, now, 2))
