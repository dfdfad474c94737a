"""
A Python client of the control port::

    from twistedsched.client import connect
    client = yield connect(reactor, "tcp:127.0.0.1:7730", on_event=print)
    job = yield client.add_job("respawn", "interval", minutes=5, args=["forest"])
    yield client.subscribe()

Methods mirror the scheduler's and return Deferreds.  Jobs come back as
L{RemoteJob}s.  For TLS (an C{ssl:} control port), pass C{tls=True} and
C{ca_file=} (and C{cert_file=}/C{key_file=} when the daemon wants a client
certificate); the server's certificate must name the host connected to
(or C{server_name=}).  Errors are the types of L{twistedsched.control}, re-exported
here: L{NoSuchJob}, L{UnknownTask}, L{InvalidTrigger}, L{JobIdTaken},
L{BadArgument}, L{NotAuthorized}, L{ServerError}.
"""

import datetime as _dt
import json

from twisted.internet import defer, error, interfaces
from twisted.internet.endpoints import connectProtocol
from twisted.protocols import amp
from twisted.python.failure import Failure
from zope.interface import implementer

from twistedsched import control as C
from twistedsched.control import (  # noqa: F401  (re-exported)
    BadArgument, ControlError, InvalidTrigger, JobIdTaken, LimitExceeded, NoSuchJob,
    NotAuthorized, ServerError, UnknownTask)
from twistedsched.history import from_text
from twistedsched.interfaces import ITrigger
from twistedsched.job import json_depth_error
from twistedsched.remote import REMOTE_OPTIONS
from twistedsched.tls import client_endpoint


__all__ = ["connect", "ControlClient", "ClientProtocol", "RemoteJob", "trigger_to_wire",
           "ControlError", "NoSuchJob", "UnknownTask", "InvalidTrigger", "JobIdTaken",
           "BadArgument", "NotAuthorized", "ServerError", "LimitExceeded",
           "RefusedByServer"]


class RemoteJob:
    """
    A job as the daemon described it: attributes of the wire dict.
    C{history} holds its last runs, newest first (from L{ControlClient.get_job}
    only; see L{twistedsched.history}: times are aware datetimes).
    """

    def __init__(self, data, history=()):
        self.data = data
        self.history = [from_text(run) for run in history]
        self.id = data["id"]
        self.name = data["name"]
        self.task = data.get("task")
        self.args = data.get("args", [])
        self.kwargs = data.get("kwargs", {})
        self.trigger = data["trigger"]
        self.trigger_dict = data.get("trigger_dict")
        next_run = data.get("next_run_time")
        self.next_run_time = None if next_run is None else _dt.datetime.fromisoformat(next_run)
        self.paused = data.get("paused", self.next_run_time is None)
        self.options = data.get("options", {})

    def to_dict(self):
        return dict(self.data)

    def __repr__(self):
        return "<RemoteJob id=%r name=%r trigger=%s next_run_time=%s>" % (
            self.id, self.name, self.trigger, self.data.get("next_run_time"))


def _json_default(value):
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError("%r is not a JSON value" % (value,))


#: Made once (C{json.dumps} with options builds an encoder per call).
_ENCODER = json.JSONEncoder(default=_json_default, allow_nan=False)


def _dumps(value, what):
    """JSON text of C{value}; L{BadArgument} if it is not JSON or nests too deep."""
    error = json_depth_error(value, what)
    if error is not None:
        raise BadArgument(str(error))
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError, RecursionError) as e:
        raise BadArgument("%s: %s" % (what, e)) from None


def _check_sendable(arguments):
    """L{BadArgument} if a text argument cannot be sent (not encodable as UTF-8)."""
    for key, value in arguments.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as e:
                raise BadArgument("%s: not valid Unicode text (%s at position %d)" % (
                    key, e.reason, e.start)) from None


def trigger_to_wire(trigger, trigger_args):
    """
    C{(kind, spec)} for the wire from what C{add_job} accepts: a trigger
    object, a C{(kind, spec)} pair (C{("cron", "0 4 * * *")}), a trigger
    dict, or a type name with keyword arguments (C{"interval", minutes=5}).
    """
    if ITrigger.providedBy(trigger):
        return "json", _dumps(trigger.to_dict(), "trigger")
    if isinstance(trigger, (tuple, list)) and len(trigger) == 2:
        kind, spec = trigger
        return kind, spec if isinstance(spec, str) else _dumps(spec, "trigger")
    if isinstance(trigger, dict):
        return "json", _dumps(trigger, "trigger")
    if trigger is None:
        trigger = "date"
    if isinstance(trigger, str):
        return "json", _dumps(dict(trigger_args, type=trigger), "trigger")
    raise BadArgument("trigger: %r is not a trigger" % (trigger,))


def _batch_entry(job):
    """A job of L{ControlClient.add_jobs} as an AddJobs batch has it."""
    if not isinstance(job, dict):
        raise BadArgument("expected a dict, not %r" % (job,))
    fields = dict(job)
    task = fields.pop("task", None)
    trigger = fields.pop("trigger", None)
    entry = {"task": task, "args": list(fields.pop("args", None) or ()),
             "kwargs": fields.pop("kwargs", None) or {}}
    for key in ("id", "name"):
        value = fields.pop(key, None)
        if value is not None:
            entry[key] = value
    options, unknown = _split_options(fields)
    if unknown:
        raise BadArgument("unknown field %r (known: task, trigger, args, kwargs, id, "
                          "name, %s)" % (sorted(unknown)[0], ", ".join(REMOTE_OPTIONS)))
    if options:
        entry["options"] = options
    entry["trigger_kind"], entry["trigger"] = trigger_to_wire(trigger, {})
    return entry


def _split_options(kwargs):
    options = {k: v for k, v in kwargs.items() if k in REMOTE_OPTIONS}
    trigger_args = {k: v for k, v in kwargs.items() if k not in REMOTE_OPTIONS}
    return options, trigger_args


class RefusedByServer(error.ConnectionLost):
    """The daemon turned the connection away (too many connections): its reason."""

    def __str__(self):
        return "the daemon refused the connection: %s" % (self.args[0],)


@implementer(interfaces.IHandshakeListener)
class ClientProtocol(C.WholeBoxReader, amp.AMP):
    """The client side: passes pushed events to C{on_event(dict)}."""

    def __init__(self, on_event=None):
        amp.AMP.__init__(self)
        self.on_event = on_event
        self.lost = defer.Deferred()
        self.refused = None          # the reason of a Refused box
        self._ready = None           # True, or the Failure that ended the connection
        self._ready_waiters = []

    @C.Event.responder
    def event(self, event):
        if self.on_event is not None:
            self.on_event(event)
        return {}

    @C.Refused.responder
    def refused_by_server(self, reason):
        self.refused = reason
        return {}

    def when_ready(self):
        """
        A Deferred that fires once the connection can carry commands (with
        TLS: after the handshake), or fails with the reason it was lost.
        """
        if self._ready is None:
            d = defer.Deferred()
            self._ready_waiters.append(d)
            return d
        return defer.succeed(None) if self._ready is True else defer.fail(self._ready)

    def _set_ready(self, result):
        if self._ready is not None:
            return
        self._ready = result
        waiters, self._ready_waiters = self._ready_waiters, []
        for d in waiters:
            if result is True:
                d.callback(None)
            else:
                d.errback(result)

    def connectionMade(self):
        amp.AMP.connectionMade(self)
        if not interfaces.ISSLTransport.providedBy(self.transport):
            self._set_ready(True)

    def handshakeCompleted(self):
        if not self.transport.disconnecting:    # not failed by the name check
            self._set_ready(True)

    def connectionLost(self, reason):
        if self.refused is not None:
            reason = Failure(RefusedByServer(self.refused))
        self._set_ready(reason)
        amp.AMP.connectionLost(self, reason)
        lost, self.lost = self.lost, None
        if lost is not None:
            lost.callback(None)


def _run_order(job):
    """Sort key of L{RemoteJob}s: by next run time, paused ones last."""
    when = job.next_run_time
    return (when is None, 0 if when is None else when.timestamp())


class ControlClient:
    """Methods mirroring the scheduler's, over one control connection."""

    def __init__(self, protocol):
        self.protocol = protocol

    @property
    def on_event(self):
        return self.protocol.on_event

    @on_event.setter
    def on_event(self, callback):
        self.protocol.on_event = callback

    def _call(self, command, **arguments):
        arguments = {k: v for k, v in arguments.items() if v is not None}
        try:
            _check_sendable(arguments)
        except BadArgument:
            return defer.fail()
        # AMP drops the connection if a command's error is still unhandled at
        # the end of its own Deferred: hand the outcome over to a fresh one.
        result = defer.Deferred()
        d = defer.maybeDeferred(self.protocol.callRemote, command, **arguments)
        d.addCallbacks(result.callback, result.errback)
        result.addErrback(lambda f: f.trap(amp.TooLong) and _too_long(f))
        return result

    def _job(self, command, **arguments):
        return self._call(command, **arguments).addCallback(
            lambda answer: None if answer["job"] is None else RemoteJob(answer["job"]))

    def login(self, username, password):
        return self._call(C.Login, username=username, password=password)

    def add_job(self, task, trigger=None, *, args=(), kwargs=None, id=None, name=None,
                **options_and_trigger_args):
        """
        Schedule the registered task C{task}.  C{trigger} as in
        L{trigger_to_wire}; job options (coalesce, max_instances, paused,
        ...) and trigger arguments go in the keywords.
        """
        options, trigger_args = _split_options(options_and_trigger_args)
        try:
            if not isinstance(args, (list, tuple)):
                raise BadArgument("args: expected a list or tuple, not %r" % (args,))
            kind, spec = trigger_to_wire(trigger, trigger_args)
            return self._job(C.AddJob, task=task, trigger_kind=kind, trigger=spec,
                             args=_dumps(list(args), "args"),
                             kwargs=_dumps(kwargs, "kwargs") if kwargs else "{}",
                             id=id, name=name,
                             options=_dumps(options, "options") if options else None)
        except BadArgument:
            return defer.fail()

    def add_jobs(self, jobs, batch_size=500, in_flight=4, timeout=None, reactor=None):
        """
        Add many jobs with L{AddJobs <twistedsched.control.AddJobs>} batches
        (at most C{batch_size} jobs and 60 kB each, C{in_flight} batches
        sent at once).  Each job is a dict of C{task}, C{trigger} (as
        L{add_job} takes it), and optionally C{args}, C{kwargs}, C{id},
        C{name} and options (C{paused}, C{coalesce}...).  Fires with one
        result per job, in order: C{{"id", "next_run"}} or C{{"error",
        "message"}}.  With C{timeout}, each batch must be answered within
        that many seconds (of C{reactor}).
        """
        results = []
        batches = []
        batch, size = [], 0
        for index, job in enumerate(jobs):
            results.append(None)
            try:
                text = _dumps(_batch_entry(job), "jobs[%d]" % (index,))
            except (BadArgument, TypeError, ValueError) as e:
                results[index] = {"error": "BAD_ARGUMENT",
                                  "message": "jobs[%d]: %s" % (index, e)}
                continue
            if len(text) + 2 > C.PAGE_BYTES:
                results[index] = {"error": "BAD_ARGUMENT", "message": (
                    "jobs[%d]: %d bytes, more than an AMP value holds" % (index, len(text)))}
                continue
            if batch and (len(batch) >= batch_size or size + len(text) + 2 > C.PAGE_BYTES):
                batches.append(batch)
                batch, size = [], 0
            batch.append((index, text))
            size += len(text) + 1
        if batch:
            batches.append(batch)
        limit = defer.DeferredSemaphore(max(1, in_flight))

        def send(batch):
            d = self._call(C.AddJobs, jobs="[%s]" % (",".join(text for _, text in batch),))
            if timeout is not None:
                if reactor is None:
                    from twisted.internet import reactor as clock
                else:
                    clock = reactor
                d.addTimeout(timeout, clock)

            def place(answer):
                for (index, _), result in zip(batch, answer["results"]):
                    results[index] = result
            return d.addCallback(place)
        sent = [limit.run(send, batch) for batch in batches]
        d = defer.gatherResults(sent, consumeErrors=True)
        d.addErrback(lambda f: f.value.subFailure if f.check(defer.FirstError) else f)
        return d.addCallback(lambda _: results)

    def modify_job(self, job_id, **changes):
        try:
            return self._job(C.ModifyJob, id=job_id, changes=_dumps(changes, "changes"))
        except BadArgument:
            return defer.fail()

    def reschedule_job(self, job_id, trigger, **trigger_args):
        try:
            kind, spec = trigger_to_wire(trigger, trigger_args)
        except BadArgument:
            return defer.fail()
        return self._job(C.RescheduleJob, id=job_id, trigger_kind=kind, trigger=spec)

    def pause_job(self, job_id):
        return self._job(C.PauseJob, id=job_id)

    def resume_job(self, job_id):
        return self._job(C.ResumeJob, id=job_id)

    def remove_job(self, job_id):
        return self._call(C.RemoveJob, id=job_id).addCallback(lambda _: None)

    def get_job(self, job_id, history=True):
        """
        Fire with the L{RemoteJob} (with its last runs in C{history}, unless
        C{history} is false), or C{None} if there is none (as the scheduler does).
        """
        d = self._call(C.GetJob, id=job_id, history=history)
        d.addCallback(lambda answer: RemoteJob(answer["job"], answer.get("history") or ()))
        return d.addErrback(lambda f: f.trap(NoSuchJob) and None)

    def run_job(self, job_id):
        return self._job(C.RunJob, id=job_id)

    def backfill(self, job_id, start, end):
        """
        Run a job for every fire time from C{start} to C{end} (datetimes or
        ISO text); fire with the run times (aware datetimes).
        """
        start, end = (value.isoformat() if isinstance(value, _dt.datetime) else value
                      for value in (start, end))
        d = self._call(C.Backfill, id=job_id, start=start, end=end)
        return d.addCallback(lambda answer: [
            _dt.datetime.fromisoformat(text) for text in answer["times"]])

    def cancel_running(self, job_id):
        """Cancel the running instances of a job; fire with how many there were."""
        return self._call(C.CancelRunning, id=job_id).addCallback(
            lambda answer: answer["cancelled"])

    def job_history(self, job_id, limit=None):
        """
        Fire with the last runs of a job (newest first; see
        L{twistedsched.history}: times are aware datetimes), also of a job
        that is gone but whose history is kept (a one-shot job that ran);
        C{[]} if there are none.
        """
        d = self._call(C.JobHistory, id=job_id, limit=limit)
        return d.addCallback(lambda answer: [from_text(run) for run in answer["history"]])

    def next_fire_times(self, job_id=None, count=10, trigger=None, **trigger_args):
        """
        Fire with the next C{count} fire times (aware datetimes, in the
        daemon's zone) of a job, or of a C{trigger} not added (as
        L{trigger_to_wire} takes it: C{trigger=("cron", "0 4 * * mon-fri")}).
        """
        kind = spec = None
        if trigger is not None or trigger_args:
            try:
                kind, spec = trigger_to_wire(trigger, trigger_args)
            except BadArgument:
                return defer.fail()
        d = self._call(C.NextFireTimes, id=job_id, trigger_kind=kind, trigger=spec,
                       count=count)
        return d.addCallback(lambda answer: [
            _dt.datetime.fromisoformat(text) for text in answer["times"]])

    def get_jobs_page(self, offset=0, limit=None, jobstore=None):
        """Fire with C{(jobs, next_offset)}; C{next_offset} is C{None} at the end."""
        d = self._call(C.ListJobs, offset=offset, limit=limit, jobstore=jobstore)
        return d.addCallback(lambda answer: (
            [RemoteJob(data) for data in answer["jobs"]], answer.get("next_offset")))

    @defer.inlineCallbacks
    def get_jobs(self, jobstore=None, offset=0, limit=None):
        """
        Fire with jobs in run order (paused ones last), fetching as many
        pages as needed.  A full listing pages by id (each job exactly once,
        however jobs fire meanwhile) and is sorted here; a part of one
        (C{offset}, C{limit}) pages by position in run order.
        """
        if not offset and limit is None:
            jobs = []
            after = ""
            while after is not None:
                answer = yield self._call(C.ListJobs, after=after, jobstore=jobstore)
                jobs.extend(RemoteJob(data) for data in answer["jobs"])
                after = answer.get("next_after")
            return sorted(jobs, key=_run_order)
        jobs = []
        while offset is not None and (limit is None or len(jobs) < limit):
            want = None if limit is None else min(C.MAX_PAGE, limit - len(jobs))
            page, offset = yield self.get_jobs_page(offset, want, jobstore)
            jobs.extend(page)
        return jobs

    def tasks(self):
        """Fire with a list of C{{"name": ..., "doc": ...}} for each registered task."""
        return self._call(C.ListTasks).addCallback(lambda answer: answer["tasks"])

    def pause(self):
        return self._call(C.PauseScheduler).addCallback(lambda answer: answer["paused"])

    def resume(self):
        return self._call(C.ResumeScheduler).addCallback(lambda answer: answer["paused"])

    def stats(self):
        return self._call(C.Stats).addCallback(lambda answer: answer["stats"])

    def workers(self):
        """Fire with the worker tier's live workers and queues (see L{twistedsched.workerinfo})."""
        return self._call(C.Workers)

    def subscribe(self, events="all", on_event=None):
        """Have events (names, comma-separated or a list) pushed to C{on_event}."""
        if on_event is not None:
            self.on_event = on_event
        if not isinstance(events, str):
            events = ",".join(events)
        return self._call(C.Subscribe, events=events).addCallback(lambda _: None)

    def unsubscribe(self):
        return self._call(C.Unsubscribe).addCallback(lambda _: None)

    def close(self):
        """Disconnect; the Deferred fires when the connection is closed."""
        lost = self.protocol.lost
        if lost is None:
            return defer.succeed(None)
        waiting = defer.Deferred()
        lost.addCallback(lambda _: waiting.callback(None))
        self.protocol.transport.loseConnection()
        return waiting


def _too_long(failure):
    raise BadArgument("a value is too large for one AMP message (64 KiB): %s" % (
        failure.getErrorMessage(),))


def connect(reactor, endpoint, on_event=None, username=None, password=None, tls=False,
            ca_file=None, cert_file=None, key_file=None, server_name=None):
    """
    Connect to a control port (C{endpoint} is a client endpoint string such
    as C{"tcp:127.0.0.1:7730"}, or an endpoint).  Fires with a
    L{ControlClient}, logged in when a username is given.  With C{tls}, the
    server must show a certificate for C{server_name} (default: the host of
    C{endpoint}) signed by C{ca_file} (default: the system's CAs), and
    C{cert_file}/C{key_file} are the client certificate, if one is wanted.
    A failed TLS check fails the Deferred; L{twistedsched.tls.describe_tls_failure}
    says why in a sentence.
    """
    if isinstance(endpoint, str):
        endpoint = client_endpoint(reactor, endpoint, tls=tls, ca_file=ca_file,
                                   cert_file=cert_file, key_file=key_file,
                                   hostname=server_name)
    elif tls:
        raise ValueError("TLS options need an endpoint string (or wrap the endpoint "
                         "with twisted.internet.endpoints.wrapClientTLS)")
    protocol = ClientProtocol(on_event)
    d = connectProtocol(endpoint, protocol)
    d.addCallback(lambda _: protocol.when_ready())
    d.addCallback(lambda _: ControlClient(protocol))
    if username is not None:
        def log_in(client):
            def refused(failure):
                return client.close().addCallback(lambda _: failure)
            d = client.login(username, password or "")
            return d.addCallbacks(lambda _: client, refused)
        d.addCallback(log_in)
    return d
