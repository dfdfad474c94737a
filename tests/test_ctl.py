"""
twistedsched-ctl as a subprocess against a C{twistd -n sched} subprocess on a
free loopback port.  Every wait is bounded.
"""

import subprocess
import sys
import threading

from twisted.trial import unittest

from twistedsched.ctl import format_event

from tests.daemonprocess import (  # noqa: F401  (re-exported for other tests)
    TIMEOUT, DaemonTestCase as _Daemon, environment, free_port, stop_process)


class DaemonTestCase(_Daemon):
    """L{_Daemon} plus L{ctl}, which runs twistedsched-ctl against it."""

    def stop(self, process):
        stop_process(process)

    def ctl_args(self, *argv, connect=None):
        connect = connect or "tcp:127.0.0.1:%d" % (self.port,)
        return [sys.executable, "-m", "twistedsched.ctl", "--connect", connect,
                "--timeout", "10"] + list(argv)

    def ctl(self, *argv, connect=None, env=None):
        """Run twistedsched-ctl (C{env}: more variables); return (exit code, stdout, stderr)."""
        done = subprocess.run(self.ctl_args(*argv, connect=connect), cwd=self.workdir,
                              env=dict(environment(), **(env or {})), capture_output=True,
                              text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        return done.returncode, done.stdout, done.stderr

    def assertCtl(self, code, *argv, **kwargs):
        result = self.ctl(*argv, **kwargs)
        self.assertEqual(result[0], code, "ctl %s: %r\ndaemon log:\n%s" % (
            " ".join(argv), result, self.daemon_log()))
        return result[1], result[2]


class CtlAgainstDaemonTests(DaemonTestCase):

    def start_watch(self):
        """A `watch` subprocess, returned once it has subscribed."""
        watch = subprocess.Popen(self.ctl_args("watch", "--events", "job_executed",
                                               "--count", "1"),
                                 cwd=self.workdir, env=environment(), text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(self.stop, watch)
        line = []
        reader = threading.Thread(target=lambda: line.append(watch.stderr.readline()))
        reader.daemon = True
        reader.start()
        reader.join(TIMEOUT)
        self.assertTrue(line and line[0].startswith("watching"), "watch said %r" % (line,))
        return watch

    def test_add_list_run_watch_remove(self):
        out, _ = self.assertCtl(0, "tasks")
        self.assertIn("echo", out)
        out, _ = self.assertCtl(0, "add", "echo", "--interval", "1h", "--id", "e2e",
                                "--args", '["hi"]')
        self.assertIn("added e2e", out)
        self.assertCtl(0, "add", "echo", "--at", "2031-01-01T04:00", "--id", "later")
        out, _ = self.assertCtl(0, "list")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "NAME", "TRIGGER", "NEXT", "RUN"])
        self.assertTrue(lines[1].startswith("e2e "))
        self.assertTrue(lines[2].startswith("later "))
        self.assertEqual(lines[1].index("interval"), lines[0].index("TRIGGER"))
        out, _ = self.assertCtl(0, "show", "e2e")
        self.assertIn('["hi"]', out)

        watch = self.start_watch()
        out, _ = self.assertCtl(0, "run", "e2e")
        self.assertIn("started e2e", out)
        try:
            stdout, _ = watch.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("watch saw no job_executed event:\n%s" % (self.daemon_log(),))
        self.assertEqual(watch.returncode, 0)
        self.assertTrue(stdout.startswith("job_executed  e2e"), stdout)
        out, _ = self.assertCtl(0, "show", "e2e")
        lines = out.splitlines()
        start = lines.index("last runs (newest first):")
        self.assertEqual(lines[start + 1].split(),
                         ["SCHEDULED", "OUTCOME", "LATE", "DURATION", "SCHEDULER", "ERROR"])
        self.assertEqual(lines[start + 2].split()[2], "ok")
        self.assertEqual(len(lines), start + 3)

        self.assertCtl(0, "pause", "later")
        out, _ = self.assertCtl(0, "stats")
        self.assertIn("executed", out)
        out, _ = self.assertCtl(0, "remove", "e2e")
        self.assertIn("removed e2e", out)
        _, err = self.assertCtl(1, "remove", "e2e")
        self.assertIn("no job with id 'e2e'", err)
        out, _ = self.assertCtl(0, "list")
        self.assertNotIn("e2e", out)
        self.assertNotIn("Traceback", self.daemon_log())

    def test_exit_codes(self):
        _, err = self.assertCtl(1, "add", "os:system", "--interval", "5s")
        self.assertIn("no task is registered as 'os:system'", err)
        _, err = self.assertCtl(1, "add", "echo", "--cron", "61 * * * *")
        self.assertTrue(err.startswith("twistedsched-ctl: "), err)
        self.assertCtl(1, "show", "nothing-here")
        self.assertCtl(2, "add", "echo")                              # no trigger
        self.assertCtl(2, "add", "echo", "--interval", "often")
        self.assertCtl(2, "add", "echo", "--interval", "5s", "--args", '{"a": 1}')
        self.assertCtl(2, "frobnicate")
        _, err = self.assertCtl(3, "list", connect="tcp:127.0.0.1:%d" % (free_port(),))
        self.assertIn("cannot connect", err)


    def test_reader_that_goes_away(self):
        """`twistedsched-ctl list | head -1`: a closed pipe ends it quietly."""
        for i in range(3):
            self.assertCtl(0, "add", "echo", "--interval", "1h", "--id", "pipe%d" % (i,))
        ctl = subprocess.Popen(self.ctl_args("list"), cwd=self.workdir, env=environment(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
        ctl.stdout.close()          # before it has connected, let alone written
        _, err = ctl.communicate(timeout=TIMEOUT)
        self.assertEqual((ctl.returncode, err), (0, b""))


class FormatEventTests(unittest.TestCase):

    def test_format(self):
        line = format_event({"event": "job_executed", "job_id": "a", "jobstore": "default",
                             "duration": 0.0123, "scheduled_run_time": "T"})
        self.assertEqual(line, "job_executed  a  duration=0.012s  scheduled_run_time=T")
