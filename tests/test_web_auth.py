"""
Logins on the web port: the form and its session cookie, CSRF, HTTP Basic,
bearer tokens, the shared login throttle; every refusal tested.
"""

import base64
import io
import os
import sys

from twisted.internet import defer, reactor, ssl
from twisted.internet.address import IPv4Address
from twisted.trial import unittest
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS

from twistedsched import daemon
from twistedsched.auth import Authenticator, LoginThrottle, make_checker
from twistedsched.tls import server_endpoint
from twistedsched.web import security, tokens
from twistedsched.web.api import WebError
from twistedsched.web.site import make_site

from tests.certs import make_pki
from tests.helpers import make_scheduler
from tests.webhelpers import WebClient, serve


def basic(user, password):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def form(user, password):
    return ("username=%s&password=%s" % (user, password)).encode()


class AuthTestCase(unittest.TestCase):
    timeout = 30

    def setUp(self):
        self.sched, self.clock = make_scheduler(self)
        self.throttle = LoginThrottle(reactor, base_delay=0.0)
        self.authenticator = Authenticator(make_checker("memory:alice:secret"), reactor,
                                           self.throttle)
        self.tokens_path = self.mktemp()
        self.token = tokens.new_token()
        with open(self.tokens_path, "w") as f:
            f.write("# clients\n%s\n" % (tokens.token_line("ci", self.token),))
        self.client = serve(self, self.sched, authenticator=self.authenticator,
                            tokens=tokens.TokenFile(self.tokens_path))

    def assertError(self, answer, status, code="NOT_AUTHORIZED"):
        self.assertEqual((answer.status, answer.json["error"]["code"]), (status, code),
                         answer.body)

    @defer.inlineCallbacks
    def log_in(self, user="alice", password="secret"):
        answer = yield self.client.post("/login", raw=form(user, password),
                                        content_type="application/x-www-form-urlencoded")
        cookies = answer.headers_of("Set-Cookie")
        if cookies:
            self.client.cookie = cookies[0].split(b";")[0].decode()
        return answer


class NoCredentialsTests(AuthTestCase):

    @defer.inlineCallbacks
    def test_api_refused(self):
        for method, path in (("GET", "/api/jobs"), ("GET", "/api/events"),
                             ("POST", "/api/scheduler/pause"), ("GET", "/api/session")):
            answer = yield self.client.request(method, path)
            self.assertError(answer, 401)
            self.assertEqual(answer.header("WWW-Authenticate"), b'Bearer realm="twistedsched"')
        self.assertFalse(self.sched.paused)

    @defer.inlineCallbacks
    def test_page_sends_to_login(self):
        answer = yield self.client.get("/")
        self.assertEqual((answer.status, answer.header("Location")), (303, b"/login"))
        answer = yield self.client.get("/login")
        self.assertEqual(answer.status, 200)
        self.assertIn(b'<form method="post" action="/login"', answer.body)

    @defer.inlineCallbacks
    def test_probes_and_assets_open(self):
        for path in ("/healthz", "/readyz", "/api/openapi.json", "/static/app.css"):
            self.assertEqual((yield self.client.get(path)).status, 200, path)

    @defer.inlineCallbacks
    def test_unknown_scheme_and_forged_cookie(self):
        answer = yield self.client.get("/api/jobs", headers={"Authorization": "Digest x"})
        self.assertError(answer, 401)
        self.client.cookie = "twistedsched_session=forged"
        self.assertError((yield self.client.get("/api/jobs")), 401)


class FormLoginTests(AuthTestCase):

    @defer.inlineCallbacks
    def test_login_sets_a_strict_cookie(self):
        answer = yield self.log_in()
        self.assertEqual((answer.status, answer.header("Location")), (303, b"/"))
        cookie = answer.header("Set-Cookie").decode().lower()
        self.assertIn("httponly", cookie)
        self.assertIn("samesite=strict", cookie)
        self.assertNotIn("secure", cookie)          # plain HTTP on loopback
        answer = yield self.client.get("/api/session")
        self.assertEqual((answer.json["user"], answer.json["via"]), ("alice", "session"))
        self.assertTrue(answer.json["csrf_token"])
        self.assertEqual((yield self.client.get("/")).status, 200)

    @defer.inlineCallbacks
    def test_wrong_password_and_unknown_user(self):
        for user, password in (("alice", "wrong"), ("mallory", "secret"), ("", "")):
            answer = yield self.log_in(user, password)
            self.assertEqual(answer.status, 401)
            self.assertIn(b"Wrong user name or password.", answer.body)
            self.assertEqual(answer.headers_of("Set-Cookie"), [])
        self.assertEqual(len(self.client.site.resource.gate.sessions), 0)

    @defer.inlineCallbacks
    def test_login_from_another_origin_refused(self):
        answer = yield self.client.post("/login", raw=form("alice", "secret"),
                                        content_type="application/x-www-form-urlencoded",
                                        headers={"Origin": "http://evil.example"})
        self.assertEqual(answer.status, 403)
        self.assertEqual(answer.headers_of("Set-Cookie"), [])

    @defer.inlineCallbacks
    def test_csrf(self):
        yield self.log_in()
        csrf = (yield self.client.get("/api/session")).json["csrf_token"]
        self.assertError((yield self.client.post("/api/scheduler/pause")), 403)
        self.assertError((yield self.client.post("/api/scheduler/pause",
                                                 headers={"X-CSRF-Token": "wrong"})), 403)
        self.assertError((yield self.client.post("/api/scheduler/pause",
                                                 headers={"X-CSRF-Token": ""})), 403)
        self.assertFalse(self.sched.paused)
        answer = yield self.client.post("/api/scheduler/pause", headers={"X-CSRF-Token": csrf})
        self.assertEqual(answer.json, {"paused": True})

    @defer.inlineCallbacks
    def test_logout(self):
        yield self.log_in()
        csrf = (yield self.client.get("/api/session")).json["csrf_token"]
        self.assertError((yield self.client.post("/logout")), 403)       # CSRF here too
        answer = yield self.client.post("/logout", headers={"X-CSRF-Token": csrf})
        self.assertEqual(answer.json, {"logged_out": True})
        self.assertError((yield self.client.get("/api/jobs")), 401)

    def test_sessions_expire_and_are_capped(self):
        sessions = security.Sessions(self.clock, idle=60, max_sessions=2)
        first = sessions.create("a")
        self.clock.advance(30)
        self.assertIs(sessions.get(first.key), first)      # use keeps it alive
        self.clock.advance(59)
        self.assertIs(sessions.get(first.key), first)
        self.clock.advance(61)
        self.assertIsNone(sessions.get(first.key))
        a, b = sessions.create("a"), sessions.create("b")
        self.clock.advance(1)
        sessions.get(a.key)
        sessions.create("c")
        self.assertEqual(len(sessions), 2)
        self.assertIsNone(sessions.get(b.key))               # the least recently used went


class BasicTests(AuthTestCase):

    @defer.inlineCallbacks
    def test_basic(self):
        answer = yield self.client.get("/api/jobs", headers={"Authorization": basic(
            "alice", "secret")})
        self.assertEqual(answer.status, 200)
        # Basic needs no CSRF token (not a cookie): but JSON and same origin.
        answer = yield self.client.post("/api/scheduler/pause", headers={
            "Authorization": basic("alice", "secret")})
        self.assertEqual(answer.status, 200)

    @defer.inlineCallbacks
    def test_refusals(self):
        for value in (basic("alice", "wrong"), basic("mallory", "secret"),
                      "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
            answer = yield self.client.get("/api/jobs", headers={"Authorization": value})
            self.assertError(answer, 401)

    @defer.inlineCallbacks
    def test_throttle_is_the_authenticators(self):
        yield self.client.get("/api/jobs", headers={"Authorization": basic("alice", "x")})
        yield self.log_in("alice", "y")
        self.assertEqual(self.throttle._peers["127.0.0.1"].failures, 2)
        yield self.client.get("/api/jobs", headers={"Authorization": basic("alice", "secret")})
        self.assertNotIn("127.0.0.1", self.throttle._peers)     # a success forgets the host

    def throttled_gate(self, **throttle_options):
        """A Gate for alice (password "secret") behind a throttle of 2 s delays on the clock."""
        throttle = LoginThrottle(self.clock, base_delay=2.0, **throttle_options)
        return security.Gate(Authenticator(make_checker("memory:alice:secret"), self.clock,
                                           throttle))

    def test_failed_login_waits_for_the_throttle(self):
        gate = self.throttled_gate()
        request = FakeRequest(secure=True)
        first = gate.login(request, "alice", "wrong")
        self.clock.advance(0)
        self.failureResultOf(first, WebError)
        d = gate.login(request, "alice", "wrong")
        self.clock.advance(0)
        self.assertNoResult(d)                      # the second failure waits 2 s
        self.clock.advance(2)
        self.failureResultOf(d, WebError)

    def test_too_many_waiting_is_429(self):
        """Logins past the throttle's line from one host are refused at once, as 429."""
        gate = self.throttled_gate(max_waiting=1)
        request = FakeRequest(secure=True)
        first = gate.login(request, "alice", "wrong")
        self.clock.advance(0)
        self.failureResultOf(first, WebError)
        second = gate.login(request, "alice", "wrong")       # answered after 2 s
        waiting = gate.login(request, "alice", "wrong")      # waits for the 2 s
        self.assertNoResult(waiting)
        failure = self.failureResultOf(gate.login(request, "alice", "secret"), WebError)
        self.assertEqual(failure.value.status, 429)
        self.assertIn("too many logins waiting", failure.value.message)
        for _ in range(10):
            self.clock.advance(1)
        for d in (second, waiting):
            self.assertEqual(self.failureResultOf(d, WebError).value.status, 401)

    def test_refused_without_tls_beyond_loopback(self):
        gate = security.Gate(self.authenticator)
        request = FakeRequest(host="192.0.2.7", authorization=basic("alice", "secret"))
        failure = self.failureResultOf(gate.identify(request), WebError)
        self.assertEqual(failure.value.status, 403)
        self.assertIn("TLS", failure.value.message)
        request = FakeRequest(host="192.0.2.7", secure=True,
                              authorization=basic("alice", "secret"))
        self.assertEqual(self.successResultOf(gate.identify(request)).user, "alice")


class FakeRequest:
    """What L{security.Gate} reads of a request."""

    def __init__(self, host="127.0.0.1", secure=False, authorization=None):
        self.host = host
        self.secure = secure
        self.headers = {b"authorization": authorization.encode()} if authorization else {}
        self.cookies = []

    def getClientAddress(self):
        return IPv4Address("TCP", self.host, 1234)

    def isSecure(self):
        return self.secure

    def getHeader(self, name):
        return self.headers.get(name)

    def getCookie(self, name):
        return None

    def addCookie(self, name, value, **kwargs):
        self.cookies.append((name, value, kwargs))


class CookieTests(unittest.TestCase):

    def test_secure_under_tls(self):
        request = FakeRequest(secure=True)
        security.set_session_cookie(request, security.Session("k", "u", "c", 0))
        name, value, options = request.cookies[0]
        self.assertEqual((name, value), (security.COOKIE, b"k"))
        self.assertEqual((options["secure"], options["httpOnly"], options["sameSite"]),
                         (True, True, "strict"))


class TokenTests(AuthTestCase):

    def bearer(self, token):
        return {"Authorization": "Bearer " + token}

    @defer.inlineCallbacks
    def test_token(self):
        answer = yield self.client.get("/api/session", headers=self.bearer(self.token))
        self.assertEqual((answer.json["user"], answer.json["via"]), ("ci", "bearer"))
        answer = yield self.client.post("/api/scheduler/pause", headers=self.bearer(self.token))
        self.assertEqual(answer.status, 200)

    @defer.inlineCallbacks
    def test_wrong_and_revoked(self):
        for token in ("tsk_wrong", "nothing", self.token + "x", ""):
            answer = yield self.client.get("/api/jobs", headers=self.bearer(token))
            self.assertError(answer, 401)
        self.assertEqual(self.throttle._peers["127.0.0.1"].failures, 4)
        with open(self.tokens_path, "w") as f:
            f.write("# nobody\n")
        os.utime(self.tokens_path, ns=(1, 1))         # another stamp, whatever the clock
        answer = yield self.client.get("/api/jobs", headers=self.bearer(self.token))
        self.assertError(answer, 401)

    def test_file_keeps_hashes_only(self):
        with open(self.tokens_path) as f:
            text = f.read()
        self.assertNotIn(self.token, text)
        self.assertIn(tokens.token_hash(self.token), text)

    def test_tool(self):
        out = io.StringIO()
        self.patch(sys, "stdout", out)
        self.patch(sys, "stderr", io.StringIO())
        self.assertEqual(tokens.main(["ci"]), 0)
        output = out.getvalue().splitlines()
        token = output[0].rsplit(" ", 1)[1]
        line = output[1].rsplit(" ", 1)[1]
        self.assertEqual(line, tokens.token_line("ci", token))
        self.assertEqual(tokens.main(["bad:name"]), 2)
        self.assertEqual(tokens.main([]), 2)

    def test_tokens_differ(self):
        self.assertEqual(len({tokens.new_token() for _ in range(50)}), 50)


class TLSTests(unittest.TestCase):
    """An ssl: web port: HTTPS, the cookie is Secure, Basic is taken."""

    timeout = 30

    @defer.inlineCallbacks
    def setUp(self):
        self.sched, self.clock = make_scheduler(self)
        pki = make_pki(self.mktemp())
        authenticator = Authenticator(make_checker("memory:alice:secret"), reactor,
                                      LoginThrottle(reactor, base_delay=0.0))
        endpoint = server_endpoint(reactor, "ssl:0:interface=127.0.0.1:privateKey=%s" % (
            pki["server.pem"].replace(":", "\\:"),))
        self.port = yield endpoint.listen(make_site(self.sched, authenticator))
        self.addCleanup(self.port.stopListening)
        with open(pki["ca.pem"], "rb") as f:
            trust = ssl.Certificate.loadPEM(f.read())
        agent = Agent(reactor, contextFactory=BrowserLikePolicyForHTTPS(trustRoot=trust))
        self.client = WebClient(self.port.getHost().port, "https", agent)

    @defer.inlineCallbacks
    def test_https(self):
        answer = yield self.client.get("/healthz")
        self.assertEqual(answer.status, 200)
        self.assertEqual(answer.header("Strict-Transport-Security"), b"max-age=31536000")
        answer = yield self.client.get("/api/jobs", headers={"Authorization": basic(
            "alice", "secret")})
        self.assertEqual(answer.status, 200)
        answer = yield self.client.post("/login", raw=form("alice", "secret"),
                                        content_type="application/x-www-form-urlencoded")
        self.assertEqual(answer.status, 303)
        cookie = answer.header("Set-Cookie").decode().lower()
        self.assertIn("; secure", cookie)
        self.assertIn("httponly", cookie)


class DaemonTests(unittest.TestCase):

    def test_one_authenticator_for_every_port(self):
        options = daemon.Options()
        options.parseOptions(["--control", "tcp:0:interface=127.0.0.1", "--console", "none",
                              "--web", "tcp:0:interface=127.0.0.1", "--auth", "memory:a:b"])
        top = daemon.makeService(options)
        control = top.getServiceNamed("control").factory.wrappedFactory
        web = top.getServiceNamed("web").factory.wrappedFactory
        self.assertIs(web.resource.gate.authenticator, control.authenticator)
