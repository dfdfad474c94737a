"""
Micro-benchmark: next-fire-time computations per second of the cron trigger,
for a handful of typical expressions, next to APScheduler 3's CronTrigger
measured in the same run (if installed: it is a test extra).

Then the worst cases of the work budget (twistedsched.triggers.budget): how
long a trigger that spends its whole budget takes before it is refused.

Run: python -m benchmarks triggers (or python -m benchmarks.triggers); well under 30 s
"""

import datetime as _dt
import time
from zoneinfo import ZoneInfo

from twistedsched.errors import TriggerError
from twistedsched.triggers import (
    AndTrigger, CalendarIntervalTrigger, CronTrigger, IntervalTrigger, trigger_from_dict)
from twistedsched.triggers.budget import MAX_WORK

try:
    from apscheduler.triggers.cron import CronTrigger as APSCronTrigger
except ImportError:  # pragma: no cover
    APSCronTrigger = None

#: (label, keyword fields, zone)
CASES = [
    ("every 5 minutes", {"minute": "*/5"}, "UTC"),
    ("daily 04:00", {"hour": 4, "minute": 0}, "Europe/London"),
    ("office hours", {"day_of_week": "mon-fri", "hour": "9-17", "minute": "*/15"},
     "America/New_York"),
    ("monthly, last fri", {"day": "last fri", "hour": 8}, "Asia/Kathmandu"),
    ("1st of the month", {"day": 1, "hour": 0}, "Australia/Lord_Howe"),
    ("leap day", {"month": 2, "day": 29, "hour": 12}, "UTC"),
    ("every second", {"second": "*"}, "America/New_York"),
]
START = _dt.datetime(2024, 1, 1, tzinfo=_dt.timezone.utc)
FAR = _dt.datetime(9000, 1, 1, tzinfo=_dt.timezone.utc)
BUDGET = 0.4  # seconds per measurement


def rate(step):
    """Chained calls of C{step(previous)} per second, over about L{BUDGET} seconds."""
    calls, previous = 0, START
    began = time.perf_counter()
    while True:
        for _ in range(200):
            previous = step(previous)
        calls += 200
        elapsed = time.perf_counter() - began
        if elapsed >= BUDGET:
            return calls / elapsed


def first_times(step, count=50):
    previous, result = START, []
    for _ in range(count):
        previous = step(previous)
        result.append(previous)
    return result


def compare(step, aps_step, zone):
    """"yes" if both give the same first fire times, else the first difference."""
    ours = first_times(step)
    theirs = [t.astimezone(_dt.timezone.utc) for t in first_times(aps_step)]
    for mine, other in zip(ours, theirs):
        if mine != other:
            tz = ZoneInfo(zone)
            return "no: %s vs apscheduler %s" % (mine.astimezone(tz), other.astimezone(tz))
    return "yes"


def main():
    print("%-20s %14s %14s %7s  %s" % ("expression", "twistedsched/s", "apscheduler3/s",
                                       "ratio", "same answers"))
    for label, fields, zone in CASES:
        ours = CronTrigger(timezone=zone, **fields)

        def step(previous, trigger=ours):
            return trigger.next_fire_time(previous, FAR)

        our_rate = rate(step)
        if APSCronTrigger is None:
            print("%-20s %14.0f %14s %7s" % (label, our_rate, "-", "-"))
            continue
        theirs = APSCronTrigger(timezone=ZoneInfo(zone), **fields)

        def aps_step(previous, trigger=theirs):
            return trigger.get_next_fire_time(previous, FAR)

        aps_rate = rate(aps_step)
        print("%-20s %14.0f %14.0f %6.2fx  %s" % (label, our_rate, aps_rate,
                                                  our_rate / aps_rate,
                                                  compare(step, aps_step, zone)))
    others = [("crontab */5 9-17 * * 1-5",
               CronTrigger.from_crontab("*/5 9-17 * * 1-5", timezone="Europe/London")),
              ("interval 5 min", IntervalTrigger(minutes=5, start_date=START)),
              ("calendarinterval 1 mo",
               CalendarIntervalTrigger(months=1, start_date="2024-01-31 09:00",
                                       timezone="Europe/London"))]
    for label, trigger in others:
        print("%-24s %10.0f" % (label, rate(lambda p, t=trigger: t.next_fire_time(p, FAR))))
    print()
    print("refused after spending the budget of %d steps, 20 runs:" % (MAX_WORK,))
    print("%-40s %9s %9s" % ("", "median", "worst"))
    for label, work in BUDGET_CASES:
        times = sorted(refusal_times(work))
        print("%-40s %6.2f ms %6.2f ms" % (label, 1000 * times[len(times) // 2],
                                           1000 * times[-1]))


#: (label, work that spends the whole budget and fails)
BUDGET_CASES = [
    ("and: seconds 1 and 2 never meet", lambda: AndTrigger(
        [CronTrigger(second=1), CronTrigger(second=2)]).next_fire_time(None, START)),
    ("nested and of 'and's that never meet", lambda: trigger_from_dict(
        {"type": "and", "triggers": [
            {"type": "and", "triggers": [{"type": "cron", "crontab": "1 * * * * *"},
                                         {"type": "cron", "crontab": "2 * * * * *"}]},
            {"type": "cron", "crontab": "* * * * *"}]}).next_fire_time(None, START)),
    ("and of 31 intervals never meeting", lambda: AndTrigger(
        [IntervalTrigger(seconds=2, start_date=START + _dt.timedelta(microseconds=i))
         for i in range(31)]).next_fire_time(None, START)),
    ("cron only in DST gaps (Berlin)", lambda: CronTrigger.from_crontab(
        "30 2 * 3 0L", timezone="Europe/Berlin").next_fire_time(None, START)),
    ("cron check: day 1-28, mon, week 53", lambda: CronTrigger(
        day="1-28", day_of_week="mon", week=53, month="2-11")),
]


def refusal_times(work, runs=20):
    """The times of C{runs} calls of C{work}, each of which must fail."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        try:
            work()
        except TriggerError:
            pass
        else:
            raise AssertionError("the work was not refused")
        times.append(time.perf_counter() - began)
    return times


if __name__ == "__main__":
    main()
