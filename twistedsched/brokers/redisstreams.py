"""
The Redis Streams broker, on txredisapi::

    broker = RedisStreamsBroker("redis://127.0.0.1:6379/0", namespace="work")

Each queue is a stream (C{NS:queue:NAME}) read by one consumer group
(C{workers}); a worker is a consumer of it.  A delivery stays in the
group's pending list until the worker acknowledges it; a live worker keeps
its deliveries fresh (C{XCLAIM ... JUSTID} at each heartbeat), so a
delivery left idle for longer than the reclaim time belongs to a dead
worker and another takes it over with C{XAUTOCLAIM}.  Acknowledged entries
are deleted, so a stream's length is its depth.  Outcomes go to a stream
per scheduler (C{NS:results:ID}); finishing a run (outcome, acknowledgement
and the run id's C{finished} mark) is one Lua script, so it happens
entirely or not at all.
"""

import json

import txredisapi
from twisted.internet import defer
from zope.interface import implementer

from twistedsched.brokers.base import (
    BadMessage, BrokerError, Delivery, check_name, decode_message, encode)
from twistedsched.brokers.interfaces import IBroker
from twistedsched.errors import BadArgumentError
from twistedsched.stores.redis import parse_url

#: The consumer group of every queue.
GROUP = "workers"


_FINISH = """
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'outcome', ARGV[3])
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], '1', 'EX', ARGV[4])
return 1
"""

_BEGIN = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'finished' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'abandoned' end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[1] then return 'held' end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
return 'started'
"""

_KEEP_LEASES = """
for i, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[1] then redis.call('PEXPIRE', key, ARGV[2]) end
end
return 1
"""

_ACK = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 1
"""


def _pairs(fields):
    """A flat [field, value, ...] list as a dict."""
    fields = fields or []
    return dict(zip(fields[::2], fields[1::2]))


def _entry_time(entry_id):
    """POSIX seconds of a stream entry id (its milliseconds part)."""
    return int(entry_id.partition("-")[0]) / 1000.0


@implementer(IBroker)
class RedisStreamsBroker:
    """
    Queues of runs in Redis Streams (Redis 6.2 or later: C{XAUTOCLAIM}).

    @param url: C{redis://[:password@]host:port/db} or C{unix:///path?db=N}.
    @param namespace: prefix of every key.
    @param timeout: seconds a non-blocking command may take.
    @param finished_ttl: seconds a finished run id is remembered.
    @param results_limit: about how many outcomes a reply stream keeps unread.
    """

    def __init__(self, url, namespace="twistedsched-work", *, timeout=10.0,
                 finished_ttl=86400, results_limit=100000, reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.url = url
        self.settings = parse_url(url)
        if self.settings["scheme"] == "rediss":
            raise BadArgumentError("broker: rediss:// is not supported yet; use redis:// "
                                   "or unix://")
        self.namespace = check_name("namespace", namespace)
        self.timeout = timeout
        self.finished_ttl = int(finished_ttl)
        self.results_limit = int(results_limit)
        self._pool = None
        self._blocking = None
        self._groups = set()          # queues whose group exists
        self._last_result = {}        # reply stream -> last id read

    def __repr__(self):
        return "<RedisStreamsBroker %s namespace=%r>" % (self.url, self.namespace)

    # -- Keys and connections --------------------------------------------------

    def queue_key(self, queue):
        return "%s:queue:%s" % (self.namespace, check_name("queue", queue))

    def _key(self, kind, name):
        return "%s:%s:%s" % (self.namespace, kind, name)

    def _connect_pool(self, poolsize, reply_timeout):
        s = self.settings
        common = dict(dbid=s["db"], poolsize=poolsize, password=s["password"],
                      replyTimeout=reply_timeout, convertNumbers=False)
        if s["username"]:
            common["username"] = s["username"]
        if s["scheme"] == "unix":
            return txredisapi.lazyUnixConnectionPool(s["path"], **common)
        return txredisapi.lazyConnectionPool(s["host"], s["port"],
                                             connectTimeout=self.timeout, **common)

    def _call(self, *args):
        if self._pool is None:
            self._pool = self._connect_pool(2, self.timeout)
        return self._bounded(self._pool.execute_command(*args), self.timeout, args[0])

    def _call_blocking(self, wait, *args):
        """A command that waits up to C{wait} seconds (BLOCK): on a connection of its own."""
        if self._blocking is None:
            self._blocking = self._connect_pool(1, None)
        return self._bounded(self._blocking.execute_command(*args), wait + self.timeout,
                             args[0])

    def _bounded(self, d, seconds, command):
        """C{d}, failing with L{BrokerError} after C{seconds} (waiting for a connection too)."""
        d.addTimeout(seconds, self.reactor)
        return d.addErrback(self._failed, command)

    def _failed(self, failure, command):
        if failure.check(txredisapi.ResponseError):
            raise BrokerError("Redis refused %s: %s" % (command, failure.getErrorMessage()))
        if failure.check(txredisapi.ConnectionError, ConnectionError, defer.TimeoutError,
                         defer.CancelledError):
            raise BrokerError("Redis at %s did not answer %s: %s" % (
                self.url, command, failure.getErrorMessage()))
        return failure

    def connect(self):
        return self._call("PING").addCallback(lambda _: None)

    @defer.inlineCallbacks
    def close(self):
        for pool in (self._pool, self._blocking):
            if pool is not None:
                yield pool.disconnect()
        self._pool = self._blocking = None

    # -- Queues ----------------------------------------------------------------

    @defer.inlineCallbacks
    def ensure_queue(self, queue):
        """Create C{queue}'s stream and consumer group if they do not exist."""
        key = self.queue_key(queue)
        if key in self._groups:
            return
        try:
            yield self._call("XGROUP", "CREATE", key, GROUP, "0", "MKSTREAM")
        except BrokerError as e:
            if "BUSYGROUP" not in str(e):
                raise
        self._groups.add(key)

    @defer.inlineCallbacks
    def publish(self, queue, message):
        yield self.ensure_queue(queue)
        yield self._call("XADD", self.queue_key(queue), "*", "run", encode(message))

    @defer.inlineCallbacks
    def read(self, queues, consumer, count, block):
        keys = [self.queue_key(queue) for queue in queues]
        for queue in queues:
            yield self.ensure_queue(queue)
        try:
            reply = yield self._call_blocking(
                block, "XREADGROUP", "GROUP", GROUP, consumer, "COUNT", count,
                "BLOCK", max(1, int(block * 1000)), "STREAMS", *(keys + [">"] * len(keys)))
        except BrokerError as e:
            if "NOGROUP" in str(e):     # the stream was deleted: make it again
                self._groups.clear()
            raise
        deliveries = []
        for key, entries in reply or []:
            queue = queues[keys.index(key)]
            deliveries.extend(self._delivery(queue, entry_id, fields, 1)
                              for entry_id, fields in entries)
        return deliveries

    def _delivery(self, queue, entry_id, fields, count):
        try:
            message = decode_message(_pairs(fields).get("run"))
        except BadMessage as e:
            return Delivery(queue, entry_id, None, count, error=str(e))
        return Delivery(queue, entry_id, message, count)

    @defer.inlineCallbacks
    def reclaim(self, queues, consumer, idle, count):
        deliveries = []
        for queue in queues:
            if len(deliveries) >= count:
                break
            key = self.queue_key(queue)
            yield self.ensure_queue(queue)
            reply = yield self._call("XAUTOCLAIM", key, GROUP, consumer,
                                     int(idle * 1000), "0-0", "COUNT", count - len(deliveries))
            for entry_id, fields in reply[1]:
                if fields is None:
                    continue
                pending = yield self._call("XPENDING", key, GROUP, entry_id, entry_id, 1)
                times = int(pending[0][3]) if pending else 1
                deliveries.append(self._delivery(queue, entry_id, fields, times))
        return deliveries

    def begin(self, run_id, consumer, lease):
        return self._call("EVAL", _BEGIN, 3, self._key("finished", run_id),
                          self._key("abandoned", run_id), self._key("running", run_id),
                          consumer, max(1, int(lease * 1000)))

    @defer.inlineCallbacks
    def keep(self, deliveries, consumer, lease):
        if deliveries:
            yield self._call("EVAL", _KEEP_LEASES, len(deliveries), *[
                self._key("running", d.run_id) for d in deliveries], consumer,
                max(1, int(lease * 1000)))
        by_queue = {}
        for delivery in deliveries:
            by_queue.setdefault(delivery.queue, set()).add(delivery.tag)
        for queue, tags in by_queue.items():
            key = self.queue_key(queue)
            yield self.ensure_queue(queue)
            pending = yield self._call("XPENDING", key, GROUP, "-", "+", len(tags) + 100,
                                       consumer)
            ours = [row[0] for row in pending if row[0] in tags]
            if ours:
                yield self._call("XCLAIM", key, GROUP, consumer, 0, *ours, "JUSTID")

    def finish(self, delivery, outcome):
        reply_to = (delivery.message or {}).get("reply_to")
        keys = [self.queue_key(delivery.queue), self._key("results", check_name(
            "reply stream", reply_to)), self._key("finished", delivery.run_id)]
        return self._call("EVAL", _FINISH, 3, *keys, GROUP, delivery.tag, encode(outcome),
                          self.finished_ttl, self.results_limit)

    def ack(self, delivery):
        return self._call("EVAL", _ACK, 1, self.queue_key(delivery.queue), GROUP, delivery.tag)

    @defer.inlineCallbacks
    def settled(self, run_id):
        finished, abandoned = yield self._call(
            "MGET", self._key("finished", run_id), self._key("abandoned", run_id))
        return "finished" if finished else "abandoned" if abandoned else None

    def abandon(self, run_id):
        return self._call("SET", self._key("abandoned", run_id), "1", "EX", self.finished_ttl)

    # -- Workers ---------------------------------------------------------------

    @defer.inlineCallbacks
    def heartbeat(self, info, ttl):
        name = check_name("worker", info["name"])
        yield self._call("SET", self._key("worker", name), json.dumps(info), "EX",
                         max(1, int(round(ttl))))
        yield self._call("SADD", self._key("workers", "all"), name)

    @defer.inlineCallbacks
    def retire(self, name):
        yield self._call("DEL", self._key("worker", name))
        yield self._call("SREM", self._key("workers", "all"), name)

    @defer.inlineCallbacks
    def workers(self):
        names = sorted((yield self._call("SMEMBERS", self._key("workers", "all"))) or [])
        if not names:
            return []
        records = yield self._call("MGET", *[self._key("worker", name) for name in names])
        live, gone = [], []
        for name, record in zip(names, records):
            if record is None:
                gone.append(name)
            else:
                live.append(json.loads(record))
        if gone:
            yield self._call("SREM", self._key("workers", "all"), *gone)
        return live

    # -- Results and statistics ----------------------------------------------

    @defer.inlineCallbacks
    def results(self, reply_to, block):
        key = self._key("results", check_name("reply stream", reply_to))
        last = self._last_result.get(key, "0-0")
        reply = yield self._call_blocking(block, "XREAD", "COUNT", 1000, "BLOCK",
                                          max(1, int(block * 1000)), "STREAMS", key, last)
        outcomes, ids = [], []
        for _, entries in reply or []:
            for entry_id, fields in entries:
                ids.append(entry_id)
                try:
                    outcomes.append(json.loads(_pairs(fields)["outcome"]))
                except (KeyError, TypeError, ValueError):
                    continue
        if ids:
            self._last_result[key] = ids[-1]
            yield self._call("XDEL", key, *ids)
        return outcomes

    @defer.inlineCallbacks
    def queue_stats(self, queue):
        key = self.queue_key(queue)
        depth = int((yield self._call("XLEN", key)) or 0)
        first = yield self._call("XRANGE", key, "-", "+", "COUNT", 1)
        oldest = None
        if first:
            oldest = max(0.0, self.reactor.seconds() - _entry_time(first[0][0]))
        return {"queue": queue, "depth": depth, "oldest_age": oldest}
