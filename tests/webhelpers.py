"""
Helpers for the web port's tests: a site on a free loopback port, an HTTP
client that checks every JSON answer of the API against the OpenAPI
document, and a reader of the event stream.
"""

import json
import re

import jsonschema
from twisted.internet import defer, protocol, reactor
from twisted.web.client import Agent, FileBodyProducer, readBody
from twisted.web.http_headers import Headers
from io import BytesIO

from twistedsched.web.openapi import openapi_document
from twistedsched.web.site import make_site

DOCUMENT = openapi_document()


class OpenAPIChecker:
    """Validates answers against the schema the OpenAPI document gives for them."""

    def __init__(self, document=DOCUMENT):
        self.document = document
        self.paths = [(re.compile(re.sub(r"\\\{id\\\}", "[^/]+", re.escape(t)) + "$"), t)
                      for t in document["paths"]]
        self.checked = set()

    def operation(self, method, path):
        for pattern, template in self.paths:
            if pattern.match(path):
                return template, self.document["paths"][template].get(method.lower())
        return None, None

    def check(self, method, path, status, body):
        """Raise C{AssertionError} unless C{body} fits the document."""
        template, operation = self.operation(method, path)
        if operation is None and status in (404, 405):     # a path or method not served
            self._validate({"$ref": "#/components/schemas/Error"}, body, method, path, status)
            return
        if operation is None:
            raise AssertionError("%s %s is not in the OpenAPI document" % (method, path))
        response = operation["responses"].get(str(status))
        if response is None:
            raise AssertionError("%s %s answered %d, which the document does not list"
                                 % (method, template, status))
        self._validate(response["content"]["application/json"]["schema"], body, method,
                       template, status)
        self.checked.add((method.upper(), template, status))

    def _validate(self, schema, body, method, template, status):
        schema = dict(schema, components=self.document["components"])
        try:
            jsonschema.Draft202012Validator(schema).validate(body)
        except jsonschema.ValidationError as e:
            raise AssertionError("%s %s -> %d does not fit the document: %s\n%r"
                                 % (method, template, status, e.message, body)) from None


CHECKER = OpenAPIChecker()


class Answer:
    def __init__(self, response, body):
        self.status = response.code
        self.headers = response.headers
        self.body = body

    def header(self, name):
        values = self.headers.getRawHeaders(name.encode("ascii")) or []
        return values[0] if values else None

    def headers_of(self, name):
        return self.headers.getRawHeaders(name.encode("ascii")) or []

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))


class WebClient:
    """
    Requests to a site on C{port}; JSON answers of paths in the OpenAPI
    document are checked against it.  C{cookie} (text) is sent if set.
    """

    def __init__(self, port, scheme="http", agent=None):
        self.base = "%s://127.0.0.1:%d" % (scheme, port)
        self.agent = agent or Agent(reactor)
        self.cookie = None
        self.headers = {}

    @defer.inlineCallbacks
    def request(self, method, path, body=None, headers=None, raw=None,
                content_type="application/json"):
        all_headers = dict(self.headers)
        if self.cookie:
            all_headers["Cookie"] = self.cookie
        if body is not None or raw is not None or method in ("POST", "PATCH", "DELETE"):
            if content_type:
                all_headers["Content-Type"] = content_type
        all_headers.update(headers or {})
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        producer = FileBodyProducer(BytesIO(data)) if data else None
        response = yield self.agent.request(
            method.encode(), (self.base + path).encode("utf-8"),
            Headers({k: [v] for k, v in all_headers.items()}), producer)
        answer = Answer(response, (yield readBody(response)))
        content = answer.header("Content-Type") or b""
        if content.startswith(b"application/json") and not path.startswith("/api/openapi"):
            CHECKER.check(method, path.split("?")[0], answer.status, answer.json)
        return answer

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.request("POST", path, body, **kwargs)


def serve(testcase, scheduler, **kwargs):
    """Serve L{make_site} on a free loopback port until the test ends; a L{WebClient}."""
    site = make_site(scheduler, **kwargs)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    testcase.addCleanup(port.stopListening)
    client = WebClient(port.getHost().port)
    client.site = site
    return client


class StreamReader(protocol.Protocol):
    """Collects an event stream; L{wait_for} fires when a text has arrived."""

    def __init__(self):
        self.data = b""
        self.waiting = []
        self.done = defer.Deferred()

    def dataReceived(self, data):
        self.data += data
        for text, d in list(self.waiting):
            if text in self.data:
                self.waiting.remove((text, d))
                d.callback(self.data)

    def connectionLost(self, reason):
        self.done.callback(None)

    def wait_for(self, text):
        d = defer.Deferred()
        if text in self.data:
            d.callback(self.data)
        else:
            self.waiting.append((text, d))
        return d

    def events(self):
        return [json.loads(line[len(b"data: "):]) for line in self.data.split(b"\n")
                if line.startswith(b"data: ")]


@defer.inlineCallbacks
def open_stream(client, path="/api/events"):
    """Start reading the event stream; fire with (response, L{StreamReader})."""
    headers = {"Cookie": client.cookie} if client.cookie else {}
    headers.update(client.headers)
    response = yield client.agent.request(b"GET", (client.base + path).encode(),
                                          Headers({k: [v] for k, v in headers.items()}))
    reader = StreamReader()
    response.deliverBody(reader)
    return response, reader
