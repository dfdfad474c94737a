"""
Cron syntax from issue 16: ASCII digits only, ranges ending on sunday,
wrap-around ranges, W/LW/L-n/a-L day terms, H (hashed) fields bound to the
job id, and the @ macros; on the trigger, through the scheduler, the JSON
form and the control port and console.
"""

import binascii
import datetime as _dt
import json
import sys

from twisted.internet import defer
from twisted.trial import unittest

from tests.helpers import fire_times, make_scheduler, utc
from tests.test_redis_store import RedisTestCase
from tests.test_security import AMPConnection, ConsoleConnection
from twistedsched.console import ConsoleFactory
from twistedsched.control import ControlFactory
from twistedsched.errors import TriggerError
from twistedsched.job import Job
from twistedsched.triggers import (
    AndTrigger, CronTrigger, OrTrigger, bind_trigger, trigger_from_dict)
from twistedsched.triggers.cronfields import compact_values


def days(line, start, count, **kwargs):
    """The dates (day of month) of a crontab line's first fire times."""
    return [t.date().isoformat() for t in
            fire_times(CronTrigger.from_crontab(line, **kwargs), start, count)]


class AsciiTests(unittest.TestCase):
    """Non-ASCII digits are refused everywhere, steps included."""

    def test_refused(self):
        for line in ("*/\u0661\u0665 * * * *", "\u0661 * * * *", "0 0 * * \u0661",
                     "0\u00a00 * * *", "\u00b2 * * * *", "0 0 \u0661W * *"):
            self.assertRaises(TriggerError, CronTrigger.from_crontab, line)
        for fields in ({"minute": "*/\u0661\u0665"}, {"hour": "\u0661"},
                       {"day_of_week": "\u212aon"}, {"second": "\uff11"}):
            e = self.assertRaises(TriggerError, CronTrigger, **fields)
            self.assertIn("ASCII", str(e))


class LongNumberTests(unittest.TestCase):
    """A number of thousands of digits is a TriggerError, not Python's ValueError."""

    def test_refused(self):
        digits = "1" * 5000
        for fields in ({"minute": digits}, {"minute": "*/" + digits}, {"day": "L-" + digits},
                       {"minute": "H(%s-2)" % (digits,)}, {"day": digits + "W"},
                       {"minute": "H/" + digits}):
            e = self.assertRaises(TriggerError, CronTrigger, **fields)
            self.assertIn("too large", str(e))
            self.assertLess(len(str(e)), 200 + len(digits))


class SundayEndTests(unittest.TestCase):
    """In a crontab range's end, sunday is 7 as well as 0 (croniter issue 117)."""

    def test_ranges_ending_on_sunday(self):
        start = utc(2024, 1, 1)         # a monday
        week = days("0 0 * * *", start, 7)
        for spec in ("mon-sun", "1-7", "1-0"):
            self.assertEqual(days("0 0 * * %s" % (spec,), start, 7), week)
        weekend = ["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-12"]
        for spec in ("fri-sun", "5-7", "5-0"):
            self.assertEqual(days("0 0 * * %s" % (spec,), start, 4), weekend)
        self.assertEqual(days("0 0 * * wed-sun", start, 2), ["2024-01-03", "2024-01-04"])

    def test_sunday_starts_a_range_as_0(self):
        self.assertEqual(days("0 0 * * sun-tue", utc(2024, 1, 1), 4),
                         ["2024-01-01", "2024-01-02", "2024-01-07", "2024-01-08"])
        self.assertEqual(days("0 0 * * 7-1", utc(2024, 1, 1), 2),
                         ["2024-01-01", "2024-01-07"])


class WrapAroundTests(unittest.TestCase):

    def test_weekdays(self):
        self.assertEqual(days("0 0 * * fri-mon", utc(2024, 1, 2), 5),
                         ["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08",
                          "2024-01-12"])
        t = CronTrigger(day_of_week="sat-mon", hour=0)    # keyword numbering
        self.assertEqual([d.day for d in fire_times(t, utc(2024, 1, 2), 3)], [6, 7, 8])

    def test_months(self):
        t = CronTrigger.from_crontab("0 0 1 nov-feb *")
        self.assertEqual([d.month for d in fire_times(t, utc(2024, 3, 1), 5)],
                         [11, 12, 1, 2, 11])

    def test_hours(self):
        t = CronTrigger.from_crontab("0 22-2 * * *")
        self.assertEqual([d.hour for d in fire_times(t, utc(2024, 1, 1, 3), 6)],
                         [22, 23, 0, 1, 2, 22])

    def test_step_goes_on_across_the_wrap(self):
        """22-2/3: 22, then 22 + 3 = 1 (croniter gives 22 and 2)."""
        t = CronTrigger.from_crontab("0 22-2/3 * * *")
        self.assertEqual([d.hour for d in fire_times(t, utc(2024, 1, 1, 3), 3)], [22, 1, 22])
        self.assertEqual(days("0 0 * * fri-mon/2", utc(2024, 1, 1), 2),
                         ["2024-01-05", "2024-01-07"])

    def test_days(self):
        self.assertEqual(days("0 0 30-2 * *", utc(2024, 2, 1), 5),
                         ["2024-02-01", "2024-02-02", "2024-03-01", "2024-03-02",
                          "2024-03-30"])

    def test_years_do_not_wrap(self):
        e = self.assertRaises(TriggerError, CronTrigger, year="2030-2025")
        self.assertIn("goes backwards", str(e))


class DayTermTests(unittest.TestCase):
    """W (nearest weekday), LW, L-n and a-L, alone and in lists."""

    def test_nearest_weekday(self):
        # June 2024: the 15th is a saturday, the 16th a sunday, the 1st a saturday.
        self.assertEqual(days("0 0 15W 6 *", utc(2024, 1, 1), 1), ["2024-06-14"])
        self.assertEqual(days("0 0 16W 6 *", utc(2024, 1, 1), 1), ["2024-06-17"])
        self.assertEqual(days("0 0 1W 6 *", utc(2024, 1, 1), 1), ["2024-06-03"])
        # 30 June 2024 is a sunday: 30W stays in June, on friday the 28th.
        self.assertEqual(days("0 0 30W 6 *", utc(2024, 1, 1), 1), ["2024-06-28"])
        self.assertEqual(days("0 0 12W * *", utc(2024, 5, 1), 2), ["2024-05-13", "2024-06-12"])

    def test_last_weekday(self):
        # The last days of March, June, August 2024 are a sunday, a sunday, a saturday.
        self.assertEqual(days("0 0 LW 3,6,8,9 *", utc(2024, 1, 1), 4),
                         ["2024-03-29", "2024-06-28", "2024-08-30", "2024-09-30"])
        t = CronTrigger(day="lw", hour=0)
        self.assertEqual(fire_times(t, utc(2024, 3, 1), 1), [utc(2024, 3, 29)])

    def test_in_lists(self):
        self.assertEqual(days("0 0 1,15W,LW 6 *", utc(2024, 1, 1), 3),
                         ["2024-06-01", "2024-06-14", "2024-06-28"])

    def test_last_in_ranges_and_lists(self):
        self.assertEqual(days("0 0 29-L 2 *", utc(2023, 1, 1), 2), ["2024-02-29", "2028-02-29"])
        self.assertEqual(days("0 0 29-L * *", utc(2024, 4, 1), 3),
                         ["2024-04-29", "2024-04-30", "2024-05-29"])
        self.assertEqual(days("0 0 1,L * *", utc(2024, 4, 2), 2), ["2024-04-30", "2024-05-01"])
        self.assertEqual(days("0 0 L-1 * *", utc(2024, 2, 1), 2), ["2024-02-28", "2024-03-30"])

    def test_errors(self):
        for line in ("0 0 1W-15W * *", "0 0 32W * *", "0 0 L-31 * *", "0 0 0W * *"):
            self.assertRaises(TriggerError, CronTrigger.from_crontab, line)


def croniter_hash(seed, index, lo, hi):
    """croniter's hash of C{seed} for a field of C{index}: what H picks."""
    crc = binascii.crc32(seed.encode()) & 0xFFFFFFFF
    return lo + (crc >> index) % (hi - lo + 1)


class HashedTests(unittest.TestCase):
    """H fields: a value from a hash of the job id."""

    def minutes(self, line, seed):
        return list(CronTrigger.from_crontab(line).bound_to(seed)._minutes)

    def test_stable_value_from_the_id(self):
        """The same minute in every process (not Python's randomized hash)."""
        t = CronTrigger.from_crontab("H H * * *").bound_to("job-1")
        self.assertEqual((list(t._hours), list(t._minutes)), ([23], [23]))
        for seed in ("backup", "respawn-forest", "\u00e9t\u00e9"):
            self.assertEqual(self.minutes("H * * * *", seed),
                             [croniter_hash(seed, 0, 0, 59)])

    def test_spreads_jobs(self):
        minutes = {self.minutes("H * * * *", "job-%d" % (i,))[0] for i in range(1000)}
        self.assertEqual(len(minutes), 60)

    def test_forms(self):
        self.assertEqual(self.minutes("H/15 * * * *", "job-1"), [8, 23, 38, 53])
        self.assertEqual(self.minutes("H(0-29)/10 * * * *", "job-1"), [3, 13, 23])
        for seed in ("a", "b", "c", "d"):
            (value,) = self.minutes("H(10-19) * * * *", seed)
            self.assertTrue(10 <= value <= 19)
            self.assertIn(0, self.minutes("0,H * * * *", seed))
        day = CronTrigger.from_crontab("0 0 H * *")
        self.assertTrue(all(1 <= day.bound_to(str(i))._day.values[0] <= 28
                            for i in range(200)))

    def test_keyword_fields(self):
        t = CronTrigger(minute="H", hour="H(9-17)").bound_to("job-1")
        self.assertEqual(len(t._minutes), 1)
        self.assertTrue(9 <= t._hours[0] <= 17)

    def test_errors(self):
        for fields in ({"year": "H"}, {"minute": "H(30-20)"}, {"minute": "H/0"},
                       {"minute": "H(0-99)"}, {"minute": "H(a-b)"}):
            self.assertRaises(TriggerError, CronTrigger, **fields)

    def test_unbound_hashes_the_empty_id(self):
        t = CronTrigger.from_crontab("H * * * *")
        self.assertEqual(list(t._minutes), [croniter_hash("", 0, 0, 59)])
        self.assertNotIn("hash_seed", t.to_dict())

    def test_binding(self):
        t = CronTrigger.from_crontab("H * * * *")
        bound = bind_trigger(t, "job-1")
        self.assertEqual(bound.hash_seed, "job-1")
        self.assertIs(bind_trigger(bound, "job-1"), bound)
        plain = CronTrigger(hour=1)
        self.assertIs(bind_trigger(plain, "job-1"), plain)
        combined = OrTrigger([plain, AndTrigger([t, CronTrigger(hour="*")])])
        inner = bind_trigger(combined, "job-1").triggers[1].triggers[0]
        self.assertEqual(inner.hash_seed, "job-1")

    def test_json_round_trip(self):
        bound = CronTrigger.from_crontab("H H * * *", timezone="Europe/Berlin").bound_to("j")
        data = json.loads(json.dumps(bound.to_dict()))
        self.assertEqual(data["hash_seed"], "j")
        again = trigger_from_dict(data)
        self.assertEqual(again, bound)
        self.assertEqual(again.next_fire_time(None, utc(2024, 1, 1)),
                         bound.next_fire_time(None, utc(2024, 1, 1)))


class HashedJobTests(unittest.TestCase):
    """The scheduler binds H to the job id wherever a job gets a trigger."""

    def setUp(self):
        self.sched, self.clock = make_scheduler(self)
        self.sched.task("greet")(lambda: None)

    def minute(self, job):
        return job.next_run_time.minute

    def test_add_job(self):
        trigger = CronTrigger.from_crontab("H * * * *")
        jobs = [self.successResultOf(self.sched.add_job("greet", trigger, id="job-%d" % (i,)))
                for i in range(20)]
        for job in jobs:
            self.assertEqual(self.minute(job), croniter_hash(job.id, 0, 0, 59))
        self.assertGreater(len({self.minute(job) for job in jobs}), 10)

    def test_generated_id(self):
        job = self.successResultOf(self.sched.add_job("greet", "cron", crontab="H * * * *"))
        self.assertEqual(job.trigger.hash_seed, job.id)

    def test_reschedule_and_modify(self):
        self.successResultOf(self.sched.add_job("greet", "interval", hours=1, id="backup"))
        job = self.successResultOf(self.sched.reschedule_job(
            "backup", trigger="cron", crontab="H * * * *"))
        self.assertEqual(self.minute(job), croniter_hash("backup", 0, 0, 59))
        job = self.successResultOf(self.sched.modify_job(
            "backup", trigger=CronTrigger.from_crontab("H H * * *")))
        self.assertEqual(job.trigger.hash_seed, "backup")

    def test_stored_job_round_trip(self):
        """The JSON form the Redis store keeps gives back the same trigger."""
        job = self.successResultOf(self.sched.add_job(
            "greet", "cron", crontab="H H * * *", id="nightly"))
        data = json.loads(json.dumps(job.to_dict()))
        again = Job.from_dict(self.sched, data, tasks=self.sched.tasks)
        self.assertEqual(again.trigger, job.trigger)
        self.assertEqual(again.trigger.next_fire_time(None, utc(2030, 1, 1)),
                         job.trigger.next_fire_time(None, utc(2030, 1, 1)))

    def test_control_port(self):
        conn = AMPConnection(ControlFactory(self.sched), self.clock)
        d = conn.client.add_job("greet", ("cron", "H * * * *"), id="herd-7")
        conn.settle()
        job = self.successResultOf(d)
        self.assertEqual(self.successResultOf(self.sched.get_job("herd-7")).next_run_time.minute,
                         croniter_hash("herd-7", 0, 0, 59))
        self.assertEqual(job.data["trigger_dict"]["hash_seed"], "herd-7")


class MacroTests(unittest.TestCase):
    """@yearly .. @hourly in from_crontab, the control port and the console."""

    MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
              "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
              "@hourly": "0 * * * *"}

    def test_from_crontab(self):
        for macro, line in self.MACROS.items():
            self.assertEqual(fire_times(CronTrigger.from_crontab(macro), utc(2024, 3, 5, 7), 3),
                             fire_times(CronTrigger.from_crontab(line), utc(2024, 3, 5, 7), 3))
        self.assertEqual(fire_times(CronTrigger.from_crontab(" @Weekly "), utc(2024, 1, 1), 1),
                         [utc(2024, 1, 7)])
        for line in ("@fortnightly", "@reboot"):
            e = self.assertRaises(TriggerError, CronTrigger.from_crontab, line)
            self.assertIn("unknown macro %r (known: @yearly" % (line,), str(e))

    def test_control_port_and_console(self):
        sched, clock = make_scheduler(self)
        sched.task("greet")(lambda: None)
        conn = AMPConnection(ControlFactory(sched), clock)
        session = ConsoleConnection(ConsoleFactory(sched))
        for macro in self.MACROS:
            d = conn.client.add_job("greet", ("cron", macro), id="amp" + macro)
            conn.settle()
            self.successResultOf(d)
            session.send(b"add greet cron %s id=console%s" % (macro.encode(), macro.encode()))
        self.assertNotIn(b"error", session.take())
        for macro, line in self.MACROS.items():
            want = fire_times(CronTrigger.from_crontab(line), sched.now(), 3)
            for prefix in ("amp", "console"):
                job = self.successResultOf(sched.get_job(prefix + macro))
                self.assertEqual(fire_times(job.trigger, sched.now(), 3), want)


class PeerTableTests(unittest.TestCase):
    """
    The croniter and APScheduler 3 cells of docs/triggers.rst's comparison
    table, checked against the installed packages, next to ours.
    """

    def setUp(self):
        import warnings
        from zoneinfo import ZoneInfo
        warnings.filterwarnings("ignore", module="apscheduler")
        self.tz = ZoneInfo("America/New_York")

    def croniter_times(self, line, start, count=2):
        from croniter import croniter
        it = croniter(line, start.astimezone(self.tz))
        return [it.get_next(type(start)).astimezone(self.tz).strftime("%d %H:%M%z")
                for _ in range(count)]

    def apscheduler_times(self, start, count=2, **fields):
        from apscheduler.triggers.cron import CronTrigger as APSCronTrigger
        t, out, previous = APSCronTrigger(timezone=self.tz, **fields), [], None
        for _ in range(count):
            previous = t.get_next_fire_time(previous, previous or start.astimezone(self.tz))
            instant = previous.astimezone(_dt.timezone.utc)   # it may be a wall time in a gap
            out.append(instant.astimezone(self.tz).strftime("%d %H:%M%z"))
        return out

    def our_times(self, line, start, count=2):
        t = CronTrigger.from_crontab(line, timezone=self.tz)
        return [f.astimezone(self.tz).strftime("%d %H:%M%z")
                for f in fire_times(t, start, count)]

    def test_dst_gap(self):
        """02:30 on 10 March 2024 in New York does not exist."""
        start = utc(2024, 3, 9, 12)
        self.assertEqual(self.our_times("30 2 * * *", start), ["11 02:30-0400", "12 02:30-0400"])
        self.assertEqual(self.croniter_times("30 2 * * *", start)[0], "10 03:00-0400")
        self.assertEqual(self.apscheduler_times(start, hour=2, minute=30)[0], "10 03:30-0400")

    def test_repeated_hour(self):
        """01:30 on 3 November 2024 in New York occurs twice."""
        start = utc(2024, 11, 2, 12)
        self.assertEqual(self.our_times("30 1 * * *", start), ["03 01:30-0400", "04 01:30-0500"])
        twice = ["03 01:30-0400", "03 01:30-0500"]
        self.assertEqual(self.croniter_times("30 1 * * *", start), twice)
        self.assertEqual(self.apscheduler_times(start, hour=1, minute=30), twice)

    def test_syntax_cells(self):
        from apscheduler.triggers.cron import CronTrigger as APSCronTrigger
        from croniter import croniter
        self.assertEqual(croniter.expand("0 22-2/3 * * *")[0][1], [2, 22])
        self.assertRaises(ValueError, APSCronTrigger.from_crontab, "0 22-2 * * *")
        sunday = APSCronTrigger.from_crontab("0 0 * * 0", timezone="UTC")
        self.assertEqual(sunday.get_next_fire_time(None, utc(2024, 1, 1)), utc(2024, 1, 1))
        self.assertRaises(ValueError, croniter, "0 0 LW * *")
        self.assertEqual(croniter.expand("0 0 15W * *")[0][2], [15])
        self.assertRaises(ValueError, croniter, "0 0 1,15W * *")
        for line in ("0 0 L * *", "0 0 15W * *", "H * * * *"):
            self.assertRaises(ValueError, APSCronTrigger.from_crontab, line)


class HashedRedisTests(RedisTestCase):
    """An H trigger through a real Redis store: a second scheduler reads the same times."""

    @defer.inlineCallbacks
    def test_round_trip(self):
        sched, clock = self.make_scheduler()
        job = yield sched.add_job("record", "cron", crontab="H H * * *", id="nightly-7",
                                  jobstore="redis")
        other, _ = self.make_scheduler(clock=clock)
        loaded = yield other.get_job("nightly-7", "redis")
        self.assertEqual(loaded.trigger, job.trigger)
        self.assertEqual(loaded.trigger.hash_seed, "nightly-7")
        self.assertEqual(loaded.next_run_time, job.next_run_time)
        self.assertEqual((loaded.next_run_time.hour, loaded.next_run_time.minute),
                         (croniter_hash("nightly-7", 1, 0, 23), croniter_hash("nightly-7", 0, 0, 59)))


class CompactValuesTests(unittest.TestCase):
    """A parsed field keeps its values in little memory (issue 13 item 7)."""

    def test_a_few_values_are_a_list(self):
        self.assertEqual(compact_values({50, 5, 20}), [5, 20, 50])
        self.assertEqual(compact_values(set()), [])

    def test_evenly_spaced_values_are_a_range(self):
        self.assertEqual(compact_values(set(range(1970, 10000))), range(1970, 10000))
        self.assertEqual(compact_values(set(range(2000, 3000, 7))), range(2000, 3000, 7))

    def test_other_values_are_an_array(self):
        values = compact_values(set(range(2000, 2100)) | {2500})
        self.assertEqual((values.typecode, list(values)),
                         ("H", list(range(2000, 2100)) + [2500]))

    def test_a_cron_trigger_is_small(self):
        """Every year from 1970 to 9999 is no longer 8,030 ints per trigger."""
        trigger = CronTrigger.from_crontab("0 4 * * *")
        self.assertLess(sys.getsizeof(trigger._years), 100)
        years = CronTrigger(year="1970-2000,2002-9999")._years
        self.assertLess(sys.getsizeof(years), 2 * 8030 + 100)
        self.assertEqual((years[0], years[-1], 2001 in years, len(years)),
                         (1970, 9999, False, 8029))
