"""
Tasks for the worker tier tests (C{twistd sched-worker --tasks tests.workertasks}).
Each run of C{mark} appends a line to a file, so that tests count executions
across processes.
"""

import os
import threading
import time

from twisted.internet import task as _task

from twistedsched.tasks import TaskRegistry

registry = TaskRegistry()
task = registry.task


@task("wt.add")
def add(a, b):
    return a + b


@task("wt.fail")
def fail(message):
    raise ValueError(message)


@task("wt.mark")
def mark(path, label, seconds=0):
    """Append C{label pid} to C{path}, then wait C{seconds} (without blocking)."""
    with open(path, "a") as f:
        f.write("%s %d\n" % (label, os.getpid()))
    if not seconds:
        return label
    if threading.current_thread() is not threading.main_thread():
        time.sleep(seconds)
        return label
    from twisted.internet import reactor
    return _task.deferLater(reactor, seconds, lambda: label)


@task("wt.nojson")
def nojson():
    return object()


def unregistered():
    return "module-level"


# `--tasks tests.workertasks` offers these through the default registry.
from twistedsched.tasks import default_registry  # noqa: E402
default_registry.update(registry)
