"""
The daemon behind C{twistd sched}: its options and its service tree.

    twistd -n sched --tasks mygame.tasks --timezone Europe/London

The tree is a L{MultiService} holding the scheduler (named C{"scheduler"}),
the control port (C{"control"}) and the admin console (C{"console"}).
"""

import importlib
import importlib.util

from twisted.application import service, strports
from twisted.cred import credentials, strcred
from twisted.logger import Logger
from twisted.python import usage

from twistedsched import tasks as _tasks
from twistedsched.errors import SchedulerError
from twistedsched.executors import ReactorExecutor, ThreadPoolExecutor
from twistedsched.scheduler import Scheduler
from twistedsched.timeutil import as_timezone

log = Logger()

DEFAULT_CONTROL = "tcp:7730:interface=127.0.0.1"
DEFAULT_CONSOLE = "tcp:7731:interface=127.0.0.1"
DISABLED = ("none", "off", "")


class Options(usage.Options, strcred.AuthOptionMixin):
    """Options of C{twistd sched}."""

    synopsis = "[options]"
    longdesc = ("Run a twistedsched scheduler with an AMP control port (for "
                "twistedsched-ctl and twistedsched.client) and an admin console. "
                "Remote clients may schedule the tasks registered by --tasks modules only.")
    supportedInterfaces = (credentials.IUsernamePassword,)

    optParameters = [
        ["store", None, "memory", "Job store: 'memory', or a Redis URL such as "
                                  "redis://127.0.0.1:6379/0."],
        ["namespace", None, "twistedsched", "Key prefix in the Redis store, so that "
                                            "several schedulers can share one server."],
        ["timezone", None, "UTC", "Time zone for naive times and display (IANA name)."],
        ["control", None, DEFAULT_CONTROL, "Endpoint of the AMP control port ('none' to disable)."],
        ["console", None, DEFAULT_CONSOLE, "Endpoint of the admin console ('none' to disable)."],
        ["max-workers", None, 10, "Threads of the 'threads' executor.", int],
    ]

    def __init__(self):
        usage.Options.__init__(self)
        self["tasks"] = []

    def opt_tasks(self, module):
        """Import MODULE: tasks it registers may be scheduled remotely (repeatable)."""
        self["tasks"].append(module)

    def postOptions(self):
        try:
            as_timezone(self["timezone"])
        except SchedulerError as e:
            raise usage.UsageError(str(e)) from None
        if self["max-workers"] < 1:
            raise usage.UsageError("--max-workers must be at least 1")
        if self["store"] != "memory" and "://" not in self["store"]:
            raise usage.UsageError("--store: use 'memory' or a redis:// URL, not %r"
                                   % (self["store"],))


def import_tasks(modules, registry):
    """Import each module, then copy the default task registry into C{registry}."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise usage.UsageError("--tasks %s: cannot import it: %s" % (name, e)) from None
    registry.update(_tasks.default_registry)


def make_scheduler(options, reactor=None):
    """The scheduler the options describe (store, zone, executors, tasks)."""
    sched = Scheduler(reactor=reactor, timezone=options["timezone"], executors={
        "default": ReactorExecutor(),
        "threads": ThreadPoolExecutor(max_workers=options["max-workers"]),
        "processes": "processes",
    })
    import_tasks(options["tasks"], sched.tasks)
    if options["store"] != "memory":
        try:
            sched.add_jobstore(options["store"], alias="default",
                               namespace=options["namespace"])
        except SchedulerError as e:
            raise usage.UsageError("--store: %s" % (e,)) from None
    return sched


def _checker(options):
    checkers = options.get("credCheckers") or []
    return checkers[0] if checkers else None


def _endpoint_service(description, factory, what, reactor=None):
    try:
        if reactor is None:
            return strports.service(description, factory)
        from twisted.internet.endpoints import serverFromString
        return strports.StreamServerEndpointService(
            serverFromString(reactor, description), factory)
    except (ValueError, KeyError, TypeError) as e:
        raise usage.UsageError("--%s %r: %s" % (what, description, e)) from None


def make_control_service(scheduler, endpoint, options, reactor=None):
    """The AMP control port on C{endpoint} (an endpoint string)."""
    from twistedsched.control import ControlFactory
    factory = ControlFactory(scheduler, checker=_checker(options))
    return _endpoint_service(endpoint, factory, "control", reactor)


def make_console_service(scheduler, endpoint, options, reactor=None):
    """The admin console (L{twistedsched.console}) on C{endpoint}."""
    from twistedsched.console import ConsoleFactory
    factory = ConsoleFactory(scheduler, checker=_checker(options))
    return _endpoint_service(endpoint, factory, "console", reactor)


def makeService(options, reactor=None):
    """The service tree for C{twistd sched} (C{reactor} is for tests)."""
    top = service.MultiService()
    sched = make_scheduler(options, reactor)
    sched.setName("scheduler")
    sched.setServiceParent(top)
    for name, make in (("control", make_control_service), ("console", make_console_service)):
        endpoint = options[name]
        if endpoint.lower() in DISABLED:
            continue
        child = make(sched, endpoint, options, reactor)
        if child is not None:
            child.setName(name)
            child.setServiceParent(top)
    return top
