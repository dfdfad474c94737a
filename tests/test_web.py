"""
The web port's JSON API, event stream and probes (no login: see
test_web_auth), over real HTTP on a loopback port, every JSON answer
checked against the OpenAPI document.
"""

import json

import jsonschema
from twisted.internet import defer
from twisted.python import usage
from twisted.trial import unittest

from twistedsched import daemon
from twistedsched.errors import JobStoreUnavailable
from twistedsched.events import EVENT_JOB_ADDED, JobEvent
from twistedsched.web import api
from twistedsched.web.openapi import openapi_document
from twistedsched.web.site import MAX_BODY
from twistedsched.web.stream import EventStream

from tests.helpers import make_scheduler
from tests.webhelpers import CHECKER, open_stream, serve


def hello(*args, **kwargs):
    """Say hello."""
    return "hello"


def boom():
    raise ValueError("boom")


class APITestCase(unittest.TestCase):
    timeout = 30

    def setUp(self):
        self.sched, self.clock = make_scheduler(self)
        self.sched.tasks.register("hello", hello)
        self.sched.tasks.register("boom", boom)
        self.client = serve(self, self.sched)

    def add(self, **fields):
        body = {"task": "hello", "trigger_kind": "interval", "trigger": "1h"}
        body.update(fields)
        return self.client.post("/api/jobs", body)

    def assertError(self, answer, status, code):
        self.assertEqual((answer.status, answer.json["error"]["code"]), (status, code),
                         answer.body)


class JobsTests(APITestCase):

    @defer.inlineCallbacks
    def test_add_and_show(self):
        answer = yield self.add(id="a", name="alpha", args=[1, "x"], kwargs={"k": True})
        self.assertEqual(answer.status, 201)
        self.assertEqual(answer.json["job"]["id"], "a")
        answer = yield self.client.get("/api/jobs/a")
        self.assertEqual(answer.status, 200)
        job = answer.json["job"]
        self.assertEqual((job["name"], job["task"], job["args"], job["kwargs"]),
                         ("alpha", "hello", [1, "x"], {"k": True}))
        self.assertEqual(answer.json["history"], [])

    @defer.inlineCallbacks
    def test_add_only_registered_tasks(self):
        for task in ("twistedsched.example_tasks:echo", "os:system", "nothing"):
            answer = yield self.add(task=task)
            self.assertError(answer, 400, "UNKNOWN_TASK")
        jobs = yield self.sched.get_jobs()
        self.assertEqual(jobs, [])

    @defer.inlineCallbacks
    def test_add_errors(self):
        self.assertError((yield self.add(trigger_kind="cron", trigger="61 * * * *")),
                         400, "INVALID_TRIGGER")
        self.assertError((yield self.add(args={"not": "a list"})), 400, "BAD_ARGUMENT")
        self.assertError((yield self.add(options={"func": "os:system"})), 400, "BAD_ARGUMENT")
        self.assertError((yield self.add(surprise=1)), 400, "BAD_ARGUMENT")
        self.assertError((yield self.client.post("/api/jobs", {"task": "hello"})),
                         400, "BAD_ARGUMENT")
        yield self.add(id="a")
        self.assertLess((yield self.add(id="a")).status, 300)     # the same job again
        self.assertError((yield self.add(id="a", trigger="2h")), 409, "JOB_ID_TAKEN")

    @defer.inlineCallbacks
    def test_add_limit(self):
        self.client = serve(self, self.sched, max_adds_per_second=2)
        self.assertEqual((yield self.add()).status, 201)
        self.assertEqual((yield self.add()).status, 201)
        self.assertError((yield self.add()), 429, "LIMIT_EXCEEDED")
        self.clock.advance(1)
        self.assertEqual((yield self.add()).status, 201)

    @defer.inlineCallbacks
    def test_missing_job(self):
        for method, path in (("GET", "/api/jobs/nope"), ("DELETE", "/api/jobs/nope"),
                             ("POST", "/api/jobs/nope/pause"), ("POST", "/api/jobs/nope/run"),
                             ("GET", "/api/jobs/nope/history"), ("GET", "/api/jobs/nope/next")):
            answer = yield self.client.request(method, path)
            self.assertError(answer, 404, "NO_SUCH_JOB")

    @defer.inlineCallbacks
    def test_ids_with_slashes_and_spaces(self):
        yield self.add(id="a/b c")
        answer = yield self.client.get("/api/jobs/a%2Fb%20c")
        self.assertEqual(answer.json["job"]["id"], "a/b c")

    @defer.inlineCallbacks
    def test_modify_reschedule_pause_resume_remove(self):
        yield self.add(id="a")
        answer = yield self.client.request("PATCH", "/api/jobs/a", {"name": "renamed",
                                                                    "args": [2]})
        self.assertEqual((answer.json["job"]["name"], answer.json["job"]["args"]),
                         ("renamed", [2]))
        self.assertError((yield self.client.request("PATCH", "/api/jobs/a", {"func": "os:x"})),
                         400, "BAD_ARGUMENT")
        self.assertError((yield self.client.request("PATCH", "/api/jobs/a", {"task": "os:x"})),
                         400, "UNKNOWN_TASK")
        answer = yield self.client.post("/api/jobs/a/reschedule",
                                        {"trigger_kind": "cron", "trigger": "0 4 * * *"})
        self.assertIn("cron", answer.json["job"]["trigger"])
        answer = yield self.client.post("/api/jobs/a/pause")
        self.assertTrue(answer.json["job"]["paused"])
        answer = yield self.client.post("/api/jobs/a/resume")
        self.assertFalse(answer.json["job"]["paused"])
        answer = yield self.client.request("DELETE", "/api/jobs/a")
        self.assertEqual(answer.json, {"removed": "a"})
        self.assertEqual((yield self.sched.get_job("a")), None)

    @defer.inlineCallbacks
    def test_run_now_and_history(self):
        yield self.add(id="a")
        yield self.client.post("/api/jobs", {"task": "boom", "trigger_kind": "interval",
                                             "trigger": "1h", "id": "b"})
        answer = yield self.client.post("/api/jobs/a/run")
        self.assertEqual(answer.status, 200)
        yield self.client.post("/api/jobs/b/run")
        self.flushLoggedErrors(ValueError)
        answer = yield self.client.get("/api/jobs/a/history?limit=5")
        self.assertEqual([run["outcome"] for run in answer.json["history"]], ["ok"])
        answer = yield self.client.get("/api/jobs/b")
        self.assertEqual(answer.json["history"][0]["outcome"], "error")
        self.assertIn("boom", answer.json["history"][0]["error"])
        answer = yield self.client.get("/api/jobs?last_run=1")
        last = {job["id"]: job["last_run"]["outcome"] for job in answer.json["jobs"]}
        self.assertEqual(last, {"a": "ok", "b": "error"})

    @defer.inlineCallbacks
    def test_next_run_times(self):
        yield self.add(id="a", trigger_kind="cron", trigger="0 */6 * * *")
        answer = yield self.client.get("/api/jobs/a/next?count=3")
        self.assertEqual([t[11:16] for t in answer.json["next_run_times"]],
                         ["12:00", "18:00", "00:00"])
        yield self.client.post("/api/jobs/a/pause")
        answer = yield self.client.get("/api/jobs/a/next")
        self.assertEqual(answer.json["next_run_times"], [])
        self.assertError((yield self.client.get("/api/jobs/a/next?count=101")),
                         400, "BAD_ARGUMENT")


class ListingTests(APITestCase):

    @defer.inlineCallbacks
    def setUp(self):
        APITestCase.setUp(self)
        for i in range(7):
            yield self.sched.add_job("hello", "interval", minutes=10 + i, id="job%d" % (i,),
                                     name="even" if i % 2 == 0 else "odd")
        yield self.sched.pause_job("job6")

    @defer.inlineCallbacks
    def test_pages(self):
        seen, offset = [], 0
        while offset is not None:
            answer = yield self.client.get("/api/jobs?limit=3&offset=%d" % (offset,))
            self.assertEqual(answer.json["total"], 7)
            seen += [job["id"] for job in answer.json["jobs"]]
            offset = answer.json["next_offset"]
        self.assertEqual(seen, ["job%d" % (i,) for i in range(7)])

    @defer.inlineCallbacks
    def test_search_and_state(self):
        answer = yield self.client.get("/api/jobs?q=ODD")
        self.assertEqual([j["id"] for j in answer.json["jobs"]], ["job1", "job3", "job5"])
        self.assertIsNone(answer.json["next_offset"])
        answer = yield self.client.get("/api/jobs?state=paused")
        self.assertEqual([j["id"] for j in answer.json["jobs"]], ["job6"])
        answer = yield self.client.get("/api/jobs?state=scheduled&q=even&limit=2")
        self.assertEqual([j["id"] for j in answer.json["jobs"]], ["job0", "job2"])
        answer = yield self.client.get("/api/jobs?state=scheduled&q=even&limit=2&offset=%d"
                                       % (answer.json["next_offset"],))
        self.assertEqual([j["id"] for j in answer.json["jobs"]], ["job4"])

    @defer.inlineCallbacks
    def test_filter_scan_is_bounded(self):
        self.patch(api, "SCAN_BUDGET", 4)
        self.patch(api, "SCAN_CHUNK", 2)
        answer = yield self.client.get("/api/jobs?q=job6")
        self.assertEqual((answer.json["jobs"], answer.json["next_offset"]), ([], 4))
        answer = yield self.client.get("/api/jobs?q=job6&offset=4")
        self.assertEqual([j["id"] for j in answer.json["jobs"]], ["job6"])

    @defer.inlineCallbacks
    def test_bad_parameters(self):
        for query in ("limit=0", "limit=1001", "offset=-1", "limit=x", "state=gone",
                      "q=" + "x" * 201):
            answer = yield self.client.get("/api/jobs?" + query)
            self.assertError(answer, 400, "BAD_ARGUMENT")

    @defer.inlineCallbacks
    def test_upcoming(self):
        answer = yield self.client.get("/api/upcoming?hours=1")
        # job0 every 10 min: 6 in the hour; job1 every 11 min: 5; ... job5 every 15: 4
        self.assertEqual(len(answer.json["upcoming"]), 6 + 5 + 5 + 4 + 4 + 4)
        times = [entry["time"] for entry in answer.json["upcoming"]]
        self.assertEqual(times, sorted(times))
        self.assertFalse(answer.json["truncated"])
        answer = yield self.client.get("/api/upcoming?hours=24&limit=5")
        self.assertEqual([e["job_id"] for e in answer.json["upcoming"]],
                         ["job0", "job1", "job2", "job3", "job4"])
        self.assertTrue(answer.json["truncated"])
        self.assertError((yield self.client.get("/api/upcoming?hours=169")),
                         400, "BAD_ARGUMENT")


class SchedulerTests(APITestCase):

    @defer.inlineCallbacks
    def test_pause_resume_stats_tasks(self):
        answer = yield self.client.post("/api/scheduler/pause")
        self.assertEqual(answer.json, {"paused": True})
        self.assertTrue(self.sched.paused)
        answer = yield self.client.get("/api/stats")
        self.assertTrue(answer.json["stats"]["paused"])
        answer = yield self.client.post("/api/scheduler/resume")
        self.assertEqual(answer.json, {"paused": False})
        answer = yield self.client.get("/api/tasks")
        self.assertEqual(answer.json["tasks"], [{"name": "boom", "doc": ""},
                                                {"name": "hello", "doc": "Say hello."}])
        answer = yield self.client.get("/api/scheduler")
        self.assertEqual(answer.json["timezone"], "UTC")
        self.assertEqual(answer.json["members"][0]["id"], self.sched.scheduler_id)
        answer = yield self.client.get("/api/session")
        self.assertEqual(answer.json, {"user": "anonymous", "via": "none", "auth": False,
                                       "csrf_token": None})


class GuardTests(APITestCase):
    """What every request must be, login or not."""

    @defer.inlineCallbacks
    def test_state_changes_need_json(self):
        answer = yield self.client.post("/api/scheduler/pause", content_type=None)
        self.assertError(answer, 415, "BAD_ARGUMENT")
        answer = yield self.client.post("/api/scheduler/pause",
                                        content_type="application/x-www-form-urlencoded")
        self.assertError(answer, 415, "BAD_ARGUMENT")
        self.assertFalse(self.sched.paused)

    @defer.inlineCallbacks
    def test_cross_origin_refused(self):
        for origin in ("http://evil.example", "null", "http://127.0.0.1:1"):
            answer = yield self.client.post("/api/scheduler/pause",
                                            headers={"Origin": origin})
            self.assertError(answer, 403, "NOT_AUTHORIZED")
        self.assertFalse(self.sched.paused)
        answer = yield self.client.post("/api/scheduler/pause",
                                        headers={"Origin": self.client.base})
        self.assertEqual(answer.status, 200)

    @defer.inlineCallbacks
    def test_dns_rebinding_refused(self):
        port = self.client.base.rsplit(":", 1)[1]
        for host in ("evil.example:" + port, "127.0.0.1.evil.example", "evil.example", ""):
            answer = yield self.client.get("/api/jobs", headers={"Host": host})
            self.assertError(answer, 403, "NOT_AUTHORIZED")
        for host in ("localhost:" + port, "127.0.0.1", "[::1]:" + port):
            answer = yield self.client.get("/api/jobs", headers={"Host": host})
            self.assertEqual(answer.status, 200, host)
        # The probes answer whatever the name (a kubelet uses the pod's address).
        answer = yield self.client.get("/healthz", headers={"Host": "10.1.2.3:" + port})
        self.assertEqual(answer.status, 200)

    @defer.inlineCallbacks
    def test_bad_bodies(self):
        for raw in (b"{", b"[1]", b"\xff\xfe", b'{"task": NaN}'):
            answer = yield self.client.post("/api/jobs", raw=raw)
            self.assertError(answer, 400, "BAD_ARGUMENT")
        answer = yield self.client.post("/api/jobs", raw=b" " * (MAX_BODY + 1))
        self.assertError(answer, 413, "BAD_ARGUMENT")
        self.assertEqual((yield self.sched.get_jobs()), [])

    @defer.inlineCallbacks
    def test_unknown_paths_and_methods(self):
        self.assertError((yield self.client.get("/api/nothing")), 404, "BAD_ARGUMENT")
        self.assertError((yield self.client.get("/nothing")), 404, "BAD_ARGUMENT")
        self.assertError((yield self.client.get("/static/../site.py")), 404, "BAD_ARGUMENT")
        self.assertError((yield self.client.request("PUT", "/api/jobs")), 405, "BAD_ARGUMENT")

    @defer.inlineCallbacks
    def test_store_down_is_503(self):
        self.sched.get_jobs = lambda *a, **k: defer.fail(JobStoreUnavailable("redis is down"))
        answer = yield self.client.get("/api/jobs")
        self.assertError(answer, 503, "SERVER_ERROR")
        self.assertIn("redis is down", answer.json["error"]["message"])

    @defer.inlineCallbacks
    def test_unexpected_error_is_500_and_logged(self):
        self.sched.stats = lambda: defer.fail(ZeroDivisionError("oops"))
        answer = yield self.client.get("/api/stats")
        self.assertError(answer, 500, "SERVER_ERROR")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual((yield self.client.get("/healthz")).status, 200)

    @defer.inlineCallbacks
    def test_security_headers(self):
        for path in ("/", "/api/jobs", "/static/app.css", "/nothing"):
            answer = yield self.client.get(path)
            csp = answer.header("Content-Security-Policy").decode()
            self.assertIn("script-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertEqual(answer.header("X-Content-Type-Options"), b"nosniff")
            self.assertEqual(answer.header("X-Frame-Options"), b"DENY")


class ProbeTests(APITestCase):

    @defer.inlineCallbacks
    def test_healthz_and_readyz(self):
        self.assertEqual((yield self.client.get("/healthz")).json, {"status": "ok"})
        answer = yield self.client.get("/readyz")
        self.assertEqual((answer.status, answer.json), (200, {"ready": True, "jobs": 0}))

    @defer.inlineCallbacks
    def test_readyz_store_down(self):
        self.sched.count_jobs = lambda: defer.fail(JobStoreUnavailable("redis is down"))
        answer = yield self.client.get("/readyz")
        self.assertEqual(answer.status, 503)
        self.assertFalse(answer.json["ready"])
        self.assertIn("redis is down", answer.json["error"])

    @defer.inlineCallbacks
    def test_readyz_store_hangs(self):
        self.sched.count_jobs = lambda: defer.Deferred()
        d = self.client.get("/readyz")
        while not self.clock.getDelayedCalls():
            yield deferLaterReal(0.01)
        self.clock.advance(5)
        answer = yield d
        self.assertEqual(answer.status, 503)

    @defer.inlineCallbacks
    def test_readyz_stopped_scheduler(self):
        yield self.sched.shutdown(wait=False)
        answer = yield self.client.get("/readyz")
        self.assertEqual(answer.status, 503)


class FakeStreamRequest:
    """What L{EventStream} uses of a request: headers, writes, a producer, its end."""

    def __init__(self):
        self.written = []
        self.headers = {}
        self.producer = None
        self._finished = defer.Deferred()

    def setHeader(self, name, value):
        self.headers[name] = value

    def write(self, data):
        self.written.append(data)

    def registerProducer(self, producer, streaming):
        self.producer = producer

    def notifyFinish(self):
        return self._finished

    def finish(self):
        self._finished.callback(None)


def deferLaterReal(seconds):
    from twisted.internet import reactor, task
    return task.deferLater(reactor, seconds, lambda: None)


class OpenAPITests(APITestCase):

    @defer.inlineCallbacks
    def test_served(self):
        answer = yield self.client.get("/api/openapi.json")
        self.assertEqual(answer.json, json.loads(json.dumps(openapi_document())))
        self.assertEqual(answer.json["openapi"], "3.1.0")

    def test_schemas_are_json_schema(self):
        for name, schema in openapi_document()["components"]["schemas"].items():
            jsonschema.Draft202012Validator.check_schema(schema)

    def test_every_route_documented(self):
        document = openapi_document()
        for route in api.JobsAPI(self.sched).routes:
            self.assertIn(route.method.lower(), document["paths"][route.template])
            self.assertIn(str(route.status), document["paths"][route.template][
                route.method.lower()]["responses"])

    def test_checker_catches_a_wrong_answer(self):
        self.assertRaises(AssertionError, CHECKER.check, "GET", "/api/stats", 200,
                          {"stats": {"jobs": "many"}})
        self.assertRaises(AssertionError, CHECKER.check, "GET", "/api/stats", 418, {})
        self.assertRaises(AssertionError, CHECKER.check, "GET", "/api/none", 200, {})


class StreamTests(APITestCase):

    @defer.inlineCallbacks
    def test_events_arrive(self):
        response, reader = yield open_stream(self.client)
        self.addCleanup(reader.transport.stopProducing)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"),
                         [b"text/event-stream; charset=utf-8"])
        yield reader.wait_for(b"retry:")
        yield self.add(id="a")
        yield reader.wait_for(b"job_added")
        yield self.client.post("/api/jobs/a/run")
        yield reader.wait_for(b"job_run")
        names = [event["event"] for event in reader.events()]
        self.assertEqual(names[0], "job_added")
        self.assertIn("job_run", names)
        run = [event for event in reader.events() if event["event"] == "job_run"][0]
        self.assertEqual((run["job_id"], run["outcome"]), ("a", "ok"))

    @defer.inlineCallbacks
    def test_filter(self):
        response, reader = yield open_stream(self.client, "/api/events?events=job_removed")
        self.addCleanup(reader.transport.stopProducing)
        yield reader.wait_for(b"retry:")
        yield self.add(id="a")
        yield self.client.request("DELETE", "/api/jobs/a")
        yield reader.wait_for(b"job_removed")
        self.assertEqual([e["event"] for e in reader.events()], ["job_removed"])

    @defer.inlineCallbacks
    def test_bad_filter(self):
        answer = yield self.client.get("/api/events?events=nothing")
        self.assertError(answer, 400, "BAD_ARGUMENT")

    @defer.inlineCallbacks
    def test_reader_gone_stops_listening(self):
        listeners = len(self.sched._listeners)
        response, reader = yield open_stream(self.client)
        yield reader.wait_for(b"retry:")
        self.assertEqual(len(self.sched._listeners), listeners + 1)
        reader.transport.stopProducing()
        while len(self.sched._listeners) > listeners:
            yield deferLaterReal(0.01)

    def test_slow_reader_drops_and_is_told(self):
        request = FakeStreamRequest()
        stream = EventStream(self.sched, request, EVENT_JOB_ADDED)
        stream.start()
        stream.pauseProducing()
        for i in range(5):
            stream.push(JobEvent(EVENT_JOB_ADDED, "j%d" % (i,), "default"))
        self.assertEqual(b"".join(request.written).count(b"data:"), 0)
        stream.resumeProducing()
        stream.push(JobEvent(EVENT_JOB_ADDED, "after", "default"))
        data = [json.loads(line[6:]) for line in b"".join(request.written).split(b"\n")
                if line.startswith(b"data: ")]
        self.assertEqual(data[0], {"event": "events_dropped", "count": 5})
        self.assertEqual(data[1]["job_id"], "after")
        request.finish()
        self.assertEqual(self.sched._listeners, [])

    def test_keepalive(self):
        request = FakeStreamRequest()
        EventStream(self.sched, request, EVENT_JOB_ADDED, keepalive=15).start()
        self.clock.advance(15)
        self.assertTrue(b"".join(request.written).endswith(b": keep-alive\n\n"))
        request.finish()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class DaemonOptionTests(unittest.TestCase):

    def parse(self, *args):
        options = daemon.Options()
        options.parseOptions(["--control", "none", "--console", "none"] + list(args))
        return options

    def test_off_by_default(self):
        top = daemon.makeService(self.parse())
        self.assertRaises(KeyError, top.getServiceNamed, "web")

    def test_on(self):
        top = daemon.makeService(self.parse("--web", "tcp:0:interface=127.0.0.1"))
        self.assertIsNotNone(top.getServiceNamed("web"))

    def test_beyond_loopback_needs_auth(self):
        error = self.assertRaises(usage.UsageError, self.parse, "--web", "tcp:7732")
        self.assertIn("no --auth", str(error))
        self.parse("--web", "tcp:7732", "--auth", "memory:a:b")

    def test_tokens_need_auth_and_a_file(self):
        path = self.mktemp()
        open(path, "w").close()
        error = self.assertRaises(usage.UsageError, self.parse, "--web-tokens", path)
        self.assertIn("needs --auth", str(error))
        error = self.assertRaises(usage.UsageError, self.parse, "--auth", "memory:a:b",
                                  "--web-tokens", path + ".missing")
        self.assertIn("does not exist", str(error))
