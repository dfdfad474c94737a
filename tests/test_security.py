"""
Security of the control port and the console, through iosim and
StringTransport on a Clock: login on both ports with one shared throttle,
registered tasks only, connection and size limits, the daemon's options.
"""

from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.protocols import amp
from twisted.python import usage
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial import unittest

from twistedsched import Scheduler, daemon
from twistedsched.auth import Authenticator, CheckQueue, LoginThrottle, make_checker
from twistedsched.client import (
    BadArgument, ClientProtocol, ControlClient, LimitExceeded, NotAuthorized,
    RefusedByServer, UnknownTask, connect)
from twistedsched.console import ConsoleFactory
from twistedsched.control import MAX_BOX_KEYS, AddJob, ControlFactory, refusal_box
from twistedsched.limits import ConnectionLimiter
from twistedsched.remote import MAX_ARGUMENT_BYTES

from tests.helpers import make_scheduler
from tests.test_auth import ManualChecker

#: Task names that must never reach a callable that is not registered.
FORBIDDEN_TASKS = ["os:system", "builtins:eval", "greet.__call__", "greet.__globals__",
                   "greet:x", "os.system", "subprocess:Popen"]



class AddJobWithFunc(amp.Command):
    """AddJob as a hostile client might send it, with fields the server does not declare."""
    commandName = b"AddJob"
    arguments = AddJob.arguments + [(b"func", amp.Unicode()), (b"target", amp.Unicode())]
    response = AddJob.response
    errors = AddJob.errors


def peer(host="192.0.2.7", port=40000):
    return IPv4Address("TCP", host, port)


class AMPConnection:
    """A ControlClient joined to a server factory's protocol by an iosim pump."""

    def __init__(self, factory, clock, host="192.0.2.7"):
        self.clock = clock
        self.server = factory.buildProtocol(peer(host))
        self.protocol = ClientProtocol()
        self.pump = iosim.connect(
            self.server, iosim.FakeTransport(self.server, True, peerAddress=peer(host)),
            self.protocol, iosim.makeFakeClient(self.protocol))
        self.client = ControlClient(self.protocol)

    def settle(self, seconds=0):
        """Move the clock on and deliver everything."""
        self.pump.flush()
        self.clock.advance(seconds)
        self.pump.flush()

    @property
    def closed(self):
        return self.protocol.lost is None


class ConsoleConnection:
    """A console session on a StringTransport with a peer address."""

    def __init__(self, factory, host="192.0.2.7"):
        self.proto = factory.buildProtocol(peer(host))
        self.transport = StringTransport(peerAddress=peer(host))
        self.proto.makeConnection(self.transport)

    def send(self, line):
        self.proto.dataReceived(line + b"\r\n")

    def take(self):
        value = self.transport.value()
        self.transport.clear()
        return value


class SecurityTestCase(unittest.TestCase):

    def setUp(self):
        self.sched, self.clock = make_scheduler(self)
        self.ran = []
        self.sched.task("greet")(self.ran.append)
        self.auth = Authenticator(make_checker("memory:alice:secret"), self.clock)
        self.control = ControlFactory(self.sched, authenticator=self.auth)
        self.console = ConsoleFactory(self.sched, authenticator=self.auth)

    def jobs(self):
        return self.successResultOf(self.sched.get_jobs())


class AMPLoginTests(SecurityTestCase):

    def test_nothing_but_login_before_login(self):
        conn = AMPConnection(self.control, self.clock)
        calls = [conn.client.add_job("greet", ("interval", "1s")), conn.client.stats(),
                 conn.client.pause(), conn.client.get_jobs(), conn.client.tasks(),
                 conn.client.subscribe(), conn.client.remove_job("x")]
        conn.settle()
        for d in calls:
            self.failureResultOf(d, NotAuthorized)
        self.assertEqual((self.jobs(), self.sched.paused), ([], False))
        d = conn.client.login("alice", "secret")
        conn.settle()
        self.successResultOf(d)

    def login(self, conn, password, delay=0):
        d = conn.client.login("alice", password)
        conn.settle()
        if delay:
            self.assertNoResult(d)
            conn.settle(delay)
        return d

    def test_delay_grows_and_closes_after_three(self):
        conn = AMPConnection(self.control, self.clock)
        self.failureResultOf(self.login(conn, "wrong1"), NotAuthorized)
        self.failureResultOf(self.login(conn, "wrong2", delay=0.5), NotAuthorized)
        self.assertFalse(conn.closed)
        failure = self.failureResultOf(self.login(conn, "wrong3", delay=1.0), NotAuthorized)
        self.assertIn("too many failures", failure.getErrorMessage())
        self.assertTrue(conn.closed)
        self.assertEqual(self.auth.throttle.delay_for("192.0.2.7"), 2.0)
        other = AMPConnection(self.control, self.clock, host="198.51.100.1")
        self.successResultOf(self.login(other, "secret"))

    def test_throttle_shared_with_console(self):
        session = ConsoleConnection(self.console)
        for _ in range(2):
            session.send(b"login alice nope")
            self.clock.advance(1)
        conn = AMPConnection(self.control, self.clock)
        d = self.login(conn, "nope", delay=1.0)      # the third failure from this host
        self.failureResultOf(d, NotAuthorized)
        d = self.login(conn, "secret")
        self.successResultOf(d)
        self.assertEqual(self.auth.throttle.delay_for("192.0.2.7"), 0)

    def test_one_login_at_a_time(self):
        conn = AMPConnection(self.control, self.clock)
        self.failureResultOf(self.login(conn, "wrong"), NotAuthorized)
        first = conn.client.login("alice", "wrong")
        second = conn.client.login("alice", "secret")
        conn.settle()
        failure = self.failureResultOf(second, NotAuthorized)
        self.assertIn("already in progress", failure.getErrorMessage())
        conn.settle(0.5)
        self.failureResultOf(first, NotAuthorized)

    def test_failures_logged_with_peer(self):
        logged = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        conn = AMPConnection(self.control, self.clock)
        self.failureResultOf(self.login(conn, "hunter2"), NotAuthorized)
        text = "\n".join(formatEvent(event) or "" for event in logged)
        self.assertIn("failed login for 'alice'", text)
        self.assertIn("192.0.2.7", text)
        self.assertNotIn("hunter2", text)

    def test_closed_without_login(self):
        """30 s after connecting without a login, whatever came meanwhile: a byte a second."""
        conn = AMPConnection(self.control, self.clock)
        conn.protocol.transport.write(b"\x00\x01k\xff\xff")    # a key, then a long value
        for _ in range(29):
            conn.protocol.transport.write(b"v")
            conn.settle(1)
        self.assertFalse(conn.closed)
        conn.settle(1)
        self.assertTrue(conn.closed)
        conn = AMPConnection(self.control, self.clock)
        self.successResultOf(self.login(conn, "secret"))
        conn.settle(3600)
        self.assertFalse(conn.closed)

    def test_closing_a_client_that_does_not_read(self):
        server = self.control.buildProtocol(peer())
        transport = StringTransport(peerAddress=peer())
        server.makeConnection(transport)
        self.clock.advance(30)
        self.assertTrue(transport.disconnecting)
        self.assertFalse(transport.disconnected)
        self.clock.advance(10)
        self.assertTrue(transport.disconnected, "aborted: its output cannot hold it open")


class LoginWorkTests(SecurityTestCase):
    """
    What logins cost the daemon, on both ports: one check at a time per
    host, a few at once in all, none for a client that left.
    """

    def setUp(self):
        super().setUp()
        self.checker = ManualChecker()
        self.auth = Authenticator(self.checker, self.clock, LoginThrottle(self.clock),
                                  CheckQueue(concurrency=1, backlog=2))
        self.control = ControlFactory(self.sched, authenticator=self.auth)
        self.console = ConsoleFactory(self.sched, authenticator=self.auth)

    def checked(self):
        return [username for username, _ in self.checker.pending]

    def test_amp_client_that_left_is_not_checked(self):
        first = AMPConnection(self.control, self.clock, host="198.51.100.1")
        gone = AMPConnection(self.control, self.clock, host="198.51.100.2")
        d = first.client.login("alice", "x")
        first.settle()
        gone.client.login("mallory", "x")
        gone.settle()
        self.assertEqual(self.checked(), [b"alice"])
        gone.protocol.transport.loseConnection()
        gone.settle()
        self.checker.answer(ok=True)
        first.settle()
        self.successResultOf(d)
        self.assertEqual(self.checked(), [], "mallory's check was dropped")
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_console_client_that_left_is_not_checked(self):
        first = ConsoleConnection(self.console, host="198.51.100.1")
        gone = ConsoleConnection(self.console, host="198.51.100.2")
        first.send(b"login alice x")
        gone.send(b"login mallory x")
        gone.proto.connectionLost(None)
        self.checker.answer(ok=True)
        self.assertIn(b"logged in as alice", first.take())
        self.assertEqual(self.checked(), [])
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_hanging_up_mid_check_still_counts(self):
        conn = AMPConnection(self.control, self.clock)
        conn.client.login("alice", "guess")
        conn.settle()
        conn.protocol.transport.loseConnection()
        conn.settle()
        self.checker.answer(ok=False)
        conn = AMPConnection(self.control, self.clock)
        conn.client.login("alice", "guess2")
        conn.settle()
        self.checker.answer(ok=False)
        self.assertEqual(self.auth.throttle.delay_for("192.0.2.7"), 1.0)

    def test_one_check_at_a_time_per_host_across_ports(self):
        conns = [AMPConnection(self.control, self.clock) for _ in range(3)]
        calls = [conn.client.login("alice", "guess") for conn in conns]
        for conn in conns:
            conn.settle()
        session = ConsoleConnection(self.console)
        session.send(b"login alice secret")
        self.assertEqual(len(self.checked()), 1)
        self.checker.answer(ok=False)         # no delay after the first failure
        for conn in conns:
            conn.settle()
        self.assertEqual(len(self.checked()), 1)
        self.checker.answer(ok=False)         # then 0.5 s before the next check
        for conn in conns:
            conn.settle()
        self.assertEqual(self.checked(), [])
        conns[0].settle(0.5)
        self.assertEqual(len(self.checked()), 1)
        self.checker.answer(ok=True)
        conns[0].settle(1)
        self.assertEqual(len(self.checked()), 1, "the last one, the console's")
        self.checker.answer(ok=True)
        self.assertIn(b"logged in as alice", session.take())
        for conn in conns:
            conn.settle(1)
        for d in calls[:2]:
            self.failureResultOf(d, NotAuthorized)
        self.successResultOf(calls[2])

    def test_flood_from_many_hosts_refused_at_once(self):
        conns = [AMPConnection(self.control, self.clock, host="198.51.100.%d" % n)
                 for n in range(1, 7)]
        calls = [conn.client.login("alice", "guess") for conn in conns]
        for conn in conns:
            conn.settle()
        self.assertEqual(len(self.checked()), 1)
        for d in calls[3:]:
            failure = self.failureResultOf(d, NotAuthorized)
            self.assertEqual(failure.getErrorMessage(), "login refused (the server is busy "
                             "checking other logins; try again shortly)")
        session = ConsoleConnection(self.console, host="203.0.113.9")
        session.take()
        session.send(b"login alice secret")
        self.assertIn(b"error: login refused (the server is busy checking other logins; "
                      b"try again shortly)", session.take())
        for _ in range(3):
            self.checker.answer(ok=False)
        for conn in conns:
            conn.settle()
        for d in calls[:3]:
            self.failureResultOf(d, NotAuthorized)
        session.send(b"login alice secret")
        self.checker.answer(ok=True)
        self.assertIn(b"logged in as alice", session.take(), "served once the flood is over")


class ConsoleLoginTests(SecurityTestCase):

    def test_nothing_but_login_help_quit(self):
        session = ConsoleConnection(self.console)
        for line in (b"add greet every 1s", b"pause-all", b"jobs", b"run x", b"watch"):
            session.send(line)
            self.assertIn(b"error: log in first", session.take())
        self.assertEqual((self.jobs(), self.sched.paused), ([], False))

    def test_delay_grows_and_closes_after_three(self):
        session = ConsoleConnection(self.console)
        session.take()
        for delay in (0, 0.5, 1.0):
            session.send(b"login alice nope")
            self.clock.advance(delay - 0.01 if delay else 0)
            if delay:
                self.assertEqual(session.take(), b"", "answered before the delay")
            self.clock.advance(0.01)
            self.assertIn(b"error: login refused", session.take() if delay < 1
                          else session.transport.value())
        self.assertIn(b"too many failed logins; goodbye", session.take())
        self.assertTrue(session.transport.disconnecting)

    def test_login(self):
        session = ConsoleConnection(self.console)
        session.send(b"login alice secret")
        self.assertIn(b"logged in as alice", session.take())
        session.send(b"add greet every 1s id=g")
        self.assertIn(b"added job g", session.take())


class RegisteredTasksOnlyTests(SecurityTestCase):
    """No remote path to a callable that is not registered, on either port."""

    def setUp(self):
        super().setUp()
        self.control = ControlFactory(self.sched)
        self.console = ConsoleFactory(self.sched)
        self.successResultOf(self.sched.add_job("greet", "interval", seconds=60, id="g"))

    def test_control_port(self):
        conn = AMPConnection(self.control, self.clock)
        for name in FORBIDDEN_TASKS:
            d = conn.client.add_job(name, ("interval", "1s"), args=["id"])
            modified = conn.client.modify_job("g", task=name)
            conn.settle()
            self.failureResultOf(d, UnknownTask)
            self.failureResultOf(modified, UnknownTask)
        self.assertEqual([job.id for job in self.jobs()], ["g"])
        self.assertEqual(self.jobs()[0].task, "greet")

    def test_control_port_extra_fields(self):
        """Fields the commands do not declare (func, target) are ignored."""
        conn = AMPConnection(self.control, self.clock)
        d = conn.client._call(AddJobWithFunc, task="greet", trigger_kind="interval",
                              trigger="1s", func="os:system", target="os:system")
        modified = conn.client.modify_job("g", func="os:system")
        conn.settle()
        self.assertEqual(self.successResultOf(d)["job"]["target"], "greet")
        self.failureResultOf(modified, BadArgument)
        self.assertTrue(all(job.task == "greet" for job in self.jobs()))

    def test_json_args_only(self):
        """Arguments are JSON text, never pickles: a pickle is just bad JSON."""
        conn = AMPConnection(self.control, self.clock)
        d = conn.client._call(AddJob, task="greet", trigger_kind="interval", trigger="1s",
                              args="\x80\x04K\x01.")
        conn.settle()
        self.assertIn("not valid JSON", self.failureResultOf(d, BadArgument).getErrorMessage())

    def test_console(self):
        session = ConsoleConnection(self.console)
        for name in FORBIDDEN_TASKS:
            session.take()
            session.send(b"add " + name.encode() + b" every 1s")
            self.assertIn(b"error: ", session.take())
        self.assertEqual([job.id for job in self.jobs()], ["g"])
        self.clock.advance(60)
        self.assertEqual(self.ran, [])      # greet takes one argument; none given
        self.flushLoggedErrors(TypeError)


class LimitTests(SecurityTestCase):

    def setUp(self):
        super().setUp()
        self.control = ConnectionLimiter(ControlFactory(self.sched, max_adds_per_second=5),
                                         per_peer=2, total=3, refusal=refusal_box)
        self.console = ConnectionLimiter(ConsoleFactory(self.sched, max_line_length=100),
                                         per_peer=1, total=3, refusal=b"error: {why}\r\n")

    def test_amp_connection_over_limit(self):
        first, second = (AMPConnection(self.control, self.clock) for _ in range(2))
        third = AMPConnection(self.control, self.clock)
        d = third.client.stats()
        third.settle()
        failure = self.failureResultOf(d, RefusedByServer)
        self.assertEqual(str(failure.value), "the daemon refused the connection: "
                                             "too many connections from 192.0.2.7 (2)")
        for conn in (first, second):
            d = conn.client.add_job("greet", ("interval", "1s"), args=[1])
            conn.settle()
            self.successResultOf(d)
        other = AMPConnection(self.control, self.clock, host="198.51.100.1")
        d = other.client.stats()
        other.settle()
        self.assertEqual(self.successResultOf(d)["jobs"], 2)
        AMPConnection(self.control, self.clock, host="198.51.100.2")   # the 4th in total
        self.assertEqual(self.control.count, 3)

    def test_console_connection_over_limit(self):
        first = ConsoleConnection(self.console)
        second = ConsoleConnection(self.console)
        self.assertEqual(second.take(), b"error: too many connections from 192.0.2.7 (1)\r\n")
        self.assertTrue(second.transport.disconnecting)
        first.take()
        first.send(b"tasks")
        self.assertIn(b"greet", first.take())

    def test_add_rate(self):
        conn = AMPConnection(self.control, self.clock)
        calls = [conn.client.add_job("greet", ("interval", "1s"), args=[n]) for n in range(6)]
        conn.settle()
        for d in calls[:5]:
            self.successResultOf(d)
        failure = self.failureResultOf(calls[5], LimitExceeded)
        self.assertIn("at most 5 per second", failure.getErrorMessage())
        d = conn.client.add_job("greet", ("interval", "1s"), args=[6])
        conn.settle(0.2)
        self.failureResultOf(d, LimitExceeded)
        d = conn.client.add_job("greet", ("interval", "1s"), args=[6])
        conn.settle()
        self.successResultOf(d)

    def test_total_jobs(self):
        self.sched.max_jobs = 2
        conn = AMPConnection(self.control, self.clock)
        calls = [conn.client.add_job("greet", ("interval", "1s"), args=[n]) for n in range(3)]
        conn.settle()
        failure = self.failureResultOf(calls[2], LimitExceeded)
        self.assertIn("holds 2 jobs", failure.getErrorMessage())
        self.assertEqual(len(self.jobs()), 2)
        session = ConsoleConnection(self.console.wrappedFactory)
        session.send(b"add greet every 1s")
        self.assertIn(b"error: the scheduler holds 2 jobs, its limit", session.take())

    def test_argument_size(self):
        conn = AMPConnection(self.control, self.clock)
        big = "x" * (MAX_ARGUMENT_BYTES - 10)
        d = conn.client.add_job("greet", ("interval", "1s"), args=[big, big])
        conn.settle()
        failure = self.failureResultOf(d, BadArgument)
        self.assertIn("more than the %d allowed" % MAX_ARGUMENT_BYTES, failure.getErrorMessage())
        d = conn.client.add_job("greet", ("interval", "1s"), kwargs={"a": big})
        conn.settle()
        self.successResultOf(d)

    def test_value_too_large_for_amp(self):
        conn = AMPConnection(self.control, self.clock)
        d = conn.client.add_job("greet", ("interval", "1s"), args=["x" * 70000])
        conn.settle()
        self.assertIn("64 KiB", self.failureResultOf(d, BadArgument).getErrorMessage())
        self.assertFalse(conn.closed)

    def test_box_with_too_many_keys(self):
        conn = AMPConnection(self.control, self.clock)
        other = AMPConnection(self.control, self.clock, host="198.51.100.1")
        box = amp.Box({b"k%d" % n: b"v" for n in range(MAX_BOX_KEYS + 1)})
        conn.protocol.transport.write(box.serialize())
        conn.settle()
        self.assertTrue(conn.closed)
        d = other.client.stats()
        other.settle()
        self.successResultOf(d)

    def test_console_line_length(self):
        session = ConsoleConnection(self.console)
        session.take()
        session.send(b"x" * 200)
        self.assertIn(b"error: line too long (more than 100 bytes)", session.take())
        session.send(b"tasks")
        self.assertIn(b"greet", session.take())


class BufferedTransport(StringTransport):
    """
    A StringTransport that, like a real one, tells its producer when more
    than C{limit} bytes wait to be sent; L{drain} sends them.
    """

    limit = 2 ** 16

    def write(self, data):
        StringTransport.write(self, data)
        if len(self.io.getvalue()) > self.limit and self.producer is not None \
                and not getattr(self, "_told", False):
            self._told = True
            self.producer.pauseProducing()

    def drain(self):
        sent = self.value()
        self.clear()
        if getattr(self, "_told", False):
            self._told = False
            self.producer.resumeProducing()
        return sent


class NonReaderTests(SecurityTestCase):
    """Clients that send and never read get no more work done, and cost bounded memory."""

    def test_amp_questions_wait_while_answers_are_not_read(self):
        for n in range(300):
            self.successResultOf(self.sched.add_job("greet", "interval", hours=1, args=["x" * 150],
                                                    id="j%03d" % (n,)))
        server = ControlFactory(self.sched).buildProtocol(peer())
        transport = BufferedTransport(peerAddress=peer())
        server.makeConnection(transport)
        asks = b"".join(amp.Box({b"_command": b"ListJobs", b"_ask": b"%d" % n}).serialize()
                        for n in range(200))
        server.dataReceived(asks)                 # 200 questions of ~50 KiB answers each
        self.assertLess(len(transport.value()), 2 * 2 ** 16, "a bounded buffer")
        self.assertEqual(transport.producerState, "paused", "input is not read meanwhile")
        answered = 0
        for _ in range(400):
            sent = transport.drain()
            answered += sent.count(b"_answer")
            self.assertLess(len(sent), 2 * 2 ** 16)
            if answered == 200:
                break
        self.assertEqual(answered, 200, "every question is answered once the client reads")
        self.assertEqual(transport.producerState, "producing")

    def test_amp_other_clients_served_meanwhile(self):
        slow = ControlFactory(self.sched).buildProtocol(peer())
        transport = BufferedTransport(peerAddress=peer())
        transport.limit = 10
        slow.makeConnection(transport)
        slow.dataReceived(b"".join(amp.Box({b"_command": b"Stats", b"_ask": b"%d" % n}).serialize()
                                   for n in range(1000)))
        self.assertEqual(transport.value().count(b"_answer"), 1)
        conn = AMPConnection(ControlFactory(self.sched), self.clock, host="198.51.100.1")
        d = conn.client.stats()
        conn.settle()
        self.successResultOf(d)
        slow.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(len(slow._held), 0, "nothing kept for a client that left")


class DaemonOptionTests(unittest.TestCase):

    def parse(self, *argv):
        options = daemon.Options()
        options.parseOptions(list(argv))
        return options

    def test_listen_safety(self):
        for argv in (["--control", "tcp:7730"], ["--console", "tcp:7731:interface=0.0.0.0"],
                     ["--control", "ssl:7730:privateKey=k.pem"]):
            e = self.assertRaises(usage.UsageError, self.parse, *argv)
            self.assertIn("refusing to listen on", str(e))
            self.assertIn("--insecure", str(e))
            self.parse("--insecure", *argv)
            self.parse("--auth", "memory:a:b", *argv)
        self.parse("--control", "unix:/tmp/sched.sock", "--console", "none")

    def test_auth_specs(self):
        self.assertRaises(usage.UsageError, self.parse, "--auth", "bogus:x")
        self.assertRaises(usage.UsageError, self.parse, "--auth", "file:/no/such/file")
        self.assertRaises(usage.UsageError, self.parse, "--auth", "memory:a:b",
                          "--auth", "memory:c:d")

    def test_client_ca_needs_ssl(self):
        e = self.assertRaises(usage.UsageError, self.parse, "--client-ca", "ca.pem")
        self.assertIn("ssl:", str(e))

    def test_limits(self):
        for argv in (["--max-connections", "0"], ["--max-connections-per-peer", "0"],
                     ["--console-max-line", "0"], ["--max-adds-per-second", "-1"],
                     ["--max-jobs", "-1"]):
            self.assertRaises(usage.UsageError, self.parse, *argv)

    def test_service_tree(self):
        reactor = MemoryReactorClock()
        options = self.parse("--auth", "memory:alice:secret", "--max-connections", "7",
                             "--max-connections-per-peer", "2", "--console-max-line", "300",
                             "--max-adds-per-second", "9", "--max-jobs", "50")
        top = daemon.makeService(options, reactor=reactor)
        top.startService()
        self.addCleanup(top.stopService)
        control, console = (server[1] for server in reactor.tcpServers)
        for limiter in (control, console):
            self.assertEqual((limiter.total, limiter.per_peer), (7, 2))
        self.assertIs(control.wrappedFactory.authenticator, console.wrappedFactory.authenticator)
        self.assertEqual(console.wrappedFactory.max_line_length, 300)
        self.assertEqual(control.wrappedFactory.max_adds_per_second, 9)
        self.assertEqual(control.wrappedFactory.scheduler.max_jobs, 50)
        login = control.wrappedFactory.authenticator.login("alice", "secret", peer())
        self.assertEqual(self.successResultOf(login), "alice")


class LoopbackLimitTests(unittest.TestCase):
    """The refusal reaches a real client over loopback TCP."""

    timeout = 30

    @defer.inlineCallbacks
    def test_over_limit_client_told_why(self):
        sched = Scheduler(reactor=reactor)
        sched.startService()
        self.addCleanup(sched.shutdown)
        limiter = ConnectionLimiter(ControlFactory(sched), per_peer=1, total=10,
                                    refusal=refusal_box)
        port = yield TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(limiter)
        self.addCleanup(port.stopListening)
        endpoint = "tcp:127.0.0.1:%d" % (port.getHost().port,)
        first = yield connect(reactor, endpoint)
        self.addCleanup(first.close)
        for _ in range(5):
            second = yield connect(reactor, endpoint)
            failure = yield self.assertFailure(second.stats(), RefusedByServer)
            self.assertIn("too many connections from 127.0.0.1 (1)", str(failure))
        stats = yield first.stats()
        self.assertEqual(stats["jobs"], 0)
