"""
What travels through a broker: run messages, deliveries and outcomes, as
JSON-ready dicts.

A run message carries C{run_id} (the same for every delivery of a run),
C{job_id}, C{task} (a registered task name or C{module:qualname}),
C{args}, C{kwargs}, C{scheduled} (ISO 8601), C{published} (POSIX seconds),
C{reply_to} (the scheduler's reply stream) and C{timeout} (seconds or
C{None}).  An outcome carries C{run_id}, C{outcome} (C{"ok"}, C{"error"},
C{"no_task"}), C{result} or C{error}, C{worker}, C{deliveries},
C{started} and C{duration}.
"""

import json
import re

from twistedsched.errors import BadArgumentError, SchedulerError

#: The version of the message format.
MESSAGE_VERSION = 1

#: Fields a run message must have, with their types.
MESSAGE_FIELDS = {"run_id": str, "job_id": str, "task": str, "args": list, "kwargs": dict,
                  "scheduled": str, "reply_to": str}


#: Queue, worker and reply stream names: what may appear in a key or queue name.
NAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


def check_name(what, name):
    """C{name} if it may name a queue or worker; L{BadArgumentError} if not."""
    if not isinstance(name, str) or not NAME.match(name):
        raise BadArgumentError("%s %r: use 1 to 128 letters, digits and _.:@-" % (what, name))
    return name


class BrokerError(SchedulerError):
    """The broker refused or could not carry out an operation."""


class BadMessage(SchedulerError, ValueError):
    """A message on a queue is not a run message this version understands."""


class NoWorkerError(SchedulerError):
    """No live worker consumes the queue and offers the task of a run."""


class QueueFull(SchedulerError):
    """A queue holds as many unfinished runs as its bound allows."""


def run_message(run_id, job_id, task, args, kwargs, scheduled, published, reply_to,
                timeout=None):
    """A run message (see the module's docstring)."""
    return {"v": MESSAGE_VERSION, "run_id": run_id, "job_id": job_id, "task": task,
            "args": list(args), "kwargs": dict(kwargs), "scheduled": scheduled,
            "published": published, "reply_to": reply_to, "timeout": timeout}


def encode(message):
    """A message as JSON text."""
    return json.dumps(message, allow_nan=False, separators=(",", ":"))


def decode_message(text):
    """A run message from JSON text; L{BadMessage} saying what is wrong."""
    try:
        message = json.loads(text)
    except (TypeError, ValueError) as e:
        raise BadMessage("not JSON: %s" % (e,)) from None
    if not isinstance(message, dict):
        raise BadMessage("not a JSON object")
    for field, kind in MESSAGE_FIELDS.items():
        if not isinstance(message.get(field), kind):
            raise BadMessage("field %r: expected %s, got %r" % (
                field, kind.__name__, message.get(field)))
    for field in ("run_id", "reply_to"):
        if not NAME.match(message[field]):
            raise BadMessage("field %r: %r is not a name (1 to 128 letters, digits and "
                             "_.:@-)" % (field, message[field]))
    return message


class Delivery:
    """
    One delivery of a run message to a worker: C{queue}, the broker's
    C{tag} for it, the decoded C{message} (or C{None} with C{error} when it
    could not be read) and C{count}, how many times it was delivered.
    """

    def __init__(self, queue, tag, message, count=1, error=None):
        self.queue = queue
        self.tag = tag
        self.message = message
        self.count = count
        self.error = error

    @property
    def run_id(self):
        return None if self.message is None else self.message["run_id"]

    def __repr__(self):
        return "<Delivery %s/%s run=%s count=%d>" % (self.queue, self.tag, self.run_id,
                                                    self.count)


def outcome(delivery, worker, outcome, started, duration, result=None, error=None):
    """The outcome of a run, as the worker reports it."""
    return {"run_id": delivery.run_id, "job_id": delivery.message["job_id"],
            "outcome": outcome, "result": result, "error": error, "worker": worker,
            "deliveries": delivery.count, "started": started, "duration": duration}


def offers(worker, task):
    """Does a worker's registry record say it runs C{task}?"""
    if task in worker.get("tasks", ()):
        return True
    module, colon, _ = task.partition(":")
    return bool(colon) and module in worker.get("modules", ())
