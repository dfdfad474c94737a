"""
TLS between the control-port client helpers and a real ssl: server endpoint,
with certificates made at test time.
"""

from twisted.internet import defer, protocol, reactor
from twisted.trial import unittest

from twistedsched.tls import (
    check_listen_safety, client_endpoint, describe_tls_failure, endpoint_host,
    listens_beyond_loopback, server_endpoint)

from tests.certs import make_pki


class Hello(protocol.Protocol):
    def connectionMade(self):
        self.transport.write(b"hello")


class Receive(protocol.Protocol):
    def __init__(self):
        self.done = defer.Deferred()
        self.data = b""

    def dataReceived(self, data):
        self.data += data
        self.transport.loseConnection()

    def connectionLost(self, reason):
        self.done.callback((self.data, reason))


class TLSConnectionTests(unittest.TestCase):

    def setUp(self):
        self.pki = make_pki(self.mktemp())

    @defer.inlineCallbacks
    def exchange(self, client_ca=None, **client_options):
        description = "ssl:0:interface=127.0.0.1:privateKey=%s" % (
            self.pki["server.pem"].replace(":", "\\:"),)
        endpoint = server_endpoint(reactor, description, client_ca)
        port = yield endpoint.listen(protocol.Factory.forProtocol(Hello))
        self.addCleanup(port.stopListening)
        endpoint = client_endpoint(reactor, "tcp:127.0.0.1:%d" % port.getHost().port,
                                   tls=True, **client_options)
        proto = yield endpoint.connect(protocol.Factory.forProtocol(Receive))
        result = yield proto.done
        return result

    @defer.inlineCallbacks
    def test_good_certificate(self):
        data, _ = yield self.exchange(ca_file=self.pki["ca.pem"], hostname="localhost")
        self.assertEqual(data, b"hello")

    @defer.inlineCallbacks
    def test_ip_address_in_certificate(self):
        data, _ = yield self.exchange(ca_file=self.pki["ca.pem"])
        self.assertEqual(data, b"hello")

    @defer.inlineCallbacks
    def test_wrong_host_name(self):
        data, reason = yield self.exchange(ca_file=self.pki["ca.pem"], hostname="wrong.example")
        self.assertEqual(data, b"")
        message = describe_tls_failure(reason, "wrong.example")
        self.assertIn("not valid for the name 'wrong.example'", message)

    @defer.inlineCallbacks
    def test_untrusted_ca(self):
        data, reason = yield self.exchange(ca_file=self.pki["other-ca.pem"], hostname="localhost")
        self.assertEqual(data, b"")
        self.assertIn("not signed by a trusted CA", describe_tls_failure(reason))

    @defer.inlineCallbacks
    def test_client_certificate_required(self):
        required = self.pki["ca.pem"]
        data, reason = yield self.exchange(required, ca_file=self.pki["ca.pem"],
                                           hostname="localhost")
        self.assertEqual(data, b"", "no client certificate: no service")
        data, _ = yield self.exchange(required, ca_file=self.pki["ca.pem"], hostname="localhost",
                                      cert_file=self.pki["client.pem"],
                                      key_file=self.pki["client.key"])
        self.assertEqual(data, b"hello")

    def test_client_ca_needs_ssl_endpoint(self):
        self.assertRaises(ValueError, server_endpoint, reactor, "tcp:0", self.pki["ca.pem"])

    def test_non_tls_failures_are_not_described(self):
        self.assertIsNone(describe_tls_failure(ConnectionRefusedError()))


class ListenSafetyTests(unittest.TestCase):

    def test_loopback_and_unix_are_local(self):
        for description in ("tcp:7730:interface=127.0.0.1", "tcp:7730:interface=localhost",
                            "tcp6:7730:interface=\\:\\:1", "unix:/tmp/sched.sock",
                            "ssl:7730:privateKey=k.pem:interface=127.0.0.2"):
            self.assertFalse(listens_beyond_loopback(description), description)

    def test_all_interfaces_and_public_addresses_are_not(self):
        for description in ("tcp:7730", "tcp:7730:interface=0.0.0.0",
                            "ssl:7730:privateKey=k.pem", "tcp:7730:interface=192.0.2.1",
                            "tcp6:7730:interface=\\:\\:"):
            self.assertTrue(listens_beyond_loopback(description), description)

    def test_refused_without_auth_unless_insecure(self):
        e = self.assertRaises(ValueError, check_listen_safety, ["tcp:7730"], None, False)
        self.assertIn("--auth", str(e))
        self.assertIn("--insecure", str(e))
        check_listen_safety(["tcp:7730"], "memory:a:b", False)
        check_listen_safety(["tcp:7730"], None, True)
        check_listen_safety(["tcp:7730:interface=127.0.0.1", None], None, False)

    def test_endpoint_host(self):
        self.assertEqual(endpoint_host("tcp:example.org:7730"), "example.org")
        self.assertEqual(endpoint_host("tcp:host=example.org:port=7730"), "example.org")
        self.assertIsNone(endpoint_host("unix:/tmp/x"))
