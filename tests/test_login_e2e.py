"""
End to end: C{twistd -n sched --auth file:PATH} as a subprocess, and an
unknown user with an empty password on every way in (the control port from
Python, the console, twistedsched-ctl), beside a user who may log in.
"""

import os

from twisted.internet import defer, reactor

from twistedsched.auth import hash_password
from twistedsched.client import NotAuthorized, connect
from twistedsched.ctl import EXIT_REFUSED

from tests.test_console_e2e import PROMPT, Client
from tests.test_ctl import DaemonTestCase


class FileAuthEndToEndTests(DaemonTestCase):

    def daemon_args(self):
        path = os.path.abspath(os.path.join(self.workdir, "users"))
        with open(path, "w") as f:
            f.write("ops:%s\n" % (hash_password("right"),))
        return ["--auth", "file:" + path,
                "--console", "tcp:%d:interface=127.0.0.1" % (self.console_port,),
                "--control", "tcp:%d:interface=127.0.0.1" % (self.port,)]

    def extra_ports(self):
        return [self.console_port]

    def endpoint(self):
        return "tcp:127.0.0.1:%d" % (self.port,)

    @defer.inlineCallbacks
    def test_control_port(self):
        for user, password in (("nobody", ""), ("nobody", "x"), ("ops", "")):
            client = yield connect(reactor, self.endpoint())
            self.addCleanup(client.close)
            failure = yield self.assertFailure(client.login(user, password), NotAuthorized)
            self.assertIn("login refused", str(failure))
            yield self.assertFailure(client.stats(), NotAuthorized)
        client = yield connect(reactor, self.endpoint(), username="ops", password="right")
        self.addCleanup(client.close)
        self.assertEqual((yield client.stats())["jobs"], 0)

    def test_console(self):
        client = Client(self.console_port)
        self.addCleanup(client.close)
        client.read_until(b"user: ")
        client.send(b"nobody\r\n")
        client.read_until(b"password: ")
        client.send(b"\r\n")                              # the empty password
        self.assertEqual(client.read_until(b"user: "), b"error: login refused\r\n")
        client.send(b"login nobody ''\r\n")
        self.assertEqual(client.read_until(b"user: "), b"error: login refused\r\n")
        client.send(b"jobs\r\n")
        self.assertIn(b"error: log in first", client.read_until(b"user: "))
        client.send(b"login ops right\r\n")
        self.assertEqual(client.read_until(PROMPT), b"logged in as ops\r\n")

    def test_ctl(self):
        _, err = self.assertCtl(EXIT_REFUSED, "--user", "nobody", "--password", "", "stats")
        self.assertIn("not authorized: login refused", err)
        _, err = self.assertCtl(EXIT_REFUSED, "stats")
        self.assertIn("use --user and --password", err)
        out, _ = self.assertCtl(0, "--user", "ops", "--password", "right", "stats")
        self.assertIn("jobs", out)
        self.assertNotIn("Traceback", self.daemon_log())
