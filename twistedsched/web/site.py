"""
The web port's site: the dashboard page, its static assets, the login
form, the JSON API, the event stream and the health probes.

Paths::

    /                    the dashboard (with --auth: after the login form)
    /login, /logout      the login form (POST /login), logging out (POST /logout)
    /static/NAME         the page's script, style and pictures
    /api/...             the JSON API (L{twistedsched.web.api}); /api/events streams
    /api/session         who is logged in, and the CSRF token of the session
    /api/openapi.json    the OpenAPI document of the API
    /healthz, /readyz    probes: the process answers; the job stores answer
"""

import html
import json
import os

from twisted.internet import defer
from twisted.logger import Logger
from twisted.web import http, resource, server

from twistedsched.limits import RateLimit
from twistedsched.web import security
from twistedsched.web.api import JobsAPI, WebError, parse_body, parse_query, web_error
from twistedsched.web.openapi import openapi_document
from twistedsched.web.stream import EventStream, event_mask

log = Logger()

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
#: The largest request body read (bytes); a larger one is answered 413.
MAX_BODY = 256 * 1024
#: Seconds /readyz waits for the job stores.
READY_TIMEOUT = 5.0
#: The types of the files under /static.
CONTENT_TYPES = {".js": b"text/javascript; charset=utf-8", ".css": b"text/css; charset=utf-8",
                 ".html": b"text/html; charset=utf-8", ".png": b"image/png",
                 ".svg": b"image/svg+xml"}
#: The longest user name and password the login form takes.
MAX_LOGIN_FIELD = 1024


class LimitedRequest(server.Request):
    """A request whose body is kept only up to L{MAX_BODY} bytes."""

    body_limit = MAX_BODY

    def gotLength(self, length):
        self.body_bytes = 0
        self.body_too_large = length is not None and length > self.body_limit
        server.Request.gotLength(self, None if self.body_too_large else length)

    def handleContentChunk(self, data):
        self.body_bytes += len(data)
        if self.body_bytes > self.body_limit:
            self.body_too_large = True
        if not self.body_too_large:
            server.Request.handleContentChunk(self, data)


def static_files():
    """Names of the files served under /static (nothing else is)."""
    return {name for name in os.listdir(STATIC) if os.path.splitext(name)[1] in CONTENT_TYPES}


def read_static(name):
    with open(os.path.join(STATIC, name), "rb") as f:
        return f.read()


class WebRoot(resource.Resource):
    """
    Every path of the web port (one leaf resource: the routing is in
    L{_handle}).  C{gate} is a L{security.Gate}; C{add_limit} bounds the
    jobs added per second (C{None}: no bound).
    """

    isLeaf = True

    def __init__(self, scheduler, gate=None, add_limit=None):
        resource.Resource.__init__(self)
        self.scheduler = scheduler
        self.gate = gate or security.Gate()
        self.api = JobsAPI(scheduler, add_limit)
        self.static = {name: read_static(name) for name in static_files()}
        self.openapi = json.dumps(openapi_document(), indent=1).encode("utf-8")

    def render(self, request):
        security.add_security_headers(request)
        request.gone = False
        request.notifyFinish().addErrback(lambda _: setattr(request, "gone", True))
        if getattr(request, "body_too_large", False):
            self._error(request, WebError(413, "BAD_ARGUMENT", "the body is over %d bytes"
                                          % (MAX_BODY,)))
            return server.NOT_DONE_YET
        path = request.path.decode("latin-1")
        d = defer.maybeDeferred(self._handle, request, path)
        d.addErrback(lambda failure: self._error(request, web_error(failure)))
        d.addErrback(log.failure, "web: answering {path} failed", path=path[:200])
        return server.NOT_DONE_YET

    # -- Answers ---------------------------------------------------------------

    def _send(self, request, status, content_type, body):
        if request.gone:
            return
        request.setResponseCode(status)
        request.setHeader(b"Content-Type", content_type)
        request.setHeader(b"Cache-Control", b"no-store")
        request.write(body)
        request.finish()

    def _json(self, request, data, status=200):
        body = json.dumps(data, separators=(",", ":"), allow_nan=False).encode("utf-8")
        self._send(request, status, b"application/json", body)

    def _error(self, request, error):
        if error.status == 401:
            request.setHeader(b"WWW-Authenticate", b'Bearer realm="twistedsched"')
        self._json(request, error.body(), error.status)

    def _redirect(self, request, location):
        if request.gone:
            return
        request.setResponseCode(http.SEE_OTHER)
        request.setHeader(b"Location", location)
        request.finish()

    # -- Routing ---------------------------------------------------------------

    def _handle(self, request, path):
        method = request.method.decode("latin-1")
        if path in ("/healthz", "/readyz", "/api/openapi.json"):
            return self._probe(request, path)
        if not self.gate.required:
            security.check_host(request)
        if path.startswith("/static/"):
            return self._static(request, path[len("/static/"):])
        if path in ("/", "/index.html"):
            return self._page(request)
        if path == "/login":
            return self._login(request, method)
        if path == "/logout":
            return self._guarded(request, method, True, self._logout)
        if path == "/api/session":
            return self._guarded(request, method, False, self._session)
        if path == "/api/events":
            return self._guarded(request, method, False, self._events)
        if path.startswith("/api/"):
            route, job_id = self.api.route(method, path)
            return self._guarded(request, method, route.changes_state,
                                 lambda request, identity: self._call(request, route, job_id))
        raise WebError(404, "BAD_ARGUMENT", "no such page: %s" % (path[:200],))

    def _guarded(self, request, method, changes_state, then):
        """Identify the request, check CSRF and origin if it changes state, then go on."""
        if changes_state:
            security.check_same_origin(request)
            security.check_json_request(request)

        def allowed(identity):
            if changes_state:
                security.check_csrf(request, identity)
            return then(request, identity)
        return self.gate.identify(request).addCallback(allowed)

    def _call(self, request, route, job_id):
        body = parse_body(request) if route.changes_state else {}
        d = defer.maybeDeferred(route.handler, job_id, parse_query(request), body)
        return d.addCallback(lambda data: self._json(request, data, route.status))

    # -- Pages -----------------------------------------------------------------

    def _probe(self, request, path):
        if path == "/api/openapi.json":
            return self._send(request, 200, b"application/json", self.openapi)
        if path == "/healthz":
            return self._json(request, {"status": "ok"})
        return self._ready(request)

    def _ready(self, request):
        if not self.scheduler.running:
            return self._json(request, {"ready": False, "error": "the scheduler is not running"},
                              503)
        d = self.scheduler.count_jobs()
        d.addTimeout(READY_TIMEOUT, self.scheduler.reactor)
        d.addCallbacks(lambda count: self._json(request, {"ready": True, "jobs": count}),
                       lambda failure: self._json(request, {
                           "ready": False,
                           "error": "the job stores do not answer: %s" % (
                               failure.getErrorMessage()[:300] or failure.type.__name__,)},
                           503))
        return d

    def _static(self, request, name):
        body = self.static.get(name)
        if body is None:
            raise WebError(404, "BAD_ARGUMENT", "no such file: %s" % (name[:200],))
        content_type = CONTENT_TYPES[os.path.splitext(name)[1]]
        if request.gone:
            return
        request.setHeader(b"Content-Type", content_type)
        request.setHeader(b"Cache-Control", b"no-cache")
        request.write(body)
        request.finish()

    def _page(self, request):
        if self.gate.required and self.gate.session_of(request) is None:
            return self._redirect(request, b"/login")
        self._send(request, 200, CONTENT_TYPES[".html"], self.static["index.html"])

    def _login_page(self, request, message="", status=200):
        text = self.static["login.html"].decode("utf-8").replace(
            "{message}", html.escape(message))
        self._send(request, status, CONTENT_TYPES[".html"], text.encode("utf-8"))

    def _login(self, request, method):
        if not self.gate.required:
            return self._redirect(request, b"/")
        if method == "GET":
            return self._login_page(request)
        if method != "POST":
            raise WebError(405, "BAD_ARGUMENT", "use GET or POST on /login")
        security.check_same_origin(request)
        if not security.private_channel(request):
            return self._login_page(request, "Passwords are taken over TLS (an ssl: --web "
                                             "endpoint) or from this machine only.", 403)
        fields = {}
        for name in (b"username", b"password"):
            values = request.args.get(name) or [b""]
            fields[name] = values[-1].decode("utf-8", "replace")[:MAX_LOGIN_FIELD]
        d = self.gate.login(request, fields[b"username"], fields[b"password"])

        def logged_in(user):
            security.set_session_cookie(request, self.gate.sessions.create(user))
            self._redirect(request, b"/")

        def refused(failure):
            failure.trap(WebError)
            self._login_page(request, "Wrong user name or password.", 401)
        return d.addCallbacks(logged_in, refused)

    def _logout(self, request, identity):
        if identity.session is not None:
            self.gate.sessions.end(identity.session.key)
        security.clear_session_cookie(request)
        self._json(request, {"logged_out": True})

    def _session(self, request, identity):
        session = identity.session
        self._json(request, {
            "user": identity.user, "via": identity.via, "auth": self.gate.required,
            "csrf_token": None if session is None else session.csrf})

    def _events(self, request, identity):
        EventStream(self.scheduler, request, event_mask(
            parse_query(request).get("events"))).start()


def make_site(scheduler, authenticator=None, tokens=None, max_adds_per_second=None):
    """
    The L{Site <twisted.web.server.Site>} of the web port for C{scheduler},
    with logins through C{authenticator} (C{None}: no login) and bearer
    tokens from C{tokens} (a L{TokenFile <twistedsched.web.tokens.TokenFile>}).
    """
    gate = security.Gate(authenticator, tokens, clock=scheduler.reactor)
    add_limit = RateLimit(scheduler.reactor, max_adds_per_second) if max_adds_per_second \
        else None
    site = server.Site(WebRoot(scheduler, gate, add_limit), requestFactory=LimitedRequest)
    site.noisy = False
    site.displayTracebacks = False
    return site
