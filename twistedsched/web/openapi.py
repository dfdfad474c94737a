"""
The OpenAPI 3.1 document of the web API, served at C{/api/openapi.json}.

Its schemas are JSON Schema 2020-12 (what OpenAPI 3.1 uses), so that any
JSON Schema validator checks answers against them; the tests check every
answer they get.
"""

from twistedsched.control import ERRORS, MAX_PAGE
from twistedsched.remote import REMOTE_CHANGES, REMOTE_OPTIONS
from twistedsched.web.api import MAX_FIRE_TIMES, MAX_HOURS, MAX_UPCOMING, STATES, STATUS


def _ref(name):
    return {"$ref": "#/components/schemas/%s" % (name,)}


def _nullable(kind):
    return {"type": [kind, "null"]}


def _object(properties, required=None, extra=False):
    return {"type": "object", "properties": properties,
            "required": sorted(properties) if required is None else required,
            "additionalProperties": extra}


TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS = {
    "Error": _object({"error": _object({
        "code": {"type": "string", "enum": sorted(code.decode() for code in ERRORS.values())},
        "message": {"type": "string"}})}),
    "Run": _object({
        "scheduled_run_time": NULLABLE_TIME, "started": NULLABLE_TIME, "ended": NULLABLE_TIME,
        "duration": _nullable("number"), "outcome": {"type": "string"},
        "error": _nullable("string"), "scheduler": _nullable("string"),
        "worker": _nullable("string"), "deliveries": _nullable("integer"),
        "result": {}},
        required=["scheduled_run_time", "outcome"]),
    "Job": _object({
        "id": {"type": "string"}, "name": {"type": "string"}, "task": _nullable("string"),
        "target": _nullable("string"), "args": {"type": "array"}, "kwargs": {"type": "object"},
        "trigger": {"type": "string"}, "trigger_dict": _nullable("object"),
        "next_run_time": NULLABLE_TIME, "next_run": {"type": "string"},
        "paused": {"type": "boolean"}, "truncated": {"type": "boolean"},
        "last_run": {"oneOf": [_ref("Run"), {"type": "null"}]},
        "options": _object({
            "misfire_grace_time": _nullable("number"), "coalesce": {"type": "boolean"},
            "max_instances": {"type": "integer"}, "jitter": _nullable("number"),
            "timeout": _nullable("number"), "executor": {"type": "string"},
            "jobstore": _nullable("string"), "recover": {"type": "boolean"},
            # The job policies (docs/policies.rst).
            "max_runs": _nullable("integer"), "pause_after_failures": _nullable("integer"),
            "retries": _nullable("integer"), "retry_delay": _nullable("number"),
            "retry_max_delay": _nullable("number"),
            "exclude": {"oneOf": [{"type": "array", "items": {"type": "string"}},
                                  {"type": "null"}]},
            "overlap": _nullable("string")}),
        "policy_state": _object({
            "runs": {"type": "integer"}, "failures": {"type": "integer"},
            "paused_reason": _nullable("string")})},
        required=["id", "name", "task", "args", "kwargs", "trigger", "next_run_time",
                  "paused", "options"]),
    "JobAnswer": _object({"job": {"oneOf": [_ref("Job"), {"type": "null"}]}}),
    "JobWithHistory": _object({"job": _ref("Job"),
                               "history": {"type": "array", "items": _ref("Run")}}),
    "JobPage": _object({"jobs": {"type": "array", "items": _ref("Job")},
                        "next_offset": _nullable("integer"), "total": {"type": "integer"}}),
    "History": _object({"history": {"type": "array", "items": _ref("Run")}}),
    "NextRunTimes": _object({"id": {"type": "string"},
                             "next_run_times": {"type": "array", "items": TIME}}),
    "Upcoming": _object({"from": TIME, "until": TIME, "truncated": {"type": "boolean"},
                         "upcoming": {"type": "array", "items": _object({
                             "job_id": {"type": "string"}, "name": {"type": "string"},
                             "time": TIME})}}),
    "Tasks": _object({"tasks": {"type": "array", "items": _object({
        "name": {"type": "string"}, "doc": {"type": "string"}})}}),
    "Stats": _object({"stats": _object({
        name: {"type": "integer"} for name in (
            "jobs", "running", "submitted", "executed", "errors", "missed", "skipped")
    } | {"paused": {"type": "boolean"}}, extra=True)}),
    "Scheduler": _object({
        "scheduler_id": {"type": "string"}, "timezone": {"type": "string"}, "now": TIME,
        "paused": {"type": "boolean"}, "running": {"type": "boolean"},
        "jobstores": {"type": "array", "items": {"type": "string"}},
        "members": {"type": "array", "items": _object({
            "id": {"type": "string"}, "alive": {"type": "boolean"},
            "self": {"type": "boolean"}})}}),
    "Paused": _object({"paused": {"type": "boolean"}}),
    "Removed": _object({"removed": {"type": "string"}}),
    "Session": _object({"user": {"type": "string"},
                        "via": {"type": "string", "enum": ["none", "session", "basic",
                                                           "bearer"]},
                        "auth": {"type": "boolean"}, "csrf_token": _nullable("string")}),
    "LoggedOut": _object({"logged_out": {"const": True}}),
    "Health": _object({"status": {"const": "ok"}}),
    "Ready": _object({"ready": {"type": "boolean"}, "jobs": {"type": "integer"},
                      "error": {"type": "string"}}, required=["ready"]),
    "AddJob": _object({
        "task": {"type": "string", "description": "a registered task name"},
        "trigger_kind": {"type": "string", "enum": ["cron", "interval", "every", "at", "date",
                                                     "json"]},
        "trigger": {"type": ["string", "object"]},
        "args": {"type": "array"}, "kwargs": {"type": "object"},
        "id": {"type": "string"}, "name": {"type": "string"},
        "options": {"type": "object", "propertyNames": {"enum": list(REMOTE_OPTIONS)}}},
        required=["task", "trigger_kind", "trigger"]),
    "Changes": {"type": "object", "propertyNames": {"enum": list(REMOTE_CHANGES)},
                "minProperties": 1},
    "Reschedule": _object({"trigger_kind": {"type": "string"},
                           "trigger": {"type": ["string", "object"]}}),
}


def _param(name, schema, where="query", required=False, description=""):
    return {"name": name, "in": where, "required": required, "schema": schema,
            "description": description}


JOB_ID = _param("id", {"type": "string"}, "path", True, "the job's id (%-encoded)")
ERROR_STATUSES = sorted(set(STATUS.values()) | {403, 404, 405, 413, 415, 503})


def _operation(summary, schema, status=200, params=(), body=None, security=True):
    responses = {str(status): {"description": summary, "content": {
        "application/json": {"schema": _ref(schema)}}}}
    for code in ERROR_STATUSES:
        responses.setdefault(str(code), {"description": "an error", "content": {
            "application/json": {"schema": _ref("Error")}}})
    operation = {"summary": summary, "parameters": list(params), "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _ref(body)}}}
    if not security:
        operation["security"] = []
    return operation


def _int(name, low, high, description):
    return _param(name, {"type": "integer", "minimum": low, "maximum": high}, description=description)


def openapi_document():
    """The OpenAPI document (a dict)."""
    paths = {
        "/api/jobs": {
            "get": _operation("One page of jobs in run order (paused last)", "JobPage", params=[
                _int("offset", 0, 10 ** 9, "where the page starts (next_offset of the last)"),
                _int("limit", 1, MAX_PAGE, "jobs per page"),
                _param("q", {"type": "string"}, description="text in the id, name or task"),
                _param("state", {"enum": list(STATES)}),
                _param("jobstore", {"type": "string"}),
                _param("last_run", {"enum": ["0", "1", "true", "false"]},
                       description="add each job's last run")]),
            "post": _operation("Add a job (of a registered task)", "JobAnswer", 201,
                               body="AddJob"),
        },
        "/api/jobs/{id}": {
            "get": _operation("A job and its last runs", "JobWithHistory", params=[JOB_ID]),
            "patch": _operation("Change a job", "JobAnswer", params=[JOB_ID], body="Changes"),
            "delete": _operation("Remove a job", "Removed", params=[JOB_ID]),
        },
        "/api/jobs/{id}/history": {"get": _operation(
            "A job's last runs, newest first", "History",
            params=[JOB_ID, _int("limit", 1, 10000, "the most runs")])},
        "/api/jobs/{id}/next": {"get": _operation(
            "A job's next fire times", "NextRunTimes",
            params=[JOB_ID, _int("count", 1, MAX_FIRE_TIMES, "how many")])},
        "/api/upcoming": {"get": _operation(
            "The fire times of all jobs in the next hours, earliest first", "Upcoming",
            params=[_int("hours", 1, MAX_HOURS, "the window"),
                    _int("limit", 1, MAX_UPCOMING, "the most entries")])},
        "/api/tasks": {"get": _operation("The registered tasks", "Tasks")},
        "/api/stats": {"get": _operation("The scheduler's counters", "Stats")},
        "/api/scheduler": {"get": _operation("The scheduler: zone, state, members",
                                             "Scheduler")},
        "/api/scheduler/pause": {"post": _operation("Pause the scheduler", "Paused")},
        "/api/scheduler/resume": {"post": _operation("Resume the scheduler", "Paused")},
        "/api/session": {"get": _operation("Who is logged in; the session's CSRF token",
                                           "Session")},
        "/logout": {"post": _operation("End the session", "LoggedOut")},
        "/healthz": {"get": _operation("The process answers", "Health", security=False)},
        "/readyz": {"get": _operation("The job stores answer", "Ready", security=False)},
    }
    for action, summary in (("pause", "Pause a job"), ("resume", "Resume a job (null if "
                                                                  "it had no run left)"),
                            ("run", "Run a job now")):
        paths["/api/jobs/{id}/%s" % (action,)] = {"post": _operation(
            summary, "JobAnswer", params=[JOB_ID])}
    paths["/api/jobs/{id}/reschedule"] = {"post": _operation(
        "Give a job a new trigger", "JobAnswer", params=[JOB_ID], body="Reschedule")}
    events = _operation("The scheduler's events as Server-Sent Events", "Error", params=[
        _param("events", {"type": "string"}, description="comma-separated event names "
                                                         "(default: all, with job_run)")])
    events["responses"]["200"] = {"description": "an event stream: one JSON object per "
                                                 "data: line", "content": {
                                      "text/event-stream": {"schema": {"type": "string"}}}}
    paths["/api/events"] = {"get": events}
    login = _operation("Log in (the page's form): a session cookie and a redirect to /",
                       "Error", security=False)
    login["requestBody"] = {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": _object({
            "username": {"type": "string"}, "password": {"type": "string"}})}}}
    del login["responses"]["200"]
    login["responses"]["303"] = {"description": "logged in: Set-Cookie, Location /"}
    login["responses"]["401"] = {"description": "refused: the form again, with a message",
                                 "content": {"text/html": {"schema": {"type": "string"}}}}
    paths["/login"] = {"post": login}
    paths["/readyz"]["get"]["responses"]["503"] = {
        "description": "not ready", "content": {"application/json": {"schema": _ref("Ready")}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "twistedsched web API", "version": "1",
                 "description": "The control port's commands over HTTP. State-changing "
                                "requests send Content-Type: application/json, and with a "
                                "session cookie the X-CSRF-Token header."},
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "twistedsched_session"},
            },
        },
        "security": [{"basic": []}, {"bearer": []}, {"session": []}, {}],
    }
