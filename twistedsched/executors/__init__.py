"""
Executors: where a job's function runs.  C{make_executor("threads",
max_workers=4)} builds one by name.
"""

from twistedsched.errors import BadArgumentError
from twistedsched.executors.processes import ProcessPoolExecutor
from twistedsched.executors.reactor import ReactorExecutor
from twistedsched.executors.threads import ThreadPoolExecutor
from twistedsched.interfaces import IExecutor

EXECUTOR_KINDS = {
    "reactor": ReactorExecutor,
    "threads": ThreadPoolExecutor,
    "processes": ProcessPoolExecutor,
}


def make_executor(spec, **options):
    """An L{IExecutor}: one given, or one of the kinds in L{EXECUTOR_KINDS}."""
    if IExecutor.providedBy(spec):
        return spec
    try:
        cls = EXECUTOR_KINDS[spec]
    except (KeyError, TypeError):
        raise BadArgumentError("unknown executor %r (known: %s)" % (
            spec, ", ".join(sorted(EXECUTOR_KINDS)))) from None
    return cls(**options)


__all__ = ["ReactorExecutor", "ThreadPoolExecutor", "ProcessPoolExecutor", "make_executor"]
