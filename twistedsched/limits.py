"""
Connection limits for the control port and the console: at most so many
connections per peer host and in total.  A connection over a limit gets a
one-line refusal (when the protocol speaks lines) and is closed; the others
are not disturbed.
"""

from twisted.internet import protocol
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory

log = Logger(namespace="twistedsched.limits")


class _Refused(protocol.Protocol):
    """Says why, then hangs up."""

    def __init__(self, message):
        self.message = message

    def connectionMade(self):
        if self.message:
            self.transport.write(self.message)
        self.transport.loseConnection()


class _Counted(ProtocolWrapper):
    """A connection that the limiter counts until it is lost."""

    def connectionLost(self, reason):
        self.factory.release(self)
        ProtocolWrapper.connectionLost(self, reason)


class ConnectionLimiter(WrappingFactory):
    """
    Wraps a factory so that each peer host may hold C{per_peer} connections
    and everyone together C{total}.  C{refusal} is written to connections
    refused for being over a limit: bytes, where C{{why}} becomes the
    reason, or a function of the reason (text) returning bytes.
    """

    protocol = _Counted

    def __init__(self, wrapped, per_peer=10, total=100, refusal=b""):
        WrappingFactory.__init__(self, wrapped)
        self.per_peer = per_peer
        self.total = total
        self.refusal = refusal
        self.by_host = {}
        self.count = 0

    def buildProtocol(self, addr):
        host = getattr(addr, "host", None) or str(addr)
        if self.count >= self.total:
            return self._refuse(addr, "the server has too many connections (%d)" % self.total)
        if self.by_host.get(host, 0) >= self.per_peer:
            return self._refuse(addr, "too many connections from %s (%d)" % (host, self.per_peer))
        wrapper = WrappingFactory.buildProtocol(self, addr)
        if wrapper is not None:
            wrapper.peer_host = host
            self.by_host[host] = self.by_host.get(host, 0) + 1
            self.count += 1
        return wrapper

    def _refuse(self, addr, why):
        log.warn("refused a connection from {addr}: {why}", addr=addr, why=why)
        if callable(self.refusal):
            message = self.refusal(why)
        else:
            message = self.refusal.replace(b"{why}", why.encode())
        return _Refused(message)

    def release(self, wrapper):
        host = wrapper.peer_host
        self.count -= 1
        self.by_host[host] -= 1
        if not self.by_host[host]:
            del self.by_host[host]


class RateLimit:
    """
    A token bucket: L{allow} is true for at most C{rate} events per second
    on average, in bursts of up to C{rate}.  C{clock} gives the time.
    """

    def __init__(self, clock, rate):
        self.clock = clock
        self.rate = rate
        self.tokens = float(rate)
        self.last = clock.seconds()

    def allow(self):
        now = self.clock.seconds()
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


#: Seconds a connection closed by the server (a timeout, too many failed
#: logins) may take to send what it has left before it is cut.
HANG_UP_GRACE = 10


def hang_up(transport, clock, grace=HANG_UP_GRACE):
    """
    Close C{transport} after its pending output, and cut it if that output
    has not gone out after C{grace} seconds: a client that does not read
    must not keep a closing connection (and its slot) open.  Returns the
    delayed call of the cut; cancel it when the connection is lost.
    """
    transport.loseConnection()
    return clock.callLater(grace, transport.abortConnection)
