"""
A worker process of the process executor: C{python -c "from
twistedsched.executors.worker import main; main()"}.

It speaks AMP on its stdin and stdout with the pool in the parent process.
Each L{RunJob} names the job's function by its text reference
(C{package.module:qualname}), which the worker imports, and carries the
arguments as JSON; the answer carries the result as JSON, or the job's
exception as text.  The worker runs one job at a time, in its own reactor
thread.  It exits when its stdin closes; the parent kills it when a job
times out.  What the job prints goes to the worker's stderr, which the
parent logs.
"""

import json
import os
import signal
import traceback

from twisted.protocols import amp

from twistedsched.executors.base import call_blocking
from twistedsched.refs import resolve_reference

#: The most bytes an AMP value holds: arguments, result and error each
#: travel in one.
MAX_VALUE = 0xffff

#: How much of a job's error message travels back (its start).
MAX_MESSAGE = 4096

#: How much of a job's traceback travels back (its end, where the error is).
MAX_TRACEBACK = 16 * 1024


class Hello(amp.Command):
    """The worker is up and has imported what it needs: its pid."""
    arguments = []
    response = [(b"pid", amp.Integer())]


class RunJob(amp.Command):
    """
    Call C{func} (a text reference) with JSON C{args} and C{kwargs}.  The
    answer has C{result} (JSON) or C{error} (the exception's type and
    message) and C{traceback}.
    """
    arguments = [(b"func", amp.Unicode()), (b"args", amp.Unicode()),
                 (b"kwargs", amp.Unicode())]
    response = [(b"result", amp.Unicode(optional=True)),
                (b"error", amp.Unicode(optional=True)),
                (b"traceback", amp.Unicode(optional=True))]


def result_json(result):
    """A job's result as JSON text, or C{ValueError} saying why it cannot travel."""
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValueError("the job returned %s, which is not a JSON value (%s)" % (
            _short_repr(result), e)) from None
    if len(text) > MAX_VALUE:       # ASCII: ensure_ascii escapes the rest
        raise ValueError("the job's result is %d bytes of JSON, more than the %d "
                         "a worker can send back" % (len(text), MAX_VALUE))
    return text


def fit(text):
    """C{text}, cut to the end that fits in an AMP value."""
    data = text.encode("utf-8")
    if len(data) <= MAX_VALUE:
        return text
    return data[-MAX_VALUE:].decode("utf-8", "ignore")


def _short_repr(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def describe_exception(error):
    """C{"TypeName: message"} for an exception."""
    name = type(error).__qualname__
    message = str(error)
    return "%s: %s" % (name, message) if message else name


def run_job(func, args, kwargs):
    """
    Import C{func}, call it with the decoded arguments and return the
    answer of L{RunJob}.
    """
    try:
        result = call_blocking(resolve_reference(func), json.loads(args), json.loads(kwargs))
        return {"result": result_json(result)}
    except BaseException as e:      # SystemExit too: the worker serves on
        return {"error": describe_exception(e)[:MAX_MESSAGE],
                "traceback": fit(traceback.format_exc()[-MAX_TRACEBACK:])}


class WorkerProtocol(amp.AMP):
    """The worker's side: answers L{Hello} and L{RunJob}; stops its reactor at EOF."""

    def __init__(self, reactor):
        super().__init__()
        self._reactor = reactor

    @Hello.responder
    def hello(self):
        return {"pid": os.getpid()}

    @RunJob.responder
    def run(self, func, args, kwargs):
        return run_job(func, args, kwargs)

    def connectionLost(self, reason):
        super().connectionLost(reason)
        if self._reactor.running:
            self._reactor.stop()


def main():
    """Serve AMP on stdin and the original stdout; send stdout to stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)     # the parent decides when we stop
    channel = os.dup(1)
    os.dup2(2, 1)
    from twisted.internet import reactor, stdio
    stdio.StandardIO(WorkerProtocol(reactor), stdin=0, stdout=channel)
    reactor.run(installSignalHandlers=False)

