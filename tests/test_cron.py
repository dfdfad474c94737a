"""
Tests for the cron trigger: syntax, defaults, day rules, DST, errors.
"""

from zoneinfo import ZoneInfo

from twisted.trial import unittest

from tests.helpers import fire_times, utc
from twistedsched.errors import TriggerError
from twistedsched.timeutil import UTC
from twistedsched.triggers import CronTrigger, build_trigger, trigger_from_dict

NY = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def fires(trigger, start, count, tz=None):
    """The first C{count} fire times from C{start}, as wall times in C{tz}."""
    return [t.astimezone(tz or trigger.timezone) for t in fire_times(trigger, start, count)]


def walls(times):
    return [t.strftime("%Y-%m-%d %H:%M:%S%z") for t in times]


class KeywordFieldsTests(unittest.TestCase):

    def test_less_significant_fields_default_to_minimum(self):
        t = CronTrigger(hour=4)
        self.assertEqual(walls(fires(t, utc(2024, 1, 1, 5), 2)),
                         ["2024-01-02 04:00:00+0000", "2024-01-03 04:00:00+0000"])

    def test_more_significant_fields_default_to_star(self):
        t = CronTrigger(minute=30)
        self.assertEqual(walls(fires(t, utc(2024, 1, 1, 5, 31), 2)),
                         ["2024-01-01 06:30:00+0000", "2024-01-01 07:30:00+0000"])

    def test_month_alone_fires_on_the_first(self):
        t = CronTrigger(month="jun")
        self.assertEqual(walls(fires(t, utc(2024, 7, 1), 1)), ["2025-06-01 00:00:00+0000"])

    def test_no_fields_fires_every_second(self):
        t = CronTrigger()
        self.assertEqual(t.next_fire_time(None, utc(2024, 1, 1, 0, 0, 0, 1)),
                         utc(2024, 1, 1, 0, 0, 1))

    def test_week_and_weekday_default_to_star(self):
        t = CronTrigger(day=15)
        self.assertEqual(walls(fires(t, utc(2024, 1, 16), 2)),
                         ["2024-02-15 00:00:00+0000", "2024-03-15 00:00:00+0000"])

    def test_iso_week(self):
        t = CronTrigger(week=1, day_of_week="mon", hour=9)
        self.assertEqual(walls(fires(t, utc(2024, 6, 1), 2)),
                         ["2024-12-30 09:00:00+0000", "2025-12-29 09:00:00+0000"])

    def test_ranges_steps_lists_names(self):
        t = CronTrigger(month="jan-mar/2,dec", day="1-9/4", hour="*/12", minute="0,30")
        got = walls(fires(t, utc(2024, 1, 1), 7))
        self.assertEqual(got[:5], [
            "2024-01-01 00:00:00+0000", "2024-01-01 00:30:00+0000",
            "2024-01-01 12:00:00+0000", "2024-01-01 12:30:00+0000",
            "2024-01-05 00:00:00+0000"])
        self.assertEqual(got[6], "2024-01-05 12:00:00+0000")
        self.assertEqual(walls(fires(t, utc(2024, 1, 10), 1)), ["2024-03-01 00:00:00+0000"])
        self.assertEqual(walls(fires(t, utc(2024, 3, 10), 1)), ["2024-12-01 00:00:00+0000"])

    def test_a_slash_n_runs_to_the_maximum(self):
        t = CronTrigger(minute="50/5")
        self.assertEqual(walls(fires(t, utc(2024, 1, 1, 0, 51), 3)), [
            "2024-01-01 00:55:00+0000", "2024-01-01 01:50:00+0000", "2024-01-01 01:55:00+0000"])

    def test_full_names(self):
        t = CronTrigger(month="february", day_of_week="Friday", hour=0)
        self.assertEqual(walls(fires(t, utc(2024, 1, 1), 1)), ["2024-02-02 00:00:00+0000"])

    def test_last_day(self):
        t = CronTrigger(day="last")
        self.assertEqual(walls(fires(t, utc(2024, 1, 31, 1), 3)), [
            "2024-02-29 00:00:00+0000", "2024-03-31 00:00:00+0000", "2024-04-30 00:00:00+0000"])

    def test_last_weekday_and_nth_weekday(self):
        t = CronTrigger(day="last fri,1st mon", hour=8)
        self.assertEqual(walls(fires(t, utc(2024, 3, 1), 4)), [
            "2024-03-04 08:00:00+0000", "2024-03-29 08:00:00+0000",
            "2024-04-01 08:00:00+0000", "2024-04-26 08:00:00+0000"])

    def test_fifth_weekday_skips_months_without_one(self):
        t = CronTrigger(day_of_week="5th sun", hour=0)
        self.assertEqual(walls(fires(t, utc(2024, 1, 1), 2)),
                         ["2024-03-31 00:00:00+0000", "2024-06-30 00:00:00+0000"])

    def test_year(self):
        t = CronTrigger(year="2025,2027", month=3, day=1)
        self.assertEqual(walls(fires(t, utc(2024, 1, 1), 3)),
                         ["2025-03-01 00:00:00+0000", "2027-03-01 00:00:00+0000"])

    def test_leap_day(self):
        t = CronTrigger(month=2, day=29, hour=12)
        self.assertEqual(walls(fires(t, utc(2024, 3, 1), 2)),
                         ["2028-02-29 12:00:00+0000", "2032-02-29 12:00:00+0000"])

    def test_seconds(self):
        t = CronTrigger(second="*/20")
        self.assertEqual(walls(fires(t, utc(2024, 1, 1, 0, 0, 41), 3)), [
            "2024-01-01 00:01:00+0000", "2024-01-01 00:01:20+0000", "2024-01-01 00:01:40+0000"])

    def test_str(self):
        self.assertEqual(str(CronTrigger(hour=4, minute=0)), "cron[hour='4', minute='0']")
        self.assertEqual(str(CronTrigger(minute="*/5", year=2030)),
                         "cron[year='2030', minute='*/5']")
        self.assertEqual(str(CronTrigger.from_crontab("0 4 * * *")), "cron['0 4 * * *']")


class DayRuleTests(unittest.TestCase):
    """Keyword fields AND the two day fields; crontab lines OR them like Vixie cron."""

    def test_keyword_fields_and(self):
        t = CronTrigger(day=13, day_of_week="fri")
        self.assertEqual(walls(fires(t, utc(2024, 1, 1), 2)),
                         ["2024-09-13 00:00:00+0000", "2024-12-13 00:00:00+0000"])

    def test_crontab_ors_when_both_restricted(self):
        t = CronTrigger.from_crontab("0 0 13 * 5")
        self.assertEqual(walls(fires(t, utc(2024, 9, 1), 4)), [
            "2024-09-06 00:00:00+0000", "2024-09-13 00:00:00+0000",
            "2024-09-20 00:00:00+0000", "2024-09-27 00:00:00+0000"])
        self.assertEqual(walls(fires(t, utc(2024, 10, 5), 3)), [
            "2024-10-11 00:00:00+0000", "2024-10-13 00:00:00+0000", "2024-10-18 00:00:00+0000"])

    def test_crontab_star_field_means_and(self):
        # As in Vixie cron, a day field starting with "*" is "unrestricted".
        t = CronTrigger.from_crontab("0 0 */10 * 5")
        self.assertEqual(walls(fires(t, utc(2024, 1, 1), 2)),
                         ["2024-03-01 00:00:00+0000", "2024-05-31 00:00:00+0000"])
        t = CronTrigger.from_crontab("0 0 * * 5")
        self.assertEqual(walls(fires(t, utc(2024, 9, 1), 1)), ["2024-09-06 00:00:00+0000"])

    def test_or_rule_survives_round_trip(self):
        t = CronTrigger.from_crontab("0 0 13 * 5", timezone="Europe/London")
        back = trigger_from_dict(t.to_dict())
        self.assertEqual(back, t)
        start = utc(2024, 9, 1)
        self.assertEqual(fires(back, start, 6), fires(t, start, 6))


class CrontabTests(unittest.TestCase):

    def test_weekday_numbers_count_from_sunday(self):
        def first(expr):
            return walls(fires(CronTrigger.from_crontab(expr), utc(2024, 9, 1, 1), 1))[0]
        # 2024-09-01 is a Sunday.
        self.assertEqual(first("0 0 * * 0"), "2024-09-08 00:00:00+0000")
        self.assertEqual(first("0 0 * * 7"), "2024-09-08 00:00:00+0000")
        self.assertEqual(first("0 0 * * 1"), "2024-09-02 00:00:00+0000")
        self.assertEqual(first("0 0 * * sat"), "2024-09-07 00:00:00+0000")

    def test_weekday_ranges_and_steps(self):
        t = CronTrigger.from_crontab("0 12 * * 1-5")
        self.assertEqual([d.weekday() for d in fires(t, utc(2024, 9, 1), 6)], [0, 1, 2, 3, 4, 0])
        t = CronTrigger.from_crontab("0 12 * * */2")   # sun, tue, thu, sat
        self.assertEqual([d.weekday() for d in fires(t, utc(2024, 9, 1, 13), 4)], [1, 3, 5, 6])
        t = CronTrigger.from_crontab("0 12 * * 0-6")
        self.assertEqual(len({d.weekday() for d in fires(t, utc(2024, 9, 1), 7)}), 7)

    def test_nth_and_last_weekday_spellings(self):
        start = utc(2024, 9, 1)
        for expr in ("0 9 * * mon#2", "0 9 * * 1#2", "0 9 * * MON#2"):
            self.assertEqual(walls(fires(CronTrigger.from_crontab(expr), start, 1)),
                             ["2024-09-09 09:00:00+0000"], expr)
        for expr in ("0 9 * * 5L", "0 9 * * friL", "0 9 * * fridayL"):
            self.assertEqual(walls(fires(CronTrigger.from_crontab(expr), start, 1)),
                             ["2024-09-27 09:00:00+0000"], expr)

    def test_last_day_spellings(self):
        for expr in ("0 0 L * *", "0 0 last * *"):
            self.assertEqual(walls(fires(CronTrigger.from_crontab(expr), utc(2023, 2, 1), 1)),
                             ["2023-02-28 00:00:00+0000"], expr)

    def test_six_fields_seconds_first(self):
        t = CronTrigger.from_crontab("*/30 0 9 * * *")
        self.assertEqual(walls(fires(t, utc(2024, 1, 1), 3)), [
            "2024-01-01 09:00:00+0000", "2024-01-01 09:00:30+0000", "2024-01-02 09:00:00+0000"])

    def test_macros(self):
        self.assertEqual(walls(fires(CronTrigger.from_crontab("@daily"), utc(2024, 1, 1, 1), 1)),
                         ["2024-01-02 00:00:00+0000"])
        self.assertEqual(walls(fires(CronTrigger.from_crontab("@weekly"), utc(2024, 9, 2), 1)),
                         ["2024-09-08 00:00:00+0000"])

    def test_month_names_and_question_mark(self):
        t = CronTrigger.from_crontab("0 0 1 jan,jul ?")
        self.assertEqual(walls(fires(t, utc(2024, 2, 1), 2)),
                         ["2024-07-01 00:00:00+0000", "2025-01-01 00:00:00+0000"])

    def test_build_trigger_with_crontab_keyword(self):
        t = build_trigger("cron", utc(2024, 1, 1), "Europe/London", crontab="0 4 * * *")
        self.assertEqual(t.timezone, ZoneInfo("Europe/London"))
        self.assertEqual(t.next_fire_time(None, utc(2024, 7, 1)), utc(2024, 7, 1, 3))


class ErrorTests(unittest.TestCase):
    """Every bad expression raises TriggerError naming the field and the value."""

    def assertBad(self, field, value, *args, **kwargs):
        with self.assertRaises(TriggerError) as cm:
            if args:
                CronTrigger.from_crontab(*args)
            else:
                CronTrigger(**kwargs)
        message = str(cm.exception)
        self.assertIn(field, message)
        self.assertIn(value, message)

    def test_crontab_errors(self):
        self.assertBad("minute", "61", "61 * * * *")
        self.assertBad("minute", "*/0", "*/0 * * * *")
        self.assertBad("hour", "24", "0 24 * * *")
        self.assertBad("month", "foo", "0 0 * foo *")
        self.assertBad("day_of_week", "8", "0 0 * * 8")
        self.assertBad("day_of_week", "mon#6", "0 0 * * mon#6")
        self.assertBad("day", "31", "0 0 31 2 *")
        self.assertBad("crontab", "4", "* * * *")
        self.assertBad("crontab", "7", "* * * * * * *")
        self.assertBad("crontab", "garbage", "garbage")
        self.assertBad("crontab", "\u0661", "0 \u0661 * * *")
        self.assertBad("minute", "1,,2", "1,,2 * * * *")
        self.assertBad("crontab", "None", None)

    def test_keyword_errors(self):
        self.assertBad("day", "31", day=31, month=2)
        self.assertBad("day", "30", day="30-31", month="feb")
        self.assertBad("day", "29", year=2023, month=2, day=29)
        self.assertBad("second", "60", second=60)
        self.assertBad("day_of_week", "7", day_of_week=7)
        self.assertBad("day_of_week", "funday", day_of_week="funday")
        self.assertBad("year", "1969", year=1969)
        self.assertBad("year", "2030-2025", year="2030-2025")
        self.assertBad("hour", "1.5", hour=1.5)
        self.assertBad("week", "0", week=0)
        self.assertBad("day", "6th", day="6th mon")
        self.assertBad("minute", "", minute="  ")
        self.assertBad("crontab", "hour", crontab="* * * * *", hour=1)

    def test_errors_are_value_errors_through_build_trigger(self):
        self.assertRaises(ValueError, build_trigger, "cron", utc(2024, 1, 1), None, minute=99)
        self.assertRaises(TriggerError, build_trigger, "cron", utc(2024, 1, 1), None,
                          minutes=5)


class SemanticsTests(unittest.TestCase):

    def test_previous_means_strictly_after_regardless_of_now(self):
        t = CronTrigger(minute="*/5")
        self.assertEqual(t.next_fire_time(utc(2024, 1, 1, 0, 5), utc(2030, 1, 1)),
                         utc(2024, 1, 1, 0, 10))
        self.assertEqual(t.next_fire_time(utc(2024, 1, 1, 0, 5, 0, 500), utc(2030, 1, 1)),
                         utc(2024, 1, 1, 0, 10))

    def test_without_previous_at_or_after_now(self):
        t = CronTrigger(minute="*/5")
        self.assertEqual(t.next_fire_time(None, utc(2024, 1, 1, 0, 5)), utc(2024, 1, 1, 0, 5))
        self.assertEqual(t.next_fire_time(None, utc(2024, 1, 1, 0, 5, 0, 1)),
                         utc(2024, 1, 1, 0, 10))

    def test_start_and_end_dates(self):
        t = CronTrigger(hour=12, start_date="2024-03-01 12:00:00", end_date="2024-03-03 12:00:00",
                        timezone="Europe/Paris")
        self.assertEqual(walls(fires(t, utc(2024, 1, 1), 5)), [
            "2024-03-01 12:00:00+0100", "2024-03-02 12:00:00+0100", "2024-03-03 12:00:00+0100"])
        self.assertIsNone(t.next_fire_time(None, utc(2024, 3, 4)))

    def test_returns_utc(self):
        t = CronTrigger(hour=9, timezone="Asia/Kathmandu")
        fire = t.next_fire_time(None, utc(2024, 1, 1))
        self.assertIs(fire.tzinfo, UTC)
        self.assertEqual(fire, utc(2024, 1, 1, 3, 15))

    def test_default_timezone(self):
        t = CronTrigger(hour=9, default_timezone="Asia/Tokyo")
        self.assertEqual(t.timezone, ZoneInfo("Asia/Tokyo"))
        t = CronTrigger(hour=9, timezone="UTC", default_timezone="Asia/Tokyo")
        self.assertIs(t.timezone, UTC)

    def test_exhausted_year(self):
        t = CronTrigger(year=2024, month=6)
        self.assertIsNone(t.next_fire_time(None, utc(2024, 7, 1)))
        self.assertIsNone(CronTrigger(year=9999, month=12, day=31, hour=23, minute=59,
                                      second=59).next_fire_time(utc(9999, 12, 31, 23, 59, 59),
                                                                utc(2024, 1, 1)))

    def test_rare_expression_is_found_quickly(self):
        # 2nd of the rarest kind: a leap day that is also a Monday.
        t = CronTrigger(month=2, day=29, day_of_week="mon")
        self.assertEqual(walls(fires(t, utc(2025, 1, 1), 2)),
                         ["2044-02-29 00:00:00+0000", "2072-02-29 00:00:00+0000"])

    def test_to_dict_round_trip(self):
        for t in (CronTrigger(hour=4, minute=0), CronTrigger(day="last fri", month="jan-jun",
                                                            timezone="America/New_York",
                                                            start_date=utc(2024, 1, 1),
                                                            end_date=utc(2030, 1, 1), jitter=5),
                  CronTrigger.from_crontab("*/5 9-17 * * mon-fri", timezone="Asia/Kathmandu")):
            back = trigger_from_dict(t.to_dict())
            self.assertEqual(back, t)
            self.assertEqual(str(back), str(t))


class DSTTests(unittest.TestCase):
    """A missing wall time is skipped; a repeated one fires at its first occurrence."""

    def test_spring_forward_skips_missing_time(self):
        t = CronTrigger(hour=2, minute=30, timezone="America/New_York")
        self.assertEqual(walls(fires(t, utc(2024, 3, 9, 12), 2)),
                         ["2024-03-11 02:30:00-0400", "2024-03-12 02:30:00-0400"])

    def test_spring_forward_every_15_minutes(self):
        t = CronTrigger(minute="*/15", timezone="America/New_York")
        self.assertEqual(walls(fires(t, utc(2024, 3, 10, 6, 30), 4)), [
            "2024-03-10 01:30:00-0500", "2024-03-10 01:45:00-0500",
            "2024-03-10 03:00:00-0400", "2024-03-10 03:15:00-0400"])

    def test_fall_back_fires_once_at_first_occurrence(self):
        t = CronTrigger(hour=1, minute=30, timezone="America/New_York")
        self.assertEqual(walls(fires(t, utc(2024, 11, 2, 12), 2)),
                         ["2024-11-03 01:30:00-0400", "2024-11-04 01:30:00-0500"])

    def test_fall_back_every_15_minutes(self):
        t = CronTrigger(minute="*/15", timezone="America/New_York")
        self.assertEqual(walls(fires(t, utc(2024, 11, 3, 5, 30), 5)), [
            "2024-11-03 01:30:00-0400", "2024-11-03 01:45:00-0400",
            "2024-11-03 02:00:00-0500", "2024-11-03 02:15:00-0500",
            "2024-11-03 02:30:00-0500"])

    def test_now_in_second_pass_of_repeated_hour(self):
        t = CronTrigger(minute="*/15", timezone="America/New_York")
        # 06:20 UTC is 01:20 EST, the second pass of 01:00-01:59.
        self.assertEqual(t.next_fire_time(None, utc(2024, 11, 3, 6, 20)), utc(2024, 11, 3, 7))

    def test_every_second_across_fall_back(self):
        t = CronTrigger(second="*", timezone="America/New_York")
        self.assertEqual(t.next_fire_time(utc(2024, 11, 3, 5, 59, 59), utc(2024, 1, 1)),
                         utc(2024, 11, 3, 7))

    def test_lord_howe_half_hour_shift(self):
        # Spring forward (2024-10-06): 02:00 -> 02:30; fall back (2024-04-07): 02:00 -> 01:30.
        t = CronTrigger(minute="*/15", timezone=LORD_HOWE)
        self.assertEqual(walls(fires(t, utc(2024, 10, 5, 15), 3)), [
            "2024-10-06 01:30:00+1030", "2024-10-06 01:45:00+1030", "2024-10-06 02:30:00+1100"])
        self.assertEqual(walls(fires(t, utc(2024, 4, 6, 14, 20), 5)), [
            "2024-04-07 01:30:00+1100", "2024-04-07 01:45:00+1100",
            "2024-04-07 02:00:00+1030", "2024-04-07 02:15:00+1030",
            "2024-04-07 02:30:00+1030"])

    def test_london_daily_keeps_wall_time(self):
        t = CronTrigger(hour=9, timezone="Europe/London")
        self.assertEqual(walls(fires(t, utc(2024, 3, 30), 2)),
                         ["2024-03-30 09:00:00+0000", "2024-03-31 09:00:00+0100"])
