"""
The daemon behind C{twistd sched}: its options and its service tree::

    twistd -n sched --tasks mygame.tasks --timezone Europe/London

The tree is a L{service.MultiService} holding the scheduler (named C{"scheduler"}),
the control port (C{"control"}), the admin console (C{"console"}) and, with
C{--metrics}, the Prometheus metrics port (C{"metrics"}), with C{--web} the
web port (C{"web"}).
"""

import importlib
import importlib.util

from twisted.application import service, strports
from twisted.internet import defer
from twisted.logger import Logger
from twisted.python import usage

from twistedsched import tasks as _tasks
from twistedsched.auth import Authenticator, make_checker
from twistedsched.console import DEFAULT_MAX_LINE_LENGTH
from twistedsched.errors import SchedulerError
from twistedsched.job import check_options
from twistedsched.executors import ProcessPoolExecutor, ReactorExecutor, ThreadPoolExecutor
from twistedsched.limits import ConnectionLimiter
from twistedsched.remote import MIN_INTERVAL
from twistedsched.config import check_jobs, ensure_jobs, read_config
from twistedsched.policies.calendars import check_calendar, load_calendar
from twistedsched.scheduler import RETENTION, Scheduler
from twistedsched.stores import MemoryJobStore
from twistedsched.timeutil import as_timezone
from twistedsched.tls import check_listen_safety, listens_beyond_loopback, server_endpoint

log = Logger()

DEFAULT_CONTROL = "tcp:7730:interface=127.0.0.1"
DEFAULT_CONSOLE = "tcp:7731:interface=127.0.0.1"
DISABLED = ("none", "off", "")
#: Defaults of the limits (per port).
MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER, MAX_ADDS_PER_SECOND = 100, 10, 1000
#: Default cap on the jobs the daemon holds: about 300 MB of interval jobs
#: with their run history (docs/security.rst, "Limits").
MAX_JOBS = 100000
#: Default cap on the memory the arguments of the memory store's jobs take.
MAX_STORED_BYTES = 64 * 1024 * 1024
#: Default number of past runs kept per job.
HISTORY_SIZE = 10
#: What the metrics port answers a connection over its limits.
HTTP_REFUSAL = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
                b"Connection: close\r\n\r\n{why}\r\n")


class Options(usage.Options):
    """Options of C{twistd sched}."""

    synopsis = "[options]"
    longdesc = ("Run a twistedsched scheduler with an AMP control port (for "
                "twistedsched-ctl and twistedsched.client) and an admin console. "
                "Remote clients may schedule the tasks registered by --tasks modules only. "
                "See docs/security.rst for --auth, ssl: endpoints and the limits.")

    optFlags = [
        ["insecure", None, "Allow listening beyond loopback without --auth."],
        ["quiet-runs", None, "Log only the runs that fail, not one line per run."],
        ["no-coalesce", None, "Job default: run every overdue run, not one for all."],
    ]

    optParameters = [
        ["store", None, "memory", "Job store: 'memory', or a Redis URL such as "
                                  "redis://127.0.0.1:6379/0."],
        ["namespace", None, "twistedsched", "Key prefix in the Redis store, so that "
                                            "several schedulers can share one server."],
        ["timezone", None, "UTC", "Time zone for naive times and display (IANA name)."],
        ["control", None, DEFAULT_CONTROL, "Endpoint of the AMP control port ('none' to disable)."],
        ["console", None, DEFAULT_CONSOLE, "Endpoint of the admin console ('none' to disable)."],
        ["max-workers", None, 10, "Threads of the 'threads' executor.", int],
        ["max-processes", None, 2, "Worker processes of the 'processes' executor.", int],
        ["client-ca", None, None, "PEM CA file: ssl: ports require client certificates "
                                  "signed by it."],
        ["max-connections", None, MAX_CONNECTIONS, "Connections each port accepts in total.", int],
        ["max-connections-per-peer", None, MAX_CONNECTIONS_PER_PEER,
         "Connections each port accepts from one host.", int],
        ["max-jobs", None, MAX_JOBS, "Jobs the scheduler may hold; adding more is "
                                     "refused (0: no limit).", int],
        ["max-stored-bytes", None, MAX_STORED_BYTES,
         "Bytes of memory the arguments of all jobs may take, in the memory store; "
         "adding more is refused (0: no limit).", int],
        ["min-interval", None, MIN_INTERVAL,
         "Seconds that must separate two runs of a job a remote client schedules "
         "(0: no minimum).", float],
        ["max-adds-per-second", None, MAX_ADDS_PER_SECOND,
         "Jobs one control connection may add per second (0: no limit).", int],
        ["console-max-line", None, DEFAULT_MAX_LINE_LENGTH,
         "Longest console line, in bytes.", int],
        ["metrics", None, "none", "Endpoint of the Prometheus metrics port, serving "
                                  "/metrics over HTTP (e.g. tcp:9100:interface=127.0.0.1; "
                                  "default: off)."],
        ["history-size", None, HISTORY_SIZE, "Past runs kept per job (0: none).", int],
        ["history-retention", None, RETENTION, "Seconds a one-shot job's runs are kept "
                                               "after it ran (0: none).", float],
        ["scheduler-id", None, None, "Name of this scheduler in run history and logs "
                                     "(default: hostname:pid)."],
        ["broker", None, None, "Broker URL of the worker tier (redis://... or amqp://...): "
                               "jobs with "
                               "executor 'queue:NAME' run on sched-worker daemons."],
        ["broker-namespace", None, "twistedsched-work", "Key prefix of the worker tier "
                                                        "on the broker."],
        # The web port (twistedsched.web).
        ["web", None, "none", "Endpoint of the web dashboard and HTTP JSON API "
                              "(e.g. tcp:7732:interface=127.0.0.1; default: off)."],
        ["web-tokens", None, None, "File of bearer tokens for the web API (made by "
                                   "python -m twistedsched.web.tokens NAME); needs --auth."],
        ["misfire-grace-time", None, "1", "Job default: seconds a run may be late and still "
                                          "run ('none': any lateness)."],
        ["max-instances", None, 1, "Job default: instances of a job that may run at once.",
         int],
        ["job-timeout", None, "none", "Job default: seconds a run may take ('none': no "
                                      "limit)."],
        ["retries", None, 0, "Job default: retries of a failed run.", int],
        ["retry-delay", None, 10.0, "Job default: seconds before the first retry.", float],
    ]

    def __init__(self):
        usage.Options.__init__(self)
        self["tasks"] = []
        self["allow-module"] = []
        self["auth"] = None
        self["credCheckers"] = []
        self["calendars"] = {}
        self["jobs"] = []
        self["config"] = None

    def opt_config(self, path):
        """A TOML file of options, task modules, calendars and jobs (give it first)."""
        try:
            document = read_config(path)
            for key, value in document.items():
                self._apply_config(key, value)
        except (SchedulerError, TypeError, ValueError) as e:
            raise usage.UsageError("--config %s: %s" % (path, e)) from None
        self["config"] = path

    def _apply_config(self, key, value):
        if key == "jobs":
            self["jobs"] = check_jobs(value)
        elif key == "tasks":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("tasks: expected a list of module names")
            self["tasks"].extend(value)
        elif key == "calendars":
            if not isinstance(value, dict):
                raise ValueError("calendars: expected a table of NAME = FILE")
            for name, path in value.items():
                self.opt_calendar("%s=%s" % (name, path))
        elif key in ("config", "auth"):
            raise ValueError("%s cannot be given in the file" % (key,))
        else:
            self._apply_option(key, value)

    def _apply_option(self, key, value):
        flags = {flag[0] for flag in self.optFlags}
        parameters = {p[0]: p for p in self.optParameters}
        if key in flags:
            if not isinstance(value, bool):
                raise ValueError("%s: expected true or false, not %r" % (key, value))
            self[key] = int(value)
        elif key in parameters:
            coerce = parameters[key][4] if len(parameters[key]) > 4 else str
            self[key] = coerce(value)
        else:
            raise ValueError("unknown option %r" % (key,))

    def opt_calendar(self, spec):
        """NAME=FILE: an exclusion calendar jobs may name in exclude (repeatable)."""
        name, equals, path = spec.partition("=")
        if not equals or not name or not path:
            raise usage.UsageError("--calendar: expected NAME=FILE, not %r" % (spec,))
        try:
            self["calendars"][name] = check_calendar(name, load_calendar(path))
        except (OSError, SchedulerError) as e:
            raise usage.UsageError("--calendar %s: %s" % (spec, e)) from None

    def opt_tasks(self, module):
        """Import MODULE: tasks it registers may be scheduled remotely (repeatable)."""
        self["tasks"].append(module)

    def opt_allow_module(self, prefix):
        """
        Let jobs in the Redis store name callables of module PREFIX (and its
        submodules) besides registered tasks (repeatable; default: tasks only).
        """
        if not prefix or not all(part.isidentifier() for part in prefix.split(".")):
            raise usage.UsageError("--allow-module: %r is not a module name" % (prefix,))
        self["allow-module"].append(prefix)

    def opt_auth(self, spec):
        """Require a login on both ports: file:PATH or memory:USER:PASSWORD."""
        if self["auth"] is not None:
            raise usage.UsageError("give --auth once")
        try:
            self["credCheckers"] = [make_checker(spec)]
        except ValueError as e:
            raise usage.UsageError(str(e)) from None
        self["auth"] = spec

    def postOptions(self):
        try:
            as_timezone(self["timezone"])
        except SchedulerError as e:
            raise usage.UsageError(str(e)) from None
        for name in ("max-workers", "max-processes"):
            if self[name] < 1:
                raise usage.UsageError("--%s must be at least 1" % (name,))
        if self["store"] != "memory" and "://" not in self["store"]:
            raise usage.UsageError("--store: use 'memory' or a redis:// URL, not %r"
                                   % (self["store"],))
        for name in ("max-connections", "max-connections-per-peer", "console-max-line"):
            if self[name] < 1:
                raise usage.UsageError("--%s must be at least 1" % (name,))
        if self["max-jobs"] < 0:
            raise usage.UsageError("--max-jobs must be 0 (no limit) or more")
        if self["max-stored-bytes"] < 0:
            raise usage.UsageError("--max-stored-bytes must be 0 (no limit) or more")
        if not 0 <= self["min-interval"] < 1e9:
            raise usage.UsageError("--min-interval must be 0 (no minimum) or more seconds")
        if self["max-adds-per-second"] < 0:
            raise usage.UsageError("--max-adds-per-second must be 0 (no limit) or more")
        if self["history-size"] < 0:
            raise usage.UsageError("--history-size must be 0 (none) or more")
        if not 0 <= self["history-retention"] < 1e9:
            raise usage.UsageError("--history-retention must be 0 (none) or more seconds")
        defaults, policy_defaults = job_defaults(self)
        try:
            check_options(dict(defaults, **policy_defaults))
        except SchedulerError as e:
            raise usage.UsageError("job defaults: %s" % (e,)) from None
        metrics = self["metrics"]
        if metrics.lower() not in DISABLED and listens_beyond_loopback(metrics) \
                and not self["insecure"]:
            raise usage.UsageError(
                "refusing to serve metrics on %r: the metrics port has no login (even "
                "with --auth) and shows job names and counts to anyone who can reach it. "
                "Bind it to 127.0.0.1, or pass --insecure if you really mean it." % (metrics,))
        try:
            check_listen_safety(self.endpoints(), self["auth"], self["insecure"])
        except ValueError as e:
            raise usage.UsageError(str(e)) from None
        if self["client-ca"] and not any(e.startswith("ssl:") for e in self.endpoints()):
            raise usage.UsageError("--client-ca needs an ssl: --control, --console or "
                                   "--web endpoint")
        self._check_web_tokens()

    def _check_web_tokens(self):
        if self["web-tokens"] is None:
            return
        if self["auth"] is None:
            raise usage.UsageError("--web-tokens needs --auth (without it the web port "
                                   "has no login at all)")
        from twistedsched.web.tokens import TokenFile
        try:
            self["webTokens"] = TokenFile(self["web-tokens"])
        except ValueError as e:
            raise usage.UsageError("--web-tokens: %s" % (e,)) from None

    def endpoints(self):
        """The endpoint strings of the ports that are on."""
        return [self[name] for name in ("control", "console", "web")
                if self[name].lower() not in DISABLED]


def import_tasks(modules, registry):
    """Import each module, then copy the default task registry into C{registry}."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise usage.UsageError("--tasks %s: cannot import it: %s" % (name, e)) from None
    registry.update(_tasks.default_registry)


def queue_executor(options):
    """C{{"queue": QueueExecutor}} with C{--broker}, else nothing."""
    if not options.get("broker"):
        return {}
    from twistedsched.executors.queue import QueueExecutor
    try:
        return {"queue": QueueExecutor(options["broker"],
                                       namespace=options.get("broker-namespace"))}
    except SchedulerError as e:
        raise usage.UsageError("--broker: %s" % (e,)) from None
def _seconds_or_none(text, option):
    if str(text).lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise usage.UsageError("--%s: expected seconds or 'none', not %r" % (option, text))
    return int(value) if value == int(value) else value


def job_defaults(options):
    """The job defaults the daemon's options give (misfire grace, coalesce, ...)."""
    defaults = dict(
        misfire_grace_time=_seconds_or_none(options.get("misfire-grace-time", "1"),
                                            "misfire-grace-time"),
        coalesce=not options.get("no-coalesce"),
        max_instances=options.get("max-instances", 1),
        timeout=_seconds_or_none(options.get("job-timeout", "none"), "job-timeout"))
    policy_defaults = {"retries": options.get("retries") or None,
                       "retry_delay": options.get("retry-delay", 10.0)}
    return defaults, policy_defaults


def make_scheduler(options, reactor=None):
    """The scheduler the options describe (store, zone, executors, tasks)."""
    defaults, policy_defaults = job_defaults(options)
    try:
        sched = _make_scheduler(options, reactor, defaults, policy_defaults)
    except SchedulerError as e:
        raise usage.UsageError("job defaults: %s" % (e,)) from None
    sched.remote_min_interval = options.get("min-interval", MIN_INTERVAL)
    import_tasks(options["tasks"], sched.tasks)
    if options["store"] != "memory":
        try:
            sched.add_jobstore(options["store"], alias="default",
                               namespace=options["namespace"],
                               allowed_modules=options.get("allow-module", []))
        except SchedulerError as e:
            raise usage.UsageError("--store: %s" % (e,)) from None
    return sched


def _make_scheduler(options, reactor, defaults, policy_defaults):
    stores = {}
    if options["store"] == "memory":
        max_bytes = options.get("max-stored-bytes", MAX_STORED_BYTES) or None
        stores["default"] = MemoryJobStore(max_argument_bytes=max_bytes)
    return Scheduler(reactor=reactor, timezone=options["timezone"], jobstores=stores, executors={
        "default": ReactorExecutor(),
        "threads": ThreadPoolExecutor(max_workers=options["max-workers"]),
        "processes": ProcessPoolExecutor(max_workers=options.get("max-processes", 2)),
        **queue_executor(options),
    }, max_jobs=options.get("max-jobs") or None,
        history_size=options.get("history-size", HISTORY_SIZE),
        history_retention=options.get("history-retention", RETENTION),
        scheduler_id=options.get("scheduler-id"), log_runs=not options.get("quiet-runs"),
        calendars=options.get("calendars"), policy_defaults=policy_defaults, **defaults)


def _checker(options):
    checkers = options.get("credCheckers") or []
    return checkers[0] if checkers else None


def make_authenticator(options, reactor=None):
    """One L{Authenticator} (and login throttle) for both ports, or C{None}."""
    checker = _checker(options)
    if checker is None:
        return None
    if reactor is None:
        from twisted.internet import reactor
    return Authenticator(checker, reactor)


def limited(factory, options, refusal):
    """C{factory} behind the connection limits of the options (or the defaults)."""
    return ConnectionLimiter(
        factory, per_peer=options.get("max-connections-per-peer", MAX_CONNECTIONS_PER_PEER),
        total=options.get("max-connections", MAX_CONNECTIONS), refusal=refusal)


def _endpoint_service(description, factory, what, options, reactor=None):
    if reactor is None:
        from twisted.internet import reactor
    client_ca = options.get("client-ca") if description.startswith("ssl:") else None
    try:
        endpoint = server_endpoint(reactor, description, client_ca)
    except Exception as e:
        raise usage.UsageError("--%s %r: %s" % (what, description, e)) from None
    return strports.StreamServerEndpointService(endpoint, factory)


def make_control_service(scheduler, endpoint, options, reactor=None, authenticator=None):
    """The AMP control port on C{endpoint} (an endpoint string)."""
    from twistedsched.control import ControlFactory, refusal_box
    adds = options.get("max-adds-per-second", MAX_ADDS_PER_SECOND)
    factory = ControlFactory(scheduler, authenticator=authenticator,
                             max_adds_per_second=adds or None)
    return _endpoint_service(endpoint, limited(factory, options, refusal_box),
                             "control", options, reactor)


def make_console_service(scheduler, endpoint, options, reactor=None, authenticator=None):
    """The admin console (L{twistedsched.console}) on C{endpoint}."""
    from twistedsched.console import ConsoleFactory
    longest = options.get("console-max-line", DEFAULT_MAX_LINE_LENGTH)
    factory = ConsoleFactory(scheduler, authenticator=authenticator, max_line_length=longest)
    return _endpoint_service(endpoint, limited(factory, options, b"error: {why}\r\n"),
                             "console", options, reactor)


def make_metrics_service(scheduler, endpoint, options, reactor=None, authenticator=None):
    """
    The Prometheus metrics of C{scheduler} (L{twistedsched.metrics}) and an
    HTTP port on C{endpoint} serving them at C{/metrics}.  The port has no
    login: C{authenticator} is not used.
    """
    from twisted.web.server import Site
    from twistedsched.metrics import SchedulerMetrics, metrics_resource
    metrics = SchedulerMetrics(scheduler)
    if options.get("broker"):
        from twistedsched.workerinfo import QueueCollector
        metrics.registry.register(QueueCollector(scheduler))
    top = service.MultiService()
    metrics.setName("collector")
    metrics.setServiceParent(top)
    site = Site(metrics_resource(metrics))
    site.noisy = False
    port = _endpoint_service(endpoint, limited(site, options, HTTP_REFUSAL), "metrics",
                             options, reactor)
    port.setName("port")
    port.setServiceParent(top)
    return top


def make_web_service(scheduler, endpoint, options, reactor=None, authenticator=None):
    """
    The web port (L{twistedsched.web}) on C{endpoint}: the dashboard, the
    JSON API, the event stream and the health probes, logins through
    C{authenticator} (shared with the other ports, and so their throttle).
    """
    from twistedsched.web.site import make_site
    adds = options.get("max-adds-per-second", MAX_ADDS_PER_SECOND)
    site = make_site(scheduler, authenticator, options.get("webTokens"), adds or None)
    return _endpoint_service(endpoint, limited(site, options, HTTP_REFUSAL), "web",
                             options, reactor)


class EnsureJobs(service.Service):
    """At start, ensures the jobs of C{--config} (L{twistedsched.config.ensure_jobs})."""

    def __init__(self, scheduler, jobs):
        self.scheduler = scheduler
        self.jobs = jobs
        self.done = None

    def startService(self):
        service.Service.startService(self)
        self.done = defer.ensureDeferred(ensure_jobs(self.scheduler, self.jobs))


def makeService(options, reactor=None):
    """The service tree for C{twistd sched} (C{reactor} is for tests)."""
    top = service.MultiService()
    sched = make_scheduler(options, reactor)
    sched.setName("scheduler")
    sched.setServiceParent(top)
    if options.get("jobs"):
        EnsureJobs(sched, options["jobs"]).setServiceParent(top)
    authenticator = make_authenticator(options, reactor)
    for name, make in (("control", make_control_service), ("console", make_console_service),
                       ("metrics", make_metrics_service), ("web", make_web_service)):
        endpoint = options[name]
        if endpoint.lower() in DISABLED:
            continue
        child = make(sched, endpoint, options, reactor, authenticator)
        if child is not None:
            child.setName(name)
            child.setServiceParent(top)
    return top
