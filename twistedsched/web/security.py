"""
Who may use the web port, and the headers that keep a browser safe.

With C{--auth}, a request is let in by one of:

  - a session cookie from the login form (C{POST /login}): HttpOnly,
    SameSite=Strict, Secure under TLS; its state-changing requests need
    the session's CSRF token in an C{X-CSRF-Token} header;
  - HTTP Basic (C{Authorization: Basic ...}), over TLS or from loopback only;
  - a bearer token (C{Authorization: Bearer ...}, see L{twistedsched.web.tokens}).

Passwords go through the daemon's L{Authenticator <twistedsched.auth.Authenticator>},
so the web port shares the other ports' login throttle; a wrong token is
throttled the same way.  Every state-changing request must come from the
page's own origin (an C{Origin} header, when a browser sends one, must
match C{Host}) and send C{Content-Type: application/json}: a cross-site
form cannot do that.
"""

import base64
import binascii
import hmac
import os
from urllib.parse import urlsplit

from twisted.cred import error as cred_error
from twisted.internet import defer, task

from twistedsched.auth import LoginRefused
from twistedsched.tls import is_loopback
from twistedsched.web.api import WebError

#: The session cookie's name.
COOKIE = b"twistedsched_session"
#: Seconds a session lasts without being used, and the most sessions kept.
SESSION_IDLE, MAX_SESSIONS = 8 * 3600, 10000

#: Headers of every answer.  The page loads its script and style from
#: /static only: no inline script, nothing from elsewhere.
SECURITY_HEADERS = {
    b"Content-Security-Policy": (
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    b"X-Content-Type-Options": b"nosniff",
    b"X-Frame-Options": b"DENY",
    b"Referrer-Policy": b"same-origin",
}


def not_authorized(message, status=401):
    return WebError(status, "NOT_AUTHORIZED", message)


def add_security_headers(request):
    for name, value in SECURITY_HEADERS.items():
        request.setHeader(name, value)
    if request.isSecure():
        request.setHeader(b"Strict-Transport-Security", b"max-age=31536000")


def header(request, name, default=""):
    """A request header as text (Latin-1, as HTTP has it), or C{default}."""
    value = request.getHeader(name)
    return default if value is None else value.decode("latin-1")


def peer_host(request):
    return getattr(request.getClientAddress(), "host", None) or ""


def private_channel(request):
    """True if a password may travel on this request: TLS, or a loopback peer."""
    return request.isSecure() or is_loopback(peer_host(request))


class Session:
    """A logged-in browser: its user, its CSRF token and when it was last used."""

    def __init__(self, key, user, csrf, last_used):
        self.key = key
        self.user = user
        self.csrf = csrf
        self.last_used = last_used


class Sessions:
    """The sessions of the page's logins, in memory (a restart logs everyone out)."""

    def __init__(self, clock, idle=SESSION_IDLE, max_sessions=MAX_SESSIONS):
        self.clock = clock
        self.idle = idle
        self.max_sessions = max_sessions
        self._sessions = {}

    def create(self, user):
        if len(self._sessions) >= self.max_sessions:
            oldest = min(self._sessions.values(), key=lambda s: s.last_used)
            del self._sessions[oldest.key]
        key = _random_token()
        session = Session(key, user, _random_token(), self.clock.seconds())
        self._sessions[key] = session
        return session

    def get(self, key):
        """The live session of C{key} (text), or C{None}."""
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self.clock.seconds()
        if now - session.last_used > self.idle:
            del self._sessions[key]
            return None
        session.last_used = now
        return session

    def end(self, key):
        self._sessions.pop(key, None)

    def __len__(self):
        return len(self._sessions)


def _random_token():
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii").rstrip("=")


class Identity:
    """Who made a request (C{user}) and how they proved it (C{via})."""

    def __init__(self, user, via, session=None):
        self.user = user
        self.via = via
        self.session = session


ANONYMOUS = Identity("anonymous", "none")


class Gate:
    """
    Decides who a request comes from.  Without an C{authenticator} (no
    C{--auth}), everyone is L{ANONYMOUS}.  C{tokens} is a
    L{TokenFile <twistedsched.web.tokens.TokenFile>} or C{None}.
    """

    def __init__(self, authenticator=None, tokens=None, sessions=None, clock=None):
        self.authenticator = authenticator
        self.tokens = tokens
        if sessions is None and authenticator is not None:
            sessions = Sessions(clock or authenticator.reactor)
        self.sessions = sessions

    @property
    def required(self):
        return self.authenticator is not None

    def session_of(self, request):
        """The request's live session, or C{None}."""
        if self.sessions is None:
            return None
        key = request.getCookie(COOKIE)
        if not key:
            return None
        try:
            return self.sessions.get(key.decode("ascii"))
        except UnicodeDecodeError:
            return None

    def identify(self, request):
        """
        Fire with the L{Identity} of C{request}, or fail with a
        L{WebError} (401: no or wrong credentials; 403: Basic without TLS).
        """
        if not self.required:
            return defer.succeed(ANONYMOUS)
        authorization = header(request, b"authorization")
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "basic":
                return self._basic(request, value.strip())
            if scheme.lower() == "bearer":
                return self._bearer(request, value.strip())
            return defer.fail(not_authorized(
                "unknown Authorization scheme %r (use Basic or Bearer)" % (scheme[:20],)))
        session = self.session_of(request)
        if session is not None:
            return defer.succeed(Identity(session.user, "session", session))
        return defer.fail(not_authorized(
            "log in first (the login form, HTTP Basic or a bearer token)"))

    def _basic(self, request, value):
        if not private_channel(request):
            return defer.fail(not_authorized(
                "HTTP Basic sends the password in clear: use TLS (an ssl: --web "
                "endpoint) or a bearer token", 403))
        try:
            username, sep, password = base64.b64decode(value, validate=True).decode(
                "utf-8").partition(":")
        except (binascii.Error, ValueError):
            sep = ""
        if not sep:
            return defer.fail(not_authorized("malformed Basic credentials"))
        return self.login(request, username, password).addCallback(
            lambda user: Identity(user, "basic"))

    def login(self, request, username, password):
        """
        Fire with the user name, or fail with a 401 L{WebError} (after the
        throttle's delay), or a 429 one when the throttle refuses at once.
        """
        d = self.authenticator.login(username, password, request.getClientAddress())

        def refused(failure):
            if not failure.check(WebError):
                failure.trap(cred_error.UnauthorizedLogin, cred_error.UnhandledCredentials)
                raise not_authorized("login refused (wrong user name or password)")
            return failure
        return d.addErrback(_throttled).addErrback(refused)

    def _bearer(self, request, token):
        """
        Check a bearer token in the host's turn (L{LoginThrottle.turn}): a
        wrong one is a failure of that host, answered after its delay.
        """
        throttle = self.authenticator.throttle
        host = peer_host(request)

        def check(_):
            name = self.tokens.check(token) if self.tokens is not None else None
            throttle.done(host, name is not None)
            if name is not None:
                return Identity(name, "bearer")
            return task.deferLater(self.authenticator.reactor, throttle.retry_after(host),
                                   _raise, not_authorized("unknown or revoked bearer token"))
        return throttle.turn(host).addCallback(check).addErrback(_throttled)


def _raise(error):
    raise error


def _throttled(failure):
    """A login the throttle refused at once (too many waiting): 429."""
    if failure.check(LoginRefused):
        raise not_authorized(failure.getErrorMessage(), status=429)
    return failure


def check_same_origin(request):
    """Refuse (403) a state-changing request that a browser sent from another origin."""
    origin = header(request, b"origin", None)
    if origin is None:
        return
    host = header(request, b"host")
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        raise not_authorized("cross-origin request refused (Origin %r)" % (origin[:100],), 403)


def check_host(request):
    """
    Refuse (403) a request to a loopback port that names another host: a web
    page whose name was pointed at 127.0.0.1 (DNS rebinding) must not reach
    a port without login.  Ports with a login, or beyond loopback, take any name.
    """
    if not is_loopback(getattr(request.getHost(), "host", "")):
        return
    host = header(request, b"host")
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if not is_loopback(name.strip("[]")):
        raise not_authorized("Host %r refused: this port answers loopback names only "
                             "(127.0.0.1, localhost)" % (host[:100],), 403)


def check_json_request(request):
    """Refuse (415) a state-changing request not sent as C{application/json}."""
    content_type = header(request, b"content-type").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise WebError(415, "BAD_ARGUMENT",
                       "send state-changing requests with Content-Type: application/json")


def check_csrf(request, identity):
    """A session's state-changing request needs its CSRF token (403 without)."""
    if identity.session is None:
        return
    sent = header(request, b"x-csrf-token")
    if not hmac.compare_digest(sent.encode("utf-8"), identity.session.csrf.encode("ascii")):
        raise not_authorized("missing or wrong CSRF token (send the X-CSRF-Token header "
                             "that /api/session gives)", 403)


def set_session_cookie(request, session):
    request.addCookie(COOKIE, session.key.encode("ascii"), path=b"/", httpOnly=True,
                      secure=request.isSecure(), sameSite="strict")


def clear_session_cookie(request):
    request.addCookie(COOKIE, b"", path=b"/", httpOnly=True, secure=request.isSecure(),
                      sameSite="strict", max_age=b"0")
