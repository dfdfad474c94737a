"""
The HTTP JSON API: the control port's commands as HTTP requests.

Jobs travel as the control port sends them (L{twistedsched.remote.job_to_wire}),
errors as C{{"error": {"code": CODE, "message": TEXT}}} with the control
port's codes (C{NO_SUCH_JOB}, C{UNKNOWN_TASK}, ...) and an HTTP status that
fits (L{STATUS}).  Remote clients schedule registered tasks only: adding and
changing go through L{twistedsched.remote}, as on the control port.
"""

import datetime
import re
from urllib.parse import unquote

from twisted.internet import defer, task
from twisted.logger import Logger

from twistedsched import remote
from twistedsched.control import (
    ERRORS, MAX_PAGE, ControlError, LimitExceeded, NoSuchJob, task_info,
    to_control_error, wire_history, wire_job)
from twistedsched.errors import JobStoreUnavailable

log = Logger()

#: The HTTP status of each error code.
STATUS = {
    "NO_SUCH_JOB": 404,
    "UNKNOWN_TASK": 400,
    "INVALID_TRIGGER": 400,
    "JOB_ID_TAKEN": 409,
    "BAD_ARGUMENT": 400,
    "NOT_AUTHORIZED": 401,
    "SERVER_ERROR": 500,
    "LIMIT_EXCEEDED": 429,
}
#: Jobs a page holds unless the request says otherwise.
DEFAULT_PAGE = 50
#: How many jobs one filtered listing or upcoming timeline examines at most,
#: and how many it takes from the store at a time (between two chunks the
#: reactor serves others: a chunk of the memory store costs about 15 ms).
SCAN_BUDGET, SCAN_CHUNK = 5000, 500
#: The largest answer given for a job's history (bytes of JSON).
HISTORY_BYTES = 1 << 20
#: The most fire times C{/next} computes, the longest upcoming window (hours)
#: and the most entries of an upcoming timeline.
MAX_FIRE_TIMES, MAX_HOURS, MAX_UPCOMING = 100, 168, 2000
#: Listing filters by state.
STATES = ("all", "scheduled", "paused")


class WebError(Exception):
    """An error answer: an HTTP C{status}, a control-port C{code} and a sentence."""

    def __init__(self, status, code, message):
        Exception.__init__(self, message)
        self.status = status
        self.code = code
        self.message = message

    def body(self):
        return {"error": {"code": self.code, "message": self.message}}


def web_error(failure):
    """The L{WebError} for a failed call (unexpected ones are logged, as on the control port)."""
    if failure.check(WebError):
        return failure.value
    try:
        to_control_error(failure)
    except ControlError as e:
        code = ERRORS[type(e)].decode("ascii")
        status = 503 if failure.check(JobStoreUnavailable) else STATUS[code]
        return WebError(status, code, str(e))
    raise AssertionError("to_control_error returned")   # pragma: no cover


def bad_argument(message):
    return WebError(400, "BAD_ARGUMENT", message)


def integer(params, name, default, low, high):
    """The integer query parameter C{name}, between C{low} and C{high}."""
    text = params.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise bad_argument("%s: expected a whole number from %d to %d, not %r"
                           % (name, low, high, text[:50]))
    return value


def fire_times(job, now, count, until=None):
    """
    Up to C{count} next fire times of C{job} (from its next run time, as
    its trigger gives them), none after C{until}.
    """
    times = []
    when = job.next_run_time
    while when is not None and len(times) < count and (until is None or when <= until):
        times.append(when)
        when = job.trigger.next_fire_time(when, now)
    return times


def breather():
    """A Deferred that fires once the reactor has served others (between scan chunks)."""
    from twisted.internet import reactor
    return task.deferLater(reactor, 0, lambda: None)


def matches(job, needle):
    """True if C{needle} (lower case) is in the job's id, name or task."""
    return any(needle in (text or "").lower() for text in (job.id, job.name, job.target))


def _keep_earliest(entries, limit):
    """Sort C{(time, job)} entries and keep the first C{limit}; the last time kept."""
    entries.sort(key=lambda entry: entry[0])
    del entries[limit:]
    return entries[-1][0] if entries else None


class Route:
    """One operation: a method, a path template (C{{id}} is a job id) and its handler."""

    def __init__(self, method, template, handler, status=200):
        self.method = method
        self.template = template
        self.handler = handler
        self.status = status
        pattern = re.escape(template).replace(r"\{id\}", "(?P<id>[^/]+)")
        self.pattern = re.compile(pattern + "$")

    @property
    def changes_state(self):
        return self.method not in ("GET", "HEAD")


class JobsAPI:
    """
    The operations of the API on C{scheduler}.  Each handler takes the
    path's job id (or C{None}), the query parameters (a dict of text) and
    the body (a dict), and returns a dict or a Deferred of one.
    C{add_limit} (a L{twistedsched.limits.RateLimit}) bounds how fast jobs are added.
    """

    def __init__(self, scheduler, add_limit=None):
        self.scheduler = scheduler
        self.add_limit = add_limit
        self.routes = [Route(*spec) for spec in (
            ("GET", "/api/jobs", self.list_jobs),
            ("POST", "/api/jobs", self.add_job, 201),
            ("GET", "/api/jobs/{id}", self.get_job),
            ("PATCH", "/api/jobs/{id}", self.modify_job),
            ("DELETE", "/api/jobs/{id}", self.remove_job),
            ("POST", "/api/jobs/{id}/pause", self.pause_job),
            ("POST", "/api/jobs/{id}/resume", self.resume_job),
            ("POST", "/api/jobs/{id}/run", self.run_job),
            ("POST", "/api/jobs/{id}/reschedule", self.reschedule_job),
            ("GET", "/api/jobs/{id}/history", self.job_history),
            ("GET", "/api/jobs/{id}/next", self.next_run_times),
            ("GET", "/api/upcoming", self.upcoming),
            ("GET", "/api/tasks", self.list_tasks),
            ("GET", "/api/stats", self.stats),
            ("GET", "/api/scheduler", self.scheduler_info),
            ("POST", "/api/scheduler/pause", self.pause_scheduler),
            ("POST", "/api/scheduler/resume", self.resume_scheduler),
        )]

    def route(self, method, path):
        """
        The L{Route} for C{method} and C{path} (raw, still %-encoded) and the
        job id in it; L{WebError} 404 or 405 if there is none.
        """
        allowed = False
        for route in self.routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method == method:
                job_id = match.groupdict().get("id")
                return route, None if job_id is None else unquote(job_id, errors="strict")
            allowed = True
        if allowed:
            raise WebError(405, "BAD_ARGUMENT", "%s is not allowed on %s" % (method, path[:200]))
        raise WebError(404, "BAD_ARGUMENT", "no such API path: %s" % (path[:200],))

    # -- Helpers ---------------------------------------------------------------

    @property
    def tz(self):
        return self.scheduler.timezone

    def _wire(self, job):
        return None if job is None else wire_job(job, self.tz, budget=HISTORY_BYTES)

    def _job_answer(self, job):
        return {"job": self._wire(job)}

    def _find(self, job_id):
        def found(job):
            if job is None:
                raise NoSuchJob("no job with id %r" % (job_id,))
            return job
        return self.scheduler.get_job(job_id).addCallback(found)

    # -- Jobs ------------------------------------------------------------------

    @defer.inlineCallbacks
    def list_jobs(self, job_id, params, body):
        offset = integer(params, "offset", 0, 0, 10 ** 9)
        limit = integer(params, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
        needle = remote.check_text(params.get("q"), "q")
        state = params.get("state") or "all"
        if state not in STATES:
            raise bad_argument("state: expected one of %s, not %r" % (", ".join(STATES),
                                                                      state[:50]))
        store = params.get("jobstore") or "default"
        if needle is None and state == "all":
            jobs = yield self.scheduler.get_jobs(store, offset, limit + 1)
            page = jobs[:limit]
            next_offset = offset + limit if len(jobs) > limit else None
        else:
            page, next_offset = yield self._filtered(store, offset, limit,
                                                     (needle or "").lower(), state)
        total = yield self.scheduler.count_jobs()
        with_runs = params.get("last_run") in ("1", "true")
        wired = [self._wire(job) for job in page]
        if with_runs:
            for job, data in zip(page, wired):
                runs = yield self.scheduler.job_history(job.id, job.jobstore, 1)
                data["last_run"] = wire_history(runs, self.tz)[0] if runs else None
        return {"jobs": wired, "next_offset": next_offset, "total": total}

    @defer.inlineCallbacks
    def _filtered(self, store, offset, limit, needle, state):
        """
        Matching jobs from C{offset} on, examining at most L{SCAN_BUDGET};
        and where the next page starts (C{None}: at the end).
        """
        page, position, end = [], offset, offset + SCAN_BUDGET
        while position < end:
            chunk = yield self.scheduler.get_jobs(store, position, min(SCAN_CHUNK,
                                                                       end - position))
            for job in chunk:
                position += 1
                paused = job.next_run_time is None
                if state == "paused" and not paused or state == "scheduled" and paused:
                    continue
                if needle and not matches(job, needle):
                    continue
                page.append(job)
                if len(page) == limit:
                    return page, position
            if len(chunk) < SCAN_CHUNK:
                return page, None
            yield breather()
        return page, position

    def add_job(self, job_id, params, body):
        if self.add_limit is not None and not self.add_limit.allow():
            raise LimitExceeded("too many jobs added: at most %g per second on the web port"
                                % (self.add_limit.rate,))
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise bad_argument("options: expected a JSON object, not %r" % (options,))
        if "task" not in body or "trigger_kind" not in body or "trigger" not in body:
            raise bad_argument("task, trigger_kind and trigger are required")
        unknown = set(body) - {"task", "trigger_kind", "trigger", "args", "kwargs", "id",
                               "name", "options"}
        if unknown:
            raise bad_argument("unknown field(s): %s" % (", ".join(sorted(unknown)),))
        d = remote.add_remote_job(
            self.scheduler, body["task"], (body["trigger_kind"], body["trigger"]),
            args=body.get("args"), kwargs=body.get("kwargs"), id=body.get("id"),
            name=body.get("name"), options=options)
        return d.addCallback(self._job_answer)

    def get_job(self, job_id, params, body):
        def with_history(runs, job):
            answer = self._job_answer(job)
            answer["history"] = wire_history(runs, self.tz, HISTORY_BYTES)
            return answer

        def found(job):
            d = self.scheduler.job_history(job.id, job.jobstore)
            return d.addCallback(with_history, job)
        return self._find(job_id).addCallback(found)

    def modify_job(self, job_id, params, body):
        return remote.modify_remote_job(self.scheduler, job_id, body).addCallback(
            self._job_answer)

    def remove_job(self, job_id, params, body):
        return self.scheduler.remove_job(job_id).addCallback(lambda _: {"removed": job_id})

    def pause_job(self, job_id, params, body):
        return self.scheduler.pause_job(job_id).addCallback(self._job_answer)

    def resume_job(self, job_id, params, body):
        return self.scheduler.resume_job(job_id).addCallback(self._job_answer)

    def run_job(self, job_id, params, body):
        return remote.run_remote_job(self.scheduler, job_id).addCallback(self._job_answer)

    def reschedule_job(self, job_id, params, body):
        if "trigger_kind" not in body or "trigger" not in body:
            raise bad_argument("trigger_kind and trigger are required")
        trigger = remote.build_remote_trigger(self.scheduler, body["trigger_kind"],
                                              body["trigger"])
        return self.scheduler.reschedule_job(job_id, trigger=trigger).addCallback(
            self._job_answer)

    def job_history(self, job_id, params, body):
        limit = integer(params, "limit", None, 1, 10000)

        def found(job):
            if job is not None:
                return self.scheduler.job_history(job.id, job.jobstore, limit)
            # Gone, but an ended job keeps its history for a while.
            return self.scheduler.job_history(job_id, None, limit).addCallback(kept)

        def kept(runs):
            if not runs:
                raise NoSuchJob("no job with id %r" % (job_id,))
            return runs
        d = self.scheduler.get_job(job_id).addCallback(found)
        return d.addCallback(lambda runs: {
            "history": wire_history(runs, self.tz, HISTORY_BYTES)})

    def next_run_times(self, job_id, params, body):
        count = integer(params, "count", 10, 1, MAX_FIRE_TIMES)

        def found(job):
            times = fire_times(job, self.scheduler.now(), count)
            return {"id": job.id, "next_run_times": [
                when.astimezone(self.tz).isoformat() for when in times]}
        return self._find(job_id).addCallback(found)

    @defer.inlineCallbacks
    def upcoming(self, job_id, params, body):
        """
        The fire times of the next C{hours} across all jobs, earliest first,
        at most C{limit}; C{truncated} once there are C{limit} (later ones
        may be left out) or the scan budget ran out.
        """
        hours = integer(params, "hours", 24, 1, MAX_HOURS)
        limit = integer(params, "limit", 500, 1, MAX_UPCOMING)
        now = self.scheduler.now()
        until = now + datetime.timedelta(hours=hours)
        entries, horizon, truncated, position = [], until, False, 0
        while position < SCAN_BUDGET:
            chunk = yield self.scheduler.get_jobs("default", position, SCAN_CHUNK)
            position += len(chunk)
            for job in chunk:
                if job.next_run_time is None or job.next_run_time > horizon:
                    chunk = ()
                    break
                entries.extend((when, job) for when in fire_times(job, now, limit, horizon))
                if len(entries) >= 2 * limit or len(entries) >= limit and horizon == until:
                    horizon = _keep_earliest(entries, limit)
                    truncated = True
            if len(chunk) < SCAN_CHUNK:
                break
            yield breather()
        else:
            truncated = True
        truncated = truncated or len(entries) >= limit
        _keep_earliest(entries, limit)
        return {"from": now.astimezone(self.tz).isoformat(),
                "until": until.astimezone(self.tz).isoformat(), "truncated": truncated,
                "upcoming": [{"job_id": job.id, "name": job.name,
                              "time": when.astimezone(self.tz).isoformat()}
                             for when, job in entries]}

    # -- The scheduler ---------------------------------------------------------

    def list_tasks(self, job_id, params, body):
        registry = self.scheduler.tasks
        return {"tasks": [task_info(registry, name) for name in registry.names()]}

    def stats(self, job_id, params, body):
        return self.scheduler.stats().addCallback(lambda stats: {"stats": stats})

    def scheduler_info(self, job_id, params, body):
        """What the page shows of the scheduler: its id, zone, state and cluster members."""
        sched = self.scheduler

        def info(members):
            return {"scheduler_id": sched.scheduler_id, "timezone": str(sched.timezone),
                    "now": sched.now().astimezone(sched.timezone).isoformat(),
                    "paused": sched.paused, "running": bool(sched.running),
                    "jobstores": sorted(sched.jobstores),
                    "members": [{"id": m["id"], "alive": m["alive"], "self": m["self"]}
                                for m in members]}
        return sched.cluster_members().addCallback(info)

    def pause_scheduler(self, job_id, params, body):
        self.scheduler.pause()
        return {"paused": self.scheduler.paused}

    def resume_scheduler(self, job_id, params, body):
        self.scheduler.resume()
        return {"paused": self.scheduler.paused}


def parse_body(request):
    """
    The JSON object of a request's body (an empty body is C{{}}); the body
    must be sent as C{application/json}.
    """
    data = request.content.read() if request.content is not None else b""
    if not data.strip():
        return {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_argument("the body is not UTF-8") from None
    value = remote.parse_json_value(text, "body")
    if not isinstance(value, dict):
        raise bad_argument("the body must be a JSON object, not %s" % (type(value).__name__,))
    return value


def parse_query(request):
    """The query parameters as a dict of text (the last of repeated ones)."""
    params = {}
    for key, values in (request.args or {}).items():
        try:
            params[key.decode("utf-8")] = values[-1].decode("utf-8")
        except UnicodeDecodeError:
            raise bad_argument("the query is not UTF-8") from None
    return params
