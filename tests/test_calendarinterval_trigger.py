"""
Tests for the calendar-interval trigger.
"""

import datetime as _dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from tests.helpers import fire_times, utc
from twistedsched.errors import TriggerError
from twistedsched.timeutil import UTC, wall_time_exists
from twistedsched.triggers import CalendarIntervalTrigger, build_trigger, trigger_from_dict


def walls(trigger, now, count):
    return [t.astimezone(trigger.timezone).strftime("%Y-%m-%d %H:%M%z")
            for t in fire_times(trigger, now, count)]


class CalendarIntervalTests(unittest.TestCase):

    def test_every_two_months_keeps_day_and_wall_time(self):
        t = CalendarIntervalTrigger(months=2, start_date="2024-01-15 09:30",
                                    timezone="Europe/London")
        self.assertEqual(walls(t, utc(2024, 1, 1), 4), [
            "2024-01-15 09:30+0000", "2024-03-15 09:30+0000",
            "2024-05-15 09:30+0100", "2024-07-15 09:30+0100"])

    def test_missing_days_are_skipped(self):
        t = CalendarIntervalTrigger(months=1, start_date="2024-01-31 08:00")
        self.assertEqual(walls(t, utc(2024, 1, 1), 4), [
            "2024-01-31 08:00+0000", "2024-03-31 08:00+0000",
            "2024-05-31 08:00+0000", "2024-07-31 08:00+0000"])

    def test_leap_day_yearly(self):
        t = CalendarIntervalTrigger(years=1, start_date="2024-02-29")
        self.assertEqual(walls(t, utc(2024, 3, 1), 2),
                         ["2028-02-29 00:00+0000", "2032-02-29 00:00+0000"])

    def test_weeks_and_days_are_calendar_days(self):
        t = CalendarIntervalTrigger(weeks=1, start_date="2024-03-03 09:00",
                                    timezone="America/New_York")
        self.assertEqual(walls(t, utc(2024, 1, 1), 2),
                         ["2024-03-03 09:00-0500", "2024-03-10 09:00-0400"])

    def test_dst_gap_skipped_and_repeat_fires_first(self):
        t = CalendarIntervalTrigger(days=1, start_date="2024-03-08 02:30",
                                    timezone="America/New_York")
        self.assertEqual(walls(t, utc(2024, 3, 1), 3), [
            "2024-03-08 02:30-0500", "2024-03-09 02:30-0500", "2024-03-11 02:30-0400"])
        t = CalendarIntervalTrigger(days=1, start_date="2024-11-02 01:30",
                                    timezone="America/New_York")
        self.assertEqual(walls(t, utc(2024, 11, 1), 3), [
            "2024-11-02 01:30-0400", "2024-11-03 01:30-0400", "2024-11-04 01:30-0500"])

    def test_start_inside_a_dst_gap_keeps_its_wall_time(self):
        """
        Berlin skips 02:00-03:00 on 27 March 2016: the first run is skipped
        and the series stays at 02:30 (issue 16 item 2), in the JSON form too.
        """
        t = CalendarIntervalTrigger(days=1, start_date="2016-03-27 02:30",
                                    timezone="Europe/Berlin")
        want = ["2016-03-28 02:30+0200", "2016-03-29 02:30+0200", "2016-03-30 02:30+0200"]
        self.assertEqual(walls(t, utc(2016, 3, 1), 3), want)
        again = trigger_from_dict(json.loads(json.dumps(t.to_dict())))
        self.assertEqual(again, t)
        self.assertEqual(walls(again, utc(2016, 3, 1), 3), want)
        naive = CalendarIntervalTrigger(days=1, timezone="Europe/Berlin",
                                        start_date=_dt.datetime(2016, 3, 27, 2, 30))
        self.assertEqual(walls(naive, utc(2016, 3, 1), 3), want)

    def test_aware_start_is_an_instant(self):
        """An aware start names an instant: its wall time in the zone is the anchor."""
        t = CalendarIntervalTrigger(days=1, start_date="2016-03-27T01:30:00+00:00",
                                    timezone="Europe/Berlin")
        self.assertEqual(walls(t, utc(2016, 3, 1), 2),
                         ["2016-03-27 03:30+0200", "2016-03-28 03:30+0200"])
        self.assertEqual(t.to_dict()["start_date"], "2016-03-27T01:30:00+00:00")

    def test_far_future_is_quick_and_right(self):
        t = CalendarIntervalTrigger(months=1, start_date="2024-01-31 08:00")
        self.assertEqual(t.next_fire_time(None, utc(2124, 4, 1)), utc(2124, 5, 31, 8))
        self.assertEqual(t.next_fire_time(utc(2124, 5, 31, 8), utc(2000, 1, 1)),
                         utc(2124, 7, 31, 8))

    def test_end_date_and_year_9999(self):
        t = CalendarIntervalTrigger(days=10, start_date="2024-01-01", end_date="2024-01-25")
        self.assertEqual(len(walls(t, utc(2024, 1, 1), 5)), 3)
        t = CalendarIntervalTrigger(years=8000, start_date="2024-01-01")
        self.assertIsNone(t.next_fire_time(utc(2024, 1, 1), utc(2024, 1, 1)))

    def test_str_and_build(self):
        t = build_trigger("calendarinterval", utc(2024, 1, 1), "Asia/Tokyo",
                          months=2, start_date="2024-01-15 09:30")
        self.assertEqual(str(t), "calendarinterval[every 2 months from 2024-01-15 09:30:00]")
        self.assertEqual(t.next_fire_time(None, utc(2024, 1, 1)), utc(2024, 1, 15, 0, 30))

    def test_errors(self):
        self.assertRaises(TriggerError, CalendarIntervalTrigger, start_date="2024-01-01")
        self.assertRaises(TriggerError, CalendarIntervalTrigger, months=1)
        self.assertRaises(TriggerError, CalendarIntervalTrigger, months=1.5,
                          start_date="2024-01-01")
        self.assertRaises(TriggerError, CalendarIntervalTrigger, days=-1,
                          start_date="2024-01-01")
        with self.assertRaises(TriggerError) as cm:
            CalendarIntervalTrigger(weeks="x", start_date="2024-01-01")
        self.assertIn("weeks", str(cm.exception))


def _reference(trigger, bound):
    """Walk the runs from the first one: the first at or after C{bound}."""
    anchor = trigger.start_date.astimezone(trigger.timezone).replace(tzinfo=None)
    for k in range(100000):
        year, month = divmod(anchor.year * 12 + anchor.month - 1 + k * trigger.months, 12)
        try:
            wall = anchor.replace(year=year, month=month + 1)
        except ValueError:
            continue
        local = (wall + _dt.timedelta(days=k * trigger.days)).replace(tzinfo=trigger.timezone)
        if wall_time_exists(local) and local.astimezone(UTC) >= bound:
            return local.astimezone(UTC)


class CalendarIntervalProperties(unittest.TestCase):

    @settings(max_examples=100, deadline=None)
    @given(st.sampled_from([0, 1, 1, 2, 3, 5, 12, 14]),
           st.sampled_from([0, 0, 0, 1, 7, 10, 40]),
           st.datetimes(_dt.datetime(2000, 1, 1), _dt.datetime(2030, 1, 1)),
           st.sampled_from(["UTC", "America/New_York", "Australia/Lord_Howe"]),
           st.integers(0, 60), st.integers(0, 400), st.integers(0, 86399))
    def test_matches_walking_every_run(self, months, days, start, zone, years, later, secs):
        offset = (years * 365 + later) * 86400 + secs
        if not months and not days:
            days = 1
        trigger = CalendarIntervalTrigger(months=months, days=days, start_date=start,
                                          timezone=zone)
        now = trigger.start_date + _dt.timedelta(seconds=offset)
        got = trigger.next_fire_time(None, now)
        self.assertEqual(got, _reference(trigger, max(now, trigger.start_date)))
        self.assertEqual(trigger.next_fire_time(got, now),
                         _reference(trigger, got + _dt.timedelta(microseconds=1)))
