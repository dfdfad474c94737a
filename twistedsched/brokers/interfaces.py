"""
The seam between the worker tier and a message broker: L{IBroker}.

A broker carries runs from schedulers to workers on named queues, and the
outcomes back.  Each broker module (L{twistedsched.brokers.redisstreams})
provides it; the queue executor and the worker daemon speak only to it.
"""

from zope.interface import Interface


class IBroker(Interface):
    """
    Queues of runs with acknowledgement, a registry of live workers and a
    reply stream per scheduler.  Every method returns a Deferred.
    """

    def connect():
        """Fire when the broker answers."""

    def close():
        """Drop the connections; fire when done."""

    def publish(queue, message):
        """Put C{message} (a dict, see L{twistedsched.brokers.base.run_message}) on C{queue}."""

    def read(queues, consumer, count, block):
        """
        Fire with at most C{count} new L{Delivery<twistedsched.brokers.base.Delivery>}s
        from C{queues} for C{consumer}, waiting at most C{block} seconds for
        one.  A delivery stays with C{consumer} until acknowledged.
        """

    def reclaim(queues, consumer, idle, count):
        """
        Fire with at most C{count} deliveries taken over from consumers that
        have not kept them for C{idle} seconds (their worker died).
        """

    def begin(run_id, consumer, lease):
        """
        Before running a delivery: fire with C{"finished"} or C{"abandoned"}
        (acknowledge it unrun), C{"held"} (another consumer runs it now:
        leave it for redelivery), or C{"started"}: C{consumer} holds the run
        for C{lease} seconds, renewed by L{keep}.
        """

    def keep(deliveries, consumer, lease):
        """
        Say that C{consumer} still holds C{deliveries} (so nobody reclaims
        them) and renew its lease on their runs.
        """

    def finish(delivery, outcome):
        """
        In one step: send C{outcome} (a dict, see
        L{twistedsched.brokers.base.outcome}) to the scheduler that
        published the run, acknowledge the delivery and record its run id
        as finished.
        """

    def ack(delivery):
        """Acknowledge a delivery without an outcome (a finished or abandoned run)."""

    def settled(run_id):
        """Fire with C{"finished"}, C{"abandoned"} or C{None} for a run id."""

    def abandon(run_id):
        """Mark a run abandoned: a worker that has not started it acknowledges it unrun."""

    def heartbeat(info, ttl):
        """Record a live worker (a dict with a C{"name"}) for C{ttl} seconds."""

    def retire(name):
        """Remove a worker from the registry (it is stopping)."""

    def workers():
        """Fire with the records of the live workers."""

    def results(reply_to, block):
        """Fire with the outcomes sent to C{reply_to}, waiting at most C{block} seconds."""

    def queue_stats(queue):
        """Fire with a dict: C{depth} (runs not acknowledged), C{oldest_age} (seconds, or None)."""
