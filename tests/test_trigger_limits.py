"""
The work a trigger may cost is bounded (issue 13 item 4): one budget of
steps for each fire time, shared by a whole tree of nested triggers, and
bounds on nesting depth and tree size.  Tested on the triggers and through
the control port and the console, with the hostile triggers.
"""

import json
from datetime import timedelta

from twisted.trial import unittest
from zope.interface import implementer

from tests.helpers import make_scheduler, utc
from tests.test_security import AMPConnection, ConsoleConnection
from twistedsched import events as ev
from twistedsched.client import InvalidTrigger
from twistedsched.console import ConsoleFactory
from twistedsched.control import ControlFactory
from twistedsched.errors import TriggerError
from twistedsched.interfaces import ITrigger
from twistedsched.scheduler import CATCH_UP_WORK, DUE_LIMIT
from twistedsched.triggers import AndTrigger, CronTrigger, OrTrigger, budget, trigger_from_dict
from twistedsched.triggers.budget import (
    MAX_DEPTH, MAX_TRIGGERS, MAX_WORK, TriggerWorkError, WorkBudget)

#: Nested 'and's whose parts never meet: before the shared budget, each level
#: had its own 10,000 rounds and the levels multiplied.
HOSTILE_AND = {"type": "and", "triggers": [
    {"type": "and", "triggers": [{"type": "cron", "crontab": "1 * * * * *"},
                                 {"type": "cron", "crontab": "2 * * * * *"}]},
    {"type": "cron", "crontab": "* * * * *"}]}
#: A rule that only matches inside DST gaps: 02:30 on the last sunday of March
#: in Berlin, where clocks jump from 02:00 to 03:00 on that day.
GAPS_ONLY = {"type": "cron", "crontab": "30 2 * 3 0L", "timezone": "Europe/Berlin"}


def nested(depth, leaf=None):
    """An 'and' tree C{depth} levels deep."""
    trigger = leaf or {"type": "cron", "crontab": "0 * * * *"}
    for _ in range(depth):
        trigger = {"type": "and", "triggers": [trigger]}
    return trigger


class RecordingBudget(WorkBudget):
    """A WorkBudget that keeps a list of every instance made."""
    made = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.made.append(self)


class BudgetTests(unittest.TestCase):

    def test_spend_past_limit(self):
        work = WorkBudget(3)
        work.spend(3)
        self.assertRaises(TriggerWorkError, work.spend)
        self.assertTrue(issubclass(TriggerWorkError, TriggerError))

    def test_parts_share_the_outer_budget(self):
        """One budget per fire time for the whole tree, not one per level."""
        self.patch(budget, "WorkBudget", RecordingBudget)
        RecordingBudget.made = []
        self.assertRaises(TriggerWorkError, trigger_from_dict(HOSTILE_AND).next_fire_time,
                          None, utc(2024, 1, 1))
        self.assertEqual(len(RecordingBudget.made), 4)      # 3 checks of crons, computing it
        self.assertEqual(RecordingBudget.made[-1].spent, MAX_WORK + 1)

    def test_each_fire_time_has_its_own_budget(self):
        """A trigger that fires often is not worn out by many computations."""
        t = AndTrigger([CronTrigger(second="*/2"), CronTrigger(second="*/3")])
        moment = utc(2024, 1, 1)
        for _ in range(2 * MAX_WORK):
            moment = t.next_fire_time(moment, moment)
        self.assertEqual(moment, utc(2024, 1, 1, 3, 20))

    def test_never_meeting_and_is_an_error(self):
        t = AndTrigger([CronTrigger(second=1), CronTrigger(second=2)])
        e = self.assertRaises(TriggerWorkError, t.next_fire_time, None, utc(2024, 1, 1))
        self.assertIn("more than %d steps of work" % (MAX_WORK,), str(e))

    def test_gaps_only_cron_is_an_error(self):
        t = trigger_from_dict(GAPS_ONLY)
        self.assertRaises(TriggerWorkError, t.next_fire_time, None, utc(2024, 1, 1))

    def test_or_spends_too(self):
        """An 'or' of costly parts spends from the same budget."""
        t = OrTrigger([trigger_from_dict(GAPS_ONLY), CronTrigger(year=2020)])
        self.assertRaises(TriggerWorkError, t.next_fire_time, None, utc(2024, 1, 1))

    def test_costly_check_at_construction(self):
        """Checking that a rule can fire at all is bounded as well."""
        self.assertRaises(TriggerWorkError, CronTrigger, day="1-28", day_of_week="mon",
                          week=53, month="2-11")

    def test_library_trees_load_back(self):
        """
        Each part of a tree built in Python is checked on its own budget, and
        so again when it is read back (from a store): what was built loads.
        """
        leap_mondays = [CronTrigger(month=2, day=29, day_of_week="mon", minute=i)
                        for i in range(MAX_TRIGGERS - 1)]
        tree = OrTrigger(leap_mondays)
        self.assertEqual(trigger_from_dict(tree.to_dict()), tree)


class TreeTests(unittest.TestCase):

    def test_depth(self):
        trigger_from_dict(nested(MAX_DEPTH))
        e = self.assertRaises(TriggerError, trigger_from_dict, nested(MAX_DEPTH + 1))
        self.assertIn("nest at most %d deep" % (MAX_DEPTH,), str(e))

    def test_depth_of_objects(self):
        t = CronTrigger(hour=1)
        for _ in range(MAX_DEPTH):
            t = OrTrigger([t])
        self.assertRaises(TriggerError, AndTrigger, [t])

    def test_very_deep_dict_is_refused_before_it_is_built(self):
        """No RecursionError: the depth is checked without recursion."""
        e = self.assertRaises(TriggerError, trigger_from_dict, nested(5000))
        self.assertIn("nest at most", str(e))

    def test_size(self):
        leaves = [{"type": "cron", "crontab": "%d * * * *" % (i,)}
                  for i in range(MAX_TRIGGERS - 1)]
        trigger_from_dict({"type": "or", "triggers": leaves})
        e = self.assertRaises(TriggerError, trigger_from_dict,
                              {"type": "or", "triggers": leaves + [leaves[0]]})
        self.assertIn("at most %d triggers" % (MAX_TRIGGERS,), str(e))

    def test_size_across_levels(self):
        half = [{"type": "cron", "crontab": "%d * * * *" % (i,)}
                for i in range(MAX_TRIGGERS // 2)]
        self.assertRaises(TriggerError, trigger_from_dict, {"type": "or", "triggers": [
            {"type": "or", "triggers": half}, {"type": "or", "triggers": half}]})


@implementer(ITrigger)
class GivesUpLater:
    """Fires once, then fails as a trigger out of budget does."""
    timezone = jitter = None

    def next_fire_time(self, previous, now):
        if previous is None:
            return utc(2030, 1, 1)
        raise TriggerWorkError("too much work")

    def to_dict(self):
        return {"type": "gives-up"}


class RemoteTests(unittest.TestCase):
    """The hostile triggers through the control port and the console."""

    def setUp(self):
        self.sched, self.clock = make_scheduler(self)
        self.sched.task("greet")(lambda: None)
        self.calls = 0
        original = CronTrigger.next_fire_time

        def counting(trigger, previous, now):
            self.calls += 1
            if self.calls > 10 * MAX_WORK:
                raise AssertionError("unbounded work")
            return original(trigger, previous, now)
        self.patch(CronTrigger, "next_fire_time", counting)

    def test_a_remote_tree_is_built_on_one_budget(self):
        """What a remote client sends is built within one budget, however many parts."""
        conn = AMPConnection(ControlFactory(self.sched), self.clock)
        leap_mondays = [{"type": "cron", "month": 2, "day": 29, "day_of_week": "mon",
                         "minute": i} for i in range(MAX_TRIGGERS - 1)]
        d = conn.client.add_job("greet", ("json", json.dumps(
            {"type": "or", "triggers": leap_mondays})))
        conn.settle()
        self.assertIn("steps of work", self.failureResultOf(d, InvalidTrigger).getErrorMessage())
        d = conn.client.add_job("greet", ("json", json.dumps(
            {"type": "or", "triggers": leap_mondays[:4]})))
        conn.settle()
        self.successResultOf(d)

    def test_control_port(self):
        conn = AMPConnection(ControlFactory(self.sched), self.clock)
        for spec in (HOSTILE_AND, GAPS_ONLY):
            self.calls = 0
            d = conn.client.add_job("greet", ("json", json.dumps(spec)), id="hostile")
            conn.settle()
            failure = self.failureResultOf(d, InvalidTrigger)
            self.assertIn("steps of work", failure.getErrorMessage())
            self.assertLessEqual(self.calls, MAX_WORK)
        d = conn.client.add_job("greet", ("json", json.dumps(nested(50))))
        conn.settle()
        self.failureResultOf(d, InvalidTrigger)
        self.assertEqual(self.successResultOf(self.sched.get_jobs()), [])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_console(self):
        session = ConsoleConnection(ConsoleFactory(self.sched))
        session.take()
        session.send(b"add greet json '%s'" % (json.dumps(HOSTILE_AND).encode(),))
        self.assertRegex(session.take(), rb"^error: .*steps of work")
        self.assertLessEqual(self.calls, MAX_WORK)
        session.send(b"jobs")
        self.assertNotIn(b"error", session.take())

    def test_trigger_that_gives_up_later_ends_the_job(self):
        """At run time the job ends with a logged error; the scheduler goes on."""
        self.successResultOf(self.sched.add_job("greet", GivesUpLater(), id="late"))
        self.successResultOf(self.sched.add_job("greet", "interval", hours=1, id="other"))
        self.clock.advance((utc(2030, 1, 1) - self.sched.now()).total_seconds())
        self.assertIsNone(self.successResultOf(self.sched.get_job("late")))
        self.assertIsNotNone(self.successResultOf(self.sched.get_job("other")))


@implementer(ITrigger)
class CostlyEveryMinute:
    """Fires every minute from 2030-01-01, each fire time costing 900 steps of work."""
    timezone = jitter = None

    def __init__(self):
        self.calls = 0

    def next_fire_time(self, previous, now):
        self.calls += 1
        budget.spend(900)
        if previous is None:
            return max(utc(2030, 1, 1), now.replace(second=0, microsecond=0))
        return previous + timedelta(minutes=1)

    def to_dict(self):
        return {"type": "costly"}


class CatchUpTests(unittest.TestCase):
    """
    After downtime, listing a job's overdue runs is bounded in total trigger
    work (scheduler.CATCH_UP_WORK), not only per fire time: 1,000 overdue
    runs of a trigger just under its budget would stall the reactor seconds.
    """

    def test_catch_up_work_is_bounded(self):
        sched, clock = make_scheduler(self)
        sched.task("greet")(lambda: None)
        trigger = CostlyEveryMinute()
        self.successResultOf(sched.add_job("greet", trigger, id="costly", coalesce=True,
                                           misfire_grace_time=None))
        runs = []
        sched.add_listener(runs.append, ev.EVENT_JOB_MISSED)
        sched.pause()
        clock.advance((utc(2030, 1, 1) - sched.now()).total_seconds() + 3 * 24 * 3600)
        trigger.calls = 0
        sched.resume()
        clock.advance(0)
        self.assertLessEqual(trigger.calls * 900, CATCH_UP_WORK + 4 * 900)
        self.assertEqual(len(runs), 1)
        self.assertLess(len(runs[0].scheduled_run_times), DUE_LIMIT)
        history = self.successResultOf(sched.job_history("costly"))
        self.assertTrue(any(r["outcome"] == "missed" and r["error"].startswith("at least ")
                            for r in history), history)
        self.assertGreater(self.successResultOf(sched.get_job("costly")).next_run_time,
                           sched.now())
