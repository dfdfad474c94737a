"""
Prometheus metrics of one scheduler, in its own C{prometheus_client.CollectorRegistry}::

    metrics = SchedulerMetrics(sched)
    metrics.setServiceParent(application)
    site = Site(metrics_resource(metrics))        # serves /metrics

The counters are fed by L{twistedsched.events.EVENT_JOB_RUN} events: a
scheduler without metrics builds none.  Counters are labelled by job
I{name}, not id (ids are unbounded: one job per player...); past
C{max_names} distinct names, runs of new names count under C{"other"}.
Histograms (run duration, lateness) have no labels.  The number of stored
jobs is counted every C{count_interval} seconds (a Redis store answers
asynchronously) and the last known count is reported.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from twisted.application import service
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.resource import Resource

from twistedsched.events import EVENT_JOB_RUN

#: Distinct job names counted before new ones fold into L{OTHER}.
MAX_NAMES = 1000
OTHER = "other"
#: Seconds between two counts of the stored jobs.
COUNT_INTERVAL = 15.0
#: Outcomes counted as errors.
ERROR_OUTCOMES = ("error", "timeout")

_SECONDS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
            float("inf"))


class SchedulerMetrics(service.Service):
    """
    Metrics of C{scheduler}, collected while this service runs.

    @ivar registry: the C{CollectorRegistry} holding them (serve it with
        L{metrics_resource} or C{prometheus_client.generate_latest}).
    """

    log = Logger()

    def __init__(self, scheduler, max_names=MAX_NAMES, count_interval=COUNT_INTERVAL):
        self.scheduler = scheduler
        self.max_names = max_names
        self.count_interval = count_interval
        self.registry = registry = CollectorRegistry()
        self._names = set()
        self._stored = 0
        self._counting = False
        self._loop = None

        def counter(what, doc):
            return Counter("twistedsched_jobs_%s" % (what,), doc, ["job"], registry=registry)
        self.fired = counter("fired", "Runs of jobs started, by job name.")
        self.errored = counter("errored", "Runs of jobs that failed, by job name.")
        self.missed = counter("missed", "Runs not started because they were too late "
                                        "(misfire_grace_time) or folded into a later "
                                        "one (coalesce), by job name.")
        self.skipped = counter("skipped", "Runs skipped because max_instances were "
                                          "running, by job name.")
        self.duration = Histogram("twistedsched_job_duration_seconds",
                                  "How long runs of jobs took.", buckets=_SECONDS,
                                  registry=registry)
        self.lateness = Histogram("twistedsched_job_lateness_seconds",
                                  "Seconds from a run's scheduled time to its start.",
                                  buckets=_SECONDS, registry=registry)
        Gauge("twistedsched_jobs_stored", "Jobs in the job stores (the last count).",
              registry=registry).set_function(lambda: self._stored)
        Gauge("twistedsched_jobs_running", "Instances of jobs running now.",
              registry=registry).set_function(scheduler.running_instances)

    def startService(self):
        service.Service.startService(self)
        self.scheduler.add_listener(self.observe, EVENT_JOB_RUN)
        self._loop = LoopingCall(self.count_jobs)
        self._loop.clock = self.scheduler.reactor
        self._loop.start(self.count_interval, now=True)

    def stopService(self):
        service.Service.stopService(self)
        self.scheduler.remove_listener(self.observe)
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def label(self, name):
        """The job label for a job name: itself, or L{OTHER} past C{max_names} names."""
        if name in self._names:
            return name
        if len(self._names) >= self.max_names:
            return OTHER
        self._names.add(name)
        return name

    def observe(self, event):
        """Count one L{EVENT_JOB_RUN} event."""
        job = self.label(event.job_name)
        outcome = event.outcome
        if event.started is not None:
            self.fired.labels(job).inc()
            self.lateness.observe(max(0.0, event.lateness))
            if event.duration is not None:
                self.duration.observe(event.duration)
        if outcome in ERROR_OUTCOMES:
            self.errored.labels(job).inc()
        elif outcome == "missed":
            self.missed.labels(job).inc(event.runs)
        elif outcome == "skipped":
            self.skipped.labels(job).inc()

    def count_jobs(self):
        """Count the stored jobs (one count at a time); keep the last known number."""
        if self._counting:
            return None
        self._counting = True
        d = self.scheduler.count_jobs()
        d.addCallbacks(self._counted, self._count_failed)
        return d

    def _counted(self, count):
        self._counting = False
        self._stored = count

    def _count_failed(self, failure):
        self._counting = False
        self.log.warn("metrics: counting the stored jobs failed: {error}",
                      error=failure.getErrorMessage())


def metrics_resource(metrics):
    """A web resource tree serving C{metrics} at C{/metrics}."""
    from prometheus_client.twisted import MetricsResource
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry=metrics.registry))
    return root
