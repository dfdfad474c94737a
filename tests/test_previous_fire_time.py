"""
C{previous_fire_time(before)} of the cron, interval and calendar-interval
triggers (issue 16 item 8): the last fire time strictly before C{before}.
Properties: it is a fire time, it is before C{before}, and the next fire
time after it is not; for plain crontab lines it is croniter's C{get_prev}.
"""

import datetime as _dt
from zoneinfo import ZoneInfo

from croniter import croniter
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from tests.helpers import utc
from tests.test_cron_trigger_hypothesis import (
    YEARS, ZONES, _text, crontab_lines, expressions, instants)
from twistedsched.errors import TriggerError
from twistedsched.timeutil import UTC
from twistedsched.triggers import CalendarIntervalTrigger, CronTrigger, IntervalTrigger


class ExampleTests(unittest.TestCase):

    def test_cron(self):
        t = CronTrigger.from_crontab("*/5 * * * *")
        self.assertEqual(t.previous_fire_time(utc(2030, 6, 15, 12, 34, 56)),
                         utc(2030, 6, 15, 12, 30))
        self.assertEqual(t.previous_fire_time(utc(2030, 6, 15, 12, 30)),
                         utc(2030, 6, 15, 12, 25))      # strictly before

    def test_cron_rare_rule(self):
        """29 February on a monday: 2016, then 2044."""
        t = CronTrigger(month=2, day=29, day_of_week="mon")
        self.assertEqual(t.previous_fire_time(utc(2043, 1, 1)), utc(2016, 2, 29))

    def test_cron_repeated_hour(self):
        """In New York's repeated 01:00-01:59 the first pass fires, the second does not."""
        t = CronTrigger.from_crontab("*/15 * * * *", timezone="America/New_York")
        in_second_pass = utc(2024, 11, 3, 6, 30)            # 01:30 EST
        self.assertEqual(t.previous_fire_time(in_second_pass),
                         utc(2024, 11, 3, 5, 45))           # 01:45 EDT
        self.assertEqual(t.previous_fire_time(utc(2024, 3, 10, 7)),     # 03:00 EDT
                         utc(2024, 3, 10, 6, 45))                       # 01:45 EST

    def test_cron_start_and_end(self):
        t = CronTrigger(hour=4, start_date="2024-01-10", end_date="2024-01-20")
        self.assertIsNone(t.previous_fire_time(utc(2024, 1, 10, 4)))
        self.assertEqual(t.previous_fire_time(utc(2024, 1, 10, 5)), utc(2024, 1, 10, 4))
        self.assertEqual(t.previous_fire_time(utc(2030, 1, 1)), utc(2024, 1, 19, 4))
        self.assertIsNone(CronTrigger(year=2030).previous_fire_time(utc(2029, 1, 1)))

    def test_interval(self):
        t = IntervalTrigger(minutes=7, start_date=utc(2024, 1, 1), end_date=utc(2024, 1, 2))
        self.assertIsNone(t.previous_fire_time(utc(2024, 1, 1)))
        self.assertEqual(t.previous_fire_time(utc(2024, 1, 1, 0, 0, 0, 1)), utc(2024, 1, 1))
        self.assertEqual(t.previous_fire_time(utc(2024, 1, 1, 0, 14)), utc(2024, 1, 1, 0, 7))
        self.assertEqual(t.previous_fire_time(utc(2024, 1, 1, 0, 15)), utc(2024, 1, 1, 0, 14))
        self.assertEqual(t.previous_fire_time(utc(2030, 1, 1)), utc(2024, 1, 1, 23, 55))

    def test_calendarinterval(self):
        t = CalendarIntervalTrigger(months=1, start_date="2024-01-31 09:00",
                                    timezone="Europe/London")
        # February, April have no 31st; May's run is in summer time (08:00 UTC).
        self.assertEqual(t.previous_fire_time(utc(2024, 6, 1)), utc(2024, 5, 31, 8))
        self.assertEqual(t.previous_fire_time(utc(2024, 5, 1)), utc(2024, 3, 31, 8))
        self.assertIsNone(t.previous_fire_time(utc(2024, 1, 31, 9)))

    def test_edges_of_the_calendar(self):
        tokyo = CronTrigger(hour=1, timezone="Asia/Tokyo")
        self.assertEqual(tokyo.previous_fire_time(utc(9999, 12, 31, 23)),
                         utc(9999, 12, 30, 16))
        self.assertIsNone(CronTrigger(hour=1).previous_fire_time(utc(1, 1, 3)))
        self.assertIsNone(IntervalTrigger(hours=1, start_date=utc(2000, 1, 1))
                          .previous_fire_time(utc(1, 1, 3)))
        c = CalendarIntervalTrigger(days=1, start_date="9999-12-30 09:00")
        self.assertEqual(c.previous_fire_time(utc(9999, 12, 31, 23, 59)), utc(9999, 12, 31, 9))

    def test_bounded_work(self):
        """A trigger that can cost too much fails with a TriggerError, quickly."""
        t = CronTrigger.from_crontab("30 2 * 3 0L", timezone="Europe/Berlin")
        self.assertRaises(TriggerError, t.previous_fire_time, utc(2030, 1, 1))


def assert_previous(testcase, trigger, before):
    """C{trigger.previous_fire_time(before)} is the last fire time before C{before}."""
    try:
        found = trigger.previous_fire_time(before)
    except TriggerError:
        assume(False)       # over the work budget
    if found is None:
        first = trigger.next_fire_time(None, _dt.datetime(1970, 1, 1, tzinfo=UTC))
        testcase.assertTrue(first is None or first >= before, (trigger, before, first))
        return
    testcase.assertLess(found, before)
    testcase.assertEqual(trigger.next_fire_time(None, found), found, (trigger, before))
    following = trigger.next_fire_time(found, found)
    testcase.assertTrue(following is None or following >= before,
                        (trigger, before, found, following))


class PropertyTests(unittest.TestCase):

    @settings(max_examples=150, deadline=None)
    @given(st.data(), st.sampled_from(ZONES))
    def test_cron(self, data, zone):
        expr = data.draw(expressions(), "expression")
        tz = ZoneInfo(zone) if zone != "UTC" else UTC
        try:
            trigger = CronTrigger(timezone=tz, **{f: _text(t) for f, t in expr.items()})
        except TriggerError:
            assume(False)
        assert_previous(self, trigger, data.draw(instants(zone), "before"))

    @settings(max_examples=100, deadline=None)
    @given(st.integers(1, 24), st.integers(0, 40), st.integers(0, 10 ** 9),
           st.sampled_from(["UTC", "America/New_York", "Europe/London"]),
           st.integers(0, 10 ** 9))
    def test_calendarinterval(self, months, days, start, zone, later):
        trigger = CalendarIntervalTrigger(
            months=months, days=days, timezone=zone,
            start_date=_dt.datetime(2000, 1, 1) + _dt.timedelta(seconds=start))
        assert_previous(self, trigger, utc(2000, 1, 1) + _dt.timedelta(seconds=start + later))

    @settings(max_examples=100, deadline=None)
    @given(st.integers(1, 10 ** 7), st.integers(0, 10 ** 10), st.integers(0, 10 ** 9))
    def test_interval(self, seconds, start, later):
        trigger = IntervalTrigger(seconds=seconds / 7,
                                  start_date=utc(2000, 1, 1) + _dt.timedelta(microseconds=start))
        assert_previous(self, trigger, trigger.start_date + _dt.timedelta(seconds=later))

    @settings(max_examples=100, deadline=None)
    @given(crontab_lines(), st.sampled_from(["UTC", "Asia/Kathmandu"]),
           st.integers(0, (len(YEARS) - 1) * 365 * 86400))
    def test_agrees_with_croniter_get_prev(self, line, zone, offset):
        tz = ZoneInfo(zone)
        try:
            trigger = CronTrigger.from_crontab(line, timezone=tz)
        except TriggerError:
            assume(False)
        before = _dt.datetime(YEARS[0], 1, 1, tzinfo=UTC) + _dt.timedelta(seconds=offset)
        iterator = croniter(line, before.astimezone(tz))
        for _ in range(3):
            want = iterator.get_prev(_dt.datetime).astimezone(UTC)
            before = trigger.previous_fire_time(before)
            self.assertEqual(before, want, (line, zone))
