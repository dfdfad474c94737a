"""
Time zones and datetimes that triggers accept: pytz zones become zoneinfo
(issue 16 item 1); times out of the representable range and absurd zone
names are clear errors, on the triggers and through the control port and the
console (issue 13 item 10).
"""

import datetime as _dt
import json
from zoneinfo import ZoneInfo

import pytz
from twisted.trial import unittest

from tests.helpers import make_scheduler, utc
from tests.test_security import AMPConnection, ConsoleConnection
from twistedsched.client import InvalidTrigger
from twistedsched.console import ConsoleFactory
from twistedsched.control import ControlFactory
from twistedsched.errors import BadArgumentError, TriggerError
from twistedsched.timeutil import UTC, as_timezone, timezone_name
from twistedsched.triggers import (
    CalendarIntervalTrigger, CronTrigger, DateTrigger, IntervalTrigger, trigger_from_dict)

BERLIN = pytz.timezone("Europe/Berlin")
#: Times that exist in their own offset but not in UTC.
OUT_OF_RANGE = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"]
LONG_ZONE = "A" * 5000


class PytzTests(unittest.TestCase):
    """pytz zones give the times their names mean (APScheduler 3 users pass them)."""

    def test_zone_becomes_zoneinfo(self):
        self.assertEqual(as_timezone(BERLIN), ZoneInfo("Europe/Berlin"))
        self.assertIs(as_timezone(pytz.utc), UTC)
        self.assertEqual(as_timezone(pytz.FixedOffset(90)),
                         _dt.timezone(_dt.timedelta(minutes=90)))

    def test_cron(self):
        t = CronTrigger(hour=8, timezone=BERLIN)
        self.assertEqual(t.next_fire_time(None, utc(2024, 1, 1)), utc(2024, 1, 1, 7))
        self.assertEqual(t.to_dict()["timezone"], "Europe/Berlin")

    def test_date_with_naive_time(self):
        """Not 67 minutes late: the zone is not attached with its local mean time."""
        t = DateTrigger("2009-07-06 00:00", timezone=BERLIN)
        self.assertEqual(t.next_fire_time(None, None), utc(2009, 7, 5, 22))

    def test_aware_times(self):
        localized = BERLIN.localize(_dt.datetime(2009, 7, 6))
        attached = _dt.datetime(2009, 7, 6, tzinfo=BERLIN)   # the usual pytz mistake
        for value in (localized, attached):
            t = DateTrigger(value)
            self.assertEqual(t.next_fire_time(None, None), utc(2009, 7, 5, 22))
        self.assertEqual(DateTrigger(localized).run_date.tzinfo, ZoneInfo("Europe/Berlin"))

    def test_interval_and_calendarinterval(self):
        i = IntervalTrigger(hours=1, start_date=_dt.datetime(2024, 7, 1, 9), timezone=BERLIN)
        self.assertEqual(i.next_fire_time(None, utc(2024, 1, 1)), utc(2024, 7, 1, 7))
        c = CalendarIntervalTrigger(days=1, start_date="2024-07-01 09:00", timezone=BERLIN)
        self.assertEqual(c.next_fire_time(utc(2024, 7, 1, 7), None), utc(2024, 7, 2, 7))

    def test_scheduler_zone(self):
        sched, _ = make_scheduler(self, timezone=BERLIN)
        self.assertEqual(sched.timezone, ZoneInfo("Europe/Berlin"))
        job = self.successResultOf(sched.add_job(lambda: None, "cron", hour=8))
        self.assertEqual(job.next_run_time.astimezone(sched.timezone).hour, 8)

    def test_fixed_offset_round_trip(self):
        zone = _dt.timezone(_dt.timedelta(hours=-5, minutes=-30))
        self.assertEqual(as_timezone(timezone_name(zone)), zone)
        t = CronTrigger(hour=1, timezone=zone)
        self.assertEqual(trigger_from_dict(t.to_dict()), t)
        self.assertRaises(BadArgumentError, as_timezone, "UTC+24:00")


class RangeTests(unittest.TestCase):
    """Times past the year 9999 or before the year 1, once converted."""

    def test_out_of_range_in_utc(self):
        for text in OUT_OF_RANGE:
            e = self.assertRaises(TriggerError, DateTrigger, text)
            self.assertIn("out of range", str(e))
            self.assertRaises(TriggerError, IntervalTrigger, seconds=5, start_date=text)
            self.assertRaises(TriggerError, CronTrigger, hour=1, start_date=text)

    def test_out_of_range_in_the_trigger_zone(self):
        e = self.assertRaises(TriggerError, CalendarIntervalTrigger, days=1,
                              start_date="9999-12-31T23:00:00Z", timezone="Asia/Tokyo")
        self.assertIn("time zone Asia/Tokyo", str(e))

    def test_edge_of_range_is_accepted(self):
        t = DateTrigger("9999-12-31T23:59:59+00:00")
        self.assertEqual(t.next_fire_time(None, None), utc(9999, 12, 31, 23, 59, 59))

    def test_runs_past_the_year_9999_end(self):
        i = IntervalTrigger(seconds=5, start_date="9999-12-31T23:59:58Z")
        self.assertIsNone(i.next_fire_time(utc(9999, 12, 31, 23, 59, 58), None))
        e = self.assertRaises(TriggerError, IntervalTrigger, weeks=10 ** 6, now=utc(2024, 1, 1))
        self.assertIn("past the year 9999", str(e))

    def test_long_zone_name(self):
        e = self.assertRaises(BadArgumentError, as_timezone, LONG_ZONE)
        self.assertIn("5000 characters", str(e))
        self.assertLess(len(str(e)), 100)
        self.assertRaises(TriggerError, CronTrigger, hour=1, timezone=LONG_ZONE)

    def test_zone_names_that_are_not_files(self):
        for name in ("../../../etc/passwd", "\x00", "Europe/", "A" * 64):
            self.assertRaises(BadArgumentError, as_timezone, name)

    def test_calendarinterval_dict_needs_only_its_units(self):
        t = trigger_from_dict({"type": "calendarinterval", "weeks": 1,
                               "start_date": "2024-01-01T09:00:00+00:00"})
        self.assertEqual(t.days, 7)


class RemoteTests(unittest.TestCase):
    """Through the control port and the console: a clear error, no job, no traceback."""

    def setUp(self):
        self.sched, self.clock = make_scheduler(self)
        self.sched.task("greet")(lambda: None)

    def tearDown(self):
        self.assertEqual(self.successResultOf(self.sched.get_jobs()), [])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_control_port(self):
        conn = AMPConnection(ControlFactory(self.sched), self.clock)
        cases = [(("at", text), "out of range") for text in OUT_OF_RANGE] + [
            (("json", json.dumps({"type": "cron", "hour": 1, "timezone": LONG_ZONE})),
             "unknown time zone"),
            (("json", json.dumps({"type": "date", "run_date": OUT_OF_RANGE[0]})),
             "out of range")]
        for trigger, message in cases:
            d = conn.client.add_job("greet", trigger)
            conn.settle()
            self.assertIn(message, self.failureResultOf(d, InvalidTrigger).getErrorMessage())

    def test_console(self):
        session = ConsoleConnection(ConsoleFactory(self.sched))
        lines = [b"add greet at " + text.encode() for text in OUT_OF_RANGE] + [
            b"add greet json '%s'" % (json.dumps(
                {"type": "cron", "hour": 1, "timezone": LONG_ZONE}).encode(),)]
        for line in lines:
            session.take()
            session.send(line)
            self.assertRegex(session.take(),
                             rb"^error: .*(out of range|unknown time zone 'A{20}'\.\.\.)")
