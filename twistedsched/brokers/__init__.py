"""
Brokers of the worker tier: queues of runs between schedulers and workers
(see C{docs/workers.rst}).  C{make_broker(url)} builds one from its URL.
"""

from twistedsched.brokers.interfaces import IBroker
from twistedsched.errors import BadArgumentError


def make_broker(spec, **options):
    """An L{IBroker}: one given, or one for a C{redis://} or C{unix://} URL."""
    if IBroker.providedBy(spec):
        return spec
    scheme = spec.partition("://")[0] if isinstance(spec, str) else None
    if scheme in ("redis", "rediss", "unix"):
        from twistedsched.brokers.redisstreams import RedisStreamsBroker
        return RedisStreamsBroker(spec, **options)
    if scheme == "amqp":
        from twistedsched.brokers.rabbitmq import RabbitMQBroker
        return RabbitMQBroker(spec, **options)
    raise BadArgumentError("broker: expected a redis://, unix:// or amqp:// URL, not %r"
                           % (spec,))
