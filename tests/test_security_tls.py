"""
TLS on the control port: the Python client against a ControlFactory on a
real ssl: endpoint (loopback), then twistedsched-ctl against
C{twistd -n sched} with an ssl: control port, --client-ca and --auth.
Certificates are made at test time.
"""

import os
import subprocess
import sys

from OpenSSL import SSL
from service_identity.exceptions import VerificationError
from twisted.internet import defer, reactor
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched.auth import make_checker
from twistedsched.client import NotAuthorized, connect
from twistedsched.control import ControlFactory
from twistedsched.tls import describe_tls_failure, server_endpoint

from tests.certs import make_pki
from tests.test_ctl import DaemonTestCase, environment, free_port


def ssl_description(port, pki):
    return "ssl:%d:interface=127.0.0.1:privateKey=%s" % (
        port, pki["server.pem"].replace(":", "\\:"))


class ClientTLSTests(unittest.TestCase):
    """The Python client over TLS."""

    timeout = 30

    def setUp(self):
        self.pki = make_pki(self.mktemp())
        self.sched = Scheduler(reactor=reactor, timezone="UTC")
        self.sched.task("greet")(lambda *args: None)
        self.sched.startService()
        self.addCleanup(self.sched.shutdown)

    @defer.inlineCallbacks
    def listen(self, client_ca=None, checker=None):
        endpoint = server_endpoint(reactor, ssl_description(0, self.pki), client_ca)
        port = yield endpoint.listen(ControlFactory(self.sched, checker))
        self.addCleanup(port.stopListening)
        self.endpoint = "tcp:127.0.0.1:%d" % (port.getHost().port,)

    @defer.inlineCallbacks
    def connect(self, **options):
        options.setdefault("ca_file", self.pki["ca.pem"])
        client = yield connect(reactor, self.endpoint, tls=True, **options)
        self.addCleanup(client.close)
        return client

    @defer.inlineCallbacks
    def test_good_certificate(self):
        yield self.listen()
        for name in ("localhost", None):        # None: 127.0.0.1 from the endpoint
            client = yield self.connect(server_name=name)
            tasks = yield client.tasks()
            self.assertEqual([t["name"] for t in tasks], ["greet"])

    @defer.inlineCallbacks
    def test_wrong_host_name(self):
        yield self.listen()
        failure = yield self.assertFailure(self.connect(server_name="wrong.example"),
                                           VerificationError)
        self.assertIn("not valid for the name 'wrong.example'",
                      describe_tls_failure(failure, "wrong.example"))

    @defer.inlineCallbacks
    def test_untrusted_ca(self):
        yield self.listen()
        failure = yield self.assertFailure(self.connect(ca_file=self.pki["other-ca.pem"]),
                                           SSL.Error)
        self.assertIn("not signed by a trusted CA", describe_tls_failure(failure))

    @defer.inlineCallbacks
    def test_client_certificate_required(self):
        yield self.listen(client_ca=self.pki["ca.pem"])
        # TLS 1.3: the client's handshake ends before the server checks it,
        # so the refusal may come with the first command.
        try:
            client = yield self.connect()
            yield client.tasks()
        except SSL.Error as e:
            self.assertIn("refused the handshake", describe_tls_failure(e))
        else:
            self.fail("served a client without a certificate")
        client = yield self.connect(cert_file=self.pki["client.pem"],
                                    key_file=self.pki["client.key"])
        tasks = yield client.tasks()
        self.assertEqual(len(tasks), 1)

    @defer.inlineCallbacks
    def test_login_over_tls(self):
        yield self.listen(checker=make_checker("memory:alice:secret"))
        yield self.assertFailure(self.connect(username="alice", password="wrong"),
                                 NotAuthorized)
        client = yield self.connect(username="alice", password="secret")
        stats = yield client.stats()
        self.assertEqual(stats["jobs"], 0)

    def test_tls_needs_an_endpoint_string(self):
        self.assertRaises(ValueError, connect, reactor, object(), tls=True)


class CtlTLSTests(DaemonTestCase):
    """
    twistedsched-ctl against twistd -n sched with an ssl: control port that
    wants a client certificate and a login (memory:alice:secret).
    """

    def setUp(self):
        self.pki = make_pki(os.path.abspath(self.mktemp()))
        super().setUp()

    def daemon_args(self):
        return ["--control", ssl_description(self.port, self.pki),
                "--client-ca", self.pki["ca.pem"], "--auth", "memory:alice:secret"]

    def ctl(self, *argv, env=None, **kwargs):
        env = dict({"TWISTEDSCHED_PASSWORD": "secret"}, **(env or {}))
        return DaemonTestCase.ctl(self, *argv, env=env, **kwargs)

    def tls(self, *extra, ca="ca.pem", cert=True):
        args = ["--tls", "--ca", self.pki[ca], "--user", "alice"]
        if cert:
            args += ["--cert", self.pki["client.pem"], "--key", self.pki["client.key"]]
        return args + list(extra)

    def test_good_certificate_and_login(self):
        out, _ = self.assertCtl(0, *self.tls("tasks"))
        self.assertIn("echo", out)
        out, _ = self.assertCtl(0, *self.tls("--server-name", "localhost", "stats"))
        self.assertIn("jobs", out)

    def test_wrong_password(self):
        _, err = self.assertCtl(1, *self.tls("tasks"), env={"TWISTEDSCHED_PASSWORD": "nope"})
        self.assertIn("not authorized", err)

    def test_tls_failures_exit_3(self):
        _, err = self.assertCtl(3, *self.tls("--server-name", "wrong.example", "tasks"))
        self.assertIn("not valid for the name 'wrong.example'", err)
        _, err = self.assertCtl(3, *self.tls("tasks", ca="other-ca.pem"))
        self.assertIn("not signed by a trusted CA", err)
        _, err = self.assertCtl(3, *self.tls("tasks", cert=False))
        self.assertIn("refused the handshake", err)
        _, err = self.assertCtl(3, "tasks")                 # plain TCP to a TLS port
        self.assertIn("twistedsched-ctl: ", err)
        self.assertNotIn("Traceback", err)

    def test_usage_errors(self):
        _, err = self.assertCtl(2, "--ca", "/no/such/ca.pem", "tasks")
        self.assertIn("/no/such/ca.pem", err)
        self.assertCtl(2, "--key", self.pki["client.key"], "tasks")


class DaemonRefusesTests(unittest.TestCase):
    """twistd sched stops with a clear message instead of listening unsafely."""

    def run_twistd(self, *args):
        argv = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "--logfile=-", "sched"] + list(args)
        return subprocess.run(argv, env=environment(), capture_output=True, text=True,
                              timeout=30)

    def test_public_without_auth(self):
        done = self.run_twistd("--control", "tcp:%d" % (free_port(),), "--console", "none")
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("refusing to listen on", done.stdout + done.stderr)
        self.assertIn("--insecure", done.stdout + done.stderr)
