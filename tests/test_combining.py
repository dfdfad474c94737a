"""
Tests for the and/or trigger combinations.
"""

from twisted.trial import unittest

from tests.helpers import fire_times, utc
from twistedsched.errors import TriggerError
from twistedsched.triggers import (
    AndTrigger, CronTrigger, DateTrigger, IntervalTrigger, OrTrigger, build_trigger,
    trigger_from_dict)



class AndTriggerTests(unittest.TestCase):

    def test_friday_the_13th(self):
        t = AndTrigger([CronTrigger(day=13), CronTrigger(day_of_week="fri")])
        self.assertEqual(fire_times(t, utc(2024, 1, 1), 3),
                         [utc(2024, 9, 13), utc(2024, 12, 13), utc(2025, 6, 13)])

    def test_interval_and_cron(self):
        # Every 40 minutes from midnight, but only on the hour: every two hours.
        t = AndTrigger([IntervalTrigger(minutes=40, start_date=utc(2024, 1, 1)),
                        CronTrigger(minute=0)])
        self.assertEqual(fire_times(t, utc(2024, 1, 1, 0, 0, 1), 3),
                         [utc(2024, 1, 1, 2), utc(2024, 1, 1, 4), utc(2024, 1, 1, 6)])

    def test_previous_means_strictly_after(self):
        t = AndTrigger([CronTrigger(minute="*/10"), CronTrigger(minute="*/15")])
        self.assertEqual(t.next_fire_time(utc(2024, 1, 1, 0, 30), utc(2030, 1, 1)),
                         utc(2024, 1, 1, 1, 0))

    def test_ends_when_one_trigger_ends(self):
        t = AndTrigger([CronTrigger(hour=4), CronTrigger(year=2024, month=1, day="*", hour="*")])
        got = fire_times(t, utc(2024, 1, 29), 10)
        self.assertEqual(got, [utc(2024, 1, 29, 4), utc(2024, 1, 30, 4), utc(2024, 1, 31, 4)])

    def test_triggers_that_never_meet(self):
        """The search gives up when its work budget is spent (test_trigger_limits)."""
        t = AndTrigger([CronTrigger(second=1), CronTrigger(second=2)])
        self.assertRaises(TriggerError, t.next_fire_time, None, utc(2024, 1, 1))

    def test_with_a_date(self):
        t = AndTrigger([DateTrigger(utc(2024, 5, 1, 12)), CronTrigger(hour="*/6")])
        self.assertEqual(fire_times(t, utc(2024, 1, 1), 3), [utc(2024, 5, 1, 12)])


class OrTriggerTests(unittest.TestCase):

    def test_earliest_of_each(self):
        t = OrTrigger([CronTrigger(hour=4),
                       IntervalTrigger(hours=5, start_date=utc(2024, 1, 1, 1))])
        self.assertEqual(fire_times(t, utc(2024, 1, 1), 5), [
            utc(2024, 1, 1, 1), utc(2024, 1, 1, 4), utc(2024, 1, 1, 6),
            utc(2024, 1, 1, 11), utc(2024, 1, 1, 16)])

    def test_same_instant_fires_once(self):
        t = OrTrigger([CronTrigger(minute="*/10"), CronTrigger(minute="*/15")])
        self.assertEqual(fire_times(t, utc(2024, 1, 1), 6), [
            utc(2024, 1, 1, 0, 0), utc(2024, 1, 1, 0, 10), utc(2024, 1, 1, 0, 15),
            utc(2024, 1, 1, 0, 20), utc(2024, 1, 1, 0, 30), utc(2024, 1, 1, 0, 40)])

    def test_different_zones(self):
        t = OrTrigger([CronTrigger(hour=9, timezone="Asia/Tokyo"),
                       CronTrigger(hour=9, timezone="Europe/London")])
        self.assertEqual(fire_times(t, utc(2024, 1, 1), 3),
                         [utc(2024, 1, 1, 0), utc(2024, 1, 1, 9), utc(2024, 1, 2, 0)])

    def test_dates_and_end(self):
        t = OrTrigger([DateTrigger(utc(2024, 1, 2)), DateTrigger(utc(2024, 1, 1))])
        self.assertEqual(fire_times(t, utc(2023, 1, 1), 5), [utc(2024, 1, 1), utc(2024, 1, 2)])

    def test_past_date_is_answered_first(self):
        # Like a date trigger alone: the scheduler decides about misfires.
        t = OrTrigger([DateTrigger(utc(2024, 1, 1)), CronTrigger(hour=0)])
        self.assertEqual(t.next_fire_time(None, utc(2024, 1, 5, 12)), utc(2024, 1, 1))


class CombinationTests(unittest.TestCase):

    def test_str(self):
        t = OrTrigger([CronTrigger(hour=4, minute=0),
                       AndTrigger([CronTrigger(day=13), CronTrigger(day_of_week="fri")])])
        self.assertEqual(
            str(t), "or[cron[hour='4', minute='0'], and[cron[day='13'], cron[day_of_week='fri']]]")

    def test_nesting_round_trip(self):
        t = OrTrigger([CronTrigger(hour=4, timezone="Europe/London"),
                       AndTrigger([CronTrigger(day=13), CronTrigger(day_of_week="fri")],
                                  jitter=30)], jitter=5)
        self.assertEqual(trigger_from_dict(t.to_dict()), t)

    def test_build_from_dicts(self):
        t = build_trigger("or", utc(2024, 1, 1), "Europe/London",
                          triggers=[{"type": "cron", "crontab": "0 4 * * *"},
                                    CronTrigger(hour=5)])
        self.assertEqual(t.next_fire_time(None, utc(2024, 1, 1)), utc(2024, 1, 1, 4))

    def test_errors(self):
        self.assertRaises(TriggerError, AndTrigger, [])
        self.assertRaises(TriggerError, OrTrigger, "cron")
        self.assertRaises(TriggerError, OrTrigger, [42])
        self.assertRaises(TriggerError, OrTrigger, [{"type": "nope"}])
        self.assertRaises(TriggerError, AndTrigger, [CronTrigger()], jitter=-1)
        self.assertRaises(TriggerError, trigger_from_dict, {"type": "and"})
