"""
Tests for the admin console: scripted sessions through a StringTransport,
on a scheduler driven by a Clock.
"""

import random
import re

from hypothesis import HealthCheck, given, settings, strategies as st
from twisted.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from twisted.internet import defer
from twisted.logger import formatEvent, globalLogPublisher
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

import twistedsched
from twistedsched.console import COMMANDS, ConsoleFactory, TelnetFilter, INTERRUPT
from twistedsched.errors import JobStoreUnavailable

from tests.helpers import EventRecorder, make_scheduler

USER_PROMPT = "user: "
PASSWORD_PROMPT = "password: "
PROMPT = "sched> "


class Session:
    """A console session on a StringTransport; C{cmd} runs one line."""

    def __init__(self, testcase, sched, **factory_args):
        self.testcase = testcase
        self.factory = ConsoleFactory(sched, **factory_args)
        self.proto = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport = StringTransport()
        self.proto.makeConnection(self.transport)
        self.greeting = self.take()

    def take(self):
        """Everything written since the last call, as text."""
        value = self.transport.value()
        self.transport.clear()
        return value.decode("utf-8")

    def send(self, data):
        self.proto.dataReceived(data)
        return self.take()

    def cmd(self, line):
        """Run C{line}; return the output lines (the prompt that follows removed)."""
        out = self.send(line.encode("utf-8") + b"\r\n")
        self.testcase.assertTrue(out.endswith(PROMPT), out)
        return lines_of(self.testcase, out[:-len(PROMPT)])

    def error(self, line):
        """Run C{line}, which must answer with exactly one error line; return it."""
        lines = self.cmd(line)
        self.testcase.assertEqual(len(lines), 1, lines)
        self.testcase.assertTrue(lines[0].startswith("error: "), lines)
        return lines[0]


def lines_of(testcase, text):
    """Split output into lines, checking that each ends in CRLF."""
    if not text:
        return []
    testcase.assertTrue(text.endswith("\r\n"), repr(text))
    lines = text[:-2].split("\r\n")
    for line in lines:
        testcase.assertNotIn("\n", line)
        testcase.assertNotIn("\r", line)
    return lines


def greet(who="world"):
    """Say hello."""
    return "hello " + who


def boom():
    raise ValueError("boom")


class ConsoleTestCase(unittest.TestCase):

    def setUp(self):
        self.sched, self.clock = make_scheduler(self, timezone="Europe/Paris")
        self.sched.task("greet")(greet)
        self.sched.task("boom")(boom)
        self.session = Session(self, self.sched)

    def add(self, *args, **kwargs):
        return self.successResultOf(self.sched.add_job(*args, **kwargs))


class GreetingTests(ConsoleTestCase):

    def test_greeting(self):
        greeting = self.session.greeting
        self.assertTrue(greeting.endswith(PROMPT))
        lines = lines_of(self, greeting[:-len(PROMPT)])
        self.assertIn(twistedsched.__version__, lines[0])
        self.assertIn("Europe/Paris", lines[0])
        self.assertIn("'help'", lines[1])

    def test_blank_line(self):
        self.assertEqual(self.session.cmd(""), [])
        self.assertEqual(self.session.cmd("   "), [])

    def test_bare_newlines(self):
        """nc sends LF only; telnet CRLF; both work."""
        out = self.session.send(b"tasks\n")
        self.assertIn("greet", out)
        self.assertTrue(out.endswith(PROMPT))


    def test_a_long_unknown_id_is_not_echoed_whole(self):
        [line] = self.session.cmd("show " + "x" * 3000)
        self.assertTrue(line.startswith("error: no job with id 'xxx"), line)
        self.assertIn("... (3000 characters)", line)
        self.assertLess(len(line), 160)


class HelpTests(ConsoleTestCase):

    def test_list(self):
        text = "\n".join(self.session.cmd("help"))
        for name in COMMANDS:
            self.assertIn(name, text)
        for name in ["jobs", "show", "add", "remove", "pause", "resume", "run", "tasks",
                     "stats", "watch", "pause-all", "resume-all", "quit"]:
            self.assertIn(name, COMMANDS)

    def test_one(self):
        lines = self.session.cmd("help add")
        self.assertEqual(lines[0], "usage: " + COMMANDS["add"].usage)
        self.assertTrue(any("cron" in line for line in lines[1:]))
        self.assertEqual(self.session.cmd("help show")[0], "usage: show ID")
        self.assertEqual(self.session.cmd("help exit")[0], "usage: quit")

    def test_unknown(self):
        self.assertIn("did you mean 'jobs'", self.session.error("help jbos"))

    def test_usage(self):
        self.assertEqual(self.session.error("help a b"), "error: usage: help [COMMAND]")


class ParsingTests(ConsoleTestCase):

    def test_unknown_command_suggests(self):
        self.assertEqual(
            self.session.error("jbos"),
            "error: unknown command 'jbos' (did you mean 'jobs'?); type 'help' for the list")
        self.assertIn("did you mean 'pause-all'", self.session.error("pause-al"))

    def test_unknown_command_no_suggestion(self):
        line = self.session.error("xyzzy")
        self.assertNotIn("did you mean", line)
        self.assertIn("'xyzzy'", line)

    def test_unbalanced_quote(self):
        self.assertEqual(self.session.error('show "abc'),
                         "error: cannot parse the line: no closing quotation")

    def test_quoting(self):
        self.add(greet, "interval", seconds=10, id="a b")
        self.assertEqual(self.session.cmd('show "a b"')[0].split(), ["id:", "a", "b"])
        self.assertEqual(self.session.cmd("show 'a b'")[0].split(), ["id:", "a", "b"])

    def test_alias(self):
        self.assertEqual(self.session.cmd("ls"), ["no jobs"])

    def test_control_characters_replaced(self):
        # Ids are refused with such characters (JobIdTests); names are not.
        self.add(greet, "interval", seconds=10, id="evil", name="evil\x1b[31m\x07")
        out = "\n".join(self.session.cmd("jobs"))
        self.assertNotIn("\x1b", out)
        self.assertNotIn("\x07", out)
        self.assertIn("evil?[31m?", out)
        self.assertNotIn("\x1b", self.session.error("show \x1b[2J"))


class JobsTests(ConsoleTestCase):

    def test_empty(self):
        self.assertEqual(self.session.cmd("jobs"), ["no jobs"])

    def test_table(self):
        self.add("greet", "interval", minutes=5, id="often")
        self.add("greet", "cron", hour=4, id="nightly", name="reset")
        self.add(greet, "interval", hours=1, id="stopped", next_run_time=None)
        lines = self.session.cmd("jobs")
        self.assertEqual(lines[0].split(), ["ID", "NAME", "TRIGGER", "NEXT", "RUN", "STATE"])
        self.assertEqual([line.split()[0] for line in lines[1:]],
                         ["often", "nightly", "stopped"])
        # Aligned: every column starts where its header does.
        for header in ["NAME", "TRIGGER", "NEXT RUN", "STATE"]:
            column = lines[0].index(header)
            for line in lines[1:]:
                self.assertEqual(line[column - 2:column], "  ", (header, line))
                self.assertNotEqual(line[column], " ", (header, line))
        # Next runs in the scheduler's zone (12:00 UTC is 13:00 in Paris).
        self.assertIn("2026-01-05 13:05:00+01:00", lines[1])
        self.assertIn("2026-01-06 04:00:00+01:00", lines[2])
        self.assertIn("reset (greet)", lines[2])
        self.assertTrue(lines[1].endswith("scheduled"))
        self.assertTrue(lines[3].endswith("paused"))

    def test_paused_only(self):
        self.add(greet, "interval", minutes=5, id="on")
        self.add(greet, "interval", minutes=5, id="off", next_run_time=None)
        lines = self.session.cmd("jobs --paused")
        self.assertEqual([line.split()[0] for line in lines[1:]], ["off"])
        self.session.cmd("resume off")
        self.assertEqual(self.session.cmd("jobs --paused"), ["no jobs match"])

    def test_glob(self):
        for job_id in ["backup-db", "backup-files", "report"]:
            self.add("greet", "interval", minutes=5, id=job_id)
        lines = self.session.cmd("jobs 'backup-*'")
        self.assertEqual([line.split()[0] for line in lines[1:]], ["backup-db", "backup-files"])
        self.assertEqual(len(self.session.cmd("jobs gre?t")), 4)      # matches the task
        self.assertEqual(self.session.cmd("jobs nothing*"), ["no jobs match"])
        lines = self.session.cmd("jobs --paused 'backup-*'")
        self.assertEqual(lines, ["no jobs match"])

    def test_running_state(self):
        pending = defer.Deferred()
        self.sched.task("slow")(lambda: pending)
        self.add("slow", "interval", seconds=10, id="slow")
        self.clock.advance(10)
        self.assertTrue(self.session.cmd("jobs")[1].endswith("running"))
        pending.callback(None)
        self.assertTrue(self.session.cmd("jobs")[1].endswith("scheduled"))

    def test_usage(self):
        for line in ["jobs a b", "jobs --all", "jobs -x"]:
            self.assertEqual(self.session.error(line), "error: usage: jobs [--paused] [GLOB]")

    def test_scheduler_paused_note(self):
        self.add(greet, "interval", minutes=5, id="on")
        self.sched.pause()
        self.assertIn("resume-all", self.session.cmd("jobs")[-1])

    def test_store_failure(self):
        self.sched.get_jobs = lambda *a, **kw: defer.fail(JobStoreUnavailable("redis is down"))
        self.assertEqual(self.session.error("jobs"), "error: redis is down")
        self.assertEqual(self.session.cmd("tasks")[0].split(), ["TASK", "DESCRIPTION"])

    def test_unexpected_failure(self):
        self.sched.get_jobs = lambda *a, **kw: defer.fail(ZeroDivisionError())
        self.assertEqual(self.session.error("jobs"),
                         "error: internal error (ZeroDivisionError); see the daemon's log")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_slow_store(self):
        """While a command waits on its Deferred, later lines wait their turn."""
        pending = defer.Deferred()
        self.sched.get_jobs = lambda *a, **kw: pending
        out = self.session.send(b"jobs\r\ntasks\r\n")
        self.assertEqual(out, "")
        pending.callback([])
        out = self.session.take()
        self.assertEqual(out, "no jobs\r\n" + PROMPT + "TASK   DESCRIPTION\r\nboom\r\n"
                         "greet  Say hello.\r\n" + PROMPT)

    def test_connection_lost_while_waiting(self):
        pending = defer.Deferred()
        self.sched.get_jobs = lambda *a, **kw: pending
        self.session.send(b"jobs\r\n")
        self.session.proto.connectionLost(None)
        pending.callback([])
        self.assertEqual(self.session.take(), "")


class ShowTests(ConsoleTestCase):

    def test_fields(self):
        self.session.cmd("""add greet cron "*/5 * * * *" id=five args='["you"]' max_instances=2""")
        lines = self.session.cmd("show five")
        fields = dict(re.split(r":\s+", line, maxsplit=1) for line in lines[:-1])
        self.assertEqual(fields["id"], "five")
        self.assertEqual(fields["name"], "greet")
        self.assertEqual(fields["task"], "greet")
        self.assertEqual(fields["trigger"], "cron['*/5 * * * *']")
        self.assertEqual(fields["next run"], "2026-01-05 13:00:00+01:00")
        self.assertEqual(fields["state"], "scheduled")
        self.assertEqual(fields["args"], '["you"]')
        self.assertEqual(fields["kwargs"], "{}")
        self.assertEqual(fields["max_instances"], "2")
        self.assertEqual(fields["coalesce"], "true")
        self.assertEqual(fields["executor"], "default")
        self.assertEqual(lines[-1], "last runs: none")

    def test_last_runs(self):
        self.add("greet", "interval", seconds=30, id="ok")
        self.add("boom", "interval", seconds=30, id="bad")
        self.clock.advance(30)
        self.clock.advance(30)
        lines = self.session.cmd("show ok")
        start = lines.index("last runs (newest first):")
        self.assertEqual(lines[start + 1].split(),
                         ["SCHEDULED", "OUTCOME", "LATE", "DURATION", "SCHEDULER", "ERROR"])
        self.assertEqual(lines[start + 2].split(),
                         ["2026-01-05", "13:01:00+01:00", "ok", "0.000s", "0.000s",
                          self.sched.scheduler_id])
        self.assertEqual(lines[start + 3].split()[:3],
                         ["2026-01-05", "13:00:30+01:00", "ok"])
        self.assertEqual(len(lines), start + 4)
        lines = self.session.cmd("show bad")
        self.assertEqual(lines[-1].split()[2:], ["error", "0.000s", "0.000s",
                                                 self.sched.scheduler_id, "ValueError:", "boom"])
        self.flushLoggedErrors(ValueError)

    def test_paused(self):
        self.add(greet, "interval", seconds=30, id="p", next_run_time=None)
        lines = self.session.cmd("show p")
        self.assertIn("next run:             paused", lines)

    def test_unknown(self):
        self.assertEqual(self.session.error("show nope"), "error: no job with id 'nope'")

    def test_usage(self):
        self.assertEqual(self.session.error("show"), "error: usage: show ID")
        self.assertEqual(self.session.error("show a b"), "error: usage: show ID")


class AddTests(ConsoleTestCase):

    def job(self, job_id):
        job = self.successResultOf(self.sched.get_job(job_id))
        self.assertIsNotNone(job)
        return job

    def test_cron_quoted(self):
        lines = self.session.cmd('add greet cron "*/5 * * * *" id=c')
        self.assertEqual(lines, ["added job c (greet): cron['*/5 * * * *']; "
                                 "next run: 2026-01-05 13:00:00+01:00"])
        self.assertEqual(str(self.job("c").trigger), "cron['*/5 * * * *']")

    def test_cron_unquoted(self):
        self.session.cmd("add greet cron 0 4 * * mon-fri id=c")
        self.assertEqual(str(self.job("c").trigger), "cron['0 4 * * mon-fri']")

    def test_every(self):
        lines = self.session.cmd("add greet every 30s id=e name=half-minute")
        self.assertEqual(lines, ["added job e (half-minute): interval[0:00:30]; "
                                 "next run: 2026-01-05 13:00:30+01:00"])
        self.clock.advance(30)
        self.assertEqual(self.sched.counters["executed"], 1)

    def test_at_in_scheduler_zone(self):
        lines = self.session.cmd("add greet at 2026-12-01T04:00 id=once")
        self.assertIn("next run: 2026-12-01 04:00:00+01:00", lines[0])
        self.assertEqual(self.job("once").next_run_time.hour, 3)     # UTC

    def test_generated_id(self):
        lines = self.session.cmd("add greet every 1h")
        job_id = lines[0].split()[2]
        self.assertEqual(self.job(job_id).task, "greet")

    def test_json_arguments(self):
        self.session.cmd("""add greet every 1m id=j args='["you"]'""")
        self.session.cmd("""add greet every 1m id=k kwargs='{"who": "them"}'""")
        self.assertEqual(self.job("j").args, ("you",))
        self.assertEqual(self.job("k").kwargs, {"who": "them"})
        self.clock.advance(60)
        self.assertEqual(self.sched.counters["executed"], 2)

    def test_options(self):
        self.session.cmd("add greet every 1m id=o paused=true max_instances=3 "
                         "misfire_grace_time=30 coalesce=false")
        job = self.job("o")
        self.assertIsNone(job.next_run_time)
        self.assertEqual((job.max_instances, job.misfire_grace_time, job.coalesce),
                         (3, 30, False))

    def test_bad_json(self):
        line = self.session.error("""add greet every 1m args='["you"'""")
        self.assertTrue(line.startswith("error: args: not valid JSON"), line)
        self.assertIn("quote JSON for the shell", line)
        # Unquoted, the shell rules eat the double quotes.
        self.assertIn("not valid JSON", self.session.error('add greet every 1m args=["you"]'))
        self.assertIn("kwargs: expected a JSON object",
                      self.session.error("add greet every 1m kwargs='[1]'"))
        self.assertIn("args: expected a JSON list",
                      self.session.error("add greet every 1m args='{}'"))
        self.assertIn("not valid JSON", self.session.error("add greet every 1m args='[NaN]'"))

    def test_unknown_task(self):
        self.assertEqual(self.session.error("add nope every 1m"),
                         "error: no task is registered as 'nope'; "
                         "'tasks' lists the registered tasks")

    def test_no_import_paths(self):
        for task in ["os:system", "tests.test_console:greet", "builtins:eval"]:
            self.assertIn("no task is registered",
                          self.session.error("add %s every 1m args='[\"ls\"]'" % (task,)))
        self.assertEqual(self.successResultOf(self.sched.get_jobs()), [])

    def test_bad_trigger_text(self):
        for line, expected in [
                ('add greet cron "61 * * * *"', "minute: value 61 is out of range"),
                ("add greet cron '* * *'", "crontab: expected 5 fields"),
                ("add greet every 5x", "not a duration"),
                ("add greet every 0s", "more than zero"),
                ("add greet at tomorrow", "'tomorrow' is not an ISO 8601 date"),
                ("add greet at 2026-13-45T99:00", "not an ISO 8601 date"),
                ("add greet hourly 5", "unknown trigger kind 'hourly'")]:
            self.assertIn(expected, self.session.error(line), line)
        self.assertEqual(self.successResultOf(self.sched.get_jobs()), [])

    def test_usage(self):
        usage = "error: usage: " + COMMANDS["add"].usage
        self.assertEqual(self.session.error("add"), usage)
        self.assertEqual(self.session.error("add greet cron"), usage)
        self.assertEqual(self.session.error("add greet every id=x"), "error: no every given; " +
                         usage[len("error: "):])
        self.assertIn("expected OPTION=VALUE, not 'junk'",
                      self.session.error("add greet every 1m id=x junk"))

    def test_unknown_option(self):
        self.assertIn("unknown option 'func'",
                      self.session.error("add greet every 1m func=os:system"))

    def test_conflicting_id(self):
        self.session.cmd("add greet every 1m id=same")
        self.session.cmd("add greet every 1m id=same")       # the same job again: fine
        self.assertEqual(self.session.error("add greet every 3m id=same"),
                         "error: job id 'same' is already taken")
        self.session.cmd("add greet every 2m id=same replace_existing=true")
        self.assertEqual(str(self.job("same").trigger), "interval[0:02:00]")

    def test_bad_id(self):
        self.assertIn("id: expected text",
                      self.session.error("add greet every 1m id=" + "x" * 300))


class JobCommandTests(ConsoleTestCase):

    def setUp(self):
        super().setUp()
        self.add("greet", "interval", minutes=1, id="j")

    def test_pause_resume(self):
        self.assertEqual(self.session.cmd("pause j"), ["paused job j"])
        self.assertIsNone(self.successResultOf(self.sched.get_job("j")).next_run_time)
        self.clock.advance(330)
        self.assertEqual(self.sched.counters["executed"], 0)
        self.assertEqual(self.session.cmd("resume j"),
                         ["resumed job j; next run: 2026-01-05 13:06:00+01:00"])
        self.clock.advance(30)
        self.assertEqual(self.sched.counters["executed"], 1)

    def test_resume_finished(self):
        self.sched.resume_job = lambda job_id: defer.succeed(None)
        self.assertEqual(self.session.cmd("resume d"), ["job d had no runs left and was removed"])

    def test_run(self):
        self.assertEqual(self.session.cmd("run j"), ["submitted job j; 'show j' for the outcome"])
        self.assertEqual(self.sched.counters["executed"], 1)
        self.assertIn("ok", self.session.cmd("show j")[-1])

    def test_remove(self):
        self.assertEqual(self.session.cmd("remove j"), ["removed job j"])
        self.assertIsNone(self.successResultOf(self.sched.get_job("j")))
        self.assertEqual(self.session.error("remove j"), "error: no job with id 'j'")

    def test_unknown_job(self):
        for name in ["pause", "resume", "run", "remove", "show"]:
            self.assertEqual(self.session.error(name + " nope"), "error: no job with id 'nope'")

    def test_usage(self):
        for name in ["pause", "resume", "run", "remove"]:
            self.assertEqual(self.session.error(name), "error: usage: %s ID" % (name,))
            self.assertEqual(self.session.error(name + " a b"), "error: usage: %s ID" % (name,))


class SchedulerCommandTests(ConsoleTestCase):

    def test_tasks(self):
        self.assertEqual(self.session.cmd("tasks"),
                         ["TASK   DESCRIPTION", "boom", "greet  Say hello."])
        self.assertEqual(self.session.error("tasks x"), "error: usage: tasks")

    def test_no_tasks(self):
        self.sched.tasks.unregister("greet")
        self.sched.tasks.unregister("boom")
        self.assertIn("no tasks registered", self.session.cmd("tasks")[0])

    def test_stats(self):
        self.add("greet", "interval", seconds=30, id="ok")
        self.add("boom", "interval", seconds=30, id="bad")
        self.clock.advance(30)
        self.flushLoggedErrors(ValueError)
        stats = dict(line.split(":", 1) for line in self.session.cmd("stats"))
        stats = {key: value.strip() for key, value in stats.items()}
        self.assertEqual(stats["jobs"], "2")
        self.assertEqual(stats["executed"], "1")
        self.assertEqual(stats["errors"], "1")
        self.assertEqual(stats["paused"], "false")
        self.assertEqual(stats["time zone"], "Europe/Paris")
        self.assertEqual(self.session.error("stats now"), "error: usage: stats")

    def test_pause_all_resume_all(self):
        self.add("greet", "interval", seconds=30, id="ok")
        self.assertEqual(self.session.cmd("pause-all"), ["scheduler paused"])
        self.assertTrue(self.sched.paused)
        self.clock.advance(60)
        self.assertEqual(self.sched.counters["executed"], 0)
        self.assertEqual(self.session.cmd("resume-all"), ["scheduler resumed"])
        self.assertFalse(self.sched.paused)
        self.assertEqual(self.session.error("pause-all now"), "error: usage: pause-all")

    def test_quit(self):
        self.assertEqual(self.session.send(b"quit\r\njobs\r\n"), "bye\r\n")
        self.assertTrue(self.session.transport.disconnecting)

    def test_exit(self):
        self.assertEqual(self.session.send(b"exit\r\n"), "bye\r\n")


class WatchTests(ConsoleTestCase):

    def start(self, line="watch"):
        out = self.session.send(line.encode() + b"\r\n")
        self.assertEqual(out, "watching events; press Enter or Ctrl-C to stop\r\n")

    def test_streams_until_blank_line(self):
        self.add("greet", "interval", seconds=30, id="w")
        self.start()
        self.clock.advance(30)
        lines = lines_of(self, self.session.take())
        self.assertEqual(lines[0], "2026-01-05 13:00:30+01:00 job_submitted job_id=w "
                         'jobstore=default scheduled_run_times=["2026-01-05T12:00:30+00:00"]')
        self.assertTrue(lines[1].startswith("2026-01-05 13:00:30+01:00 job_executed job_id=w"))
        self.assertIn("retval='hello world'", lines[1])
        self.assertEqual(self.session.send(b"\r\n"), "stopped watching\r\n" + PROMPT)
        self.clock.advance(30)
        self.assertEqual(self.session.take(), "")
        self.assertEqual(self.sched._listeners, [])

    def test_some_events(self):
        self.add("greet", "interval", seconds=30, id="w")
        self.start("watch job_executed")
        self.clock.advance(30)
        self.assertEqual(len(lines_of(self, self.session.take())), 1)

    def test_job_run_events(self):
        self.add("greet", "interval", seconds=30, id="w")
        self.start("watch job_run")
        self.clock.advance(30)
        [line] = lines_of(self, self.session.take())
        self.assertEqual(line, "2026-01-05 13:00:30+01:00 job_run job_id=w jobstore=default "
                         "job_name=greet scheduled_run_time=2026-01-05T12:00:30+00:00 "
                         "started=2026-01-05T12:00:30+00:00 ended=2026-01-05T12:00:30+00:00 "
                         "duration=0.0 outcome=ok scheduler=%s result=hello world"
                         % (self.sched.scheduler_id,))

    def test_bad_event_name(self):
        self.assertIn("unknown event 'nope'", self.session.error("watch nope"))

    def test_ctrl_c(self):
        self.start()
        self.assertEqual(self.session.send(b"\x03"), "stopped watching\r\n" + PROMPT)

    def test_telnet_interrupt(self):
        self.start()
        # IAC IP, IAC DO TIMING-MARK (what telnet sends for Ctrl-C): WONT TIMING-MARK.
        self.session.proto.dataReceived(b"\xff\xf4\xff\xfd\x06")
        self.assertEqual(self.session.transport.value(),
                         b"\xff\xfc\x06stopped watching\r\n" + PROMPT.encode())

    def test_command_ends_watch(self):
        self.start()
        out = self.session.send(b"stats\r\n")
        self.assertTrue(out.startswith("stopped watching\r\njobs:"), out)

    def test_connection_lost(self):
        self.start()
        self.session.proto.connectionLost(None)
        self.assertEqual(self.sched._listeners, [])

    def test_slow_watcher_gets_a_count_of_dropped_events(self):
        """While the transport's buffer is full, events are dropped and counted."""
        self.add("greet", "interval", seconds=1, id="w")
        self.start()
        events = EventRecorder(self.sched)
        transport = self.session.transport
        transport.producer.pauseProducing()          # what a full buffer does
        for _ in range(10):
            self.clock.advance(1)
        self.assertEqual(self.session.take(), "")
        self.assertGreaterEqual(len(events.events), 20)
        transport.producer.resumeProducing()         # the buffer drained
        self.assertEqual(self.session.take(), "(dropped %d events: the connection did not "
                         "take them fast enough)\r\n" % (len(events.events),))
        self.clock.advance(1)
        self.assertIn("job_executed job_id=w", self.session.take())
        before = len(events.events)
        transport.producer.pauseProducing()
        self.clock.advance(1)
        transport.producer.resumeProducing()
        self.assertIn("(dropped %d events:" % (len(events.events) - before,),
                      self.session.take(), "counted afresh")

    def test_input_not_read_while_output_is_full(self):
        """A client that sends commands but never reads their output stops being read."""
        transport = self.session.transport
        transport.producer.pauseProducing()
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(self.session.send(b"stats\r\n"), "")
        transport.producer.resumeProducing()
        self.assertEqual(transport.producerState, "producing")
        self.assertTrue(self.session.take().startswith("jobs:"))

    def test_output_and_command_pauses_combine(self):
        """Input resumes only when neither a command nor the output holds it."""
        slow = defer.Deferred()
        self.patch(self.sched, "stats", lambda: slow)
        transport = self.session.transport
        self.session.send(b"stats\r\n")
        transport.producer.pauseProducing()
        slow.callback({"jobs": 0})
        self.assertEqual(transport.producerState, "paused", "the output still holds it")
        transport.producer.resumeProducing()
        self.assertEqual(transport.producerState, "producing")

    def test_no_idle_timeout_while_watching(self):
        self.start()
        self.clock.advance(10000)
        self.assertFalse(self.session.transport.disconnecting)
        self.session.send(b"\r\n")
        self.clock.advance(600)
        self.assertTrue(self.session.transport.disconnecting)


class InputTests(ConsoleTestCase):
    """Long lines, binary garbage and telnet negotiation."""

    def assertAnswers(self):
        self.assertEqual(self.session.cmd("jobs"), ["no jobs"])

    def test_line_too_long(self):
        out = self.session.send(b"x" * 9000 + b"\r\n")
        self.assertEqual(out, "error: line too long (more than 8192 bytes); ignored\r\n" + PROMPT)
        self.assertAnswers()

    def test_line_too_long_in_pieces(self):
        out = "".join(self.session.send(b"y" * 1000) for _ in range(20))
        self.assertEqual(out, "error: line too long (more than 8192 bytes); ignored\r\n")
        self.assertEqual(self.session.send(b"still the same line\r\n"), PROMPT)
        self.assertAnswers()

    def test_line_too_long_then_commands(self):
        """The data after a too-long line is read as usual."""
        out = self.session.send(b"z" * 9000 + b"\r\njobs\r\nstats\r\n")
        lines = out.split("\r\n")
        self.assertTrue(lines[0].startswith("error: line too long"))
        self.assertEqual(lines[1], PROMPT + "no jobs")
        self.assertTrue(lines[2].startswith(PROMPT + "jobs:"))
        self.assertTrue(out.endswith(PROMPT))

    def test_limit(self):
        session = Session(self, self.sched, max_line_length=100)
        self.assertIn("more than 100 bytes", session.error("jobs " + "a" * 100))
        self.assertEqual(session.cmd("jobs " + "a" * 90), ["no jobs match"])

    def test_binary_garbage(self):
        line = self.session.error("\x00\x01\ufffd\x7f junk")
        self.assertTrue(line.startswith("error: unknown command"))
        out = self.session.send(b"\x80\x81\xfe\xc3\x28 \x1b[2J\r\n")
        self.assertTrue(out.startswith("error: unknown command"), out)
        self.assertNotIn("\x1b", out)
        self.assertAnswers()

    def test_negotiation_refused(self):
        """DO gets WONT, WILL gets DONT; DONT and WONT need no answer."""
        # IAC DO ECHO, IAC WILL NAWS, IAC DONT ECHO, IAC WONT LINEMODE
        self.session.proto.dataReceived(b"\xff\xfd\x01\xff\xfb\x1f\xff\xfe\x01\xff\xfc\x22")
        self.assertEqual(self.session.transport.value(), b"\xff\xfc\x01\xff\xfe\x1f")
        self.session.transport.clear()
        self.assertAnswers()

    def test_commands_stripped(self):
        """IAC sequences inside and across chunks disappear from the line."""
        for chunk in [b"jo", b"\xff", b"\xfb", b"\x18", b"b\xff\xf1s", b"\xff", b"\xf0\r\n"]:
            self.session.proto.dataReceived(chunk)
        self.assertEqual(self.session.transport.value(),
                         b"\xff\xfe\x18no jobs\r\n" + PROMPT.encode())

    def test_ctrl_c_drops_the_line(self):
        out = self.session.send(b"garbage\x03jobs\r\n")
        self.assertEqual(out, "^C\r\n" + PROMPT + "no jobs\r\n" + PROMPT)

    def test_idle_timeout(self):
        self.clock.advance(599)
        self.session.send(b"\r\n")
        self.clock.advance(599)
        self.assertFalse(self.session.transport.disconnecting)
        self.clock.advance(1)
        self.assertEqual(self.session.take(), "idle for 600 seconds; goodbye\r\n")
        self.assertTrue(self.session.transport.disconnecting)

    def test_no_idle_timeout(self):
        session = Session(self, self.sched, idle_timeout=None)
        self.clock.advance(100000)
        self.assertFalse(session.transport.disconnecting)

    def test_internal_error(self):
        self.patch(self.session.proto, "run_line", lambda text: 1 / 0)
        self.assertEqual(self.session.error("jobs"),
                         "error: internal error; see the daemon's log")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class LoginTests(ConsoleTestCase):

    def setUp(self):
        super().setUp()
        checker = InMemoryUsernamePasswordDatabaseDontUse(alice=b"s3cret")
        self.session = Session(self, self.sched, checker=checker)
        self.logged = []
        globalLogPublisher.addObserver(self.logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.logged.append)

    def answer(self, line, prompt=USER_PROMPT):
        """Send a line before login; return its output lines, checking the prompt after."""
        out = self.session.send(line.encode("utf-8") + b"\r\n")
        self.clock.advance(1)          # refusals are answered after a delay
        out += self.session.take()
        self.assertTrue(out.endswith(prompt), out)
        return lines_of(self, out[:-len(prompt)])

    def login(self, password):
        out = self.session.send(b"login alice " + password + b"\r\n")
        self.assertEqual(out, "")       # answered after a delay when refused
        self.clock.advance(1)
        return lines_of(self, self.session.take()[:-len(USER_PROMPT)])

    def test_greeting_asks_for_user_name(self):
        self.assertIn("Log in first: your user name, then your password", self.session.greeting)
        self.assertTrue(self.session.greeting.endswith(USER_PROMPT))

    def test_user_name_then_password(self):
        self.assertEqual(self.answer("alice", PASSWORD_PROMPT), [])
        out = self.session.send(b"s3cret\r\n")
        self.assertEqual(out, "logged in as alice\r\n" + PROMPT)
        self.assertEqual(self.session.cmd("jobs"), ["no jobs"])

    def test_password_taken_as_typed(self):
        checker = InMemoryUsernamePasswordDatabaseDontUse(bob=b"two words 'quoted\"")
        session = Session(self, self.sched, checker=checker)
        session.send(b"bob\r\n")
        out = session.send(b"two words 'quoted\"\r\n")
        self.assertEqual(out, "logged in as bob\r\n" + PROMPT)

    def test_wrong_password_asks_again(self):
        self.answer("alice", PASSWORD_PROMPT)
        self.assertEqual(self.answer("nope"), ["error: login refused"])
        self.answer("alice", PASSWORD_PROMPT)
        self.assertEqual(self.session.send(b"s3cret\r\n"), "logged in as alice\r\n" + PROMPT)

    def test_nothing_before_login(self):
        for line in ["jobs", "add greet every 1m", "pause-all", "watch", "stats"]:
            self.assertEqual(self.answer(line), ["error: log in first: login USER PASSWORD"])
        self.assertFalse(self.sched.paused)
        self.assertIn("login USER PASSWORD", "\n".join(self.answer("help")))

    def test_login(self):
        self.assertEqual(self.session.cmd("login alice s3cret"), ["logged in as alice"])
        self.assertEqual(self.session.cmd("jobs"), ["no jobs"])

    def test_refused(self):
        self.assertEqual(self.login(b"wrong"), ["error: login refused"])
        self.assertEqual(self.answer("jobs"), ["error: log in first: login USER PASSWORD"])
        self.assertEqual(self.session.cmd("login alice s3cret"), ["logged in as alice"])

    def test_too_many_failures(self):
        self.login(b"one")
        self.answer("alice", PASSWORD_PROMPT)
        self.answer("two")
        out = self.session.send(b"login alice three\r\n")
        self.clock.advance(1)
        self.assertEqual(self.session.take(),
                         "error: login refused\r\ntoo many failed logins; goodbye\r\n")
        self.assertTrue(self.session.transport.disconnecting)
        self.assertEqual(out, "")

    def test_passwords_not_logged(self):
        self.login(b"wrong-pass")
        self.answer("alice", PASSWORD_PROMPT)
        self.answer("other-wrong")
        self.session.cmd("login alice s3cret")
        text = " ".join(formatEvent(event) or "" for event in self.logged)
        self.assertIn("alice", text)
        for secret in ("wrong-pass", "other-wrong", "s3cret"):
            self.assertNotIn(secret, text)

    def test_usage(self):
        self.assertEqual(self.answer("login alice"), ["error: usage: login USER PASSWORD"])

    def test_no_login_needed(self):
        session = Session(self, self.sched)
        self.assertEqual(session.cmd("login a b"), ["no login needed"])

    def test_closed_without_login_whatever_it_sends(self):
        """30 s after connecting without a login the session ends, even if a byte came each second."""
        for _ in range(29):
            self.session.send(b"x")
            self.clock.advance(1)
        self.assertFalse(self.session.transport.disconnecting)
        self.clock.advance(1)
        self.assertEqual(self.session.take(), "\r\nno login within 30 seconds; goodbye\r\n")
        self.assertTrue(self.session.transport.disconnecting)

    def test_closing_a_client_that_does_not_read(self):
        """The goodbye cannot hold the connection open: it is cut 10 s later."""
        self.session.transport.producer.pauseProducing()       # nothing is read
        self.clock.advance(30)
        self.assertTrue(self.session.transport.disconnecting)
        self.assertFalse(self.session.transport.disconnected)
        self.clock.advance(10)
        self.assertTrue(self.session.transport.disconnected, "aborted")

    def test_no_cut_left_behind(self):
        self.clock.advance(30)
        self.session.proto.connectionLost(None)
        self.assertEqual([call for call in self.clock.getDelayedCalls()
                          if call.func == self.session.transport.abortConnection], [])

    def test_closed_without_login_after_refusals(self):
        self.login(b"wrong")
        self.clock.advance(29)
        self.assertTrue(self.session.transport.disconnecting)

    def test_logged_in_session_stays(self):
        self.clock.advance(29)
        self.session.cmd("login alice s3cret")
        self.clock.advance(500)
        self.assertFalse(self.session.transport.disconnecting)
        self.clock.advance(100)
        self.assertTrue(self.session.transport.disconnecting, "the idle timeout still applies")

    def test_no_login_limit_without_a_checker(self):
        session = Session(self, self.sched)
        self.clock.advance(599)
        self.assertFalse(session.transport.disconnecting)

    def test_login_limit_setting(self):
        checker = InMemoryUsernamePasswordDatabaseDontUse(alice=b"s3cret")
        for setting, closes_after in ((5, 5), (None, 600)):
            session = Session(self, self.sched, checker=checker, login_timeout=setting)
            self.clock.advance(closes_after - 1)
            self.assertFalse(session.transport.disconnecting)
            self.clock.advance(1)
            self.assertTrue(session.transport.disconnecting)


class TelnetFilterTests(unittest.TestCase):

    def feed(self, *chunks):
        telnet = TelnetFilter()
        pieces, replies = [], b""
        for chunk in chunks:
            out, answer = telnet.feed(chunk)
            pieces += out
            replies += answer
        return pieces, replies

    def test_plain(self):
        self.assertEqual(self.feed(b"jobs\r\n"), ([b"jobs\r\n"], b""))

    def test_escaped_iac(self):
        self.assertEqual(b"".join(self.feed(b"a\xff\xffb")[0]), b"a\xffb")

    def test_interrupts(self):
        pieces, _ = self.feed(b"a\x03b\xff\xf4c\xff\xf3")
        self.assertEqual(pieces, [b"a", INTERRUPT, b"b", INTERRUPT, b"c", INTERRUPT])

    def test_options_across_chunks(self):
        pieces, replies = self.feed(b"a\xff", b"\xfd", b"\x18b", b"\xff\xfb\x03")
        self.assertEqual(b"".join(pieces), b"ab")
        self.assertEqual(replies, b"\xff\xfc\x18\xff\xfe\x03")

    def test_stray_iac(self):
        """IAC before a byte that is not a command keeps the byte."""
        self.assertEqual(b"".join(self.feed(b"\xffjobs\n")[0]), b"jobs\n")

    def test_other_commands_dropped(self):
        # NOP, AYT, SB, SE, GA
        self.assertEqual(b"".join(self.feed(b"a\xff\xf1b\xff\xf6\xff\xfa\xff\xf0\xff\xf9c")[0]),
                         b"abc")


#: Bytes that exercise the telnet filter, the line splitter and shlex.
_PIECES = [b"\xff", b"\xfd", b"\xfb", b"\xf4", b"\xfa", b"\xf0", b"\x03", b"\r", b"\n",
           b"\x00", b"\x80", b'"', b"'", b"\\", b"=", b" ", b"jobs", b"show", b"add",
           b"help", b"pause", b"cron", b"every", b"args=", b"[", b"{"]

_CHUNKS = st.one_of(
    st.binary(max_size=48),
    st.lists(st.sampled_from(_PIECES), max_size=12).map(b"".join))


class RandomInputTests(ConsoleTestCase):
    """10,000 random byte strings, then the console still answers."""

    INPUTS_PER_EXAMPLE = 100
    EXAMPLES = 100

    def test_random_bytes(self):
        fed = []

        @settings(max_examples=self.EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.lists(_CHUNKS, min_size=self.INPUTS_PER_EXAMPLE,
                        max_size=self.INPUTS_PER_EXAMPLE))
        def feed(chunks):
            session = Session(self, self.sched)
            for chunk in chunks:
                session.proto.dataReceived(chunk)
            fed.append(len(chunks))
            self.assertFalse(session.transport.disconnecting)
            session.proto.dataReceived(b"\r\n\r\n")
            session.transport.clear()
            self.assertEqual(session.cmd("jobs"), ["no jobs"])
            session.proto.connectionLost(None)

        feed()
        self.assertGreaterEqual(sum(fed), 10000)

    def test_random_big_chunks(self):
        """Long random inputs, some over the line limit, from a seeded generator."""
        rng = random.Random(6)
        session = self.session
        for _ in range(200):
            size = rng.choice([10, 1000, 9000, 20000])
            session.proto.dataReceived(bytes(rng.getrandbits(8) for _ in range(size)))
        session.proto.dataReceived(b"\r\n\r\n")
        session.transport.clear()
        self.assertFalse(session.transport.disconnecting)
        self.assertEqual(session.cmd("jobs"), ["no jobs"])
