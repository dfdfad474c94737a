"""
Example tasks for the daemon, registered in the default task registry::

    twistd -n sched --tasks twistedsched.example_tasks

Nothing imports this module unless asked to, so a daemon offers none of
these tasks by default.
"""

from twisted.internet import task as _task
from twisted.logger import Logger

from twistedsched.errors import BadArgumentError
from twistedsched.tasks import task

log = Logger(namespace="twistedsched.example_tasks")


@task("echo")
def echo(*args, **kwargs):
    """Log the arguments and return them."""
    log.info("echo: args={args!r} kwargs={kwargs!r}", args=args, kwargs=kwargs)
    return [list(args), kwargs]


@task("sleep")
def sleep(seconds=1.0):
    """Wait SECONDS (at most 3600) without blocking the reactor."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not 0 <= seconds <= 3600:
        raise BadArgumentError("sleep: seconds must be a number from 0 to 3600")
    from twisted.internet import reactor
    return _task.deferLater(reactor, seconds, lambda: seconds)


@task("fail")
def fail(message="failed on purpose"):
    """Raise an error, to see error events."""
    raise RuntimeError(str(message)[:200])
