"""
Tests for the date and interval triggers and the trigger registry.
"""

import datetime as _dt
import json

from hypothesis import given, settings, strategies as st
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from twistedsched.errors import TriggerError
from twistedsched.interfaces import ITrigger
from twistedsched.triggers import (
    DateTrigger, IntervalTrigger, build_trigger, trigger_from_dict)

from tests.helpers import START, after

UTC = _dt.timezone.utc


class DateTriggerTests(unittest.TestCase):

    def test_fires_once(self):
        trigger = DateTrigger(after(10))
        verifyObject(ITrigger, trigger)
        self.assertEqual(trigger.next_fire_time(None, START), after(10))
        self.assertIsNone(trigger.next_fire_time(after(10), after(10)))

    def test_past_date_still_reported(self):
        """The scheduler, not the trigger, decides a past run is missed."""
        self.assertEqual(DateTrigger(after(-10)).next_fire_time(None, START), after(-10))

    def test_str(self):
        trigger = DateTrigger("2026-12-01T04:00", timezone="Europe/London")
        self.assertEqual(str(trigger), "date[2026-12-01 04:00:00+00:00]")

    def test_needs_run_date(self):
        self.assertRaises(TriggerError, DateTrigger)
        self.assertEqual(DateTrigger(now=START).run_date, START)

    def test_bad_values(self):
        for bad in ("yesterday", 12345, ["2026"]):
            e = self.assertRaises(TriggerError, DateTrigger, bad)
            self.assertIn("run_date", str(e))
        self.assertRaises(TriggerError, DateTrigger, after(1), timezone="No/Where")
        self.assertRaises(TriggerError, DateTrigger, after(1), jitter=-1)


class IntervalTriggerTests(unittest.TestCase):

    def test_first_run_one_interval_after_now(self):
        trigger = build_trigger("interval", START, UTC, minutes=5)
        self.assertEqual(trigger.next_fire_time(None, START), after(300))

    def test_grid_from_start_date(self):
        trigger = IntervalTrigger(seconds=10, start_date=START)
        self.assertEqual(trigger.next_fire_time(None, after(-100)), START)
        self.assertEqual(trigger.next_fire_time(None, after(25)), after(30))
        self.assertEqual(trigger.next_fire_time(None, after(30)), after(30))
        self.assertEqual(trigger.next_fire_time(after(30), after(1000)), after(40))

    def test_end_date(self):
        trigger = IntervalTrigger(seconds=10, start_date=START, end_date=after(20))
        self.assertEqual(trigger.next_fire_time(after(10), after(10)), after(20))
        self.assertIsNone(trigger.next_fire_time(after(20), after(20)))
        self.assertIsNone(trigger.next_fire_time(None, after(21)))

    def test_units_add_up(self):
        trigger = IntervalTrigger(weeks=1, days=1, hours=1, minutes=1, seconds=1,
                                  start_date=START)
        self.assertEqual(trigger.interval, _dt.timedelta(days=8, seconds=3661))
        self.assertEqual(str(trigger), "interval[8 days, 1:01:01]")

    def test_bad_arguments(self):
        for kwargs in (dict(seconds=0), dict(minutes=-1), dict(hours="2"),
                       dict(seconds=float("nan")), dict(weeks=10 ** 12)):
            self.assertRaises(TriggerError, IntervalTrigger, start_date=START, **kwargs)
        e = self.assertRaises(TriggerError, IntervalTrigger, seconds=5, start_date=after(10),
                              end_date=START)
        self.assertIn("end_date", str(e))

    def test_elapsed_time_across_fall_back(self):
        """Hourly runs over a fall-back night stay one real hour apart."""
        tz = "America/New_York"
        start = _dt.datetime(2026, 11, 1, 0, 0)
        trigger = IntervalTrigger(hours=1, start_date=start, timezone=tz)
        fire = trigger.next_fire_time(None, START)
        times = [fire]
        for _ in range(4):
            times.append(trigger.next_fire_time(times[-1], START))
        gaps = {b - a for a, b in zip(times, times[1:])}
        self.assertEqual(gaps, {_dt.timedelta(hours=1)})

    @settings(max_examples=200, deadline=None)
    @given(seconds=st.integers(1, 10 ** 6), offset=st.integers(-10 ** 7, 10 ** 7))
    def test_next_is_first_grid_point_at_or_after_now(self, seconds, offset):
        trigger = IntervalTrigger(seconds=seconds, start_date=START)
        now = after(offset)
        fire = trigger.next_fire_time(None, now)
        self.assertGreaterEqual(fire, max(now, START))
        self.assertEqual((fire - START).total_seconds() % seconds, 0)
        self.assertLess(fire - _dt.timedelta(seconds=seconds), max(now, START))


class RegistryTests(unittest.TestCase):

    def test_round_trip_through_json(self):
        triggers = [
            DateTrigger("2026-12-01T04:00", timezone="Europe/London", jitter=5),
            IntervalTrigger(minutes=90, start_date=START, end_date=after(86400),
                            timezone="Asia/Kathmandu"),
            IntervalTrigger(seconds=0.5, start_date=START),
        ]
        for trigger in triggers:
            data = json.loads(json.dumps(trigger.to_dict()))
            again = trigger_from_dict(data)
            self.assertEqual(again, trigger)
            self.assertEqual(again.next_fire_time(None, START),
                             trigger.next_fire_time(None, START))

    def test_unknown_type_and_bad_dicts(self):
        self.assertRaises(TriggerError, build_trigger, "fortnightly", START, UTC)
        self.assertRaises(TriggerError, trigger_from_dict, {"type": "nope"})
        self.assertRaises(TriggerError, trigger_from_dict, {"type": "interval"})
        self.assertRaises(TriggerError, trigger_from_dict, "interval")
        self.assertRaises(TriggerError, trigger_from_dict,
                          {"type": "date", "run_date": "garbage"})

    def test_unknown_argument(self):
        e = self.assertRaises(TriggerError, build_trigger, "interval", START, UTC, secs=4)
        self.assertIn("secs", str(e))
