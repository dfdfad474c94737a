"""
The event stream (C{GET /api/events}): the scheduler's events as
Server-Sent Events, one C{data:} line of JSON each (the control port's
event dicts, with C{job_run} records too).

A reader that does not keep up is not buffered for: while the connection's
send buffer is full, events are dropped and counted, and when it drains the
reader gets one C{events_dropped} event saying how many it missed.  A
comment line every L{KEEPALIVE} seconds finds readers that went away.
"""

import json

from twisted.internet import task
from twisted.logger import Logger
from zope.interface import implementer
from twisted.internet.interfaces import IPushProducer

from twistedsched.control import event_to_wire
from twistedsched.events import EVENT_ALL, EVENT_JOB_RUN, mask_from_names
from twistedsched.web.api import bad_argument

log = Logger()

#: Seconds between keep-alive comments.
KEEPALIVE = 15.0


def event_mask(names_text):
    """The mask of a C{events} parameter (comma-separated names; default: all and job_run)."""
    names = [n.strip() for n in (names_text or "").split(",") if n.strip()]
    if not names:
        return EVENT_ALL | EVENT_JOB_RUN
    try:
        return mask_from_names(names)
    except ValueError as e:
        raise bad_argument(str(e)) from None


def sse_message(data, event=None):
    """The bytes of one Server-Sent Event carrying C{data} as JSON."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    head = "event: %s\n" % (event,) if event else ""
    return ("%sdata: %s\n\n" % (head, text)).encode("utf-8")


@implementer(IPushProducer)
class EventStream:
    """
    One reader of the event stream on C{request}: listens to C{scheduler}
    for C{mask} until the request ends.
    """

    def __init__(self, scheduler, request, mask, keepalive=KEEPALIVE):
        self.scheduler = scheduler
        self.request = request
        self.mask = mask
        self.paused = False
        self.dropped = 0
        self.finished = False
        self._keepalive = task.LoopingCall(self._comment)
        self._keepalive.clock = scheduler.reactor
        self._keepalive_interval = keepalive

    def start(self):
        request = self.request
        request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        request.setHeader(b"X-Accel-Buffering", b"no")
        request.registerProducer(self, True)
        request.write(b": twistedsched events\nretry: 3000\n\n")
        self.scheduler.add_listener(self.push, self.mask)
        self._keepalive.start(self._keepalive_interval, now=False)
        request.notifyFinish().addBoth(self._finished)

    def push(self, event):
        if self.finished:
            return
        if self.paused:
            self.dropped += 1
            return
        self.request.write(sse_message(event_to_wire(event)))

    def _comment(self):
        if not self.finished and not self.paused:
            self.request.write(b": keep-alive\n\n")

    def _finished(self, _):
        self.finished = True
        self.scheduler.remove_listener(self.push)
        if self._keepalive.running:
            self._keepalive.stop()

    # IPushProducer: the connection's send buffer is full, or drained.
    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        if self.dropped and not self.finished:
            count, self.dropped = self.dropped, 0
            self.request.write(sse_message({"event": "events_dropped", "count": count}))

    def stopProducing(self):
        self.paused = True
