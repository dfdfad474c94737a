"""
Tests for the daemon's job defaults and C{--config} (twistedsched.config).
"""

from twisted.internet import defer
from twisted.python import usage
from twisted.trial import unittest

from twistedsched import config, daemon
from twistedsched.tasks import TaskRegistry

from tests.helpers import make_clock, make_scheduler

CONFIG = """
tasks = ["twistedsched.example_tasks"]
timezone = "Europe/Paris"
max-instances = 2
retries = 1
control = "none"
console = "none"

[[jobs]]
id = "nightly"
task = "echo"
cron = "30 4 * * *"
args = ["db"]
options = { retries = 3, max_runs = 10 }

[[jobs]]
id = "ping"
task = "echo"
interval = "5m"
"""


class DefaultsTests(unittest.TestCase):
    """twistd sched flags for the job defaults."""

    def scheduler(self, *argv):
        options = daemon.Options()
        options.parseOptions(list(argv) + ["--control", "none", "--console", "none"])
        return daemon.make_scheduler(options, make_clock())

    def test_flags(self):
        sched = self.scheduler("--misfire-grace-time", "none", "--no-coalesce",
                               "--max-instances", "3", "--job-timeout", "90",
                               "--retries", "2", "--retry-delay", "1.5")
        self.assertEqual({key: sched.job_defaults[key] for key in (
            "misfire_grace_time", "coalesce", "max_instances", "timeout", "retries",
            "retry_delay")}, {"misfire_grace_time": None, "coalesce": False, "max_instances": 3,
                             "timeout": 90, "retries": 2, "retry_delay": 1.5})

    def test_defaults_unchanged(self):
        sched = self.scheduler()
        self.assertEqual({key: sched.job_defaults[key] for key in (
            "misfire_grace_time", "coalesce", "max_instances", "timeout", "retries")},
            {"misfire_grace_time": 1, "coalesce": True, "max_instances": 1, "timeout": None,
             "retries": None})

    def test_bad_values(self):
        for argv, message in ((["--max-instances", "0"], "max_instances"),
                              (["--job-timeout", "soon"], "expected seconds or 'none'"),
                              (["--retries", "-1"], "retries"),
                              (["--retry-delay", "0"], "retry_delay")):
            e = self.assertRaises(usage.UsageError, daemon.Options().parseOptions, argv)
            self.assertIn(message, str(e))


class ConfigFileTests(unittest.TestCase):
    """--config FILE: options, tasks and jobs ensured at start."""

    def write(self, text):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_options_and_jobs(self):
        options = daemon.Options()
        options.parseOptions(["--config", self.write(CONFIG)])
        self.assertEqual((options["timezone"], options["max-instances"], options["retries"]),
                         ("Europe/Paris", 2, 1))
        clock = make_clock()
        top = daemon.makeService(options, reactor=clock)
        top.startService()
        self.addCleanup(top.stopService)
        sched = top.getServiceNamed("scheduler")
        nightly = self.successResultOf(sched.get_job("nightly"))
        self.assertEqual((nightly.retries, nightly.max_runs, nightly.max_instances),
                         (3, 10, 2))
        ping = self.successResultOf(sched.get_job("ping"))
        self.assertEqual((ping.retries, str(ping.trigger)), (1, "interval[0:05:00]"))

    def test_later_flags_override(self):
        options = daemon.Options()
        options.parseOptions(["--config", self.write(CONFIG), "--max-instances", "5"])
        self.assertEqual(options["max-instances"], 5)

    def test_bad_files(self):
        for text, message in (
                ("max-instances = ", "is not valid TOML"),
                ("frobnicate = 1", "unknown option 'frobnicate'"),
                ("insecure = 1", "insecure: expected true or false"),
                ('auth = "memory:a:b"', "auth cannot be given in the file"),
                ('tasks = "x"', "tasks: expected a list"),
                ('[[jobs]]\ntask = "echo"\ncron = "* * * * *"', "#1: needs an id"),
                ('[[jobs]]\nid = "a"\ncron = "* * * * *"', "job 'a': needs a task"),
                ('[[jobs]]\nid = "a"\ntask = "echo"', "give one of cron, interval, at"),
                ('[[jobs]]\nid = "a"\ntask = "echo"\nat = "x"\ncron = "y"', "give one of"),
                ('[[jobs]]\nid = "a"\ntask = "echo"\ncron = "y"\nwhen = 1', "unknown key when"),
                ('[[jobs]]\nid = "a"\ntask = "e"\ncron = "y"\n[[jobs]]\nid = "a"\ntask = "e"\n'
                 'cron = "y"', "id 'a' given twice")):
            e = self.assertRaises(usage.UsageError, daemon.Options().parseOptions,
                                  ["--config", self.write(text)])
            self.assertIn(message, str(e))
        e = self.assertRaises(usage.UsageError, daemon.Options().parseOptions,
                              ["--config", self.mktemp()])
        self.assertIn("cannot read", str(e))


def echo(*args):
    return args


class EnsureTests(unittest.TestCase):
    """ensure_jobs adds missing jobs, replaces changed ones, leaves the rest."""

    def setUp(self):
        tasks = TaskRegistry()
        tasks.register("echo", echo)
        self.sched, self.clock = make_scheduler(self, tasks=tasks)

    def ensure(self, *jobs):
        return self.successResultOf(defer.ensureDeferred(
            config.ensure_job(self.sched, jobs[0])))

    def test_added_unchanged_updated(self):
        job = {"id": "p", "task": "echo", "interval": "5m", "args": [1],
               "options": {"retries": 2}}
        self.assertEqual(self.ensure(job), "added")
        first = self.successResultOf(self.sched.get_job("p")).next_run_time
        self.clock.advance(60)
        self.assertEqual(self.ensure(job), "unchanged")
        self.assertEqual(self.successResultOf(self.sched.get_job("p")).next_run_time, first)
        for change in ({"args": [2]}, {"interval": "10m"}, {"options": {"retries": 3}},
                       {"name": "other"}, {"kwargs": {"a": 1}}):
            self.assertEqual(self.ensure(dict(job, **change)), "updated", change)
        self.assertEqual(self.successResultOf(self.sched.get_job("p")).kwargs, {"a": 1})

    def test_refused_job_is_logged_and_others_go_on(self):
        jobs = [{"id": "bad", "task": "os:system", "cron": "* * * * *"},
                {"id": "good", "task": "echo", "cron": "* * * * *"}]
        self.successResultOf(defer.ensureDeferred(config.ensure_jobs(self.sched, jobs)))
        self.assertIsNone(self.successResultOf(self.sched.get_job("bad")))
        self.assertIsNotNone(self.successResultOf(self.sched.get_job("good")))
