"""
The control port: AMP commands to drive a scheduler from another process.

Jobs, arguments and triggers travel as JSON text.  A trigger is a kind and a
spec: C{("cron", "*/5 * * * *")}, C{("interval", "30s")}, C{("at",
"2030-01-01T04:00")} or C{("json", '{"type": "interval", "seconds": 30}')}.
Errors arrive as the typed exceptions below; an unexpected failure is logged
and answered with L{ServerError}, and the connection stays up.

Remote clients schedule registered tasks only (see L{twistedsched.remote}).
"""

import collections
import json
import struct

from twisted.internet import defer
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.compat import nativeString
from twisted.python.failure import Failure

from twistedsched import errors as E
from twistedsched import remote
from twistedsched.auth import Authenticator, LoginRefused
from twistedsched.events import EVENT_ALL, mask_from_names
from twistedsched.history import to_text as run_to_text
from twistedsched.limits import RateLimit, hang_up

log = Logger()

#: AMP values are capped at 65,535 bytes; pages of jobs stay below this.
PAGE_BYTES = 60000
#: The most jobs one ListJobs answer may hold.
MAX_PAGE = 1000
#: How many jobs a ListJobs call takes from the store at most (about what fits).
PAGE_FETCH = 250
#: Longest text kept in a pushed event's fields.
EVENT_TEXT_LIMIT = 2000
#: With a checker: refused logins that close the connection, and seconds a
#: connection may stay without logging in (whatever it sends meanwhile).
MAX_LOGIN_FAILURES = 3
LOGIN_TIMEOUT = 30
#: The most jobs in one AddJobs batch (its text, like any AMP value, is under 64 KiB).
MAX_BATCH = 1000
#: The fields of a job in an AddJobs batch.
BATCH_FIELDS = ("task", "trigger_kind", "trigger", "args", "kwargs", "id", "name", "options")
_BATCH_FIELD_SET = frozenset(BATCH_FIELDS)
#: The most keys in one AMP box (the largest command has ten); more closes
#: the connection, so that a box cannot grow without end.
MAX_BOX_KEYS = 32
#: The most commands of one connection being answered at once.  Past it (and
#: while the client does not read its answers) the connection stops reading
#: (back-pressure): the client's commands wait in its own buffers instead of
#: piling up here to time out.
MAX_IN_FLIGHT = 64


# -- Errors --------------------------------------------------------------------

class ControlError(Exception):
    """Base of the errors the control port answers with."""


class NoSuchJob(ControlError):
    """No job has the given id."""


class UnknownTask(ControlError):
    """The task is not registered (or is a reference, which remote clients may not use)."""


class InvalidTrigger(ControlError):
    """The trigger's kind or text is wrong."""


class JobIdTaken(ControlError):
    """A job with the given id exists already."""


class BadArgument(ControlError):
    """An argument or option is malformed."""


class NotAuthorized(ControlError):
    """Log in first (or the login was refused)."""


class ServerError(ControlError):
    """The daemon failed unexpectedly (it logged why) or its job store is down."""


class LimitExceeded(ControlError):
    """Too many jobs added too fast on one connection, or in all (--max-jobs)."""


ERRORS = {
    NoSuchJob: b"NO_SUCH_JOB",
    UnknownTask: b"UNKNOWN_TASK",
    InvalidTrigger: b"INVALID_TRIGGER",
    JobIdTaken: b"JOB_ID_TAKEN",
    BadArgument: b"BAD_ARGUMENT",
    NotAuthorized: b"NOT_AUTHORIZED",
    ServerError: b"SERVER_ERROR",
    LimitExceeded: b"LIMIT_EXCEEDED",
}

#: Scheduler errors and the control errors they become (first match wins).
ERROR_MAP = (
    (E.JobLookupError, NoSuchJob),
    (E.ConflictingIdError, JobIdTaken),
    (E.UnknownTaskError, UnknownTask),
    (E.BadReferenceError, UnknownTask),
    (E.TriggerError, InvalidTrigger),
    (E.BadArgumentError, BadArgument),
    (E.UnknownAliasError, BadArgument),
    (E.SchedulerStateError, BadArgument),
    (E.TooManyJobsError, LimitExceeded),
    (E.TooSoonError, LimitExceeded),
    (ControlError, None),
)


def to_control_error(failure):
    """Raise the control error for C{failure}; log and raise L{ServerError} if unexpected."""
    for error_type, control_type in ERROR_MAP:
        if failure.check(error_type):
            if control_type is None:
                failure.raiseException()
            raise control_type(failure.getErrorMessage())
    if failure.check(E.JobStoreUnavailable):
        log.warn("job store unavailable: {error}", error=failure.getErrorMessage())
        raise ServerError("job store unavailable: %s" % (failure.getErrorMessage(),))
    log.failure("control command failed unexpectedly", failure)
    raise ServerError("internal error (%s: %s); see the daemon's log" % (
        failure.type.__name__, E.describe_error(failure)))


# -- Argument types and commands ---------------------------------------------

#: Made once: C{json.dumps} with options builds an encoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_COMPACT_STRICT = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class Encoded(bytes):
    """A JSON value already encoded (L{JSON} sends it as it is)."""


#: Wire names of arguments and the keywords they stand for.
_KEYWORDS = {}


def _keyword(wire_name):
    """The keyword of an argument's wire name, as AMP names it (worked out once)."""
    keyword = _KEYWORDS.get(wire_name)
    if keyword is None:
        keyword = _KEYWORDS[wire_name] = amp._wireNameToPythonIdentifier(wire_name)
    return keyword


class _Keyworded:
    """
    An AMP argument type that reads and writes its keyword as
    C{amp.Argument} does, but without working it out from the wire name at
    each call (a tenth of a control command's cost, on both sides).
    """

    def fromBox(self, name, strings, objects, proto):
        value = self.retrieve(strings, name, proto)
        objects[_keyword(name)] = None if self.optional and value is None \
            else self.fromStringProto(value, proto)

    def toBox(self, name, strings, objects, proto):
        value = self.retrieve(objects, _keyword(name), proto)
        if not (self.optional and value is None):
            strings[name] = self.toStringProto(value, proto)


class Text(_Keyworded, amp.Unicode):
    """C{amp.Unicode}."""


class Integer(_Keyworded, amp.Integer):
    """C{amp.Integer}."""


class Boolean(_Keyworded, amp.Boolean):
    """C{amp.Boolean}."""


class JSON(_Keyworded, amp.Argument):
    """A JSON value (sent by the server; the server reads clients' JSON as text)."""

    def toString(self, value):
        if isinstance(value, Encoded):
            return value
        return _COMPACT_STRICT.encode(value).encode("utf-8")

    def fromString(self, data):
        return json.loads(data.decode("utf-8"))


def _text(optional=True):
    return Text(optional=optional)


_LENGTH = struct.Struct("!H").pack


class Box(amp.AmpBox):
    """An C{AmpBox} that serializes in fewer steps (the commands' and answers' boxes)."""

    def serialize(self):
        parts = []
        for key, value in sorted(self.items()):
            if not (isinstance(key, bytes) and isinstance(value, bytes)) \
                    or len(key) > amp.MAX_KEY_LENGTH or len(value) > amp.MAX_VALUE_LENGTH:
                return amp.AmpBox.serialize(self)       # (which says what is wrong)
            parts += (_LENGTH(len(key)), key, _LENGTH(len(value)), value)
        parts.append(b"\0\0")
        return b"".join(parts)


class _Command(amp.Command):
    """
    A control command.  Checks its keywords as C{amp.Command} does, with
    the keywords of its arguments worked out once per command.
    """
    errors = ERRORS
    commandType = Box
    responseType = Box

    def __init__(self, **kw):
        forgotten = [keyword for keyword, optional in self._keywords()
                     if keyword not in kw and not optional]
        if forgotten:
            raise amp.InvalidSignature("forgot %s for %s" % (
                ", ".join(forgotten), self.commandName))
        self.structured = kw

    @classmethod
    def makeArguments(cls, objects, proto):
        keywords = {keyword for keyword, _ in cls._keywords()}
        for keyword in objects:
            if keyword not in keywords:
                raise amp.InvalidSignature("%s is not a valid argument" % (keyword,))
        box = cls.commandType()
        objects = dict(objects)
        for name, argument in cls.arguments:
            argument.toBox(name, box, objects, proto)
        return box

    @classmethod
    def _keywords(cls):
        """C{(keyword, optional)} of each argument."""
        keywords = cls.__dict__.get("_keyword_list")
        if keywords is None:
            keywords = tuple((_keyword(name), argument.optional)
                             for name, argument in cls.arguments)
            cls._keyword_list = keywords
        return keywords


class Login(_Command):
    """Authenticate (needed when the daemon runs with C{--auth})."""
    arguments = [(b"username", _text(False)), (b"password", _text(False))]
    response = []


class AddJob(_Command):
    arguments = [(b"task", _text(False)), (b"trigger_kind", _text(False)),
                 (b"trigger", _text(False)), (b"args", _text()), (b"kwargs", _text()),
                 (b"id", _text()), (b"name", _text()), (b"options", _text())]
    response = [(b"job", JSON())]


class AddJobs(_Command):
    """
    Add a batch of jobs (at most L{MAX_BATCH}): C{jobs} is JSON text, a list
    of objects with the arguments of L{AddJob} (C{args}, C{kwargs} and
    C{options} as JSON values or text).  Each job is added or refused on its
    own; C{results} lists, in the same order, C{{"id", "next_run"}} or
    C{{"error", "message"}} (the error code and sentence AddJob would fail with).
    """
    arguments = [(b"jobs", _text(False))]
    response = [(b"results", JSON())]


class ModifyJob(_Command):
    arguments = [(b"id", _text(False)), (b"changes", _text(False))]
    response = [(b"job", JSON())]


class RescheduleJob(_Command):
    arguments = [(b"id", _text(False)), (b"trigger_kind", _text(False)),
                 (b"trigger", _text(False))]
    response = [(b"job", JSON())]


class PauseJob(_Command):
    arguments = [(b"id", _text(False))]
    response = [(b"job", JSON())]


class ResumeJob(_Command):
    """Answers with the job, or null if its trigger had nothing left (it was removed)."""
    arguments = [(b"id", _text(False))]
    response = [(b"job", JSON())]


class RemoveJob(_Command):
    arguments = [(b"id", _text(False))]
    response = []


class GetJob(_Command):
    """
    The job, and its last runs (newest first, as many as fit in one AMP
    value) unless C{history} is false.
    """
    arguments = [(b"id", _text(False)), (b"history", Boolean(optional=True))]
    response = [(b"job", JSON()), (b"history", JSON(optional=True))]


class JobHistory(_Command):
    """
    The last runs of a job (newest first, as many as fit in one AMP value),
    also of a job that is gone but whose history is kept (a one-shot job
    that ran: see C{history_retention}); empty if there are none.
    """
    arguments = [(b"id", _text(False)), (b"limit", Integer(optional=True))]
    response = [(b"history", JSON())]


class ListJobs(_Command):
    """
    One page of jobs in run order, under 64 KiB.  C{next_offset} is where
    the next page starts, or absent at the end.  With C{after} (a job id,
    or C{""} for the first page) the page is by id instead, after that id,
    and C{next_after} is the cursor of the next page: paging so lists each
    job exactly once however jobs fire meanwhile (offsets in run order
    move when they do).
    """
    arguments = [(b"offset", Integer(optional=True)), (b"limit", Integer(optional=True)),
                 (b"jobstore", _text()), (b"after", _text())]
    response = [(b"jobs", JSON()), (b"next_offset", Integer(optional=True)),
                (b"next_after", _text())]


class RunJob(_Command):
    arguments = [(b"id", _text(False))]
    response = [(b"job", JSON())]


class CancelRunning(_Command):
    """Cancel the running instances of a job in this daemon; answers how many."""
    arguments = [(b"id", _text(False))]
    response = [(b"cancelled", Integer())]


class Backfill(_Command):
    """
    Run a job for every fire time from C{start} to C{end} (ISO text, naive
    in the daemon's zone); answers the run times (ISO), at most 1000.
    """
    arguments = [(b"id", _text(False)), (b"start", _text(False)), (b"end", _text(False))]
    response = [(b"times", JSON())]


class NextFireTimes(_Command):
    """
    The next C{count} fire times (ISO text in the daemon's zone) of a job
    (C{id}) or of a trigger not added (C{trigger_kind} and C{trigger}).
    """
    arguments = [(b"id", _text()), (b"trigger_kind", _text()), (b"trigger", _text()),
                 (b"count", Integer(optional=True))]
    response = [(b"times", JSON())]


class ListTasks(_Command):
    arguments = []
    response = [(b"tasks", JSON())]


class PauseScheduler(_Command):
    arguments = []
    response = [(b"paused", Boolean())]


class ResumeScheduler(_Command):
    arguments = []
    response = [(b"paused", Boolean())]


class Stats(_Command):
    arguments = []
    response = [(b"stats", JSON())]


class Workers(_Command):
    """The live workers and the queues of the worker tier (L{twistedsched.workerinfo})."""
    arguments = []
    response = [(b"workers", JSON()), (b"queues", JSON()), (b"truncated", Boolean())]


class Subscribe(_Command):
    """Receive L{Event} commands; C{events} is comma-separated event names (default all)."""
    arguments = [(b"events", _text())]
    response = []


class Unsubscribe(_Command):
    arguments = []
    response = []


class Event(amp.Command):
    """Pushed by the server to subscribed clients."""
    arguments = [(b"event", JSON())]
    response = []
    requiresAnswer = False


class Refused(amp.Command):
    """Sent by the server to a connection over a limit, just before it closes it."""
    arguments = [(b"reason", _text(False))]
    response = []
    requiresAnswer = False


def refusal_box(why):
    """The bytes of a L{Refused} box saying C{why} (for L{ConnectionLimiter})."""
    box = Refused.makeArguments({"reason": why}, None)
    box[amp.COMMAND] = Refused.commandName
    return box.serialize()


# -- Wire encoding ---------------------------------------------------------------

def _encoded_size(value):
    return len(_COMPACT.encode(value).encode("utf-8"))


def encoded_job(job, tz):
    """L{wire_job}, encoded once (its size is measured on the text sent)."""
    data = remote.job_to_wire(job, tz)
    try:
        text = _COMPACT_STRICT.encode(data).encode("utf-8")
    except ValueError:
        return wire_job(job, tz)
    return Encoded(text) if len(text) <= PAGE_BYTES else wire_job(job, tz)


def wire_job(job, tz, budget=PAGE_BYTES):
    """L{remote.job_to_wire}, with arguments elided if the job would exceed C{budget} bytes."""
    data = remote.job_to_wire(job, tz)
    if _encoded_size(data) <= budget:
        return data
    data["args"] = ["<arguments too large to show>"]
    data["kwargs"] = {}
    data["truncated"] = True
    if _encoded_size(data) > budget:
        data["name"] = data["name"][:200]
        data["trigger"] = data["trigger"][:200]
        data["trigger_dict"] = None
    return data


def wire_history(runs, tz, budget=PAGE_BYTES):
    """
    Run records (from C{Scheduler.job_history}) with ISO times in C{tz}, as
    many as fit in C{budget} bytes.
    """
    return pack_page((run_to_text(run, tz) for run in runs), budget) if runs else []


def pack_page(wired, budget=PAGE_BYTES):
    """
    The leading jobs of C{wired} (an iterable, consumed lazily) whose JSON
    list fits in C{budget} bytes; at least one.
    """
    page, size = [], 2
    for data in wired:
        size += _encoded_size(data) + 1
        if page and size > budget:
            break
        page.append(data)
    return page


def _trim(value):
    if isinstance(value, str) and len(value) > EVENT_TEXT_LIMIT:
        return value[:EVENT_TEXT_LIMIT] + "..."
    if isinstance(value, list):
        return [_trim(item) for item in value[:100]]
    return value


def event_to_wire(event):
    """C{event.to_dict()}, with long texts cut so that it fits in one AMP value."""
    return {key: _trim(value) for key, value in event.to_dict().items()}


def _parse_options(text):
    if text is None:
        return {}
    options = remote.parse_json_value(text, "options")
    if not isinstance(options, dict):
        raise E.BadArgumentError("options: expected a JSON object, not %r" % (options,))
    return options


def _batch_result(job):
    """What an AddJobs answer says of a job it added."""
    when = job.next_run_time
    return {"id": job.id, "next_run": None if when is None else when.isoformat()}


def _batch_error(failure):
    """What an AddJobs answer says of a job it refused (as AddJob would fail)."""
    try:
        to_control_error(failure)
    except ControlError as e:
        return {"error": ERRORS[type(e)].decode("ascii"),
                "message": str(e)[:EVENT_TEXT_LIMIT]}
    return {"error": ERRORS[ServerError].decode("ascii"), "message": "internal error"}


def _batch_results(answers):
    """
    The results of a batch's jobs (each a result, or a Deferred of one still
    to come), once those to come are in.
    """
    waiting = [(index, d) for index, d in enumerate(answers) if isinstance(d, defer.Deferred)]
    if not waiting:
        return answers

    def place(results):
        for (index, _), result in zip(waiting, results):
            answers[index] = result
        return answers
    return defer.gatherResults([d for _, d in waiting]).addCallback(place)


def task_info(registry, name):
    doc = (getattr(registry.lookup(name), "__doc__", None) or "").strip()
    return {"name": name, "doc": doc.splitlines()[0] if doc else ""}


# -- The server ------------------------------------------------------------------

def read_box(data, start):
    """
    C{(box, end)}: the AMP box at C{start} in C{data} and where it ends, if
    it is whole and within the limits (keys of at most 255 bytes, at most
    L{MAX_BOX_KEYS} of them); else C{(None, start)}.
    """
    box = amp.AmpBox()
    end = len(data)
    offset = start
    while offset + 2 <= end:
        length = data[offset] << 8 | data[offset + 1]
        offset += 2
        if not length:
            return box, offset
        key_end = offset + length
        value_start = key_end + 2
        if length > amp.MAX_KEY_LENGTH or value_start > end:
            break
        value_end = value_start + (data[key_end] << 8 | data[key_end + 1])
        if value_end > end:
            break
        box[data[offset:key_end]] = data[value_start:value_end]
        if len(box) > MAX_BOX_KEYS:
            break
        offset = value_end
    return None, start


def _shorten_error(failure):
    """Cut an error's text so that the answer fits in one AMP value."""
    if failure.check(amp.RemoteAmpError):
        text = failure.value.description
        if len(text) > EVENT_TEXT_LIMIT:
            ellipsis = "..." if isinstance(text, str) else b"..."
            failure.value.description = text[:EVENT_TEXT_LIMIT] + ellipsis
    return failure


class WholeBoxReader:
    """
    Mixed into an C{amp.AMP}: reads the whole boxes at the head of each read
    in one loop (AMP's parser calls two methods per key and per value); the
    rest, a box cut short or past a limit, goes to AMP's parser, which keeps
    or refuses it as before.
    """

    def dataReceived(self, data):
        # (AMP's own attributes, read with defaults that turn this off should
        # a Twisted release rename them: then AMP's parser reads everything.)
        if getattr(self, "state", None) == "init" and getattr(self, "_unprocessed", b"?") == b"" \
                and getattr(self, "innerProtocol", True) is None \
                and getattr(self, "_justStartedTLS", True) is False:
            start = 0
            while start < len(data) and not self.paused:
                box, start_next = read_box(data, start)
                if box is None:
                    break
                start = start_next
                self.boxReceiver.ampBoxReceived(box)
            if start == len(data):
                return
            data = data[start:]
        super().dataReceived(data)


class ControlProtocol(WholeBoxReader, amp.AMP):
    """
    One control connection.  With an C{authenticator} (an
    L{twistedsched.auth.Authenticator}), every command but L{Login} answers
    L{NotAuthorized} until a login succeeds; a few refused logins, or no
    login for C{login_timeout} seconds, close the connection.  C{add_limit}
    (a L{twistedsched.limits.RateLimit}) bounds how fast jobs are added.
    """

    def __init__(self, scheduler, authenticator=None, add_limit=None,
                 login_timeout=LOGIN_TIMEOUT):
        amp.AMP.__init__(self)
        self.scheduler = scheduler
        self.authenticator = authenticator
        self.add_limit = add_limit
        self.login_timeout = login_timeout
        self.user = None if authenticator is not None else "anonymous"
        self.logging_in = None        # the Deferred of a login being checked
        self.login_failures = 0
        self._login_timer = None
        self._cut = None              # cuts a connection closed by the server that lingers
        self.subscribed = False
        self.writing_paused = False   # the transport's buffer is full: hold events back
        self.dropped_events = 0
        self.in_flight = 0            # commands being answered
        self._held = collections.deque()  # boxes read while paused or past MAX_IN_FLIGHT
        self._reading_paused = False
        self._draining = False
        self._responders = {}         # known command name -> its guarded responder

    # Every command passes here: authorization, and malformed boxes.
    def locateResponder(self, name):
        guarded = self._responders.get(name)
        if guarded is None:
            responder = None
            if name.isascii() and name != amp.StartTLS.commandName:   # TLS: ssl: ports
                responder = amp.AMP.locateResponder(self, name)
            if responder is None:
                return lambda box: defer.fail(amp.RemoteAmpError(
                    amp.UNHANDLED_ERROR_CODE, "unknown command %r" % (name[:100],)))
            guarded = self._responders[name] = self._guard(nativeString(name), responder)
        return guarded

    def _guard(self, name, responder):
        """C{responder} (of the command C{name}) behind the checks every command passes."""
        def guarded(box):
            if self.user is None and name != "Login":
                return defer.fail(amp.RemoteAmpError(
                    ERRORS[NotAuthorized], "log in first (Login command)"))
            try:
                d = responder(box)
            except Exception as e:
                d = defer.fail(amp.RemoteAmpError(
                    ERRORS[BadArgument], "malformed %s command: %s" % (name, e)))
            if d.called and not d.paused and not isinstance(d.result, Failure):
                return d        # answered at once: it took no room, has no error to cut
            self.in_flight += 1
            d.addBoth(self._answered)
            return d.addErrback(_shorten_error)
        return guarded

    # Clients send questions only: anything else (an answer to a question
    # never asked, a box without a command or a tag) breaks the protocol.
    def ampBoxReceived(self, box):
        if self.transport.disconnecting:
            return
        if amp.COMMAND not in box or amp.ASK not in box or amp.ANSWER in box \
                or amp.ERROR in box:
            log.warn("control: a box that is not a question from {peer}; closing",
                     peer=self.transport.getPeer())
            self.transport.loseConnection()
            return
        if self.writing_paused or self.in_flight >= MAX_IN_FLIGHT or self._held:
            self._held.append(box)
            self._set_reading()
            return
        amp.AMP.ampBoxReceived(self, box)

    # Back-pressure: at most MAX_IN_FLIGHT commands answered at once, none
    # while the client does not read its answers (L{pauseProducing}); the
    # boxes read meanwhile (one read's worth at most: reading stops) wait.
    def _answered(self, result):
        self.in_flight -= 1
        self._drain()
        return result

    def _drain(self):
        """Answer held boxes while there is room; read again once none is held."""
        if self._draining:
            return
        self._draining = True
        try:
            while self._held and not self.writing_paused and self.in_flight < MAX_IN_FLIGHT \
                    and self.transport is not None and not self.transport.disconnecting:
                amp.AMP.ampBoxReceived(self, self._held.popleft())
        finally:
            self._draining = False
        self._set_reading()

    def _set_reading(self):
        """Read input only while no box waits and the client reads its answers."""
        paused = bool(self._held) or self.writing_paused
        if paused == self._reading_paused or self.transport is None \
                or self.transport.disconnecting:
            return
        self._reading_paused = paused
        if paused:
            self.transport.pauseProducing()
        else:
            self.transport.resumeProducing()

    # A box may not hold more than MAX_BOX_KEYS keys.
    def proto_value(self, string):
        state = amp.AMP.proto_value(self, string)
        if len(self._currentBox) > MAX_BOX_KEYS:
            log.warn("control: a box with more than {n} keys from {peer}; closing",
                     n=MAX_BOX_KEYS, peer=self.transport.getPeer())
            self._currentBox = None
            return "done"
        return state

    def proto_done(self, string):
        return "done"      # the connection is closing: ignore what follows

    def _call(self, func, *args, **kwargs):
        """Run a scheduler call; map its errors to control errors."""
        d = defer.maybeDeferred(func, *args, **kwargs)
        d.addErrback(to_control_error)
        return d

    def _job_answer(self, job):
        return {"job": None if job is None else encoded_job(job, self.scheduler.timezone)}

    def _trigger(self, kind, spec):
        return remote.build_remote_trigger(self.scheduler, kind, spec)

    @Login.responder
    def login(self, username, password):
        if self.authenticator is None:
            return {}
        if self.logging_in is not None:
            raise NotAuthorized("a login is already in progress on this connection")
        d = self.logging_in = self.authenticator.login(
            username, password, self.transport.getPeer())
        d.addBoth(self._login_done)
        return d.addCallbacks(self._logged_in, self._login_refused)

    def _login_done(self, result):
        self.logging_in = None
        return result

    def _logged_in(self, user):
        self.user = user
        self._cancel_login_timer()
        return {}

    def _login_refused(self, failure):
        if failure.check(defer.CancelledError):
            raise NotAuthorized("login dropped: the connection closed")   # nobody hears it
        why = failure.getErrorMessage() if failure.check(LoginRefused) \
            else "wrong user name or password"
        self.login_failures += 1
        if self.login_failures >= MAX_LOGIN_FAILURES:
            self._close_soon()
            raise NotAuthorized("login refused (%s); too many failures, closing the "
                                "connection" % (why,))
        raise NotAuthorized("login refused (%s)" % (why,))

    def _close_soon(self):
        """Close once the answer being sent is out."""
        if self.transport is not None:
            self.authenticator.reactor.callLater(0, self._hang_up)

    def _hang_up(self):
        """Close after the pending output, which a client that does not read cannot hold up."""
        if self._cut is None and self.transport is not None:
            self._cut = hang_up(self.transport, self.authenticator.reactor)

    def _login_timed_out(self):
        self._login_timer = None
        log.info("control: no login within {s} s from {peer}; closing",
                 s=self.login_timeout, peer=self.transport.getPeer())
        self._hang_up()

    def _cancel_login_timer(self):
        if self._login_timer is not None and self._login_timer.active():
            self._login_timer.cancel()
        self._login_timer = None

    @AddJob.responder
    def add_job(self, task, trigger_kind, trigger, args=None, kwargs=None, id=None,
                name=None, options=None):
        if self.add_limit is not None and not self.add_limit.allow():
            raise LimitExceeded("too many jobs added: at most %g per second on one "
                                "connection" % (self.add_limit.rate,))
        try:
            options = _parse_options(options)
        except Exception:
            return defer.fail().addErrback(to_control_error)
        d = remote.add_remote_job(
            self.scheduler, task, (trigger_kind, trigger), args=args, kwargs=kwargs,
            id=id, name=name, options=options)
        if d.called and not d.paused and not isinstance(d.result, Failure):
            return self._job_answer(d.result)       # added at once: no callbacks to chain
        d.addErrback(to_control_error)
        return d.addCallback(self._job_answer)

    @AddJobs.responder
    def add_jobs(self, jobs):
        try:
            jobs = remote.parse_json_value(jobs, "jobs")
        except E.BadArgumentError as e:
            raise BadArgument(str(e)) from None
        if not isinstance(jobs, list):
            raise BadArgument("jobs: expected a JSON list of jobs, not %s" % (
                type(jobs).__name__,))
        if len(jobs) > MAX_BATCH:
            raise BadArgument("jobs: %d in one batch, at most %d" % (len(jobs), MAX_BATCH))
        # Jobs of a batch often share a trigger: each one is built once (a
        # trigger is never changed once built; H fields are bound per job).
        triggers = {}
        answers = []
        done = defer.Deferred()
        self._add_batch(jobs, triggers, answers, done)
        done.addCallback(lambda _: _batch_results(answers))
        return done.addCallback(lambda results: {"results": results})

    def _add_batch(self, jobs, triggers, answers, done):
        """
        Add the jobs of a batch from the first not yet added.  Past the
        connection's rate (C{add_limit}), the rest wait their turn rather
        than being refused: a batch is answered when its last job is added.
        """
        limit = self.add_limit
        for index in range(len(answers), len(jobs)):
            if limit is not None and not limit.allow():
                delay = max(0.0, 1.0 - limit.tokens) / limit.rate
                limit.clock.callLater(delay, self._add_batch, jobs, triggers, answers, done)
                return
            answers.append(self._add_one(index, jobs[index], triggers))
        done.callback(None)

    def _add_one(self, index, spec, triggers):
        """Add one job of a batch: its result, or a Deferred of it (never failing)."""
        try:
            if not isinstance(spec, dict):
                raise E.BadArgumentError("jobs[%d]: expected a JSON object, not %s" % (
                    index, type(spec).__name__))
            if not spec.keys() <= _BATCH_FIELD_SET:
                raise E.BadArgumentError("jobs[%d]: unknown field %r (known: %s)" % (
                    index, sorted(spec.keys() - _BATCH_FIELD_SET)[0], ", ".join(BATCH_FIELDS)))
            options = spec.get("options")
            if isinstance(options, str):
                options = _parse_options(options)
            elif options is not None and not isinstance(options, dict):
                raise E.BadArgumentError("options: expected a JSON object, not %r" % (
                    options,))
            trigger = (spec.get("trigger_kind"), spec.get("trigger"))
            if isinstance(trigger[0], str) and isinstance(trigger[1], str):
                if trigger not in triggers:
                    triggers[trigger] = remote.build_remote_trigger(self.scheduler, *trigger)
                trigger = triggers[trigger]
            d = remote.add_remote_job(
                self.scheduler, spec.get("task"), trigger,
                args=spec.get("args"), kwargs=spec.get("kwargs"), id=spec.get("id"),
                name=spec.get("name"), options=options, decoded=True)
        except Exception:
            d = defer.fail()
        if d.called and not d.paused and not isinstance(d.result, Failure):
            return _batch_result(d.result)          # added at once (most are)
        d.addCallbacks(_batch_result, _batch_error)
        return d.result if d.called and not d.paused else d

    @ModifyJob.responder
    def modify_job(self, id, changes):
        d = self._call(lambda: remote.modify_remote_job(
            self.scheduler, id, remote.parse_json_value(changes, "changes")))
        return d.addCallback(self._job_answer)

    @RescheduleJob.responder
    def reschedule_job(self, id, trigger_kind, trigger):
        d = self._call(lambda: self.scheduler.reschedule_job(
            id, trigger=self._trigger(trigger_kind, trigger)))
        return d.addCallback(self._job_answer)

    @PauseJob.responder
    def pause_job(self, id):
        return self._call(self.scheduler.pause_job, id).addCallback(self._job_answer)

    @ResumeJob.responder
    def resume_job(self, id):
        return self._call(self.scheduler.resume_job, id).addCallback(self._job_answer)

    @RemoveJob.responder
    def remove_job(self, id):
        return self._call(self.scheduler.remove_job, id).addCallback(lambda _: {})

    @GetJob.responder
    def get_job(self, id, history=None):
        def found(job):
            if job is None:
                raise NoSuchJob("no job with id %r" % (id,))
            answer = self._job_answer(job)
            if history is False:
                return answer
            d = self._call(self.scheduler.job_history, job.id, job.jobstore)
            return d.addCallback(with_history, answer)

        def with_history(runs, answer):
            answer["history"] = wire_history(runs, self.scheduler.timezone)
            return answer
        return self._call(self.scheduler.get_job, id).addCallback(found)

    @JobHistory.responder
    def job_history(self, id, limit=None):
        if limit is not None and limit < 1:
            raise BadArgument("limit must be >= 1")
        d = self._call(self.scheduler.job_history, id, None, limit)
        return d.addCallback(lambda runs: {
            "history": wire_history(runs, self.scheduler.timezone)})

    @ListJobs.responder
    def list_jobs(self, offset=None, limit=None, jobstore=None, after=None):
        offset = offset or 0
        limit = MAX_PAGE if limit is None else limit
        if offset < 0 or not 0 < limit <= MAX_PAGE:
            raise BadArgument("offset must be >= 0 and limit between 1 and %d" % (MAX_PAGE,))
        if after is not None and offset:
            raise BadArgument("give offset or after, not both")
        fetch = min(limit, PAGE_FETCH)
        if after is None:
            d = self._call(self.scheduler.get_jobs, jobstore or "default", offset, fetch + 1)
        else:
            d = self._call(self.scheduler.get_jobs_by_id, jobstore or "default",
                           after or None, fetch + 1)

        def page(jobs):
            tz = self.scheduler.timezone
            packed = pack_page(wire_job(job, tz) for job in jobs[:fetch])
            more = len(packed) < len(jobs)
            if after is not None:
                return {"jobs": packed, "next_after": packed[-1]["id"] if more else None}
            return {"jobs": packed, "next_offset": offset + len(packed) if more else None}
        return d.addCallback(page)

    @RunJob.responder
    def run_job(self, id):
        return self._call(remote.run_remote_job, self.scheduler, id).addCallback(
            self._job_answer)

    @CancelRunning.responder
    def cancel_running(self, id):
        d = self._call(lambda: self.scheduler.cancel_running(
            remote.check_text(id, "id", required=True)))
        return d.addCallback(lambda count: {"cancelled": count})

    @Backfill.responder
    def backfill(self, id, start, end):
        d = self._call(remote.remote_backfill, self.scheduler, id, start, end)
        return d.addCallback(lambda times: {"times": times})

    @NextFireTimes.responder
    def next_fire_times(self, id=None, trigger_kind=None, trigger=None, count=None):
        if (trigger_kind is None) != (trigger is None):
            raise BadArgument("next fire times: give both trigger_kind and trigger")
        spec = None if trigger is None else (trigger_kind, trigger)
        d = self._call(remote.remote_next_fire_times, self.scheduler, id, spec,
                       10 if count is None else count)
        return d.addCallback(lambda times: {"times": times})

    @ListTasks.responder
    def list_tasks(self):
        registry = self.scheduler.tasks
        return {"tasks": [task_info(registry, name) for name in registry.names()]}

    @PauseScheduler.responder
    def pause_scheduler(self):
        self.scheduler.pause()
        return {"paused": self.scheduler.paused}

    @ResumeScheduler.responder
    def resume_scheduler(self):
        self.scheduler.resume()
        return {"paused": self.scheduler.paused}

    @Stats.responder
    def stats(self):
        return self._call(self.scheduler.stats).addCallback(lambda stats: {"stats": stats})

    @Workers.responder
    def workers(self):
        from twistedsched.workerinfo import overview
        data = overview(self.scheduler)
        data["truncated"] = False
        while data["workers"] and _encoded_size(data) > PAGE_BYTES:
            data["workers"].pop()
            data["truncated"] = True
        return data

    @Subscribe.responder
    def subscribe(self, events=None):
        try:
            names = [n.strip() for n in (events or "all").split(",") if n.strip()]
            mask = mask_from_names(names) if names else EVENT_ALL
        except ValueError as e:
            raise BadArgument(str(e)) from None
        self._unsubscribe()
        self.scheduler.add_listener(self._push_event, mask)
        self.subscribed = True
        return {}

    @Unsubscribe.responder
    def unsubscribe(self):
        self._unsubscribe()
        return {}

    def _unsubscribe(self):
        if self.subscribed:
            self.scheduler.remove_listener(self._push_event)
            self.subscribed = False

    def _push_event(self, event):
        if self.transport is None or not self.subscribed:
            return
        if self.writing_paused:
            self.dropped_events += 1
            return
        self._send_event(event_to_wire(event))

    def _send_event(self, data):
        try:
            self.callRemote(Event, event=data)
        except Exception:
            log.failure("control: could not push {event!r}", event=data)

    # A client that does not read must not fill the daemon's memory: the
    # transport tells this producer when its buffer is full; until it drains,
    # events are dropped (and counted, in an "events_dropped" event), input
    # is not read, and questions already read wait their turn.
    def pauseProducing(self):
        self.writing_paused = True
        self._set_reading()

    def resumeProducing(self):
        self.writing_paused = False
        if self.dropped_events and self.subscribed:
            count, self.dropped_events = self.dropped_events, 0
            self._send_event({"event": "events_dropped", "count": count})
        self._drain()

    def stopProducing(self):
        self.writing_paused = True

    def connectionMade(self):
        amp.AMP.connectionMade(self)
        self.transport.registerProducer(self, True)
        if self.user is None and self.login_timeout:
            self._login_timer = self.authenticator.reactor.callLater(
                self.login_timeout, self._login_timed_out)

    def connectionLost(self, reason):
        self._held.clear()
        self._reading_paused = False
        self._cancel_login_timer()
        if self._cut is not None and self._cut.active():
            self._cut.cancel()
        if self.logging_in is not None:
            self.logging_in.cancel()     # drop the check if it has not started
        self._unsubscribe()
        amp.AMP.connectionLost(self, reason)


class ControlFactory(ServerFactory):
    """
    Builds a L{ControlProtocol} per connection to C{scheduler}.  Logins go
    through C{authenticator}, or an L{Authenticator} of C{checker} (an
    C{ICredentialsChecker} of user names and passwords); none: no login.
    C{max_adds_per_second} bounds L{AddJob}s per connection (C{None}: no bound).
    """

    def __init__(self, scheduler, checker=None, authenticator=None,
                 max_adds_per_second=None, login_timeout=LOGIN_TIMEOUT):
        self.scheduler = scheduler
        if authenticator is None and checker is not None:
            authenticator = Authenticator(checker, scheduler.reactor)
        self.authenticator = authenticator
        self.checker = authenticator.checker if authenticator else None
        self.max_adds_per_second = max_adds_per_second
        self.login_timeout = login_timeout

    def buildProtocol(self, addr):
        add_limit = None
        if self.max_adds_per_second:
            add_limit = RateLimit(self.scheduler.reactor, self.max_adds_per_second)
        protocol = ControlProtocol(self.scheduler, self.authenticator, add_limit,
                                   self.login_timeout)
        protocol.factory = self
        return protocol
