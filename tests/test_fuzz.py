"""
Fuzzing the control port and the console with a seeded random generator:
random and mutated AMP boxes against a real ControlProtocol, random bytes,
huge lines and half-open sessions against the console, all on a Clock-driven
scheduler.  Afterwards the same factory must serve a normal client, and the
jobs added before must be intact and still run.

Set TWISTEDSCHED_FUZZ_SEED to explore other inputs; a failure names its seed.
"""

import os
import random
import uuid

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.protocols import amp
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial import unittest

from twistedsched import control as C
from twistedsched.auth import Authenticator, make_checker
from twistedsched.client import ClientProtocol, ControlClient
from twistedsched.console import COMMANDS, ConsoleFactory
from twistedsched.limits import ConnectionLimiter
from twistedsched.job import MAX_JSON_DEPTH, argument_bytes, check_job_id
from twistedsched.remote import MIN_INTERVAL, REMOTE_OPTIONS, job_to_wire
from twistedsched.stores import MemoryJobStore

from tests.helpers import make_scheduler

SEED = int(os.environ.get("TWISTEDSCHED_FUZZ_SEED", "7730"))
AMP_INPUTS = 3000
DONE = Failure(ConnectionDone())
CONSOLE_SESSIONS = 300

#: Valid commands that mutations start from (ids never those of the sentinels).
TEMPLATES = [
    (C.AddJob, dict(task="greet", trigger_kind="interval", trigger="30s", args='[1, "a"]',
                    kwargs='{"k": null}', id="f1", name="fuzz", options='{"coalesce": true}')),
    (C.AddJob, dict(task="greet", trigger_kind="cron", trigger="*/5 * * * *")),
    (C.AddJob, dict(task="greet", trigger_kind="at", trigger="2030-01-01T04:00", id="f2")),
    (C.AddJob, dict(task="greet", trigger_kind="json",
                    trigger='{"type": "interval", "seconds": 9}')),
    (C.ModifyJob, dict(id="f1", changes='{"args": [2], "name": "n"}')),
    (C.RescheduleJob, dict(id="f1", trigger_kind="every", trigger="1h")),
    (C.PauseJob, dict(id="f1")), (C.ResumeJob, dict(id="f1")), (C.RemoveJob, dict(id="f2")),
    (C.GetJob, dict(id="f1")), (C.RunJob, dict(id="f1")),
    (C.ListJobs, dict(offset=0, limit=10)), (C.ListTasks, {}), (C.Stats, {}),
    (C.PauseScheduler, {}), (C.ResumeScheduler, {}),
    (C.Subscribe, dict(events="job_added,job_executed")), (C.Unsubscribe, {}),
    (C.Login, dict(username="alice", password="wrong")),
]

NASTY_VALUES = [b"", b"\x00", b"\xff\xfe", b"null", b"[]", b"{}", b"-1", b"1e999", b"NaN",
                b"[" * 5000 + b"]" * 5000, b'{"a":' * 3000, b"os:system", b"builtins:eval",
                b"greet.__globals__", b"x" * 65535, "é".encode(), b"\r\n", b"99999999999999999999"]


def box_bytes(command, arguments, tag=b"1"):
    box = command.makeArguments(arguments, None)
    box[amp.COMMAND] = command.commandName
    box[amp.ASK] = tag
    return box


def random_value(rng):
    kind = rng.random()
    if kind < 0.4:
        return rng.choice(NASTY_VALUES)
    if kind < 0.7:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
    return str(rng.randrange(-10 ** 6, 10 ** 6)).encode()


def mutate_box(rng, box):
    """Change, drop or add keys and values of a box."""
    box = amp.AmpBox(box)
    for _ in range(rng.randrange(1, 4)):
        choice = rng.random()
        keys = list(box)
        if choice < 0.4 and keys:
            box[rng.choice(keys)] = random_value(rng)
        elif choice < 0.55 and keys:
            del box[rng.choice(keys)]
        elif choice < 0.7:
            box[rng.choice([b"_command", b"_answer", b"_error", b"_error_code", b"func",
                            b"_ask", b"x" * 255])] = random_value(rng)
        elif choice < 0.85:
            box[amp.COMMAND] = rng.choice([b"AddJob", b"Event", b"Refused", b"StartTLS",
                                           b"Nope", b"", b"amp.Command"])
        else:
            box[rng.choice(keys or [b"k"])] = rng.choice(NASTY_VALUES)
    return box


def mutate_bytes(rng, data):
    """Damage the framing: flip, cut, insert, or rewrite a length prefix."""
    data = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        choice = rng.random()
        if not data:
            break
        at = rng.randrange(len(data))
        if choice < 0.3:
            data[at] = rng.randrange(256)
        elif choice < 0.5:
            del data[at:at + rng.randrange(1, 20)]
        elif choice < 0.7:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 20)))
        elif choice < 0.85:
            data[at:at + 2] = rng.randrange(65536).to_bytes(2, "big")
        else:
            data = data[:at]
    return bytes(data)


def amp_input(rng):
    """One fuzz input: bytes for the server."""
    command, arguments = rng.choice(TEMPLATES)
    box = box_bytes(command, arguments, tag=str(rng.randrange(10 ** 6)).encode())
    choice = rng.random()
    if choice < 0.45:
        return mutate_box(rng, box).serialize()
    if choice < 0.8:
        return mutate_bytes(rng, box.serialize())
    if choice < 0.9:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    return box.serialize()          # a valid command now and then


def peer(n):
    return IPv4Address("TCP", "192.0.2.%d" % (n % 250 + 1), 40000 + n)


class FuzzTestCase(unittest.TestCase):

    def setUp(self):
        self.sched, self.clock = make_scheduler(self)
        self.calls = []
        self.sched.task("greet")(lambda *args, **kwargs: self.calls.append(args))
        self.rng = random.Random(SEED)
        self.sentinels = {}
        for n in range(3):
            job_id = "sentinel-" + uuid.uuid4().hex
            job = self.successResultOf(self.sched.add_job(
                "greet", "interval", seconds=3600, id=job_id, args=[job_id]))
            self.sentinels[job_id] = job_to_wire(job, self.sched.timezone)

    def check_sentinels(self):
        """The jobs added before are unchanged, and run when due."""
        seed = "(seed %d)" % (SEED,)
        if self.sched.paused:
            self.sched.resume()
        for job_id, before in self.sentinels.items():
            job = self.successResultOf(self.sched.get_job(job_id))
            self.assertIsNotNone(job, "lost %s %s" % (job_id, seed))
            self.assertEqual(job_to_wire(job, self.sched.timezone), before, seed)
        self.clock.advance(job.next_run_time.timestamp() - self.clock.seconds())
        ran = {args[0] for args in self.calls if args and isinstance(args[0], str)}
        self.assertTrue(set(self.sentinels) <= ran, "sentinels did not run %s" % (seed,))


class AMPFuzzTests(FuzzTestCase):

    def fuzz(self, factory, count):
        """
        Feed C{count} inputs, on a new connection when the server hangs up
        and half the time anyway (a broken length can swallow what follows).
        """
        server, transport, connections = None, None, 0
        for n in range(count):
            if server is None or transport.disconnecting or self.rng.random() < 0.5:
                if server is not None:
                    server.connectionLost(DONE)
                connections += 1
                server = factory.buildProtocol(peer(connections))
                transport = StringTransport(peerAddress=peer(connections))
                server.makeConnection(transport)
            data = amp_input(self.rng)
            try:
                server.dataReceived(data)
            except Exception:
                self.fail("input %d (seed %d) raised: %r" % (n, SEED, data[:200]))
            transport.clear()
        server.connectionLost(DONE)
        return connections

    def normal_client(self, factory, login=None):
        server = factory.buildProtocol(peer(0))
        protocol = ClientProtocol()
        pump = iosim.connect(server, iosim.makeFakeServer(server),
                             protocol, iosim.makeFakeClient(protocol))
        client = ControlClient(protocol)

        def call(d):
            pump.flush()
            return self.successResultOf(d)
        if login:
            call(client.login(*login))
        job = call(client.add_job("greet", ("interval", "1h"), id="after-fuzz", args=["x"]))
        self.assertEqual(job.id, "after-fuzz")
        ids = {job.id for job in call(client.get_jobs())}
        self.assertTrue(set(self.sentinels) | {"after-fuzz"} <= ids)

    def test_random_and_mutated_boxes(self):
        factory = C.ControlFactory(self.sched)
        connections = self.fuzz(factory, AMP_INPUTS)
        self.assertGreater(connections, 10, "the fuzz should also break framing")
        self.normal_client(factory)
        self.check_sentinels()
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_nothing_passes_before_login(self):
        auth = Authenticator(make_checker("memory:alice:secret"), self.clock)
        factory = C.ControlFactory(self.sched, authenticator=auth)
        jobs_before = len(self.successResultOf(self.sched.get_jobs()))
        self.fuzz(factory, AMP_INPUTS // 3)
        self.assertEqual(len(self.successResultOf(self.sched.get_jobs())), jobs_before)
        self.assertFalse(self.sched.paused)
        self.clock.advance(60)       # refused logins answered, idle connections closed
        auth.throttle.succeeded("192.0.2.1")
        self.normal_client(factory, login=("alice", "secret"))
        self.check_sentinels()


#: Option keys: the allowed ones, the parameters they could collide with, and others.
OPTION_KEYS = list(REMOTE_OPTIONS) + [
    "trigger", "task", "id", "args", "kwargs", "name", "scheduler", "options", "func",
    "trigger_kind", "next_run_time", "func_ref", "self", "__class__", ""]
#: Numbers as JSON text, at and past every bound.
NUMBERS = ["0", "-0.0", "1", "0.5", "-1", "1e-320", "999999999.9", "1e9", "1e300", "1e400",
           "-1e400", "9007199254740993", "1000000", "1000001", "true", "null", '"5"', "[]"]
#: Characters from every category that ids must refuse, and some they accept.
ID_CHARS = ["a", "Z", "7", "-", "_", ".", " ", "é", "日", "\U0001f600", "\x00", "\x1b",
            "\x7f", "\x85", "\xa0", "\u00ad", "\u034f", "\u200b", "\u200d", "\u2028",
            "\u2029", "\u202e", "\u2066", "\u3164", "\ufe0f", "\ufeff", "\ue000",
            "\U000e0001", "\u0378", "\t", "\u2003", "\u2800"]


class LimitFuzzTests(FuzzTestCase):
    """
    AddJob and ModifyJob with random option keys, numbers at and past the
    bounds, nested JSON, ids of every character category and short
    intervals: each answer is a typed error other than SERVER_ERROR, and
    what was accepted is within every limit.
    """

    LIMIT_BYTES = 150000

    def setUp(self):
        FuzzTestCase.setUp(self)
        self.store = MemoryJobStore(max_argument_bytes=self.LIMIT_BYTES)
        self.successResultOf(self.sched.add_jobstore(self.store, alias="bounded"))

    def nested(self):
        depth = self.rng.choice([1, 2, MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH,
                                 MAX_JSON_DEPTH + 1, 100, 990, 3000])
        opener, closer = self.rng.choice([("[", "]"), ('{"a":', "}")])
        return opener * depth + ("1" if opener == "[" else "[]") + closer * depth

    def job_id(self):
        if self.rng.random() < 0.5:
            return "f%d" % (self.rng.randrange(50),)
        return "".join(self.rng.choice(ID_CHARS) for _ in range(self.rng.randrange(1, 6)))

    def options(self, *more):
        """A JSON object of random keys and values, plus the pairs C{more}."""
        keys = self.rng.sample(OPTION_KEYS, self.rng.choice([0, 0, 1, 2]))
        pairs = ['"%s": %s' % (key, self.rng.choice(NUMBERS + ['"default"', "false"]))
                 for key in keys]
        return "{%s}" % ", ".join(pairs + list(more))

    def add_arguments(self):
        call = dict(task="greet", trigger_kind="interval")
        choice = self.rng.random()
        if choice < 0.3:
            call["trigger"] = "%s%s" % (self.rng.choice(
                ["0.000001", "0.5", "0.999", "1", "1.5", "59", "1e-9", "0.0001"]),
                self.rng.choice(["", "s", "m", "h", "d", "w"]))
        elif choice < 0.5:
            call.update(trigger_kind="json", trigger='{"type": "interval", "%s": %s}' % (
                self.rng.choice(["seconds", "minutes", "weeks"]),
                self.rng.choice(NUMBERS)))
        else:
            call["trigger"] = "1h"
        if self.rng.random() < 0.7:
            call["options"] = self.options('"jobstore": "bounded"')
        else:
            call["options"] = self.nested()
        if self.rng.random() < 0.3:
            call[self.rng.choice(["args", "kwargs"])] = self.nested()
        elif self.rng.random() < 0.6:
            call["args"] = '["%s"]' % ("x" * self.rng.randrange(5000, 30000),)
        call["id"] = self.job_id()
        return call

    def test_limits_hold(self):
        client, pump = self.client()
        answers = {"ok": 0}
        for n in range(600):
            command = C.AddJob
            arguments = self.add_arguments()
            if self.rng.random() < 0.2 and n:
                command = C.ModifyJob
                arguments = dict(id=self.job_id(), changes=self.rng.choice([
                    self.options(), '{"args": %s}' % (self.nested(),),
                    '{"args": ["%s"]}' % ("y" * self.rng.randrange(30000),)]))
            results = []
            client._call(command, **arguments).addBoth(results.append)
            pump.flush()
            [result] = results
            if isinstance(result, Failure):
                self.assertFalse(result.check(C.ServerError),
                                 "seed %d: %r -> %s" % (SEED, arguments, result))
                self.assertTrue(result.check(C.ControlError), "seed %d: %r" % (SEED, result))
                name = result.type.__name__
                answers[name] = answers.get(name, 0) + 1
            else:
                answers["ok"] += 1
        self.assertEqual(self.flushLoggedErrors(), [])
        for name in ("ok", "BadArgument", "InvalidTrigger", "LimitExceeded"):
            self.assertIn(name, answers, "seed %d: %r" % (SEED, answers))
        self.check_stored_jobs()
        self.check_sentinels()

    def check_stored_jobs(self):
        jobs = self.successResultOf(self.sched.get_jobs())
        for job in jobs:
            check_job_id(job.id)
            for value in (job.jitter, job.misfire_grace_time, job.timeout):
                self.assertTrue(value is None or 0 <= value < 1e9, job)
            self.assertLessEqual(job.max_instances, 1000000)
            interval = getattr(job.trigger, "interval", None)
            if interval is not None:
                self.assertGreaterEqual(interval.total_seconds(), MIN_INTERVAL, job)
        self.assertLessEqual(self.store.argument_bytes, self.LIMIT_BYTES)
        bounded = [job for job in jobs if job.jobstore == "bounded"]
        self.assertEqual(self.store.argument_bytes,
                         sum(argument_bytes(job.args, job.kwargs) for job in bounded))

    def client(self):
        server = C.ControlFactory(self.sched).buildProtocol(peer(0))
        protocol = ClientProtocol()
        pump = iosim.connect(server, iosim.makeFakeServer(server),
                             protocol, iosim.makeFakeClient(protocol))
        return ControlClient(protocol), pump


class ConsoleFuzzTests(FuzzTestCase):

    WORDS = sorted(COMMANDS) + ["greet", "every", "cron", "at", "1s", "30s", "*/5 * * * *",
                                "id=f1", "args='[1]'", "kwargs='{\"a\": 1}'", "f1", "\"",
                                "'", "--paused", "os:system", "paused=true", "ls", "?",
                                "jitter=1e300", "timeout=1e400", "max_instances=-1",
                                "trigger=1", "id=\u202eevil", "id=\u200b", "0.1s",
                                "args='%s'" % ("[" * 40 + "]" * 40,)]

    def line(self):
        choice = self.rng.random()
        if choice < 0.5:
            words = [self.rng.choice(self.WORDS) for _ in range(self.rng.randrange(1, 6))]
            return " ".join(words).encode()
        if choice < 0.8:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(80)))
        return b"y" * self.rng.randrange(1000, 5000)        # over max_line_length

    def session(self, factory, n):
        """One session: a few chunks, then an ending chosen at random."""
        proto = factory.buildProtocol(peer(n))
        if proto is None:
            return None
        transport = StringTransport(peerAddress=peer(n))
        proto.makeConnection(transport)
        for _ in range(self.rng.randrange(1, 12)):
            if transport.disconnecting:
                break
            data = self.line() + self.rng.choice([b"\r\n", b"\n", b"", b"\r", b"\xff\xf4"])
            try:
                proto.dataReceived(data)
            except Exception:
                self.fail("session %d (seed %d) raised on %r" % (n, SEED, data[:200]))
            transport.clear()
        ending = self.rng.random()
        if ending < 0.6 or transport.disconnecting:
            proto.connectionLost(DONE)      # dropped, maybe in mid-line
            return None
        return proto                        # left half-open, for the idle timeout

    def test_random_sessions(self):
        limiter = ConnectionLimiter(ConsoleFactory(self.sched, max_line_length=1024,
                                                   idle_timeout=600),
                                    per_peer=1000, total=1000)
        open_sessions = [self.session(limiter, n) for n in range(CONSOLE_SESSIONS)]
        open_sessions = [p for p in open_sessions if p is not None]
        self.assertGreater(len(open_sessions), 10)
        self.clock.advance(600)             # idle sessions are told goodbye
        for proto in open_sessions:
            watching = proto.wrappedProtocol._watching    # watch has no idle timeout
            self.assertTrue(proto.transport.disconnecting or watching, "seed %d" % (SEED,))
            proto.connectionLost(DONE)
        self.assertEqual((limiter.count, limiter.by_host), (0, {}), "leaked slots")

        proto = limiter.buildProtocol(peer(0))
        transport = StringTransport(peerAddress=peer(0))
        proto.makeConnection(transport)
        if self.sched.paused:
            proto.dataReceived(b"resume-all\r\n")
        proto.dataReceived(b"jobs sentinel-*\r\n")
        output = transport.value().decode()
        for job_id in self.sentinels:
            self.assertIn(job_id, output)
        self.check_sentinels()
        self.assertEqual(self.flushLoggedErrors(), [])
