"""
The Redis job store, on txredisapi: jobs kept in Redis, shared safely by
several schedulers::

    sched.add_jobstore("redis://localhost:6379/0", alias="redis", namespace="game")

Each job is one JSON document (no pickle) in a hash, and the run order is a
sorted set of next run times, so the scheduler only ever reads the earliest
run time and the jobs that are due.  Due jobs are claimed atomically (Lua) by
one scheduler, with a lease; changes are announced on a pub/sub channel so
that every scheduler re-arms its timer at once.  See C{docs/redis.rst}.
"""

import collections
import copy
import datetime as _dt
import json
import os
import socket
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

import txredisapi
from twisted.internet import defer, error
from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, wrapClientTLS
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twistedsched.errors import (
    BadArgumentError, BadReferenceError, ConflictingIdError, JobLookupError,
    JobStoreOutcomeUnknown, JobStoreUnavailable, describe_error)
from twistedsched.interfaces import IClusterStore, IJobStore
from twistedsched.policies import IPolicyStore
from twistedsched.job import Job, same_job
from twistedsched.stores import STORE_SCHEMES
from twistedsched.stores.redislua import SCRIPTS
from twistedsched.stores.redispolicy import RedisPolicies
from twistedsched.timeutil import EPOCH, from_timestamp

#: The most run records written by one script call.
RUNS_BATCH = 500

#: The JSON encoders of job documents and of run records (made once: json.dumps
#: with options makes one per call).
_DOCUMENT = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_RECORD = json.JSONEncoder(separators=(",", ":"))

#: The most single adds (L{RedisJobStore.add_job}) sent in one script call.
ADDS_BATCH = 500

#: Scripts that change nothing: when they go unanswered, nothing is unknown.
#: (page_by_id may rebuild the id index, which changes no job.)
_READ_ONLY = frozenset(["next", "page", "page_by_id", "members", "get"])

#: How often an add is tried again when the ids it found taken are freed meanwhile.
_ADD_TRIES = 3

#: Redis error replies that mean "not now" rather than "wrong".
_TRANSIENT_REPLIES = ("LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "READONLY")


def score(when):
    """
    The sorted-set score of an aware datetime: POSIX seconds as exact
    decimal text with microseconds, so that scores read back to the same
    datetime.
    """
    micros = (when - EPOCH) // _MICROSECOND
    sign = "-" if micros < 0 else ""
    seconds, fraction = divmod(abs(micros), 1000000)
    return "%s%d.%06d" % (sign, seconds, fraction)


_MICROSECOND = _dt.timedelta(microseconds=1)


def parse_url(url):
    """
    Read a Redis URL into connection settings: C{redis://[:password@]host:port/db},
    C{rediss://...} (TLS), C{unix:///path.sock?db=0} or
    C{redis-sentinel://[:password@]host:port,host:port/service/db} (the
    primary of C{service}, as Redis Sentinels on those addresses name it).
    """
    if url.startswith("redis-sentinel://"):
        return _parse_sentinel_url(url)
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    settings = {"scheme": parts.scheme, "username": None, "password": None, "db": 0,
                "namespace": query.get("namespace")}
    if parts.password is not None:
        settings["password"] = unquote(parts.password)
        settings["username"] = unquote(parts.username) if parts.username else None
    elif parts.username:
        settings["password"] = unquote(parts.username)
    db = query.get("db")
    if parts.scheme in ("redis", "rediss"):
        settings["host"] = parts.hostname or "localhost"
        try:
            settings["port"] = parts.port or 6379
        except ValueError:
            raise BadArgumentError("bad port in Redis URL %r" % (url,)) from None
        path = parts.path.strip("/")
        if path:
            db = path
    elif parts.scheme == "unix":
        if not parts.path:
            raise BadArgumentError("unix Redis URL %r has no socket path" % (url,))
        settings["path"] = parts.path
    else:
        raise BadArgumentError("not a Redis URL: %r" % (url,))
    try:
        settings["db"] = int(db) if db is not None else 0
    except ValueError:
        raise BadArgumentError("bad database number %r in Redis URL %r" % (db, url)) from None
    return settings


def _parse_sentinel_url(url):
    parts = urlsplit(url)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    credentials, _, hosts = parts.netloc.rpartition("@")
    settings = {"scheme": "redis-sentinel", "username": None, "password": None,
                "namespace": query.get("namespace"), "sentinels": []}
    if credentials:
        user, _, password = credentials.rpartition(":")
        settings["password"] = unquote(password)
        settings["username"] = unquote(user) or None
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        try:
            settings["sentinels"].append((name or "localhost", int(port or 26379)))
        except ValueError:
            raise BadArgumentError("bad sentinel address %r in Redis URL %r" % (host, url)) \
                from None
    path = [part for part in parts.path.split("/") if part]
    if not hosts or not 1 <= len(path) <= 2:
        raise BadArgumentError("expected redis-sentinel://host:port[,host:port...]/service[/db],"
                               " not %r" % (url,))
    settings["service"] = unquote(path[0])
    try:
        settings["db"] = int(path[1]) if len(path) > 1 else int(query.get("db", 0))
    except ValueError:
        raise BadArgumentError("bad database number in Redis URL %r" % (url,)) from None
    return settings


#: What txredisapi's "could not set dbid" / "could not auth" messages say
#: when the connection went away during its set-up (not a refusal).
_LOST_DURING_SETUP = ("Lost connection", "Not connected", "Connection was closed",
                      "timeout", "Timeout", "TimeoutError")


class _KeepTrying:
    """
    txredisapi stops reconnecting a pool for good when a new connection's
    set-up (AUTH, SELECT) fails: it calls C{stopTrying}, then
    C{connectionError(why)}.  A refusal (wrong password, no such database)
    should stop it; a connection lost or timed out during set-up (Redis
    restarting) must not, or the store would never reconnect.
    """

    _setup_failing = False

    def stopTrying(self):
        self._setup_failing = True
        return defer.succeed(None)

    def connectionError(self, why):
        if self._setup_failing:
            self._setup_failing = False
            if not any(text in why for text in _LOST_DURING_SETUP):
                txredisapi.RedisFactory.stopTrying(self)
        txredisapi.RedisFactory.connectionError(self, why)


class _Prompt:
    """
    Two costs of txredisapi's protocol, per element, cut:

      - its pure-Python reply reader takes one reactor turn per bulk
        string: after each it pauses the transport and reads the rest with
        C{callLater(0)} (to bound its recursion), so a reply of N strings
        costs N turns.  This reads the rest at once, in a loop.  (With
        hiredis installed txredisapi parses in C and this is never used.)
      - it encodes a command's arguments one call at a time, twice each
        (the value and its length): a script call with a batch of jobs has
        hundreds.  Text and bytes are encoded here at once; anything else
        goes the library's way.
    """

    _parsing = False
    _rest = None

    def setLineMode(self, extra=b""):
        if not self._parsing or not extra:
            return super().setLineMode(extra)
        self.line_mode = 1
        self._rest = extra
        return None

    def dataReceived(self, data, unpause=False):
        if self._parsing:
            return super().dataReceived(data, unpause)
        self._parsing = True
        try:
            why = super().dataReceived(data, unpause)
            while self._rest is not None and not why:
                rest, self._rest = self._rest, None
                why = super().dataReceived(rest)
            return why
        finally:
            self._parsing = False
            self._rest = None

    def _build_command(self, *args, **kwargs):
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            if type(arg) is str:
                try:
                    arg = arg.encode(self.charset, self.errors)
                except (UnicodeError, TypeError):
                    arg = self._encode_value(arg)       # (its error)
            elif type(arg) is not bytes:
                arg = self._encode_value(arg)
            parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        return b"".join(parts)


class _Protocol(_Prompt, txredisapi.RedisProtocol):
    """A pooled connection."""


class _Factory(_KeepTrying, txredisapi.RedisFactory):
    """A connection pool that tells the store when a connection is ready."""

    protocol = _Protocol
    store = None

    def addConnection(self, conn):
        txredisapi.RedisFactory.addConnection(self, conn)
        if conn in self.pool and self.store is not None:
            self.store._connected()


class _Subscriber(_Prompt, txredisapi.SubscriberProtocol):
    """Listens to the namespace's channel; subscribes again after reconnecting."""

    def connectionMade(self):
        d = txredisapi.SubscriberProtocol.connectionMade(self)
        self.whenConnected().addCallback(
            lambda _: self.subscribe(self.factory.store.channel)).addCallbacks(
            lambda _: self.factory.store._subscribed(), self._subscribe_failed)
        return d

    def _subscribe_failed(self, failure):
        store = self.factory.store
        if not failure.check(txredisapi.ConnectionError) and not store._stopped:
            store.log.failure("subscribing to {channel} failed", failure, channel=store.channel)

    def connectionLost(self, why):
        self.factory.store.subscribed = False
        return txredisapi.SubscriberProtocol.connectionLost(self, why)

    def messageReceived(self, pattern, channel, message):
        self.factory.store._message(message)


@implementer(IJobStore, IClusterStore, IPolicyStore)
class RedisJobStore(RedisPolicies):
    """
    Jobs in Redis, under the key prefix C{namespace}.

    @param url: C{redis://[:password@]host:port/db}, C{rediss://...} (TLS,
        the server's certificate is checked against C{tls_options} or the
        platform's trust roots) or C{unix:///path.sock?db=0}.
    @param namespace: prefix of every key and of the pub/sub channel.
    @param lease: seconds a claim on due jobs lasts if its holder never
        writes them back while it stays alive (a stuck job store call);
        then other schedulers take them.  (The claim ends on the whole
        second of the Redis server's clock after that.)
    @param heartbeat: seconds between renewals of this scheduler's liveness
        record (and of the leases of the instances it runs).
    @param liveness: seconds a liveness record lasts unrenewed: when a
        scheduler's record runs out (killed, stopped, cut off), the others
        release its claims, and its instances stop counting.
    @param poll_interval: the scheduler re-checks the store at least this
        often (seconds) even without notifications: a safety net.
    @param timeout: seconds a call may wait for a connection or a reply
        before failing with L{JobStoreUnavailable}.
    @param allowed_modules: C{None} to load jobs naming any
        C{module:qualname}; otherwise a list of modules (and their
        submodules) whose callables stored jobs may name.  An empty list
        allows registered task names only.
    @param tasks: a task registry to resolve task names before the store is
        started by a scheduler (which then lends its own).
    @param job_cache: how many jobs added here or handed out as due are
        kept decoded, by id and document: a job due whose document did not
        change (its run times live outside it) is copied rather than
        decoded again.  0: none.
    @param read_ahead: after handing out a full batch of due jobs, claim
        the next batch at once, so that Redis does it while the scheduler
        runs this one.  A job of that batch changed or removed meanwhile
        (here, or by another scheduler as its message tells) is given back
        and claimed again as it now is.
    """

    log = Logger()

    def __init__(self, url="redis://localhost:6379/0", namespace=None, *, lease=30.0,
                 poll_interval=30.0, timeout=5.0, poolsize=1, allowed_modules=None,
                 tls_options=None, tasks=None, node_id=None, heartbeat=1.0, liveness=3.0,
                 job_cache=10000, read_ahead=True, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.settings = parse_url(url)
        self.url = url
        self.namespace = namespace or self.settings["namespace"] or "twistedsched"
        for name, value in (("lease", lease), ("poll_interval", poll_interval),
                            ("timeout", timeout), ("heartbeat", heartbeat),
                            ("liveness", liveness)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise BadArgumentError("%s: expected seconds > 0, not %r" % (name, value))
        if isinstance(job_cache, bool) or not isinstance(job_cache, int) or job_cache < 0:
            raise BadArgumentError("job_cache: expected a number of jobs >= 0, not %r"
                                   % (job_cache,))
        self.job_cache = job_cache
        self.read_ahead = read_ahead
        if liveness <= heartbeat:
            raise BadArgumentError("liveness (%r s) must be longer than heartbeat (%r s)"
                                   % (liveness, heartbeat))
        self.heartbeat = heartbeat
        self.liveness = liveness
        self.lease = lease
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.poolsize = poolsize
        self.allowed_modules = None if allowed_modules is None else tuple(allowed_modules)
        self.tls_options = tls_options
        self.node_id = node_id or "%s:%d:%s" % (socket.gethostname(), os.getpid(),
                                                uuid.uuid4().hex[:8])
        ns = self.namespace
        self.keys = ["%s:jobs" % ns, "%s:run_times" % ns, "%s:paused" % ns,
                     "%s:claims" % ns, "%s:leases" % ns, "%s:history" % ns,
                     "%s:nodes" % ns, "%s:instances" % ns, "%s:ids" % ns,
                     "%s:recovery" % ns, "%s:recover" % ns]
        self.channel = "%s:changes@%d" % (ns, self.settings["db"])
        self._tasks = tasks
        self._scheduler = None
        self._alias = "default"
        self._pool = None
        self._subscriber = None
        self._sentinel = None       # txredisapi.Sentinel, for redis-sentinel:// URLs
        self._waiting = []          # Deferreds waiting for a connection
        self._claimed = set()       # ids this node claimed and not yet wrote back
        self._unsaved = {}          # id -> (op, a, b, tokens) of a write-back that failed
        self._due = {}              # id -> (the claimed job this store handed out, its state)
        # id -> (document, job, containers): jobs kept decoded, the least
        # recently due or added first (an OrderedDict: a dict's first item
        # is found past the holes its removals left, ever slower)
        self._decoded = collections.OrderedDict()
        self._batch = []            # write-backs waiting to go: (id, op, a, b, tokens, d)
        self._batch_flush = None    # the delayed call that sends them
        self._adds = []             # single adds waiting to go: (id, doc, score, d)
        self._adds_flush = None     # the delayed call that sends them
        self._pending = set()       # Deferreds of calls in progress
        self._stopped = False
        self._subscription = []     # Deferreds waiting for the subscription
        self._runs = []             # (id, size, record JSON) waiting to be written
        self._runs_waiting = []     # Deferreds fired when those are written
        self._runs_flush = None     # the delayed call that writes them
        self._beats = None          # the LoopingCall of heartbeats
        self._beating = False       # a heartbeat is on its way
        self._beat_failing = False  # the last heartbeat failed (logged once)
        self._elsewhere = {}        # id -> instances running elsewhere, at claim time
        self._instances = {}        # token -> job id: instances running here
        self._unregistered = {}     # id -> tokens started while claimed, not yet sent
        self._writing = set()       # ids whose write-back is on its way
        self._instance_count = 0
        self._ahead = None          # (when asked, Deferred) of the batch read ahead
        self._announced = None      # ids others changed since it was asked for ('*': all)
        self.subscribed = False
        self.notifications = 0      # messages from other schedulers
        self.reaped = 0             # dead schedulers this one found

    def __repr__(self):
        return "<RedisJobStore %s namespace=%r>" % (self._where(), self.namespace)

    # -- Connections ---------------------------------------------------------

    def _where(self):
        s = self.settings
        if s["scheme"] == "unix":
            return "unix:%s?db=%d" % (s["path"], s["db"])
        if s["scheme"] == "redis-sentinel":
            return "redis-sentinel://%s/%s/%d" % (
                ",".join("%s:%d" % address for address in s["sentinels"]), s["service"], s["db"])
        return "%s://%s:%s/%d" % (s["scheme"], s["host"], s["port"], s["db"])

    def _endpoint(self):
        s = self.settings
        if s["scheme"] == "unix":
            return UNIXClientEndpoint(self.reactor, s["path"], timeout=self.timeout)
        endpoint = HostnameEndpoint(self.reactor, s["host"], s["port"], timeout=self.timeout)
        if s["scheme"] == "rediss":
            from twisted.internet.ssl import optionsForClientTLS
            options = self.tls_options or optionsForClientTLS(s["host"])
            endpoint = wrapClientTLS(options, endpoint)
        return endpoint

    def _factory(self, factory_class, poolsize, dbid):
        s = self.settings
        factory = factory_class(
            self._where(), dbid, poolsize, isLazy=True, password=s["password"],
            username=s["username"], replyTimeout=self.timeout, convertNumbers=False)
        factory.store = self
        factory.initialDelay = 0.2
        factory.maxDelay = 5
        factory.deferred.addErrback(self._setup_failed)
        if s["scheme"] == "redis-sentinel":
            factory.startConnecting(self._sentinel_endpoint(factory))
        else:
            factory.startConnecting(self._endpoint())
        return factory

    def _sentinel_endpoint(self, factory):
        """
        An endpoint that asks the sentinels for the current primary before
        each connection; pooled connections also check that the server they
        reach calls itself primary (a demoted one is left at once).
        """
        if self._sentinel is None:
            s = self.settings
            # (The password is the servers': sentinels are asked without one.)
            self._sentinel = txredisapi.Sentinel(s["sentinels"], replyTimeout=self.timeout)
            self._sentinel.discovery_timeout = self.timeout
        factory.sentinel_manager = self._sentinel
        factory.service_name = self.settings["service"]
        factory.is_master = True
        if factory.protocol is _Protocol:
            factory.protocol = _PrimaryProtocol
        return txredisapi._SentinelEndpoint(factory)

    def _setup_failed(self, failure):
        """txredisapi gave up on a connection it could not set up (login, database, TLS)."""
        if not self._stopped:
            self.log.error("Redis at {where}: {error}", where=self._where(),
                           error=failure.getErrorMessage())

    def _connect(self):
        """Start the connection pool and the subscriber (once)."""
        if self._pool is None and not self._stopped:
            self._pool = self._factory(_Factory, self.poolsize, self.settings["db"])
            sub = _SubscriberFactory
            self._subscriber = self._factory(sub, 1, None)

    def _connected(self):
        # Every script is loaded first on a new connection: one that Redis
        # forgot (it restarted) would otherwise be sent again, as EVAL, after
        # its NOSCRIPT answer, behind the commands sent after it.
        handler = self._pool.handler
        for script in SCRIPTS.values():
            handler.execute_command("SCRIPT", "LOAD", script.source).addErrback(
                lambda failure: self.log.warn("loading a script failed ({error}); it is sent "
                                              "whole when used", error=describe_error(failure)))
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if not d.called:
                d.callback(None)

    def _subscribed(self):
        self.subscribed = True
        waiting, self._subscription = self._subscription, []
        for d in waiting:
            d.callback(None)
        # Changes may have been missed while we were not subscribed.
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.wakeup()

    def when_subscribed(self):
        """Fire once this store listens to other schedulers' changes."""
        self._connect()
        if self.subscribed:
            return defer.succeed(None)
        d = defer.Deferred()
        self._subscription.append(d)
        return d

    def _message(self, message):
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        sender, _, rest = message.partition(" ")
        if sender == self.node_id:
            return
        self.notifications += 1
        if rest.startswith("cancel "):
            self._policy_message(rest.split(" ", 1))
        kind, _, job_id = rest.partition(" ")
        if self._announced is not None and kind in ("modified", "removed", "cleared"):
            self._announced.add(job_id)
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.wakeup()

    def _ready(self):
        """Fire when a pooled connection is there, or fail after C{timeout}."""
        self._connect()
        if self._stopped:
            return defer.fail(JobStoreUnavailable("the Redis job store is shut down"))
        if self._pool.size > 0:
            return defer.succeed(None)
        d = defer.Deferred()
        self._waiting.append(d)
        d.addTimeout(self.timeout, self.reactor)
        return d

    def _unavailable(self, failure, command, sent=None):
        """
        Turn connection trouble into L{JobStoreUnavailable}, or
        L{JobStoreOutcomeUnknown} when a change was sent (C{sent} is true)
        and no answer came.
        """
        if failure.check(JobStoreUnavailable):
            return failure
        transient = failure.check(
            txredisapi.ConnectionError, defer.TimeoutError, defer.CancelledError,
            ConnectionError, error.ConnectError, error.ConnectionLost, error.ConnectionDone)
        if failure.check(txredisapi.ResponseError):
            transient = str(failure.value).startswith(_TRANSIENT_REPLIES)
        if not transient:
            return failure
        why = "Redis at %s is unavailable (%s: %s); reconnecting" % (
            self._where(), command, describe_error(failure))
        if sent and not failure.check(txredisapi.ResponseError):
            raise JobStoreOutcomeUnknown(
                why + "; the change was sent but not confirmed, so it may have been made: "
                "check, or retry (adding the same job again is safe)")
        raise JobStoreUnavailable(why)

    def _call(self, command, *args):
        """Run a Redis command that changes nothing (a method of the txredisapi connection)."""
        return self._send(command, lambda handler: getattr(handler, command)(*args),
                          changes=False)

    def _send(self, what, operation, changes=True):
        """
        Once connected, run C{operation(handler)}: bounded in time, failures
        while Redis is away turned into L{JobStoreUnavailable} (or
        L{JobStoreOutcomeUnknown} for an unanswered change), and tracked
        until done.
        """
        if (self._batch or self._adds) and what not in ("advance", "add_each"):
            self._flush_queues()       # sent first: Redis sees the changes in order
        sent = []

        def send(_):
            sent.append(changes)
            return operation(self._pool.handler)
        d = self._ready()
        d.addCallback(send)
        d.addTimeout(self.timeout * 2, self.reactor)
        d.addErrback(lambda failure: self._unavailable(failure, what, any(sent)))
        self._pending.add(d)
        d.addBoth(self._done, d)
        return d

    def _done(self, result, d):
        self._pending.discard(d)
        return result

    def _script(self, name, args):
        """Run a Lua script by EVALSHA, sending its source (EVAL) on NOSCRIPT."""
        script = SCRIPTS[name]

        def run(handler):
            d = handler.evalsha(script.sha, self.keys, args)
            d.addErrback(lambda f: f.trap(txredisapi.ScriptDoesNotExist) and handler.execute_command(
                "EVAL", script.source, len(self.keys), *(self.keys + list(args))))
            return d
        return self._send(name, run, changes=name not in _READ_ONLY)

    # -- Service ---------------------------------------------------------------

    def start(self, scheduler, alias):
        """Connect; fire once Redis answers (or fail, logged by the scheduler)."""
        self._scheduler = scheduler
        self._alias = alias
        self._stopped = False
        if self._beats is None:
            self._beats = LoopingCall(self._beat)
            self._beats.clock = self.reactor
            self._beats.start(self.heartbeat, now=True)
        if scheduler is None:
            return self._call("ping").addCallback(lambda _: None)
        d = self.set_retention(getattr(scheduler, "history_retention", 0),
                               getattr(scheduler, "history_retained_jobs", 0))
        return d.addCallback(lambda _: None)

    # -- Liveness ------------------------------------------------------------------

    def _beat(self):
        """
        Renew this scheduler's liveness record and its instances' leases;
        reap dead schedulers (one heartbeat at a time; trouble logged once).
        """
        if self._beating or self._stopped:
            return None
        self._beating = True
        args = [self.channel, self.node_id, self.liveness]
        for token, job_id in self._instances.items():
            args += [job_id, token]
        d = self._script("beat", args)
        d.addCallbacks(self._beaten, self._beat_failed)
        return d

    def _beaten(self, reply):
        self._beating = False
        known, reaped = int(reply[0]), int(reply[1])
        for run in reply[2:]:
            try:
                self._recover(_text(run))
            except Exception:
                self.log.failure("a run to recover in Redis namespace {ns!r} cannot be "
                                 "read: {run!r}", ns=self.namespace, run=run[:200])
        if self._beat_failing:
            self._beat_failing = False
            self.log.info("Redis liveness record of {node} renewed again", node=self.node_id)
        elif not known and self._beats_sent:
            self.log.warn(
                "this scheduler ({node}) did not renew its liveness record for more than "
                "{liveness} s (stopped, blocked, or cut off from Redis): the others took "
                "over its claims", node=self.node_id, liveness=self.liveness)
        self._beats_sent = True
        if reaped:
            self.reaped += reaped
            self.log.warn("{count} scheduler(s) on namespace {ns!r} stopped renewing their "
                          "liveness record: their claims are released", count=reaped,
                          ns=self.namespace)
            if self._scheduler is not None and self._scheduler.running:
                self._scheduler.wakeup()

    _beats_sent = False

    def _recover(self, run):
        """Run again the run of a recoverable job whose scheduler died while it ran."""
        when, _, job_id = run.partition("\n")
        run_time = from_timestamp(float(when))
        self.log.warn("job {job_id!r}: its run due {run_time} was in flight on a scheduler "
                      "that died; running it again (recover=True)", job_id=job_id,
                      run_time=run_time.isoformat())
        if self._scheduler is None or not self._scheduler.running:
            return
        d = self._scheduler.run_job(job_id, self._alias, run_time=run_time)
        d.addErrback(lambda f: self.log.warn(
            "job {job_id!r}: recovering its run failed: {error}", job_id=job_id,
            error=f.getErrorMessage()))

    def _beat_failed(self, failure):
        self._beating = False
        if self._stopped:
            return
        if not self._beat_failing:
            self._beat_failing = True
            self.log.warn("renewing the Redis liveness record of {node} failed: {error}",
                          node=self.node_id, error=failure.getErrorMessage())

    def members(self):
        """
        The schedulers sharing this namespace: a Deferred list of dicts with
        C{id}, C{alive} (its liveness record has not run out), C{self} (this
        scheduler) and C{expires_in} (seconds its record has left).
        """
        def rows(reply):
            found = []
            for node, left in zip(reply[::2], reply[1::2]):
                node, left = _text(node), float(_text(left))
                found.append({"id": node, "alive": left > 0, "self": node == self.node_id,
                              "expires_in": round(left, 3)})
            return sorted(found, key=lambda row: row["id"])
        return self._script("members", []).addCallback(rows)

    # -- Instances across the cluster -------------------------------------------------

    def instances_elsewhere(self, job_id):
        """
        How many instances of a job that this store handed out as due ran on
        other schedulers when it was claimed (0 for other jobs).
        """
        return self._elsewhere.get(job_id, 0)

    def instance_started(self, job_id, recover_time=None):
        """
        Count a new instance of a job across the cluster, with a lease that
        the heartbeat renews; returns its token for L{instance_ended}.  An
        instance of a claimed job is counted by the claim's write-back,
        before the claim goes, so the next holder sees it.  With
        C{recover_time} (a job with the C{recover} option), the run is held
        in Redis until it ends: if this scheduler dies first, another runs
        it again, as due at C{recover_time}.
        """
        self._instance_count += 1
        token = "%s#%d" % (self.node_id, self._instance_count)
        if recover_time is not None:
            token += "@" + score(recover_time)
        self._instances[token] = job_id
        if job_id in self._claimed and job_id not in self._writing:
            self._unregistered.setdefault(job_id, []).append(token)
        else:
            self._instance_call(job_id, token, self.liveness)
        return token

    def instance_ended(self, job_id, token):
        """Stop counting an instance."""
        if self._instances.pop(token, None) is None:
            return
        tokens = self._unregistered.get(job_id)
        if tokens is not None and token in tokens:
            tokens.remove(token)
            return
        self._instance_call(job_id, token, "")

    def _instance_call(self, job_id, token, lease):
        d = self._script("instance", [job_id, token, lease])
        d.addErrback(lambda f: self.log.warn(
            "job {job_id!r}: counting an instance in Redis failed ({error}); its lease "
            "ends it", job_id=job_id, error=f.getErrorMessage()))

    @defer.inlineCallbacks
    def shutdown(self):
        """
        Let calls in progress finish (bounded), give back claims, tell the
        other schedulers (they look again at once), disconnect.
        """
        if self._runs_flush is not None:
            yield self._flush_runs()
        self._flush_queues()
        if self._beats is not None:
            if self._beats.running:
                self._beats.stop()
            self._beats = None
        if self._pool is None or self._stopped:
            self._stopped = True
            return
        ahead, self._ahead = self._ahead, None
        if ahead is not None:       # (its claims are given back below)
            yield ahead[1].addErrback(lambda _: None)
        if self._pending:
            yield defer.DeferredList(list(self._pending), consumeErrors=True)
        try:
            yield self._flush_unsaved()
        except Exception:
            self.log.failure("writing back claimed jobs on shutdown failed")
        try:
            yield self._script("release", [self.channel, self.node_id] + sorted(self._claimed))
            self._due.clear()
        except JobStoreUnavailable as e:
            self.log.warn("could not give back claims on shutdown ({error}); "
                          "their leases will run out", error=e)
        except Exception:
            self.log.failure("giving back claims on shutdown failed")
        self._claimed.clear()
        self._stopped = True
        self.subscribed = False
        pool, sub, self._pool, self._subscriber = self._pool, self._subscriber, None, None
        stopping = [pool.disconnect(), sub.disconnect()]
        if self._sentinel is not None:
            stopping.append(self._sentinel.disconnect())
            self._sentinel = None
        yield defer.DeferredList(stopping, consumeErrors=True)

    # -- Documents ---------------------------------------------------------------

    def _encode(self, job):
        """A job's JSON document and score ('' when paused)."""
        data = job.to_dict()
        self._check_reference(data, job.id)
        if self._scheduler is None and self._tasks is None:
            self._tasks = getattr(job._scheduler, "tasks", None)
        doc = _DOCUMENT.encode(data)
        return doc, "" if job.next_run_time is None else score(job.next_run_time)

    def _check_reference(self, data, job_id):
        ref = data.get("func")
        if data.get("task") or self.allowed_modules is None or not ref:
            return
        module = ref.partition(":")[0]
        if not any(module == allowed or module.startswith(allowed + ".")
                   for allowed in self.allowed_modules):
            raise BadReferenceError(
                "job %r: %r is not in a module this job store allows (%s)" % (
                    job_id, ref, ", ".join(self.allowed_modules) or "registered tasks only"))

    def _decode(self, doc):
        """Rebuild a job from its JSON document."""
        if isinstance(doc, bytes):
            doc = doc.decode("utf-8")
        data = json.loads(doc)
        self._check_reference(data, data.get("id"))
        scheduler = self._scheduler
        tasks = scheduler.tasks if scheduler is not None else self._tasks
        return Job.from_dict(scheduler, data, jobstore=self._alias, tasks=tasks)

    def _decode_item(self, item, job_id=None):
        """
        Rebuild a job from a script's C{"<score>\\n<fire time>\\n<document>"}:
        its run times are the score's, not the document's (see
        L{twistedsched.stores.redislua}).  With C{job_id} (a due job), a copy
        of the job decoded from the same document before, if it was kept.
        """
        if isinstance(item, str):
            item = item.encode("utf-8")
        at, fire, doc = item.split(b"\n", 2)
        job = self._decode(doc) if job_id is None else self._cached(job_id, doc)
        when = self._run_time_of_score(at, job.id) if at else None
        if fire:
            job.scheduled_run_time = from_timestamp(float(fire))
        elif job.next_run_time != when:
            job.scheduled_run_time = when       # the document's times are older
        job.next_run_time = when
        return job

    def _cached(self, job_id, doc):
        """A copy of the job kept for C{doc}, or the job decoded (and kept)."""
        kept = self._decoded.get(job_id)
        if kept is not None and kept[0] == doc:
            job = _copy(kept[1], kept[2])
            if job.task:        # (the registry may have changed meanwhile)
                job.func = self._task_registry().lookup(job.task)
            self._decoded.move_to_end(job_id)       # (now the most recent)
        else:
            job = self._decode(doc)
            self._keep(job_id, doc, job)
        return job

    def _keep(self, job_id, doc, job, copy=True):
        """
        Keep C{job} decoded for its document C{doc} (bytes, as Redis answers
        it), the least recently due or added going first: a copy, or with
        C{copy} false the job itself if no run can change its arguments in
        place (a job added here: only the scheduler changes it, and never
        in place).
        """
        if not self.job_cache:
            return
        self._decoded.pop(job_id, None)
        if len(self._decoded) >= self.job_cache:
            self._decoded.popitem(last=False)
        containers = _containers(job)
        if copy or containers:
            job = _copy(job, containers)
        self._decoded[job_id] = (doc, job, containers)

    def _task_registry(self):
        scheduler = self._scheduler
        return scheduler.tasks if scheduler is not None else self._tasks

    def _decode_all(self, items):
        jobs = []
        for item in items:
            try:
                jobs.append(self._decode_item(item))
            except Exception:
                self.log.failure("cannot load a job from Redis namespace {ns!r}: {doc!r}",
                                 ns=self.namespace, doc=item[:200])
        return jobs

    # -- IJobStore ---------------------------------------------------------------

    def add_job(self, job):
        """
        Store a new job; fail with L{ConflictingIdError} if its id is taken
        by another job.  The same job again is success (see L{add_jobs}).
        The adds of one reactor turn go to Redis in one script call, each
        succeeding or failing on its own.
        """
        try:
            doc, when = self._encode(job)
        except Exception:
            return defer.fail()
        self._keep(job.id, doc.encode("utf-8"), job, copy=False)  # (its first run: no decoding)
        d = defer.Deferred()
        self._adds.append((job.id, doc, when, d))
        if len(self._adds) >= ADDS_BATCH:
            self._flush_adds()
        elif self._adds_flush is None:
            self._adds_flush = self.reactor.callLater(0, self._flush_adds)
        return d

    def _flush_adds(self):
        """Send the queued single adds in one script call."""
        if self._adds_flush is not None:
            if self._adds_flush.active():
                self._adds_flush.cancel()
            self._adds_flush = None
        adds, self._adds = self._adds, []
        if not adds:
            return
        args = [self.channel, self.node_id]
        for job_id, doc, when, _ in adds:
            args += [job_id, doc, when]

        def added(taken):
            taken = set(_text(job_id) for job_id in taken)
            for job_id, doc, when, d in adds:
                if job_id in taken:
                    self._taken([job_id], [(job_id, doc, when)], _ADD_TRIES).chainDeferred(d)
                else:
                    d.callback(None)

        def failed(failure):
            for _, _, _, d in adds:
                d.errback(failure)
        self._script("add_each", args).addCallbacks(added, failed)

    def add_jobs(self, jobs):
        """
        Store several new jobs in one call: all of them, or none if an id is
        taken by a different job.  Adding is idempotent: a job stored under
        its id already, the same but for the times computed when it was
        added (see L{twistedsched.job.same_job}), counts as added, so that a client told
        L{JobStoreOutcomeUnknown} may simply add again.
        """
        try:
            entries = []
            for job in jobs:
                doc, when = self._encode(job)
                entries.append((job.id, doc, when))
                self._keep(job.id, doc.encode("utf-8"), job, copy=False)
        except Exception:
            return defer.fail()
        return self._add(entries)

    def _add(self, entries, tries=_ADD_TRIES):
        """Add; if ids are taken, see whether by the same jobs (L{_taken})."""
        args = [self.channel, self.node_id]
        for entry in entries:
            args += entry

        def added(taken):
            if taken:
                return self._taken([_text(job_id) for job_id in taken], entries, tries)
        return self._script("add", args).addCallback(added)

    @defer.inlineCallbacks
    def _taken(self, taken, entries, tries):
        """
        Ids were taken: fail if by a different job, else add the other jobs
        again (an id freed meanwhile is tried again, C{tries} times in all).
        """
        stored = yield self._call("hmget", self.keys[0], taken)
        docs = {job_id: doc for job_id, doc, _ in entries}
        same = set()
        for job_id, doc in zip(taken, stored):
            if doc is None:
                continue        # removed meanwhile: try again
            if not same_job(_text(doc), docs[job_id]):
                raise ConflictingIdError(job_id)
            same.add(job_id)
        entries = [entry for entry in entries if entry[0] not in same]
        if entries and tries <= 1:
            raise ConflictingIdError(entries[0][0])
        if entries:
            yield self._add(entries, tries - 1)

    def update_job(self, job):
        """
        Replace the stored job.  Writing back a claimed job releases the
        claim; the write-backs of one reactor turn go in one script call,
        and a due job this store handed out (the scheduler changes only its
        run times) has only its run times written, unless its policy state
        changed too.
        """
        due = self._write_back(job.id)
        if due is not None and due[0] is job:
            if job.next_run_time is not None and job.policy_state == due[1]:
                fire = job.scheduled_run_time
                when = score(job.next_run_time)
                return self._queue_write(job.id, "a", when, "" if fire is None or fire ==
                                         job.next_run_time else score(fire))
            try:
                doc, when = self._encode(job)
            except Exception:
                return defer.fail()
            return self._queue_write(job.id, "u", doc, when)
        # Any other write is a change, even of a job this store holds: sent
        # after what is queued, always written, and announced.
        try:
            doc, when = self._encode(job)
        except Exception:
            return defer.fail()
        d = self._script("update", [self.channel, self.node_id, job.id, doc, when, "change"])
        return d.addCallback(self._updated, job.id)

    def _write_back(self, job_id):
        """
        The (job, policy state) this store handed out as due for C{job_id}
        and whose write-back is not queued yet, taken: the first write of
        a claimed job is its scheduler's write-back; any later one (while
        that write-back is queued or in flight) is a change.
        """
        if job_id not in self._claimed:
            return None
        return self._due.pop(job_id, None)

    def _updated(self, result, job_id):
        result = int(result)
        if result == 0:
            raise JobLookupError(job_id)
        if result < 0:
            self.log.warn("job {job_id!r}: claim lost before writing back (lease too short?); "
                          "another scheduler handles it", job_id=job_id)

    def _queue_write(self, job_id, op, a, b):
        """
        Queue the write-back of a claimed job (L{ADVANCE<twistedsched.stores.redislua.ADVANCE>}
        op C{op}, values C{a}, C{b}); fires when written.  It takes along
        the instances of the job that began while this store held it, up to
        when it is sent.
        """
        d = defer.Deferred()
        self._batch.append((job_id, op, a, b, None, d))
        if self._batch_flush is None:
            self._batch_flush = self.reactor.callLater(0, self._flush_batch)
        return d

    def _flush_queues(self):
        """Send what is queued: write-backs (a removal before an add), then adds."""
        self._flush_batch()
        self._flush_adds()

    def _flush_batch(self):
        """Send the queued write-backs in one script call (none: nothing sent)."""
        if self._batch_flush is not None:
            if self._batch_flush.active():
                self._batch_flush.cancel()
            self._batch_flush = None
        entries, self._batch = self._batch, []
        if entries:
            # (A failure reaches each entry's Deferred.)
            self._send_batch(entries).addErrback(lambda _: None)

    def _send_batch(self, entries):
        """Write back C{entries} (see L{_queue_write}); fire each one's Deferred."""
        args = [self.node_id, self.liveness]
        for index, (job_id, op, a, b, tokens, d) in enumerate(entries):
            if tokens is None:
                tokens = self._unregistered.pop(job_id, [])
                entries[index] = (job_id, op, a, b, tokens, d)
            self._writing.add(job_id)
            args += [op, job_id, a, b, len(tokens)]
            args += tokens
        d = self._script("advance", args)
        d.addCallbacks(self._batch_written, self._batch_failed,
                       callbackArgs=(entries,), errbackArgs=(entries,))
        return d

    def _batch_written(self, results, entries):
        for (job_id, op, _, _, _, d), result in zip(entries, _text(results).split(",")):
            self._written(job_id)
            try:
                if op == "g":       # given back: held or not, nothing to tell
                    pass
                elif int(result) == 0:
                    raise JobLookupError(job_id)
                self._updated(result, job_id)
            except Exception:
                d.errback()
            else:
                d.callback(None)

    def _batch_failed(self, failure, entries):
        for job_id, op, a, b, tokens, d in entries:
            self._writing.discard(job_id)
            if failure.check(JobStoreUnavailable):
                self._unsaved[job_id] = (op, a, b, tokens)      # retried before the next claim
            else:
                self._written(job_id)
            d.errback(failure)
        return failure

    def _written(self, job_id):
        """A claimed job is written back (or given up): forget the claim."""
        self._writing.discard(job_id)
        self._claimed.discard(job_id)
        self._due.pop(job_id, None)
        self._elsewhere.pop(job_id, None)
        self._unsaved.pop(job_id, None)

    def _flush_unsaved(self):
        """Retry write-backs that failed while Redis was away (fails if they fail again)."""
        if not self._unsaved:
            return defer.succeed(None)
        entries = []
        for job_id, (op, a, b, tokens) in list(self._unsaved.items()):
            d = defer.Deferred()
            d.addErrback(lambda _: None)       # gone: nothing to write; failed: see below
            entries.append((job_id, op, a, b, tokens, d))
        return self._send_batch(entries).addCallback(lambda _: None)

    def remove_job(self, job_id):
        """Remove a job; fail with L{JobLookupError} if there is none."""
        return self._remove(job_id, "change")

    def end_job(self, job_id):
        """Remove a job a policy ended (C{max_runs}): its history is kept as an ended job's."""
        return self._remove(job_id, "ended")

    def _remove(self, job_id, mode):
        if self._write_back(job_id) is not None:
            return self._queue_write(job_id, "r", "", "")
        d = self._script("remove", [self.channel, self.node_id, job_id, mode])
        return d.addCallback(lambda removed: None if int(removed) else _raise(
            JobLookupError(job_id)))

    def remove_all_jobs(self):
        """Remove every job of this namespace."""
        self._flush_queues()
        self._claimed.clear()
        self._due.clear()
        self._decoded.clear()
        self._unsaved.clear()
        self._unregistered.clear()
        self._elsewhere.clear()
        return self._script("remove_all", [self.channel, self.node_id]).addCallback(
            lambda _: None)

    def lookup_job(self, job_id):
        """Fire with the job, or C{None}."""
        d = self._script("get", [job_id])
        d.addCallback(lambda item: None if item is None else self._decode_item(item))
        return d.addCallback(self._with_job_counts)

    def get_jobs(self, offset=0, limit=None):
        """
        Fire with jobs ordered by next run time, paused ones last, from
        C{offset}, at most C{limit}: only those documents are read.
        """
        if offset < 0 or (limit is not None and limit < 0):
            return defer.fail(BadArgumentError("offset and limit must be >= 0"))
        if limit == 0:
            return defer.succeed([])
        d = self._script("page", [offset, -1 if limit is None else limit])
        return d.addCallback(self._decode_all).addCallback(self._with_listed_counts)

    def get_jobs_by_id(self, after=None, limit=None):
        """
        Fire with at most C{limit} jobs whose id comes after C{after} (from
        the first without it), by id (code point order of their UTF-8).
        """
        if limit is not None and limit < 0:
            return defer.fail(BadArgumentError("limit must be >= 0"))
        if limit == 0:
            return defer.succeed([])
        d = self._script("page_by_id", ["" if after is None else after,
                                        -1 if limit is None else limit])
        d.addCallback(lambda reply: self._decode_all(
            [item for item in reply[1::2] if item is not None]))
        return d.addCallback(self._with_listed_counts)

    def count_jobs(self):
        """Fire with the number of stored jobs."""
        return self._call("hlen", self.keys[0]).addCallback(int)

    @defer.inlineCallbacks
    def acquire_due_jobs(self, now, limit):
        """
        Claim (for C{lease} seconds) and fire with at most C{limit} due jobs
        that no other scheduler holds, earliest first.  After a full batch
        the next is claimed at once (C{read_ahead}).
        """
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            jobs = yield self._acquire(now, limit)
        else:
            claimed = yield ahead[1]
            jobs = self._still_due(claimed, ahead[0])
            if len(claimed) >= limit > len(jobs):
                # Some changed meanwhile: the batch is made whole again (with
                # them as they now are, if still due), as a full batch says
                # that more may be due.
                jobs += yield self._acquire(now, limit - len(jobs))
        if self.read_ahead and len(jobs) >= limit > 0 and not self._stopped:
            self._announced = set()
            self._ahead = (self.reactor.seconds(), self._acquire(now, limit))
        return jobs

    def _still_due(self, jobs, asked):
        """
        The jobs of a batch read ahead that were not changed meanwhile.  A
        job changed here is dropped (its change released the claim); one
        another scheduler changed, or all if the batch waited for half a
        lease, are given back (claimed again as they now are).
        """
        announced, self._announced = self._announced or set(), None
        stale = "*" in announced or self.reactor.seconds() - asked > self.lease / 2
        kept = []
        for job in jobs:
            due = self._due.get(job.id)
            if due is None or due[0] is not job:
                self._written(job.id)       # (nothing to write: forget the claim)
            elif stale or job.id in announced:
                self._due.pop(job.id)
                self._queue_write(job.id, "g", "", "")
            else:
                kept.append(job)
        return kept

    @defer.inlineCallbacks
    def _acquire(self, now, limit):
        """Claim and decode at most C{limit} due jobs (see L{acquire_due_jobs})."""
        yield self._flush_unsaved()
        reply = yield self._script("acquire", [self.node_id, score(now), limit, self.lease])
        jobs = []
        for item in _items(reply):
            elsewhere, size, rest = item.split(b"\n", 2)
            size = int(size)
            job_id = rest[:size].decode("utf-8")
            self._claimed.add(job_id)
            elsewhere = int(elsewhere)
            if elsewhere:
                self._elsewhere[job_id] = elsewhere
            try:
                job = self._decode_item(rest[size:], job_id)
                if job.id != job_id:
                    raise ValueError("its document is job %r's" % (job.id[:200],))
            except Exception:
                yield self._shelve(job_id, Failure())
                continue
            self._due[job_id] = (job, dict(job.policy_state))
            jobs.append(job)
        return jobs

    def _shelve(self, job_id, failure):
        """Take a job that cannot be loaded off the schedule; keep its document."""
        self.log.failure("job {job_id!r} in Redis namespace {ns!r} cannot be loaded; it is "
                         "taken off the schedule (fix or remove it)", failure,
                         job_id=job_id, ns=self.namespace)
        self._claimed.discard(job_id)
        self._due.pop(job_id, None)
        return self._script("shelve", [job_id])

    @defer.inlineCallbacks
    def get_next_run_time(self):
        """
        Fire with the earliest next run time of a job nobody holds, or
        sooner if another scheduler's claim on an earlier job runs out first.
        """
        yield self._flush_unsaved()
        first, wait = yield self._script("next", [])
        first = _text(first)
        wait = _text(wait)
        when = self._run_time_of_score(first) if first else None
        if wait:
            lease_end = self._now() + _seconds(max(0.0, float(wait)) + 0.001)
            if when is None or lease_end < when:
                when = lease_end
        return when

    def _run_time_of_score(self, text, job_id=None):
        """
        The run time of a score, or C{None} when it is no time (C{+inf}, or
        past the year 9999: edited by hand) and so never comes: the job
        shows as paused (resuming it schedules it again).
        """
        try:
            return from_timestamp(float(text))
        except (ValueError, OverflowError, OSError):
            self.log.warn("a run time in Redis namespace {ns!r} ({job}) is {score!r}, which "
                          "is no time: taken as none", ns=self.namespace,
                          job="job %r" % (job_id,) if job_id else "the earliest",
                          score=_text(text))
            return None

    # -- Run history -------------------------------------------------------------

    def append_run(self, job_id, record, size):
        """
        Queue a run record; the records queued during one reactor turn go to
        Redis in one script call (L{RUNS_BATCH} at most).  Fires when written
        (or dropped: a failed write is logged, never reported).
        """
        if size <= 0:
            return defer.succeed(None)
        try:
            text = _RECORD.encode(record)
        except (TypeError, ValueError):
            return defer.fail()
        self._runs.append((job_id, size, text))
        d = defer.Deferred()
        self._runs_waiting.append(d)
        if len(self._runs) >= RUNS_BATCH:
            self._flush_runs()
        elif self._runs_flush is None:
            self._runs_flush = self.reactor.callLater(0, self._flush_runs)
        return d

    def _flush_runs(self):
        """Write the queued run records in one call; fire their Deferreds."""
        if self._runs_flush is not None and self._runs_flush.active():
            self._runs_flush.cancel()
        self._runs_flush = None
        runs, self._runs = self._runs, []
        waiting, self._runs_waiting = self._runs_waiting, []
        if not runs:
            return defer.succeed(None)
        args = []
        for job_id, size, text in runs:
            args += [job_id, size, text]

        def failed(failure):
            if failure.check(JobStoreUnavailable):
                self.log.error("{count} run history records not written: {error}",
                               count=len(runs), error=failure.getErrorMessage())
            else:
                self.log.failure("writing {count} run history records failed", failure,
                                 count=len(runs))

        def done(_):
            for d in waiting:
                d.callback(None)
        d = self._script("append_runs", args)
        d.addErrback(failed)
        d.addCallback(done)
        return d

    def get_runs(self, job_id, limit=None):
        """Fire with the job's kept runs, newest first (records that do not parse are skipped)."""
        if limit is not None and limit <= 0:
            return defer.succeed([])
        d = self._call("lrange", "%s:%s" % (self.keys[5], job_id), 0,
                       -1 if limit is None else limit - 1)
        return d.addCallback(self._decode_runs, job_id)

    def _decode_runs(self, texts, job_id):
        runs = []
        for text in texts:
            try:
                record = json.loads(text.decode("utf-8") if isinstance(text, bytes) else text)
            except ValueError:
                self.log.warn("job {job_id!r}: a run record in Redis is not JSON: {text!r}",
                              job_id=job_id, text=text[:200])
                continue
            runs.append(record)
        return runs

    def _now(self):
        if self._scheduler is not None:
            return self._scheduler.now()
        return from_timestamp(self.reactor.seconds())


class _PrimaryProtocol(_Prompt, txredisapi.SentinelRedisProtocol):
    """Leaves a server that is not the primary; a connection lost meanwhile is no error."""

    def connectionMade(self):
        d = txredisapi.SentinelRedisProtocol.connectionMade(self)
        d.addErrback(lambda failure: failure.trap(txredisapi.ConnectionError))
        return d


class _SubscriberFactory(_KeepTrying, txredisapi.RedisFactory):
    """The pub/sub connection's factory."""

    protocol = _Subscriber
    store = None


def _items(reply):
    """The items of a reply made of C{"<length>\\n<item>"} strings, one after the other."""
    if isinstance(reply, str):
        reply = reply.encode("utf-8")
    end = len(reply or b"")
    position = 0
    while position < end:
        newline = reply.index(b"\n", position)
        start = newline + 1
        position = start + int(reply[position:newline])
        yield reply[start:position]


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _copy(job, containers):
    """A copy of a job; with C{containers}, its arguments copied through too."""
    job = job.copy()
    if containers:      # arguments a run may change in place: its own
        job.args = copy.deepcopy(job.args)
        job.kwargs = copy.deepcopy(job.kwargs)
    return job


def _containers(job):
    """Does a job have list or dict arguments (that a run could change in place)?"""
    return any(type(value) in (list, dict) for value in job.args) or any(
        type(value) in (list, dict) for value in job.kwargs.values())




def _seconds(value):
    return from_timestamp(value) - EPOCH


def _raise(error):
    raise error


def _make(url, **options):
    return RedisJobStore(url, **options)


for _scheme in ("redis", "rediss", "unix", "redis-sentinel"):
    STORE_SCHEMES[_scheme] = _make
