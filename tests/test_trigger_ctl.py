"""
Trigger text through twistedsched-ctl against a real C{twistd -n sched}: the
cron macros, H, and times out of range (a clear error, exit code 1).
"""

from tests.test_ctl import DaemonTestCase


class CtlTriggerTests(DaemonTestCase):

    def test_macros_hash_and_bad_times(self):
        for macro in ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
                      "@hourly"):
            out, _ = self.assertCtl(0, "add", "echo", "--cron", macro, "--id", macro[1:])
            self.assertIn("added %s" % (macro[1:],), out)
        out, _ = self.assertCtl(0, "add", "echo", "--cron", "H H * * *", "--id", "spread")
        out, _ = self.assertCtl(0, "show", "spread")
        self.assertIn("H H * * *", out)
        for when in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):
            _, err = self.assertCtl(1, "add", "echo", "--at", when)
            self.assertIn("out of range", err)
            self.assertNotIn("Traceback", err)
        self.assertNotIn("Traceback", self.daemon_log())
