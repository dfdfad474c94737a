"""
What the operator sees of the worker tier: the live workers and the queues
of a scheduler's queue executors (C{twistedsched-ctl workers}, the
console's C{workers}), as JSON-ready dicts and table rows.

Plain data only: the queue executor (L{twistedsched.executors.queue})
provides C{overview()}; this module finds those executors through the
scheduler's public C{executors}.
"""

from twistedsched.table import format_table

#: The most runs in flight listed per worker.
MAX_RUNNING = 20

WORKER_HEADERS = ("WORKER", "QUEUES", "TASKS", "RUNNING", "LAST HEARTBEAT")
QUEUE_HEADERS = ("QUEUE", "DEPTH", "OLDEST", "IN FLIGHT", "RUNS/S", "CONSUMERS", "ALARM")


def overview(scheduler):
    """C{{"workers": [...], "queues": [...]}} of every queue executor of C{scheduler}."""
    workers, queues, seen = [], [], []
    for executor in scheduler.executors.values():
        look = getattr(executor, "overview", None)
        if look is None or any(executor is other for other in seen):
            continue
        seen.append(executor)
        part = look()
        workers.extend(part["workers"])
        queues.extend(part["queues"])
    for worker in workers:
        worker["running"] = worker.get("running", [])[:MAX_RUNNING]
    return {"workers": workers, "queues": queues}


class QueueCollector:
    """
    A C{prometheus_client} collector of the worker tier: per queue, its
    depth, the age of its oldest message, runs in flight, runs per second,
    finished runs, live consumers and the unconsumed alarm; and the live
    workers.  Register it in a scheduler's metrics registry.
    """

    def __init__(self, scheduler):
        self.scheduler = scheduler

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        data = overview(self.scheduler)
        yield GaugeMetricFamily("twistedsched_workers_live", "Live workers of the worker "
                                "tier (as last read).", value=len(data["workers"]))
        gauges = [("depth", "Runs on the queue not yet acknowledged."),
                  ("oldest_age", "Seconds since the oldest run on the queue was published."),
                  ("in_flight", "Runs published by this scheduler and not yet finished."),
                  ("runs_per_second", "Runs finished per second (between the last looks)."),
                  ("consumers", "Live workers consuming the queue."),
                  ("unconsumed", "1 when the queue has had no consumer past its bound.")]
        for field, doc in gauges:
            family = GaugeMetricFamily("twistedsched_queue_" + field, doc, labels=["queue"])
            for queue in data["queues"]:
                value = queue.get(field)
                if value is not None:
                    family.add_metric([queue["queue"]], float(value))
            yield family
        runs = CounterMetricFamily("twistedsched_queue_runs", "Runs of the queue that "
                                   "finished on a worker.", labels=["queue"])
        for queue in data["queues"]:
            runs.add_metric([queue["queue"]], queue.get("runs", 0))
        yield runs


def _age(now, when):
    return "-" if when is None else "%.1fs ago" % (max(0.0, now - when),)


def _seconds(value):
    return "-" if value is None else "%.1fs" % (value,)


def lines(data, now):
    """The tables of an L{overview}, C{now} in POSIX seconds (for the heartbeat ages)."""
    if not data["workers"] and not data["queues"]:
        return ["no worker tier (start the daemon with --broker URL)"]
    workers = [(w.get("name"), ",".join(w.get("queues", ())), len(w.get("tasks", ())),
                "%d/%s" % (len(w.get("running", ())), w.get("concurrency", "?")),
                _age(now, w.get("heartbeat"))) for w in data["workers"]]
    queues = [(q["queue"], "-" if q.get("depth") is None else q["depth"],
               _seconds(q.get("oldest_age")), q.get("in_flight", 0),
               "%.2f" % (q.get("runs_per_second") or 0.0), q.get("consumers", 0),
               "unconsumed" if q.get("unconsumed") else "") for q in data["queues"]]
    out = format_table(WORKER_HEADERS, workers) if workers else ["no live workers"]
    return out + [""] + (format_table(QUEUE_HEADERS, queues) if queues else ["no queues"])
