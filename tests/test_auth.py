"""
Tests for login: checkers from --auth specs, hashed password files, throttling.
"""

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, reactor
from twisted.internet.address import IPv4Address
from twisted.trial import unittest

from twistedsched.auth import (
    Authenticator, HashedPasswordFile, LoginThrottle, hash_password, main, make_checker,
    verify_password)

from tests.helpers import make_clock

PEER = IPv4Address("TCP", "192.0.2.7", 40000)


class HashTests(unittest.TestCase):

    def test_hash_verifies_only_its_password(self):
        stored = hash_password("correct horse")
        self.assertTrue(verify_password("correct horse", stored))
        self.assertFalse(verify_password("correct horsf", stored))
        self.assertNotEqual(stored, hash_password("correct horse"), "salted")

    def test_garbage_hashes_never_verify(self):
        for stored in ("", "plain", "scrypt$x$y", "md5$a$b", "scrypt$$"):
            self.assertFalse(verify_password("", stored))


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
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("# operators\nalice:%s\nbob:%s\n" % (hash_password("a-pass"),
                                                        hash_password("b-pass")))
        checker = make_checker("file:" + path)
        self.assertIsInstance(checker, HashedPasswordFile)
        auth = Authenticator(checker, reactor, LoginThrottle(reactor, base_delay=0.001))
        self.assertEqual((yield auth.login("bob", "b-pass", PEER)), "bob")
        for user, password in (("bob", "a-pass"), ("carol", "a-pass"), ("alice", "")):
            d = auth.login(user, password, PEER)
            yield self.assertFailure(d, UnauthorizedLogin)

    def test_password_file_line_tool(self):
        import getpass
        import io
        import sys
        self.patch(getpass, "getpass", lambda prompt: "pw")
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        self.assertEqual(main(["alice"]), 0)
        user, _, stored = out.getvalue().strip().partition(":")
        self.assertEqual(user, "alice")
        self.assertTrue(verify_password("pw", stored))
        self.patch(sys, "stderr", io.StringIO())
        self.assertEqual(main([]), 2)


class ThrottleTests(unittest.TestCase):

    def test_delay_doubles_and_resets(self):
        throttle = LoginThrottle(None, base_delay=1, max_delay=5)
        self.assertEqual(throttle.delay_for("h"), 0)
        delays = []
        for _ in range(5):
            throttle.failed("h")
            delays.append(throttle.delay_for("h"))
        self.assertEqual(delays, [1, 2, 4, 5, 5])
        self.assertEqual(throttle.delay_for("other"), 0, "per peer")
        throttle.succeeded("h")
        self.assertEqual(throttle.delay_for("h"), 0)

    def test_bounded_memory(self):
        throttle = LoginThrottle(None, max_hosts=3)
        for n in range(10):
            throttle.failed("h%d" % n)
        self.assertEqual(len(throttle._failures), 3)

    def test_failed_logins_answer_later_and_later(self):
        clock = make_clock()
        auth = Authenticator(make_checker("memory:alice:secret"), clock,
                             LoginThrottle(clock, base_delay=1, max_delay=60))
        answered = []
        for expected_delay in (0, 1, 2, 4):
            d = auth.login("alice", "wrong", PEER)
            d.addErrback(lambda f: answered.append(f.trap(UnauthorizedLogin)))
            clock.advance(max(0, expected_delay - 0.01))
            if expected_delay:
                self.assertEqual(answered, [], "not answered before the delay")
                clock.advance(0.01)
            self.assertEqual(answered, [UnauthorizedLogin])
            del answered[:]
        self.assertEqual(self.successResultOf(auth.login("alice", "secret", PEER)), "alice")
        self.assertEqual(auth.throttle.delay_for(PEER.host), 0)
