"""
Job stores.  C{make_jobstore("memory")} or a URL builds one; stores of other
kinds register a URL scheme in L{STORE_SCHEMES}.
"""

from twistedsched.errors import BadArgumentError
from twistedsched.interfaces import IJobStore
from twistedsched.stores.memory import MemoryJobStore

#: URL scheme -> callable(url, **options) returning an IJobStore.
STORE_SCHEMES = {}


def make_jobstore(spec, **options):
    """
    An L{IJobStore} from C{spec}: a store (returned as is), C{"memory"}, or
    a URL whose scheme is registered in L{STORE_SCHEMES}
    (C{redis://host:port/db}).
    """
    if IJobStore.providedBy(spec):
        return spec
    if spec == "memory":
        return MemoryJobStore()
    if isinstance(spec, str):
        scheme = spec.partition("://")[0]
        if scheme in ("redis", "rediss", "unix", "redis-sentinel") \
                and scheme not in STORE_SCHEMES:
            try:
                import twistedsched.stores.redis  # noqa: F401  (registers the schemes)
            except ImportError as e:
                raise BadArgumentError("the redis job store needs txredisapi: %s" % (e,))
        if scheme in STORE_SCHEMES:
            return STORE_SCHEMES[scheme](spec, **options)
    raise BadArgumentError("unknown job store %r (use 'memory' or a redis:// URL)" % (spec,))


__all__ = ["MemoryJobStore", "make_jobstore", "STORE_SCHEMES"]
