"""
Tests that the documentation in docs/ keeps up with the code: every daemon
option, every twistedsched-ctl command and option, every AMP command and every
console command is named on its page, and the quick start shows the README's
commands verbatim.  The tutorial's testing example is a test here.  (.ci/run
builds the site itself, with warnings as errors.)
"""

import argparse
import inspect
import os
import re

from twisted.internet.task import Clock
from twisted.protocols import amp
from twisted.trial import unittest

from twistedsched import Scheduler, console, control, ctl, daemon

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(*path):
    with open(os.path.join(ROOT, *path), encoding="utf-8") as f:
        return f.read()


def missing(names, text, prefix="``"):
    """The names that C{text} never shows as the start of a literal (C{``name})."""
    return sorted(name for name in names
                  if not re.search(re.escape(prefix + name) + r"(?![\w-])", text))


def daemon_options():
    """Every long option of C{twistd sched}: C{--store}, C{--tasks}, C{--help}..."""
    return {"--" + name.rstrip("=") for name in daemon.Options().longOpt}


def ctl_parsers():
    """The C{twistedsched-ctl} parser and its sub-command parsers by name."""
    parser = ctl.build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return parser, sub.choices


def long_options(parser):
    return {option for action in parser._actions for option in action.option_strings
            if option.startswith("--") and option != "--help"}


class DaemonPageTests(unittest.TestCase):
    """docs/daemon.rst lists every option of C{twistd sched --help}."""

    def test_options_found(self):
        options = daemon_options()
        for known in ("--store", "--tasks", "--auth", "--insecure", "--max-jobs"):
            self.assertIn(known, options)

    def test_every_option_documented(self):
        """Each option starts a row of the table of options."""
        rows = "\n".join(line for line in read("docs", "daemon.rst").splitlines()
                         if line.startswith("``--"))
        self.assertEqual(missing(daemon_options(), rows), [],
                         "twistd sched options missing from docs/daemon.rst")

    def test_missing_option_detected(self):
        self.assertEqual(missing({"--store", "--no-such-option"}, "``--store`` memory"),
                         ["--no-such-option"])
        self.assertEqual(missing({"--max-jobs"}, "``--max-jobs-x``"), ["--max-jobs"])


class ControlPageTests(unittest.TestCase):
    """docs/control.rst covers the AMP commands and twistedsched-ctl."""

    def setUp(self):
        self.page = read("docs", "control.rst")

    def test_amp_commands(self):
        commands = {name for name, value in vars(control).items()
                    if inspect.isclass(value) and issubclass(value, amp.Command)
                    and not name.startswith("_")}
        self.assertIn("AddJob", commands)
        self.assertEqual(missing(commands, self.page), [])

    def test_errors(self):
        errors = {cls.__name__ for cls in control.ERRORS}
        codes = {code.decode("ascii") for code in control.ERRORS.values()}
        self.assertEqual(missing(errors | codes, self.page), [])

    def test_ctl_commands_and_options(self):
        parser, commands = ctl_parsers()
        self.assertIn("watch", commands)
        self.assertEqual(missing(commands, self.page), [], "twistedsched-ctl commands")
        self.assertEqual(missing(long_options(parser), self.page), [], "global options")
        for name, sub in sorted(commands.items()):
            self.assertEqual(missing(long_options(sub), self.page, ""), [],
                             "options of twistedsched-ctl %s" % (name,))


class ConsolePageTests(unittest.TestCase):

    def test_every_command_documented(self):
        self.assertIn("jobs", console.COMMANDS)
        self.assertEqual(missing(console.COMMANDS, read("docs", "console.rst")), [])


class QuickStartTests(unittest.TestCase):
    """The quick start gives the README's two set-up commands, verbatim."""

    def readme_commands(self):
        return [line.strip() for line in read("README.rst").splitlines()
                if line.startswith("    python3 -m venv .venv")]

    def test_readme_commands(self):
        commands = self.readme_commands()
        self.assertEqual(len(commands), 2, commands)
        page = read("docs", "quickstart.rst")
        for command in commands:
            self.assertIn("\n    " + command + "\n", page)


class RespawnTests(unittest.TestCase):
    """The tutorial's example of testing with a Clock (included in docs/tutorial.rst)."""

    def test_every_five_minutes(self):
        clock = Clock()
        runs = []
        sched = Scheduler(reactor=clock)
        sched.add_job(runs.append, "interval", minutes=5, args=("forest",))
        sched.startService()
        self.addCleanup(sched.stopService)
        clock.advance(5 * 60 - 1)
        self.assertEqual(runs, [])
        clock.advance(1)
        self.assertEqual(runs, ["forest"])
