"""
The RabbitMQ broker, on pika's Twisted adapter
(C{pika.adapters.twisted_connection})::

    broker = RabbitMQBroker("amqp://guest:guest@127.0.0.1:5672/%2F", namespace="work")

Each queue is a durable quorum queue (C{NS.queue.NAME}), so that RabbitMQ
counts deliveries (C{x-delivery-count}); runs are published persistent, with
publisher confirms.  RabbitMQ itself gives the runs of a worker whose
connection died back to the queue, so L{reclaim} and L{keep} have nothing
to do.  Outcomes go to a durable queue per scheduler (C{NS.results.ID});
workers announce themselves on a fanout exchange (C{NS.workers}) that each
scheduler listens to.  RabbitMQ keeps no shared record of finished runs:
a worker remembers those it finished, and a run past its timeout is
acknowledged unrun by the worker itself (see C{docs/workers.rst}).
"""

import json
import time
from urllib.parse import urlsplit

from twisted.internet import defer, protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from twistedsched.brokers.base import (
    BadMessage, BrokerError, Delivery, check_name, decode_message, encode)
from twistedsched.brokers.interfaces import IBroker
from twistedsched.errors import BadArgumentError

log = Logger()


def _pika():
    try:
        import pika
        from pika.adapters import twisted_connection
    except ImportError:
        raise BadArgumentError("the RabbitMQ broker needs pika: pip install "
                               "'twistedsched[rabbitmq]'") from None
    return pika, twisted_connection


@implementer(IBroker)
class RabbitMQBroker:
    """
    Queues of runs in RabbitMQ (3.8 or later: quorum queues).

    @param url: C{amqp://user:password@host:port/vhost} (vhost URL-quoted:
        C{%2F} for C{/}).
    @param namespace: prefix of every queue and exchange name.
    @param warmup: seconds a scheduler listens to worker heartbeats before
        it trusts its registry (at least one heartbeat interval).
    """

    def __init__(self, url, namespace="twistedsched-work", *, timeout=10.0, warmup=3.0,
                 reactor=None):
        if reactor is None:
            from twisted.internet import reactor
        self.reactor = reactor
        self.url = url
        pika, _ = _pika()
        if urlsplit(url).scheme not in ("amqp",):
            raise BadArgumentError("broker: expected an amqp:// URL, not %r" % (url,))
        try:
            self.parameters = pika.URLParameters(url)
        except Exception as e:
            raise BadArgumentError("broker: bad AMQP URL %r: %s" % (url, e)) from None
        self.namespace = check_name("namespace", namespace)
        self.timeout = timeout
        self.warmup = warmup
        self._connection = None
        self._channel = None
        self._connecting = None
        self._declared = set()
        self._consuming = {}          # queue name -> Deferred of its consumer
        self._buffer = []             # Deliveries received, not yet read
        self._results = {}            # reply queue -> outcomes received
        self._waiters = []            # Deferreds waiting for something to arrive
        self._registry = {}           # worker name -> (record, expiry)
        self._listening_since = None

    def __repr__(self):
        return "<RabbitMQBroker %s namespace=%r>" % (self._where(), self.namespace)

    def _where(self):
        p = self.parameters
        return "amqp://%s:%s/%s" % (p.host, p.port, p.virtual_host)

    def _name(self, kind, name):
        return "%s.%s.%s" % (self.namespace, kind, check_name(kind, name))

    def queue_name(self, queue):
        return self._name("queue", queue)

    # -- Connection --------------------------------------------------------------

    def _ready(self):
        """Fire with an open channel (connecting first if needed)."""
        if self._channel is not None and self._channel.is_open:
            return defer.succeed(self._channel)
        d = defer.Deferred()
        if self._connecting is None:
            self._connecting = [d]
            self._connect().addBoth(self._connected)
        else:
            self._connecting.append(d)
        return d

    @defer.inlineCallbacks
    def _connect(self):
        _, twisted_connection = _pika()
        self._reset()
        creator = protocol.ClientCreator(self.reactor, twisted_connection.TwistedProtocolConnection,
                                         self.parameters, custom_reactor=self.reactor)
        p = self.parameters
        try:
            connection = yield creator.connectTCP(p.host, p.port, timeout=self.timeout)
            yield connection.ready.addTimeout(self.timeout, self.reactor)
            channel = yield connection.channel()
            yield channel.confirm_delivery()
        except Exception as e:
            raise BrokerError("RabbitMQ at %s did not answer: %s" % (self._where(), e)) from None
        self._connection = connection
        connection.closed.addBoth(self._lost)
        self._channel = channel
        return channel

    def _connected(self, result):
        waiting, self._connecting = self._connecting, None
        for d in waiting:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)

    def _reset(self):
        self._channel = None
        self._declared = set()
        self._consuming = {}
        self._buffer = []

    def _lost(self, reason):
        log.info("the connection to {broker} closed", broker=self)
        self._connection = None
        self._channel = None
        self._consuming = {}
        self._buffer = []           # RabbitMQ gives unacknowledged runs back
        self._wake()

    def connect(self):
        return self._ready().addCallback(lambda _: None)

    def close(self):
        connection, self._connection = self._connection, None
        self._channel = None
        self._wake()
        if connection is None or connection.is_closed:
            return defer.succeed(None)
        return connection.close() or defer.succeed(None)

    def _wake(self):
        waiting, self._waiters = self._waiters, []
        for d in waiting:
            if not d.called:
                d.callback(None)

    @defer.inlineCallbacks
    def _wait(self, seconds):
        """Wait until something arrives, or C{seconds} pass."""
        d = defer.Deferred()
        self._waiters.append(d)
        call = self.reactor.callLater(seconds, self._wake_one, d)
        yield d
        if call.active():
            call.cancel()

    def _wake_one(self, d):
        if d in self._waiters:
            self._waiters.remove(d)
        if not d.called:
            d.callback(None)

    # -- Queues ----------------------------------------------------------------

    @defer.inlineCallbacks
    def _declare(self, name, **arguments):
        channel = yield self._ready()
        if name not in self._declared:
            yield channel.queue_declare(queue=name, durable=True, arguments=arguments or None)
            self._declared.add(name)
        return channel

    def ensure_queue(self, queue):
        return self._declare(self.queue_name(queue), **{"x-queue-type": "quorum"})

    @defer.inlineCallbacks
    def _send(self, routing_key, body, exchange="", persistent=True):
        pika, _ = _pika()
        channel = yield self._ready()
        properties = pika.BasicProperties(content_type="application/json",
                                          delivery_mode=2 if persistent else 1)
        yield channel.basic_publish(exchange=exchange, routing_key=routing_key,
                                    body=body.encode("utf-8"), properties=properties)

    @defer.inlineCallbacks
    def publish(self, queue, message):
        yield self.ensure_queue(queue)
        yield self._send(self.queue_name(queue), encode(message))

    @defer.inlineCallbacks
    def _consume(self, name, on_message, prefetch=None, auto_ack=False):
        channel = yield self._ready()
        if name in self._consuming:
            return
        self._consuming[name] = True
        if prefetch:
            yield channel.basic_qos(prefetch_count=prefetch)
        queue_object, _ = yield channel.basic_consume(queue=name, auto_ack=auto_ack)
        self._pump(queue_object, on_message)

    def _pump(self, queue_object, on_message):
        def got(message):
            on_message(message)
            self._wake()
            self._pump(queue_object, on_message)

        queue_object.get().addCallbacks(got, lambda _: None)

    @defer.inlineCallbacks
    def read(self, queues, consumer, count, block):
        for queue in queues:
            yield self.ensure_queue(queue)
            name = self.queue_name(queue)
            yield self._consume(name, lambda m, q=queue: self._buffer.append(
                self._delivery(q, m)), prefetch=max(count, 1))
        if not self._buffer:
            yield self._wait(block)
        taken, self._buffer = self._buffer[:count], self._buffer[count:]
        return taken

    def _delivery(self, queue, message):
        headers = message.properties.headers or {}
        count = 1 + int(headers.get("x-delivery-count", 0) or 0)
        if message.method.redelivered and count == 1:
            count = 2
        delivery_tag = (message.channel, message.method.delivery_tag)
        try:
            decoded = decode_message(message.body.decode("utf-8", "replace"))
        except BadMessage as e:
            return Delivery(queue, delivery_tag, None, count, error=str(e))
        return Delivery(queue, delivery_tag, decoded, count)

    def reclaim(self, queues, consumer, idle, count):
        """Nothing: RabbitMQ requeues a dead connection's unacknowledged runs itself."""
        return defer.succeed([])

    def keep(self, deliveries, consumer, lease):
        """Nothing: a delivery stays with its connection while it lives."""
        return defer.succeed(None)

    def begin(self, run_id, consumer, lease):
        """C{"started"}: RabbitMQ keeps no shared record of runs (the worker's own memory does)."""
        return defer.succeed("started")

    def _ack(self, delivery):
        channel, tag = delivery.tag
        if channel is not self._channel or not channel.is_open:
            raise BrokerError("the channel that delivered run %s closed; RabbitMQ "
                              "delivers it again" % (delivery.run_id,))
        channel.basic_ack(delivery_tag=tag)

    @defer.inlineCallbacks
    def finish(self, delivery, outcome):
        reply_to = delivery.message["reply_to"]
        yield self._declare(self._name("results", reply_to))
        yield self._send(self._name("results", reply_to), encode(outcome))
        self._ack(delivery)

    def ack(self, delivery):
        return defer.maybeDeferred(self._ack, delivery)

    def abandon(self, run_id):
        """Nothing to record: a worker tells an abandoned run by its timeout."""
        return defer.succeed(None)

    # -- Workers ---------------------------------------------------------------

    @defer.inlineCallbacks
    def _exchange(self):
        channel = yield self._ready()
        name = "%s.workers" % (self.namespace,)
        if name not in self._declared:
            yield channel.exchange_declare(exchange=name, exchange_type="fanout", durable=True)
            self._declared.add(name)
        return name

    @defer.inlineCallbacks
    def heartbeat(self, info, ttl):
        check_name("worker", info["name"])
        exchange = yield self._exchange()
        record = dict(info, ttl=ttl)
        yield self._send("", json.dumps(record), exchange=exchange, persistent=False)

    @defer.inlineCallbacks
    def retire(self, name):
        exchange = yield self._exchange()
        yield self._send("", json.dumps({"name": name, "retired": True}), exchange=exchange,
                         persistent=False)

    @defer.inlineCallbacks
    def _listen(self):
        exchange = yield self._exchange()
        if "registry" in self._consuming:
            return
        channel = yield self._ready()
        frame = yield channel.queue_declare(queue="", exclusive=True, auto_delete=True)
        name = frame.method.queue
        yield channel.queue_bind(queue=name, exchange=exchange)
        self._consuming["registry"] = True
        queue_object, _ = yield channel.basic_consume(queue=name, auto_ack=True)
        self._listening_since = time.monotonic()
        self._pump(queue_object, self._heard)

    def _heard(self, message):
        try:
            record = json.loads(message.body)
            name = record["name"]
        except (ValueError, KeyError, TypeError):
            return
        if record.get("retired"):
            self._registry.pop(name, None)
        else:
            self._registry[name] = (record, time.monotonic() + float(record.get("ttl", 6)))

    @defer.inlineCallbacks
    def workers(self):
        yield self._listen()
        left = self.warmup - (time.monotonic() - self._listening_since)
        if left > 0:
            yield self._sleep(left)
        now = time.monotonic()
        for name, (_, expiry) in list(self._registry.items()):
            if expiry < now:
                del self._registry[name]
        return [record for name, (record, _) in sorted(self._registry.items())]

    def _sleep(self, seconds):
        d = defer.Deferred()
        self.reactor.callLater(seconds, d.callback, None)
        return d

    # -- Results and statistics ----------------------------------------------

    @defer.inlineCallbacks
    def results(self, reply_to, block):
        name = self._name("results", reply_to)
        yield self._declare(name)
        got = self._results.setdefault(name, [])
        yield self._consume(name, lambda m: got.append(m.body), auto_ack=True)
        if not got:
            yield self._wait(block)
        outcomes = []
        while got:
            try:
                outcomes.append(json.loads(got.pop(0)))
            except ValueError:
                continue
        return outcomes

    @defer.inlineCallbacks
    def queue_stats(self, queue):
        """C{depth}: runs waiting (RabbitMQ does not count those delivered and unacknowledged)."""
        channel = yield self.ensure_queue(queue)
        frame = yield channel.queue_declare(queue=self.queue_name(queue), passive=True)
        return {"queue": queue, "depth": frame.method.message_count, "oldest_age": None}

    @defer.inlineCallbacks
    def delete_queues(self, queues, reply_tos=()):
        """Delete queues (for tests and clean-up)."""
        channel = yield self._ready()
        for name in [self.queue_name(q) for q in queues] + [
                self._name("results", r) for r in reply_tos]:
            yield channel.queue_delete(queue=name)
            self._declared.discard(name)
