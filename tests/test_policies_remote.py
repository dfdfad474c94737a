"""
The job policies from every side: the AMP client, the console, and two
schedulers sharing a Redis store.
"""

import datetime as _dt
import json
import os
import re
import time
import uuid

from twisted.internet import defer, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.task import deferLater
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched import events as ev
from twistedsched.client import BadArgument, InvalidTrigger, NoSuchJob, connect
from twistedsched.control import ControlFactory
from twistedsched.stores.redis import RedisJobStore
from twistedsched.tasks import TaskRegistry

from tests.helpers import EventRecorder, make_clock
from tests.redisserver import shared_server
from tests.test_console import ConsoleTestCase, Session
from tests.test_ctl import DaemonTestCase as CtlDaemonTestCase

calls = []


def record(*args):
    calls.append(args)
    return len(calls)


def fail():
    raise ValueError("boom")


class ClientTestCase(unittest.TestCase):
    """A scheduler on the real reactor, and a client connected to its control port."""

    timeout = 30

    @defer.inlineCallbacks
    def setUp(self):
        self.sched = Scheduler(reactor=reactor, timezone="UTC")
        self.sched.task("greet")(lambda: None)
        self.sched.task("answer")(lambda: {"answer": 42})
        self.sched.startService()
        self.addCleanup(self.sched.shutdown)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            ControlFactory(self.sched))
        self.addCleanup(port.stopListening)
        self.client = yield connect(reactor, "tcp:127.0.0.1:%d" % (port.getHost().port,))
        self.addCleanup(self.client.close)


class ClientTests(ClientTestCase):
    """Next fire times and policy options over a real loopback AMP connection."""

    @defer.inlineCallbacks
    def test_next_of_a_trigger_not_added(self):
        times = yield self.client.next_fire_times(count=5, trigger=("cron", "0 4 * * mon-fri"))
        self.assertEqual(len(times), 5)
        for when in times:
            self.assertEqual((when.hour, when.minute, when.utcoffset()),
                             (4, 0, _dt.timedelta(0)))
            self.assertLess(when.weekday(), 5)
        self.assertEqual(times, sorted(times))

    @defer.inlineCallbacks
    def test_next_of_a_job(self):
        job = yield self.client.add_job("greet", ("interval", "1h"), id="g")
        times = yield self.client.next_fire_times("g", 3)
        self.assertEqual(times[0], job.next_run_time)
        self.assertEqual([b - a for a, b in zip(times, times[1:])], [_dt.timedelta(hours=1)] * 2)

    @defer.inlineCallbacks
    def test_next_errors(self):
        yield self.assertFailure(self.client.next_fire_times("nope"), NoSuchJob)
        yield self.assertFailure(self.client.next_fire_times(), BadArgument)
        yield self.assertFailure(self.client.next_fire_times(
            "g", trigger=("cron", "* * * * *")), BadArgument)
        e = yield self.assertFailure(self.client.next_fire_times(
            count=101, trigger=("cron", "* * * * *")), BadArgument)
        self.assertIn("from 1 to 100", str(e))
        yield self.assertFailure(self.client.next_fire_times(
            trigger=("cron", "61 * * * *")), InvalidTrigger)

    @defer.inlineCallbacks
    def test_result_in_history(self):
        yield self.client.add_job("answer", ("interval", "1h"), id="a")
        yield self.client.run_job("a")
        job = yield self.client.get_job("a")
        self.assertEqual(job.history[0]["result"], {"answer": 42})

    @defer.inlineCallbacks
    def test_policy_options_and_state(self):
        job = yield self.client.add_job("greet", ("interval", "1h"), id="g", max_runs=3,
                                        pause_after_failures=2)
        self.assertEqual((job.options["max_runs"], job.options["pause_after_failures"]), (3, 2))
        self.assertEqual(job.data["policy_state"],
                         {"runs": 0, "failures": 0, "paused_reason": None})
        job = yield self.client.modify_job("g", max_runs=None)
        self.assertIsNone(job.options["max_runs"])
        e = yield self.assertFailure(self.client.add_job(
            "greet", ("interval", "1h"), max_runs=0), BadArgument)
        self.assertIn("max_runs: expected a whole number >= 1", str(e))
        yield self.assertFailure(self.client.modify_job("g", pause_after_failures="2"),
                                 BadArgument)
        yield self.assertFailure(self.client.modify_job("g", policy_state={}), BadArgument)


class CountsInExportsTests(ClientTestCase):
    """An export keeps a job's counts, so that an import goes on counting."""

    @defer.inlineCallbacks
    def test_counts_carried_by_an_export(self):
        from twistedsched.ctl import export_entry, import_entry
        self.sched.remote_min_interval = 0      # (runs by hand at once)
        yield self.client.add_job("greet", ("interval", "1h"), id="g", max_runs=3)
        yield self.client.run_job("g")
        yield deferLater(reactor, 0, lambda: None)
        [exported] = [export_entry(job.data) for job in (yield self.client.get_jobs())]
        self.assertEqual(exported["options"]["policy_state"], {"runs": 1})
        yield self.client.remove_job("g")
        [result] = yield self.client.add_jobs([import_entry(exported)])
        self.assertNotIn("error", result)
        job = yield self.client.get_job("g")
        self.assertEqual(job.data["policy_state"]["runs"], 1)
        yield self.client.run_job("g")
        yield self.client.run_job("g")
        yield deferLater(reactor, 0, lambda: None)
        self.assertIsNone((yield self.client.get_job("g")))     # 3 runs in all: removed

    @defer.inlineCallbacks
    def test_bad_counts_refused(self):
        for bad in ({"runs": -1}, {"bogus": 1}, "x", {"runs": True}, {"failures": 1.5}):
            e = yield self.assertFailure(self.client.add_job(
                "greet", ("interval", "1h"), policy_state=bad), BadArgument)
            self.assertIn("policy_state", str(e))
        self.assertEqual((yield self.client.get_jobs()), [])


class ConsolePolicyTests(ConsoleTestCase):
    """The console's next command, and the policies in add, show and jobs."""

    def test_next_of_a_trigger(self):
        lines = self.session.cmd('next cron "0 4 * * mon-fri" -n 3')
        # The session's zone is Europe/Paris; START is Monday 2026-01-05 13:00 there.
        self.assertEqual(lines, ["Tue  2026-01-06 04:00:00+01:00",
                                 "Wed  2026-01-07 04:00:00+01:00",
                                 "Thu  2026-01-08 04:00:00+01:00"])

    def test_next_of_a_job(self):
        self.add("greet", "interval", seconds=30, id="g")
        lines = self.session.cmd("next g -n 2")
        self.assertEqual([line.split()[2] for line in lines], ["13:00:30+01:00", "13:01:00+01:00"])
        self.assertEqual(len(self.session.cmd("next g")), 10)

    def test_next_errors(self):
        self.assertIn("usage: next", self.session.error("next"))
        self.assertIn("-n needs a whole number", self.session.error("next g -n"))
        self.assertIn("-n needs a whole number", self.session.error("next g -n x"))
        self.assertIn("from 1 to 100", self.session.error("next g -n 0"))
        self.assertIn("from 1 to 100", self.session.error("next g -n 101"))
        self.assertIn("no job", self.session.error("next nope").lower())
        self.assertIn("unknown trigger kind", self.session.error("next daily 4am"))

    def test_paused_job_has_no_times(self):
        self.add("greet", "interval", seconds=30, id="g", next_run_time=None)
        self.assertEqual(self.session.cmd("next g"),
                         ["no fire times (paused, or the trigger has ended)"])

    def test_add_and_show_policies(self):
        self.session.cmd("add boom every 30s id=b max_runs=5 pause_after_failures=2")
        self.clock.advance(30)
        self.clock.advance(30)
        self.flushLoggedErrors(ValueError)
        lines = self.session.cmd("show b")
        fields = dict(re.split(r":\s+", line, maxsplit=1) for line in lines
                      if ": " in line and not line.startswith(" "))
        self.assertEqual(fields["max_runs"], "5")
        self.assertEqual(fields["pause_after_failures"], "2")
        self.assertEqual(fields["runs"], "2 of 5")
        self.assertEqual(fields["state"], "paused (failures)")
        self.assertEqual(fields["paused because"],
                         "paused after 2 failed runs in a row (last: ValueError: boom)")
        [row] = [line for line in self.session.cmd("jobs") if line.startswith("b ")]
        self.assertTrue(row.endswith("paused (failures)"), row)
        self.session.cmd("resume b")
        self.assertNotIn("paused because", " ".join(self.session.cmd("show b")))

    def test_show_last_result(self):
        self.add("greet", "interval", seconds=30, id="g", args=("you",))
        self.clock.advance(30)
        lines = Session(self, self.sched).cmd("show g")
        self.assertIn('last result: "hello you" (due 2026-01-05 13:00:30+01:00)', lines)

    def test_cancel(self):
        waiting = defer.Deferred()
        self.sched.task("waits")(lambda: waiting)
        self.add("waits", "interval", seconds=30, id="w")
        self.clock.advance(30)
        self.assertEqual(self.session.cmd("cancel w"), ["cancelled 1 running instance of w"])
        self.assertEqual(self.session.cmd("cancel w"), ["cancelled 0 running instances of w"])
        self.assertIn("no job with id 'nope'", self.session.error("cancel nope"))
        self.assertIn("usage: cancel ID", self.session.error("cancel"))
        self.flushLoggedErrors(defer.CancelledError)

    def test_backfill(self):
        self.add("greet", "cron", minute="*/30", id="g", args=("you",))
        lines = self.session.cmd("backfill g 2026-01-05T11:00 2026-01-05T12:00")
        self.assertEqual(lines, ["backfilling g: 3 runs", "  2026-01-05 11:00:00+01:00",
                                 "  2026-01-05 11:30:00+01:00", "  2026-01-05 12:00:00+01:00"])
        self.assertIn("usage: backfill ID FROM TO", self.session.error("backfill g"))
        self.assertIn("is in the future",
                      self.session.error("backfill g 2026-01-05T11:00 2026-01-06T11:00"))

    def test_exclude(self):
        self.sched.add_calendar("holidays", ["2026-01-06"])
        self.session.cmd("""add greet cron "0 4 * * *" id=x exclude='["holidays"]'""")
        lines = self.session.cmd("next x -n 2")
        self.assertEqual([line.split()[1] for line in lines], ["2026-01-07", "2026-01-08"])
        self.assertIn('exclude:              ["holidays"]', self.session.cmd("show x"))
        self.assertIn("no calendar named 'nope'",
                      self.session.error("""add greet cron "0 4 * * *" exclude='["nope"]'"""))

    def test_overlap(self):
        waiting = defer.Deferred()
        self.sched.task("waits")(lambda: waiting)
        self.session.cmd("add waits every 30s id=w overlap=buffer_one")
        self.assertIn("overlap:              buffer_one", self.session.cmd("show w"))
        self.clock.advance(30)
        self.clock.advance(30)
        session = Session(self, self.sched)
        self.assertIn("state:                running", session.cmd("show w"))
        self.assertIn("overlap: expected one of",
                      session.error("add greet every 30s overlap=queue"))

    def test_modify_and_reschedule(self):
        self.add("greet", "interval", seconds=30, id="g", args=("you",))
        self.assertEqual(self.session.cmd("""modify g name=hello args='["me"]' max_runs=3"""),
                         ["modified job g; next run: 2026-01-05 13:00:30+01:00"])
        job = self.successResultOf(self.sched.get_job("g"))
        self.assertEqual((job.name, job.args, job.max_runs), ("hello", ("me",), 3))
        self.assertEqual(self.session.cmd('reschedule g cron "0 4 * * *"'),
                         ["rescheduled job g: cron['0 4 * * *']; next run: "
                          "2026-01-06 04:00:00+01:00"])
        self.assertIn("usage: modify ID OPTION=VALUE", self.session.error("modify g"))
        self.assertIn("expected OPTION=VALUE", self.session.error("modify g id=x"))
        self.assertIn("no job with id 'nope'", self.session.error("modify nope name=x"))
        self.assertIn("usage: reschedule", self.session.error("reschedule g cron"))
        self.assertIn("unknown trigger kind", self.session.error("reschedule g daily 4"))

    def test_add_in_a_zone_of_its_own(self):
        self.session.cmd('add greet cron "0 4 * * *" id=tokyo timezone=Asia/Tokyo')
        self.session.cmd("add greet at 2026-01-06T04:00 id=once timezone=Asia/Tokyo")
        self.session.cmd("add greet every 1h id=hourly timezone=Asia/Tokyo")
        for job_id in ("tokyo", "once"):
            job = self.successResultOf(self.sched.get_job(job_id))
            self.assertEqual(job.next_run_time.isoformat(), "2026-01-05T19:00:00+00:00")
        self.assertEqual(str(self.successResultOf(self.sched.get_job("hourly")).trigger),
                         "interval[1:00:00]")
        self.assertIn("Nowhere/Zone", self.session.error(
            'add greet cron "0 4 * * *" timezone=Nowhere/Zone'))

    def test_bad_policy_option(self):
        self.assertIn("max_runs: expected a whole number >= 1",
                      self.session.error("add greet every 30s max_runs=0"))


def registry():
    tasks = TaskRegistry()
    tasks.register("record", record)
    tasks.register("fail", fail)
    return tasks


class RedisTestCase(unittest.TestCase):
    """Schedulers on Clocks sharing a Redis namespace of their own."""

    timeout = 60

    def setUp(self):
        self.server = shared_server()
        self.namespace = "p-%s" % (uuid.uuid4().hex[:12],)
        del calls[:]

    def make_scheduler(self):
        clock = make_clock()
        sched = Scheduler(reactor=clock, tasks=registry())
        store = RedisJobStore(self.server.url(), namespace=self.namespace, timeout=2)
        self.addCleanup(store.shutdown)
        sched.add_jobstore(store, alias="redis")
        sched.startService()
        self.addCleanup(sched.shutdown, False)
        return sched, clock

    @defer.inlineCallbacks
    def settle(self, clocks, sched, check, timeout=5.0):
        """Turn the real reactor (Redis) and fire what is due, until C{check(job)}."""
        deadline = time.monotonic() + timeout
        while True:
            for clock in clocks:
                clock.advance(0)
            job = yield sched.get_job("j", "redis")
            if check(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError("timed out; the job is %r" % (job,))
            yield deferLater(reactor, 0.01, lambda: None)


class RedisPolicyTests(RedisTestCase):
    """Policy state lives in the stored job: two schedulers on one Redis share it."""

    @defer.inlineCallbacks
    def test_max_runs_counts_across_schedulers(self):
        (a, clock_a), (b, clock_b) = self.make_scheduler(), self.make_scheduler()
        removed = EventRecorder(a, ev.EVENT_JOB_REMOVED)
        removed_b = EventRecorder(b, ev.EVENT_JOB_REMOVED)
        yield a.add_job("record", "interval", seconds=10, id="j", jobstore="redis",
                        max_runs=3)
        for step in (1, 2):
            clock_a.advance(10)
            clock_b.advance(10)
            job = yield self.settle((clock_a, clock_b), b,
                                    lambda job: job.policy_state.get("runs") == step)
        self.assertEqual(job.max_runs, 3)
        clock_a.advance(10)
        clock_b.advance(10)
        yield self.settle((clock_a, clock_b), a, lambda job: job is None)
        self.assertEqual(len(calls), 3)
        self.assertEqual(len(removed.events) + len(removed_b.events), 1)
        # The job is gone; its history is kept a while, for both.
        runs_a, runs_b = (yield a.job_history("j", "redis")), (yield b.job_history("j", "redis"))
        self.assertEqual((len(runs_a), runs_a), (3, runs_b))
        clock_a.advance(10)
        clock_b.advance(10)
        yield deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(len(calls), 3)

    @defer.inlineCallbacks
    def test_pause_after_failures_seen_from_the_other(self):
        (a, clock_a), (b, clock_b) = self.make_scheduler(), self.make_scheduler()
        yield a.add_job("fail", "interval", seconds=10, id="j", jobstore="redis",
                        pause_after_failures=2)
        for step in (1, 2):
            clock_a.advance(10)
            clock_b.advance(10)
            yield self.settle((clock_a, clock_b), b, lambda job: job.paused or
                              job.policy_state.get("failures") == step)
        job = yield self.settle((clock_a, clock_b), b, lambda job: job.paused)
        runs = yield b.job_history("j", "redis")
        self.assertEqual([run.get("result") for run in runs], [None, None])
        self.assertEqual(job.policy_state["paused_reason"],
                         "paused after 2 failed runs in a row (last: ValueError: boom)")
        job = yield b.resume_job("j", "redis")
        self.assertFalse(job.paused)
        stored = yield a.get_job("j", "redis")
        self.assertEqual(stored.policy_state, {})
        self.flushLoggedErrors(ValueError)


class CtlPolicyTests(CtlDaemonTestCase):
    """twistedsched-ctl next, and the policy options of add and show, against a daemon."""

    def daemon_args(self):
        today = _dt.datetime.now(_dt.timezone.utc).date()
        self.holidays = [today + _dt.timedelta(days=n) for n in (1, 2, 3)]
        path = os.path.abspath(os.path.join(self.workdir, "holidays.txt"))
        with open(path, "w") as f:
            f.write("".join("%s  a holiday\n" % (day,) for day in self.holidays))
        return super().daemon_args() + ["--calendar", "holidays=" + path]

    def test_modify_reschedule_now_and_json(self):
        self.assertCtl(0, "add", "echo", "--interval", "1h", "--id", "m", "--args", '["a"]')
        out, _ = self.assertCtl(0, "modify", "m", "--name", "renamed", "--args", '["b"]',
                                "--max-instances", "3", "--no-coalesce", "--timeout", "1m",
                                "--overlap", "skip")
        self.assertIn("modified m", out)
        out, _ = self.assertCtl(0, "show", "m", "--json")
        job = json.loads(out)
        self.assertEqual((job["name"], job["args"]), ("renamed", ["b"]))
        self.assertEqual({k: job["options"][k] for k in ("max_instances", "coalesce", "timeout",
                                                          "overlap")},
                         {"max_instances": 3, "coalesce": False, "timeout": 60,
                          "overlap": "skip"})
        out, _ = self.assertCtl(0, "reschedule", "m", "--cron", "0 4 * * *")
        self.assertIn("rescheduled m: cron['0 4 * * *']", out)
        self.assertCtl(0, "reschedule", "m", "--cron", "0 4 * * *", "--timezone", "Asia/Tokyo")
        out, _ = self.assertCtl(0, "next", "m", "-n", "1", "--json")
        self.assertTrue(json.loads(out)[0].endswith("T19:00:00+00:00"), out)
        out, _ = self.assertCtl(0, "next", "--cron", "0 4 * * *", "--timezone", "Asia/Tokyo",
                                "-n", "1", "--json")
        self.assertTrue(json.loads(out)[0].endswith("T19:00:00+00:00"), out)
        _, err = self.assertCtl(2, "add", "echo", "--cron", "0 4 * * *", "--timezone", "Mars/X")
        self.assertIn("--timezone", err)
        out, _ = self.assertCtl(0, "add", "echo", "--now", "--id", "once", "--args", '["n"]')
        self.assertIn("added once", out)
        out, _ = self.assertCtl(0, "list", "--json")
        self.assertEqual([job["id"] for job in json.loads(out)], ["m"])     # once has run
        out, _ = self.assertCtl(0, "show", "once")              # its runs are kept
        self.assertTrue(out.startswith("job 'once' has ended (it is no longer scheduled)"), out)
        self.assertIn(" ok ", out)
        out, _ = self.assertCtl(0, "show", "once", "--json")
        answer = json.loads(out)
        self.assertEqual((answer["id"], answer["ended"], answer["history"][0]["outcome"]),
                         ("once", True, "ok"))
        self.assertCtl(1, "show", "never-was")
        out, _ = self.assertCtl(0, "stats", "--json")
        self.assertGreaterEqual(json.loads(out)["executed"], 1)
        _, err = self.assertCtl(2, "modify", "m")
        self.assertIn("nothing to change", err)
        _, err = self.assertCtl(1, "modify", "m", "--overlap", "queue")
        self.assertIn("overlap: expected one of", err)
        self.assertCtl(1, "reschedule", "nope", "--interval", "5m")
        self.assertNotIn("Traceback", self.daemon_log())

    def test_export_and_import(self):
        self.assertCtl(0, "add", "echo", "--cron", "0 4 * * *", "--id", "a", "--args", '["x"]',
                       "--max-runs", "5", "--overlap", "skip", "--jitter", "30")
        self.assertCtl(0, "add", "echo", "--interval", "1h", "--id", "b", "--paused")
        out, _ = self.assertCtl(0, "export")
        export = json.loads(out)
        self.assertEqual(export["format"], "twistedsched-jobs/1")
        path = os.path.abspath(os.path.join(self.workdir, "jobs.json"))
        with open(path, "w") as f:
            f.write(out)
        self.assertCtl(0, "remove", "a")
        self.assertCtl(0, "modify", "b", "--jitter", "5")
        out, err = self.assertCtl(1, "import", path)
        self.assertEqual(out, "imported 1 of 2 jobs\n")      # a; b is another job now
        self.assertIn("job 2: JOB_ID_TAKEN: job id 'b' is already taken", err)
        out, _ = self.assertCtl(0, "import", path, "--replace")
        self.assertEqual(out, "imported 2 of 2 jobs\n")
        again, _ = self.assertCtl(0, "export")
        self.assertEqual(json.loads(again), export)
        # An entry written by hand, as docs/control.rst shows for APScheduler's jobs.
        with open(path, "w") as f:
            json.dump({"format": "twistedsched-jobs/1", "jobs": [
                {"id": "nightly", "task": "echo", "args": ["db"],
                 "trigger": {"type": "cron", "hour": "4", "minute": "30",
                             "timezone": "Europe/Paris"},
                 "options": {"misfire_grace_time": 60, "coalesce": True,
                             "max_instances": 1}}]}, f)
        self.assertCtl(0, "import", path)
        out, _ = self.assertCtl(0, "show", "nightly")
        self.assertIn("cron[hour='4', minute='30']", out)
        self.assertIn(" 03:30:00+00:00", out)             # 04:30 in Paris
        with open(path, "w") as f:
            f.write('{"jobs": []}')
        _, err = self.assertCtl(2, "import", path)
        self.assertIn("is not an export", err)
        self.assertCtl(2, "import", path + ".missing")
        self.assertNotIn("Traceback", self.daemon_log())

    def test_exclude_a_calendar(self):
        self.assertCtl(0, "add", "echo", "--cron", "0 4 * * *", "--id", "x",
                       "--exclude", "holidays, 2040-01-01")
        out, _ = self.assertCtl(0, "next", "x", "-n", "2", "--json")
        days = [_dt.datetime.fromisoformat(t).date() for t in json.loads(out)]
        self.assertEqual([day for day in days if day in self.holidays], [])
        self.assertLess(days[0], days[1])
        _, err = self.assertCtl(1, "add", "echo", "--cron", "0 4 * * *", "--exclude", "nope")
        self.assertIn("no calendar named 'nope' (known: holidays)", err)
        self.assertNotIn("Traceback", self.daemon_log())

    def test_next_and_policies(self):
        out, _ = self.assertCtl(0, "next", "--cron", "0 4 * * mon-fri", "-n", "5")
        lines = out.splitlines()
        self.assertEqual(len(lines), 5)
        for line in lines:
            day, when = line.split(None, 1)
            self.assertIn(day, ("Mon", "Tue", "Wed", "Thu", "Fri"))
            self.assertIn(" 04:00:00", when)
        out, _ = self.assertCtl(0, "next", "--interval", "1h", "-n", "2", "--json")
        self.assertEqual(len(json.loads(out)), 2)
        self.assertCtl(0, "add", "echo", "--interval", "1h", "--id", "e", "--max-runs", "4",
                       "--pause-after-failures", "2", "--retries", "3", "--retry-delay", "1.5",
                       "--retry-max-delay", "1m", "--overlap", "buffer_all")
        out, _ = self.assertCtl(0, "next", "e", "-n", "3")
        self.assertEqual(len(out.splitlines()), 3)
        out, _ = self.assertCtl(0, "show", "e")
        fields = dict(line.split(None, 1) for line in out.splitlines()
                      if line.split(None, 1)[0] in ("max_runs", "pause_after_failures", "runs"))
        self.assertEqual(fields, {"max_runs": "4", "pause_after_failures": "2", "runs": "0 of 4"})
        self.assertIn("retry_delay           1.5", out)
        self.assertIn("retry_max_delay       60\n", out)
        self.assertIn("overlap               buffer_all\n", out)
        out, _ = self.assertCtl(0, "backfill", "e", "--from", "2020-01-01T00:00",
                                "--to", "2020-01-01T01:00")
        self.assertEqual(out, "backfilling e: 0 runs\n")      # the job was added after that
        _, err = self.assertCtl(1, "backfill", "e", "--from", "2020-01-02", "--to", "2020-01-01")
        self.assertIn("is after the end", err)
        out, _ = self.assertCtl(0, "cancel", "e")
        self.assertEqual(out, "cancelled 0 running instances of e\n")
        self.assertCtl(1, "cancel", "nope")
        _, err = self.assertCtl(2, "next")
        self.assertIn("give a job id or one of --cron", err)
        _, err = self.assertCtl(1, "next", "--cron", "* * * * *", "-n", "0")
        self.assertIn("from 1 to 100", err)
        _, err = self.assertCtl(1, "add", "echo", "--interval", "1h", "--max-runs", "0")
        self.assertIn("max_runs: expected a whole number >= 1", err)
        self.assertNotIn("Traceback", self.daemon_log())


class ConsoleRetryTests(ConsoleTestCase):
    """Retry options from the console, and the attempts in show's last runs."""

    def test_retries_in_history(self):
        self.session.cmd("add boom every 30s id=b retries=2 retry_delay=5 retry_max_delay=5")
        self.clock.advance(30)
        self.clock.advance(5)
        self.clock.advance(5)
        self.flushLoggedErrors(ValueError)
        session = Session(self, self.sched)         # the first one timed out, idle
        lines = session.cmd("show b")
        self.assertIn("retries:              2", lines)
        self.assertIn("retry_delay:          5", lines)
        start = lines.index("last runs (newest first):")
        errors = [line.split("  ")[-1].strip() for line in lines[start + 2:]]
        self.assertEqual(errors, ["attempt 3 of 3: ValueError: boom",
                                  "attempt 2 of 3: ValueError: boom",
                                  "attempt 1 of 3: ValueError: boom"])
        self.assertIn("retries: expected a whole number from 0 to 100",
                      session.error("add greet every 30s retries=-1"))


class RedisRetryTests(RedisTestCase):
    """Retry options survive the Redis store; the retry reads the stored job."""

    @defer.inlineCallbacks
    def test_retry_through_redis(self):
        a, clock = self.make_scheduler()
        retries = EventRecorder(a, ev.EVENT_JOB_RETRY)
        yield a.add_job("fail", "interval", seconds=100, id="j", jobstore="redis",
                        retries=1, retry_delay=4, retry_max_delay=4)
        job = yield a.get_job("j", "redis")
        self.assertEqual((job.retries, job.retry_delay, job.retry_max_delay), (1, 4, 4))
        clock.advance(100)
        yield self.settle((clock,), a, lambda job: len(retries.events) == 1)
        clock.advance(4)
        deadline = time.monotonic() + 5
        while len((yield a.job_history("j", "redis"))) < 2 and time.monotonic() < deadline:
            clock.advance(0)
            yield deferLater(reactor, 0.01, lambda: None)
        runs = yield a.job_history("j", "redis")
        self.assertEqual([run["error"] for run in runs],
                         ["attempt 2 of 2: ValueError: boom", "attempt 1 of 2: ValueError: boom"])
        self.flushLoggedErrors(ValueError)

    @defer.inlineCallbacks
    def test_result_through_redis(self):
        a, clock = self.make_scheduler()
        yield a.add_job("record", "interval", seconds=10, id="j", jobstore="redis")
        clock.advance(10)
        deadline = time.monotonic() + 5
        while not (yield a.job_history("j", "redis")) and time.monotonic() < deadline:
            clock.advance(0)
            yield deferLater(reactor, 0.01, lambda: None)
        [run] = yield a.job_history("j", "redis")
        self.assertEqual(run["result"], 1)


class CancelExecutorTests(unittest.TestCase):
    """cancel_running with real executors on the real reactor."""

    timeout = 60

    def setUp(self):
        self.sched = Scheduler(reactor=reactor, timezone="UTC")
        self.sched.startService()
        self.addCleanup(self.sched.shutdown, False)

    def ended(self, job_id):
        d = defer.Deferred()

        def listener(event):
            if event.job_id == job_id and not d.called:
                d.callback(event)
        self.sched.add_listener(listener, ev.EVENT_JOB_ERROR | ev.EVENT_JOB_EXECUTED)
        return d

    @defer.inlineCallbacks
    def wait_running(self, job_id):
        deadline = time.monotonic() + 20
        while not self.sched.running_instances(job_id) and time.monotonic() < deadline:
            yield deferLater(reactor, 0.02, lambda: None)

    @defer.inlineCallbacks
    def test_process_worker_is_killed(self):
        executor = self.sched.executors["processes"]
        done = self.ended("hang")
        yield self.sched.add_job("tests.jobfuncs:hang", "interval", hours=1, id="hang",
                                 executor="processes", next_run_time=self.sched.now())
        yield self.wait_running("hang")
        deadline = time.monotonic() + 20
        while not any(w.call for w in executor._workers) and time.monotonic() < deadline:
            yield deferLater(reactor, 0.02, lambda: None)
        [worker] = [w for w in executor._workers if w.call]
        self.assertEqual((yield self.sched.cancel_running("hang")), 1)
        event = yield done
        self.assertTrue(event.failure.check(defer.CancelledError))
        yield worker.ended
        [run] = yield self.sched.job_history("hang")
        self.assertEqual(run["outcome"], "cancelled")
        result = yield executor.run(pow, (3, 2), {})     # a new worker took its place
        self.assertEqual(result, 9)
        self.flushLoggedErrors(defer.CancelledError)

    @defer.inlineCallbacks
    def test_thread_runs_on_and_its_result_is_dropped(self):
        import threading
        release = threading.Event()
        finished = []

        def blocking():
            release.wait(20)
            finished.append(True)
            return "late"
        done = self.ended("t")
        yield self.sched.add_job(blocking, "interval", hours=1, id="t", executor="threads",
                                 next_run_time=self.sched.now())
        yield self.wait_running("t")
        self.assertEqual((yield self.sched.cancel_running("t")), 1)
        event = yield done
        self.assertTrue(event.failure.check(defer.CancelledError))
        release.set()
        deadline = time.monotonic() + 20
        while not finished and time.monotonic() < deadline:
            yield deferLater(reactor, 0.02, lambda: None)
        yield deferLater(reactor, 0.1, lambda: None)
        [run] = yield self.sched.job_history("t")
        self.assertEqual(run["outcome"], "cancelled")
        self.assertEqual(self.flushLoggedErrors(defer.AlreadyCalledError), [])
        self.flushLoggedErrors(defer.CancelledError)


class CancelRemoteTests(ClientTestCase):
    """cancel from the AMP client and the console."""

    @defer.inlineCallbacks
    def test_cancel_over_amp(self):
        waiting = defer.Deferred()
        self.sched.task("waits")(lambda: waiting)
        yield self.client.add_job("waits", ("interval", "1h"), id="w")
        yield self.client.run_job("w")
        self.assertEqual((yield self.client.cancel_running("w")), 1)
        self.assertEqual((yield self.client.cancel_running("w")), 0)
        yield self.assertFailure(self.client.cancel_running("nope"), NoSuchJob)
        yield self.assertFailure(self.client.cancel_running("x" * 300), BadArgument)
        job = yield self.client.get_job("w")
        self.assertEqual(job.history[0]["outcome"], "cancelled")
        self.flushLoggedErrors(defer.CancelledError)


class BackfillRemoteTests(ClientTestCase):
    """backfill from the AMP client."""

    @defer.inlineCallbacks
    def test_backfill_over_amp(self):
        ran = []
        self.sched.task("note")(ran.append)
        yield self.client.add_job("note", ("cron", "0 * * * *"), id="h", args=["x"])
        now = self.sched.now().replace(minute=0, second=0, microsecond=0)
        times = yield self.client.backfill("h", now - _dt.timedelta(hours=3), now.isoformat())
        self.assertEqual(times, [now - _dt.timedelta(hours=h) for h in (3, 2, 1, 0)])
        self.assertEqual(ran, ["x"] * 4)
        job = yield self.client.get_job("h")
        self.assertEqual([run["error"] for run in job.history], ["backfill"] * 4)
        e = yield self.assertFailure(self.client.backfill("h", now, now + _dt.timedelta(hours=1)),
                                     BadArgument)
        self.assertIn("is in the future", str(e))
        yield self.assertFailure(self.client.backfill("h", "then", now), BadArgument)
        yield self.assertFailure(self.client.backfill("nope", now, now), NoSuchJob)


class DaemonCalendarOptionTests(unittest.TestCase):
    """twistd sched --calendar NAME=FILE."""

    def test_loaded_and_checked(self):
        from twisted.python import usage
        from twistedsched import daemon
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("2026-12-25\n")
        options = daemon.Options()
        options.parseOptions(["--calendar", "xmas=" + path])
        sched = daemon.make_scheduler(options)
        self.assertEqual(sched.calendars, {"xmas": frozenset([_dt.date(2026, 12, 25)])})
        for bad, message in (("xmas", "expected NAME=FILE"),
                             ("xmas=" + path + ".missing", "No such file"),
                             ("bad name=" + path, "is not a name")):
            e = self.assertRaises(usage.UsageError, daemon.Options().parseOptions,
                                  ["--calendar", bad])
            self.assertIn(message, str(e))


class EndedJobHistoryTests(ClientTestCase):
    """The kept history of a one-shot job that ran, over AMP."""

    @defer.inlineCallbacks
    def test_client_reads_the_history_of_an_ended_job(self):
        yield self.client.add_job("answer", None, id="once")     # no trigger: once, now
        deadline = time.monotonic() + 5
        while not (yield self.client.job_history("once")) and time.monotonic() < deadline:
            yield deferLater(reactor, 0.01, lambda: None)
        self.assertIsNone((yield self.client.get_job("once")))
        [run] = yield self.client.job_history("once")
        self.assertEqual((run["outcome"], run["result"]), ("ok", {"answer": 42}))
        self.assertEqual(run["scheduled_run_time"].tzinfo is not None, True)
        self.assertEqual((yield self.client.job_history("nope")), [])
        self.assertEqual(len((yield self.client.job_history("once", limit=1))), 1)
        yield self.assertFailure(self.client.job_history("once", limit=0), BadArgument)


class EndedJobConsoleTests(ConsoleTestCase):
    """The console's show answers for an ended one-shot job from its kept runs."""

    def test_show_an_ended_job(self):
        self.add("greet", "date", run_date="2026-01-05T12:00:30+00:00", id="once",
                 args=("you",))
        self.clock.advance(30)
        lines = self.session.cmd("show once")
        self.assertEqual(lines[0], "job 'once' has ended (it is no longer scheduled); its "
                                   "last runs are kept:")
        self.assertIn('last result: "hello you" (due 2026-01-05 13:00:30+01:00)', lines)
        self.assertTrue(any(line.split()[2:3] == ["ok"] for line in lines), lines)
        self.assertIn("no job", self.session.error("show nope"))


class EndedJobWebTests(unittest.TestCase):
    """The web port's history of an ended one-shot job."""

    timeout = 30

    @defer.inlineCallbacks
    def test_history_of_an_ended_job(self):
        from tests.helpers import after, make_scheduler
        from tests.webhelpers import serve
        sched, clock = make_scheduler(self)
        sched.task("answer")(lambda: {"answer": 42})
        client = serve(self, sched)
        yield sched.add_job("answer", "date", run_date=after(5), id="once")
        clock.advance(5)
        answer = yield client.get("/api/jobs/once/history")
        self.assertEqual(answer.status, 200, answer.body)
        [run] = answer.json["history"]
        self.assertEqual((run["outcome"], run["result"]), ("ok", {"answer": 42}))
        answer = yield client.get("/api/jobs/once")
        self.assertEqual(answer.status, 404)
        answer = yield client.get("/api/jobs/nope/history")
        self.assertEqual(answer.status, 404)
