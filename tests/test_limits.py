"""
Tests for connection limits.
"""

from twisted.internet import protocol
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from twistedsched.limits import HANG_UP_GRACE, ConnectionLimiter, hang_up

from tests.helpers import make_clock


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


def connect(factory, host):
    addr = IPv4Address("TCP", host, 5000)
    proto = factory.buildProtocol(addr)
    transport = StringTransport(peerAddress=addr)
    proto.makeConnection(transport)
    return proto, transport


class ConnectionLimiterTests(unittest.TestCase):

    def setUp(self):
        self.factory = ConnectionLimiter(protocol.Factory.forProtocol(Echo), per_peer=2,
                                         total=3, refusal=b"error: {why}\r\n")

    def test_per_peer_limit(self):
        first = [connect(self.factory, "10.0.0.1") for _ in range(2)]
        _, refused = connect(self.factory, "10.0.0.1")
        self.assertEqual(refused.value(), b"error: too many connections from 10.0.0.1 (2)\r\n")
        self.assertTrue(refused.disconnecting)
        proto, transport = connect(self.factory, "10.0.0.2")
        self.assertFalse(transport.disconnecting, "another peer is not affected")
        proto.dataReceived(b"ping")
        self.assertEqual(transport.value(), b"ping")
        for proto, transport in first:
            self.assertFalse(transport.disconnecting, "existing clients keep their connection")

    def test_total_limit_and_release(self):
        connections = [connect(self.factory, "10.0.0.%d" % n) for n in range(3)]
        _, refused = connect(self.factory, "10.0.0.9")
        self.assertIn(b"too many connections (3)", refused.value())
        proto, transport = connections[0]
        proto.connectionLost(None)
        _, accepted = connect(self.factory, "10.0.0.9")
        self.assertFalse(accepted.disconnecting)
        self.assertEqual(self.factory.count, 3)
        self.assertNotIn("10.0.0.0", self.factory.by_host)

    def test_silent_refusal(self):
        factory = ConnectionLimiter(protocol.Factory.forProtocol(Echo), per_peer=1, total=5)
        connect(factory, "10.0.0.1")
        _, refused = connect(factory, "10.0.0.1")
        self.assertEqual(refused.value(), b"")
        self.assertTrue(refused.disconnecting)


class HangUpTests(unittest.TestCase):

    def test_cut_when_the_output_lingers(self):
        clock, transport = make_clock(), StringTransport()
        hang_up(transport, clock)
        self.assertTrue(transport.disconnecting)
        clock.advance(HANG_UP_GRACE - 0.1)
        self.assertFalse(transport.disconnected, "time for the output to go out")
        clock.advance(0.1)
        self.assertTrue(transport.disconnected, "aborted")

    def test_cancelled_when_lost(self):
        clock, transport = make_clock(), StringTransport()
        cut = hang_up(transport, clock)
        cut.cancel()
        self.assertEqual(clock.getDelayedCalls(), [])
