"""
Tests for login: checkers from --auth specs, hashed password files, the
password-file tool, the per-peer throttle and the bound on concurrent checks.
"""

import base64
import getpass
import hashlib
import io
import sys
import threading

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernamePassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial import unittest
from zope.interface import implementer

from twistedsched import auth
from twistedsched.auth import (
    Authenticator, CheckQueue, HashedPasswordFile, LoginRefused, LoginThrottle, hash_password,
    main, make_checker, parse_hash, verify_password)
from twistedsched.web.tokens import token_line

from tests.helpers import make_clock

PEER = IPv4Address("TCP", "192.0.2.7", 40000)
OTHER = IPv4Address("TCP", "198.51.100.1", 40000)


def write_password_file(testcase, **users):
    path = testcase.mktemp()
    with open(path, "w") as f:
        f.write("# operators\n")
        for user, password in users.items():
            f.write("%s:%s\n" % (user, hash_password(password)))
    return path


@implementer(ICredentialsChecker)
class ManualChecker:
    """A checker whose answers the test gives: C{pending} holds (username, Deferred)."""

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self):
        self.pending = []

    def requestAvatarId(self, credentials):
        d = defer.Deferred()
        self.pending.append((credentials.username, d))
        return d

    def answer(self, ok=False):
        username, d = self.pending.pop(0)
        if ok:
            d.callback(username)
        else:
            d.errback(UnauthorizedLogin())


class HashTests(unittest.TestCase):

    def test_hash_verifies_only_its_password(self):
        stored = hash_password("correct horse")
        self.assertTrue(verify_password("correct horse", stored))
        self.assertFalse(verify_password("correct horsf", stored))
        self.assertNotEqual(stored, hash_password("correct horse"), "salted")

    def test_garbage_hashes_never_verify(self):
        for stored in ("", "plain", "scrypt$x$y", "md5$a$b", "scrypt$$", None, "scrypt$a$b$c"):
            self.assertFalse(verify_password("", stored))

    def test_not_quite_base64_never_verifies(self):
        """
        Strict decoding: a hash with an extra, missing or foreign character is
        malformed, even where lenient base64 would decode it to the right bytes
        (the old dummy hash for unknown users was the empty password's plus "x").
        """
        good = hash_password("", salt=b"0" * 16)
        prefix, salt, key = good.split("$")
        self.assertTrue(verify_password("", good))
        for bad in (good + "x", good + "=", good + "\n", good[:-1],
                    "$".join([prefix, salt + "x", key]),
                    "$".join([prefix, salt, key.replace("=", "")]),
                    "$".join([prefix, salt, key[:10] + " " + key[10:]]),
                    "$".join([prefix, salt, key[:10] + "\n" + key[10:]]),
                    "$".join([prefix, base64.b64encode(b"0" * 15).decode(), key]),
                    "$".join([prefix, salt, key.replace("+", "-").replace("/", "_")])
                    if ("+" in key or "/" in key) else good + "!"):
            self.assertIsNone(parse_hash(bad), bad)
            self.assertFalse(verify_password("", bad), bad)

    def test_every_check_costs_one_scrypt(self):
        """An unknown user (no hash) and a malformed hash cost what a good one does."""
        calls = []
        real = hashlib.scrypt
        self.patch(hashlib, "scrypt", lambda *a, **kw: calls.append(kw["n"]) or real(*a, **kw))
        for stored in (hash_password("pw"), None, "scrypt$bad$hash", "garbage"):
            del calls[:]
            verify_password("pw", stored)
            self.assertEqual(calls, [auth.SCRYPT["n"]], stored)

    def test_odd_passwords(self):
        stored = hash_password("p\udc80w")       # a lone surrogate, from a bad decode
        self.assertTrue(verify_password("p\udc80w", stored))
        self.assertFalse(verify_password("x" * 70000, stored))


class CheckerTests(unittest.TestCase):

    def test_memory_spec(self):
        checker = make_checker("memory:alice:secret")
        self.assertTrue(hasattr(checker, "requestAvatarId"))

    def test_bad_specs(self):
        e = self.assertRaises(ValueError, make_checker, "bogus:x")
        self.assertIn("unknown kind 'bogus'", str(e))
        self.assertRaises(ValueError, make_checker, "file:/no/such/file")

    @defer.inlineCallbacks
    def test_hashed_file(self):
        path = write_password_file(self, alice="a-pass", bob="b-pass")
        checker = make_checker("file:" + path)
        self.assertIsInstance(checker, HashedPasswordFile)
        auth_ = Authenticator(checker, reactor, LoginThrottle(reactor, base_delay=0.001))
        self.assertEqual((yield auth_.login("bob", "b-pass", PEER)), "bob")
        for user, password in (("bob", "a-pass"), ("carol", "a-pass"), ("alice", ""),
                               ("nobody", ""), ("", ""), ("# operators", "")):
            d = auth_.login(user, password, PEER)
            yield self.assertFailure(d, UnauthorizedLogin)

    @defer.inlineCallbacks
    def test_unknown_user_with_empty_password_is_refused(self):
        """The auth bypass: an unknown user and an empty password."""
        checker = HashedPasswordFile(write_password_file(self, alice="a-pass"))
        for user in ("nobody", "alice ", "ALICE", ""):
            d = checker.requestAvatarId(auth.UsernamePassword(user.encode(), b""))
            yield self.assertFailure(d, UnauthorizedLogin)

    @defer.inlineCallbacks
    def test_hashing_never_on_the_reactor_thread(self):
        """Known and unknown users, right and wrong passwords: every scrypt runs in a thread."""
        threads = []
        real = hashlib.scrypt
        self.patch(hashlib, "scrypt", lambda *a, **kw: threads.append(
            threading.current_thread()) or real(*a, **kw))
        checker = HashedPasswordFile(write_password_file(self, alice="a-pass"))
        del threads[:]
        for user, password in (("alice", "a-pass"), ("alice", ""), ("nobody", ""),
                               ("nobody", "x")):
            try:
                yield checker.requestAvatarId(auth.UsernamePassword(user.encode(),
                                                                    password.encode()))
            except UnauthorizedLogin:
                pass
        self.assertEqual(len(threads), 4)
        self.assertNotIn(threading.main_thread(), threads)

    @defer.inlineCallbacks
    def test_unreadable_file_refuses(self):
        path = write_password_file(self, alice="a-pass")
        checker = HashedPasswordFile(path)
        with open(path, "wb") as f:
            f.write(b"alice:\xff\xfe\n")
        d = checker.requestAvatarId(auth.UsernamePassword(b"alice", b""))
        yield self.assertFailure(d, UnauthorizedLogin)
        self.flushLoggedErrors()


class PasswordToolTests(unittest.TestCase):
    """python -m twistedsched.auth USER"""

    def run_tool(self, argv, passwords=("pw", "pw")):
        answers = list(passwords)
        self.patch(getpass, "getpass", lambda prompt: answers.pop(0))
        out, err = io.StringIO(), io.StringIO()
        self.patch(sys, "stdout", out)
        self.patch(sys, "stderr", err)
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
        return code, out.getvalue(), err.getvalue()

    def test_prints_a_line(self):
        code, out, _ = self.run_tool(["alice"])
        self.assertEqual(code, 0)
        user, _, stored = out.strip().partition(":")
        self.assertEqual(user, "alice")
        self.assertTrue(verify_password("pw", stored))

    def test_token(self):
        """--token prints a web API token and its tokens-file line, asking nothing."""
        code, out, _ = self.run_tool(["--token", "deploy-bot"], passwords=())
        self.assertEqual(code, 0)
        token = out.split("it is not kept): ")[1].split()[0]
        line = out.split("--web-tokens file: ")[1].strip()
        self.assertEqual(line, token_line("deploy-bot", token))
        code, out, err = self.run_tool(["--token", "a:b"], passwords=())
        self.assertEqual((code, out), (2, ""))
        self.assertIn("may not contain ':'", err)

    def test_help(self):
        code, out, _ = self.run_tool(["--help"])
        self.assertEqual(code, 0)
        self.assertIn("usage: python -m twistedsched.auth", out)
        self.assertIn("asked for twice", out)

    def test_bad_user_names(self):
        for argv, why in ((["a:b"], "may not contain ':'"), (["--", "-x"], "start with '-'"),
                          (["-x"], "error:"), ([""], "empty"),
                          (["#ops"], "start with '#'"), (["a b"], "spaces"),
                          (["a\nb"], "control"), ([], "required"), (["a", "b"], "unrecognized")):
            code, out, err = self.run_tool(argv)
            self.assertEqual((code, out), (2, ""), argv)
            self.assertIn(why, err, argv)

    def test_empty_password_refused(self):
        code, out, err = self.run_tool(["alice"], passwords=("", ""))
        self.assertEqual((code, out), (1, ""))
        self.assertIn("error: the password is empty", err)

    def test_confirmation_must_match(self):
        code, out, err = self.run_tool(["alice"], passwords=("pw", "pW"))
        self.assertEqual((code, out), (1, ""))
        self.assertIn("error: the two passwords differ", err)


class ThrottleTests(unittest.TestCase):

    def setUp(self):
        self.clock = make_clock()
        self.throttle = LoginThrottle(self.clock, base_delay=1, max_delay=5)

    def fail_once(self, host="h"):
        self.successResultOf(self.throttle.turn(host))
        return self.throttle.done(host, False)

    def test_delay_doubles_and_resets(self):
        delays = []
        for _ in range(6):
            delays.append(self.fail_once())
            self.clock.advance(delays[-1])
        self.assertEqual(delays, [0, 1, 2, 4, 5, 5])
        self.assertEqual(self.throttle.delay_for("other"), 0, "per peer")
        self.successResultOf(self.throttle.turn("h"))
        self.assertEqual(self.throttle.done("h", True), 0)
        self.assertEqual(self.throttle.delay_for("h"), 0)

    def test_turn_waits_for_the_delay(self):
        self.fail_once()
        self.fail_once()                  # the second failure: 1 s
        d = self.throttle.turn("h")
        self.clock.advance(0.99)
        self.assertNoResult(d)
        self.assertAlmostEqual(self.throttle.retry_after("h"), 0.01)
        self.clock.advance(0.01)
        self.successResultOf(d)
        self.successResultOf(self.throttle.turn("other"))

    def test_one_check_at_a_time_per_host(self):
        first = self.throttle.turn("h")
        second = self.throttle.turn("h")
        self.successResultOf(first)
        self.assertNoResult(second)
        self.successResultOf(self.throttle.turn("other"))
        self.throttle.done("h", None)     # not checked: no delay
        self.successResultOf(second)

    def test_too_many_waiting(self):
        throttle = LoginThrottle(self.clock, max_waiting=2)
        self.successResultOf(throttle.turn("h"))
        waiting = [throttle.turn("h") for _ in range(2)]
        failure = self.failureResultOf(throttle.turn("h"), LoginRefused)
        self.assertEqual(str(failure.value), "too many logins waiting from h; try again later")
        waiting[0].cancel()
        self.failureResultOf(waiting[0], defer.CancelledError)
        self.assertNoResult(throttle.turn("h"))     # cancelling left the line

    def test_cancelled_waiter_is_skipped(self):
        self.successResultOf(self.throttle.turn("h"))
        gone, kept = self.throttle.turn("h"), self.throttle.turn("h")
        gone.cancel()
        self.failureResultOf(gone, defer.CancelledError)
        self.throttle.done("h", True)
        self.successResultOf(kept)

    def test_bounded_memory(self):
        throttle = LoginThrottle(self.clock, max_hosts=3)
        for n in range(10):
            self.successResultOf(throttle.turn("h%d" % n))
            throttle.done("h%d" % n, False)
        self.assertEqual(len(throttle._peers), 3)
        self.successResultOf(throttle.turn("h0"))
        throttle.done("h0", True)
        self.assertNotIn("h0", throttle._peers, "nothing kept for a host in good standing")


class CheckQueueTests(unittest.TestCase):

    def setUp(self):
        self.queue = CheckQueue(concurrency=2, backlog=2)
        self.started = []

    def run_one(self, name):
        def work():
            d = defer.Deferred()
            self.started.append((name, d))
            return d
        return self.queue.run(work)

    def test_bounded(self):
        calls = [self.run_one(n) for n in range(4)]
        self.assertEqual([name for name, _ in self.started], [0, 1])
        self.assertEqual((self.queue.running, self.queue.waiting), (2, 2))
        failure = self.failureResultOf(self.run_one(4), LoginRefused)
        self.assertIn("busy checking other logins", str(failure.value))
        self.started[0][1].callback("ok")
        self.assertEqual(self.successResultOf(calls[0]), "ok")
        self.assertEqual([name for name, _ in self.started], [0, 1, 2])

    def test_cancel_waiting_drops_the_work(self):
        calls = [self.run_one(n) for n in range(3)]
        calls[2].cancel()
        self.failureResultOf(calls[2], defer.CancelledError)
        self.assertEqual(self.queue.waiting, 0)
        self.started[0][1].callback("ok")
        self.assertEqual([name for name, _ in self.started], [0, 1], "never started")
        self.assertEqual(self.queue.running, 1)

    def test_cancel_running_holds_its_place_until_done(self):
        calls = [self.run_one(n) for n in range(3)]
        calls[0].cancel()
        self.failureResultOf(calls[0], defer.CancelledError)
        self.assertEqual((self.queue.running, self.queue.waiting), (2, 1),
                         "the hash still runs: its place is not free")
        self.started[0][1].errback(UnauthorizedLogin())     # ignored, not unhandled
        self.assertEqual([name for name, _ in self.started], [0, 1, 2])


class AuthenticatorTests(unittest.TestCase):

    def setUp(self):
        self.clock = make_clock()
        self.checker = ManualChecker()
        self.auth = Authenticator(self.checker, self.clock, LoginThrottle(self.clock),
                                  CheckQueue(concurrency=1, backlog=1))

    def test_the_defaults_in_the_docs(self):
        """docs/security.rst: 0.5 s doubling to 30 s, 10 waiting per host, 2 checks and 32 waiting."""
        auth_ = Authenticator(self.checker, self.clock)
        throttle, checks = auth_.throttle, auth_.checks
        self.assertEqual((throttle.base_delay, throttle.max_delay, throttle.max_waiting,
                          throttle.max_hosts), (0.5, 30.0, 10, 10000))
        self.assertEqual((checks._semaphore.limit, checks.backlog), (2, 32))

    def test_failed_logins_answer_later_and_later(self):
        clock = self.clock
        auth_ = Authenticator(make_checker("memory:alice:secret"), clock,
                              LoginThrottle(clock, base_delay=1, max_delay=60))
        answered = []
        for expected_delay in (0, 1, 2, 4):
            d = auth_.login("alice", "wrong", PEER)
            d.addErrback(lambda f: answered.append(f.trap(UnauthorizedLogin)))
            clock.advance(max(0, expected_delay - 0.01))
            if expected_delay:
                self.assertEqual(answered, [], "not answered before the delay")
                clock.advance(0.01)
            self.assertEqual(answered, [UnauthorizedLogin])
            del answered[:]
        self.assertEqual(self.successResultOf(auth_.login("alice", "secret", PEER)), "alice")
        self.assertEqual(auth_.throttle.delay_for(PEER.host), 0)

    def test_hanging_up_gets_no_more_guesses(self):
        """
        A client that gives up when no answer comes within 0.25 s and tries
        again at once (a new connection) gets the guesses the delays allow,
        not four a second: 0.25 (no delay after the first failure), then
        0.5, 1, 2, 4 s apart: six in ten seconds (the old throttle allowed 40).
        """
        checked = []
        memory = make_checker("memory:alice:secret")
        self.patch(memory, "requestAvatarId",
                   lambda c, real=memory.requestAvatarId: checked.append(c) or real(c))
        auth_ = Authenticator(memory, self.clock)
        for _ in range(40):
            d = auth_.login("alice", "guess", PEER)
            d.addErrback(lambda f: None)
            self.clock.advance(0.25)
            d.cancel()
        self.assertEqual(len(checked), 6)
        self.assertEqual(auth_.throttle.delay_for(PEER.host), 16)

    def test_parallel_logins_from_one_host(self):
        """Eight connections from one host: one check at a time, each after the delay."""
        calls = [self.auth.login("alice", "guess%d" % n, PEER) for n in range(8)]
        for d in calls:
            d.addErrback(lambda f: None)
        self.assertEqual(len(self.checker.pending), 1)
        self.checker.answer(ok=False)        # first failure: no delay
        self.assertEqual(len(self.checker.pending), 1)
        self.checker.answer(ok=False)        # second: 0.5 s
        self.assertEqual(self.checker.pending, [])
        self.clock.advance(0.5)
        self.assertEqual(len(self.checker.pending), 1)
        other = self.auth.login("bob", "x", OTHER)
        self.assertEqual(len(self.checker.pending), 1, "the queue holds one check at a time")
        self.checker.answer(ok=True)
        self.assertEqual(len(self.checker.pending), 1, "the other host's check runs")
        self.checker.answer(ok=True)
        self.assertEqual(self.successResultOf(other), "bob")

    def test_client_gone_while_waiting_is_never_checked(self):
        first = self.auth.login("alice", "x", PEER)
        queued = self.auth.login("bob", "y", OTHER)      # waits for the one place
        queued.cancel()
        self.failureResultOf(queued, defer.CancelledError)
        self.checker.answer(ok=True)
        self.successResultOf(first)
        self.assertEqual(self.checker.pending, [], "bob's check was dropped")
        self.assertEqual(self.auth.throttle._peers, {}, "nothing left behind")

    def test_client_gone_while_checked_still_counts(self):
        d = self.auth.login("alice", "x", PEER)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.checker.answer(ok=False)
        d = self.auth.login("alice", "x", PEER)
        d.addErrback(lambda f: None)
        self.checker.answer(ok=False)
        self.assertEqual(self.auth.throttle.delay_for(PEER.host), 1.0,
                         "both failures counted")

    def test_failure_logged_when_the_client_left(self):
        logged = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        d = self.auth.login("alice", "x", PEER)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.checker.answer(ok=False)
        text = "\n".join(formatEvent(event) or "" for event in logged)
        self.assertIn("failed login for 'alice' from %s" % (PEER,), text)

    def test_busy_refused_at_once(self):
        self.auth.login("alice", "x", PEER)
        self.auth.login("bob", "y", OTHER)
        third = IPv4Address("TCP", "203.0.113.5", 1)
        failure = self.failureResultOf(self.auth.login("carol", "z", third), LoginRefused)
        self.assertIn("busy", str(failure.value))
        self.assertNotIn(third.host, self.auth.throttle._peers)

    def test_checker_error_is_a_refusal(self):
        d = self.auth.login("alice", "x", PEER)
        _, pending = self.checker.pending.pop()
        pending.errback(RuntimeError("the password database broke"))
        self.clock.advance(0)
        self.failureResultOf(d, UnauthorizedLogin)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
