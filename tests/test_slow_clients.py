"""
Clients that do not read, over real loopback TCP: the daemon's memory for a
console watcher stays bounded while events keep coming.  Bounded in time by
counts, not clocks: events are generated in rounds until the server's
transport pushes back, and then some more.
"""

from twisted.internet import defer, protocol, reactor, task
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP4ServerEndpoint
from twisted.trial import unittest

from twistedsched import Scheduler
from twistedsched.console import ConsoleFactory

#: Rounds of events before giving up on seeing back-pressure (each ~1,000 events).
MAX_ROUNDS = 500


class KeepingFactory(ConsoleFactory):
    """A console factory that keeps its sessions, to look at them."""

    def __init__(self, *args, **kwargs):
        ConsoleFactory.__init__(self, *args, **kwargs)
        self.sessions = []

    def buildProtocol(self, addr):
        session = ConsoleFactory.buildProtocol(self, addr)
        self.sessions.append(session)
        return session


class NonReader(protocol.Protocol):
    """Sends C{watch}, then stops reading until told to."""

    def __init__(self):
        self.received = b""

    def connectionMade(self):
        self.transport.write(b"watch\r\n")

    def dataReceived(self, data):
        self.received += data


def buffered(transport):
    """Bytes waiting in a TCP transport's send buffer."""
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


class SlowWatcherTests(unittest.TestCase):

    timeout = 60

    @defer.inlineCallbacks
    def test_buffer_bounded_and_drops_counted(self):
        sched = Scheduler(reactor=reactor)
        sched.startService()
        self.addCleanup(sched.shutdown)
        sched.task("noop")(lambda: None)
        factory = KeepingFactory(sched, reactor=reactor)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(factory)
        self.addCleanup(port.stopListening)
        client = NonReader()
        yield TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port).connect(
            protocol.Factory.forProtocol(lambda: client))
        self.addCleanup(client.transport.loseConnection)
        while not factory.sessions or not factory.sessions[0]._watching:
            yield task.deferLater(reactor, 0.01, lambda: None)
        session = factory.sessions[0]
        client.transport.pauseProducing()              # the client stops reading

        def burst():
            for n in range(500):                       # 1,000 events: added, removed
                sched.add_job("noop", "interval", hours=1, id="j%d" % n)
                sched.remove_job("j%d" % n)
        for _ in range(MAX_ROUNDS):                    # until the kernel's buffers are full too
            burst()
            yield task.deferLater(reactor, 0, lambda: None)
            if session._dropped_events >= 20000:
                break
        self.assertGreaterEqual(session._dropped_events, 20000, "no back-pressure")
        server_transport = session.transport
        size = buffered(server_transport)
        self.assertLessEqual(size, 2 ** 16 + 1000, "one event past the transport's 64 KiB")
        for _ in range(5):
            burst()
            yield task.deferLater(reactor, 0, lambda: None)
            # (The kernel may still take some of what is buffered; the buffer stays bounded.)
            self.assertLessEqual(buffered(server_transport), 2 ** 16 + 1000,
                                 "more than one event past the transport's 64 KiB")
        dropped = session._dropped_events
        client.transport.resumeProducing()             # the buffer drains: told how many
        # (If the kernel took some of the buffer during the bursts, the output
        # resumed then and a notice went for what was dropped until then; the
        # last notice tells what was dropped since.)
        told = "(dropped %d event%s: the connection did not take them fast enough)\r\n"
        last = (told % (dropped, "" if dropped == 1 else "s")).encode() if dropped \
            else b"(dropped "
        while session._dropped_events or last not in client.received:
            yield task.deferLater(reactor, 0.01, lambda: None)
