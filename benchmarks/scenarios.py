"""
The scenarios of the side-by-side benchmark.  Each runs ONE contender in a
fresh process (a fresh reactor, a fresh heap) and prints its figures as a
line of JSON; L{benchmarks.run} starts one such process per contender and
prints the table.

    python -m benchmarks.scenarios SCENARIO CONTENDER '{"n": 1000}'

Time is the real reactor's (the wall clock): every contender is measured as
it runs in a program, timers and all.
"""

import gc
import json
import os
import random
import sys
import time

from twisted.internet import defer, task

from benchmarks.contenders import CONTENDERS


def rss_bytes():
    """This process's resident set size."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def noop(*args):
    pass


def sleep(reactor, seconds):
    return task.deferLater(reactor, seconds, lambda: None)


def settle(reactor):
    """Fire once the reactor has run what is already queued (APScheduler's wakeups)."""
    return sleep(reactor, 0)


class Calls:
    """
    Counts calls of a job (from any thread); C{done} fires in the reactor
    thread at the C{n}-th, C{stamps} holds C{time.time()} of each call.
    """

    def __init__(self, reactor, n, func=None):
        self.reactor = reactor
        self.n = n
        self.stamps = []
        self.done = defer.Deferred()
        self.func = func

    def __call__(self, *args):
        self.stamps.append(time.time() if self.func is None else self.func(*args))
        if len(self.stamps) >= self.n:
            self.reactor.callFromThread(self._finish)

    def _finish(self):
        if not self.done.called:
            self.done.callback(None)


@defer.inlineCallbacks
def load(reactor, contender, func, times, ids=None, wait=True):
    """
    Add one job per time; the seconds it took, the reactor left to catch up
    too unless not C{wait} (then no job runs before the caller yields).
    """
    whens = [contender.prepare(when) for when in times]
    ids = ids or ["job-%d" % (i,) for i in range(len(times))]
    gc.collect()
    began = time.perf_counter()
    for i, when in enumerate(whens):
        contender.add(func, when, ids[i], (i,))
    if wait:
        yield settle(reactor)
    return time.perf_counter() - began


# -- 1. add -----------------------------------------------------------------------

@defer.inlineCallbacks
def scenario_add(reactor, contender, n):
    """Add n one-shot jobs spread over the next hour, to a running scheduler."""
    contender.start()
    now = time.time()
    times = [now + 60 + 3540.0 * i / n for i in range(n)]
    random.Random(1).shuffle(times)
    cpu = time.process_time()
    seconds = yield load(reactor, contender, noop, times)
    cpu = time.process_time() - cpu
    return {"adds_per_s": n / seconds, "seconds": seconds, "cpu_us_per_add": 1e6 * cpu / n}


# -- 2. fire and 3. lateness: jobs due at set times ----------------------------------

def lead_time(contender_name, reactor, n):
    """Seconds to leave before the first job is due: enough to add n jobs first."""
    probe = CONTENDERS[contender_name](reactor)
    if hasattr(probe, "start_paused"):
        probe.start_paused()        # so that its adds are real, not queued
    k = min(n, 2000)
    times = [time.time() + 3600 + i for i in range(k)]
    whens = [probe.prepare(when) for when in times]
    began = time.perf_counter()
    for i, when in enumerate(whens):
        probe.add(noop, when, "probe-%d" % (i,))
    per_add = (time.perf_counter() - began) / k
    for i in range(k):
        probe.remove("probe-%d" % (i,))
    probe.stop()
    return 1.0 + 3 * n * per_add


@defer.inlineCallbacks
def run_due(reactor, name, contender, n, due, func):
    """
    Add n jobs, the i-th due at C{due(first, i)}, start the contender and
    wait until all ran.  Fires with (calls, first due time, CPU seconds).
    """
    first = time.time() + (lead_time(name, reactor, n) if due is not None else 0)
    calls = Calls(reactor, n, func and (lambda i: func(first, i)))
    times = [first if due is None else due(first, i) for i in range(n)]
    if hasattr(contender, "start_paused"):
        contender.start_paused()    # APScheduler: add for real, not to a pending list
    yield load(reactor, contender, calls, times, wait=due is not None)
    overrun = time.time() - first if due is not None else 0.0
    cpu = time.process_time()
    contender.start()
    yield calls.done
    return calls, first, time.process_time() - cpu, overrun


@defer.inlineCallbacks
def scenario_fire(reactor, contender, n, name):
    """n no-op jobs due within one second; and n due at once (saturated)."""
    calls, first, cpu, overrun = yield run_due(
        reactor, name, contender, n, lambda first, i: first + float(i) / n, None)
    wall = max(calls.stamps) - first
    figures = {"fires_per_s": n / wall, "wall_s": wall, "cpu_us_per_fire": 1e6 * cpu / n,
               "late_start_s": max(0.0, overrun)}
    return figures


@defer.inlineCallbacks
def scenario_saturated(reactor, contender, n, name):
    """n jobs all overdue when the contender starts: pure throughput."""
    began = []

    def starting():
        began.append(time.time())

    contender.start = _before(contender.start, starting)
    calls, first, cpu, _ = yield run_due(reactor, name, contender, n, None, None)
    wall = max(calls.stamps) - began[0]
    return {"fires_per_s": n / wall, "wall_s": wall, "cpu_us_per_fire": 1e6 * cpu / n}


def _before(method, hook):
    def wrapped():
        hook()
        return method()
    return wrapped


@defer.inlineCallbacks
def scenario_lateness(reactor, contender, n, name, rate):
    """n jobs due at C{rate} per second on the real reactor: lateness of each."""
    def late(first, i):
        return time.time() - (first + float(i) / rate)
    calls, first, cpu, overrun = yield run_due(
        reactor, name, contender, n, lambda first, i: first + float(i) / rate, late)
    ms = [1000 * value for value in calls.stamps]
    return {"p50_ms": percentile(ms, 0.5), "p99_ms": percentile(ms, 0.99), "max_ms": max(ms),
            "cpu_share": cpu / (n / rate), "late_start_s": max(0.0, overrun)}


# -- 4. churn -------------------------------------------------------------------------

@defer.inlineCallbacks
def scenario_churn(reactor, contender, n, seconds, per_second):
    """
    n live one-shot timers due in 1 to 61 s; each second C{per_second} of
    them are removed before they fire and as many new ones added.
    """
    rng = random.Random(2)
    fired = set()

    def fire(i):
        fired.add("job-%d" % (i,))

    contender.start()
    now = time.time()
    yield load(reactor, contender, fire, [now + rng.uniform(1, 61) for _ in range(n)])
    live = ["job-%d" % (i,) for i in range(n)]
    serial = n
    busy = []
    cpu = 0.0
    for _ in range(seconds):
        yield sleep(reactor, 1.0)
        live = [job_id for job_id in live if job_id not in fired]
        rng.shuffle(live)
        doomed, live = live[:per_second], live[per_second:]
        ids = ["job-%d" % (serial + i,) for i in range(per_second)]
        now = time.time()
        whens = [contender.prepare(now + rng.uniform(1, 61)) for _ in ids]
        gc.collect()
        began, cpu_began = time.perf_counter(), time.process_time()
        for job_id in doomed:
            contender.remove(job_id)
        for i, job_id in enumerate(ids):
            contender.add(fire, whens[i], job_id, (serial + i,))
        yield settle(reactor)
        busy.append(time.perf_counter() - began)
        cpu += time.process_time() - cpu_began
        live.extend(ids)
        serial += per_second
    ops = 2 * per_second * seconds
    return {"ops_per_s": ops / sum(busy), "cpu_us_per_op": 1e6 * cpu / ops,
            "tick_ms_p50": 1000 * percentile(busy, 0.5),
            "tick_ms_max": 1000 * max(busy), "fired": len(fired)}


# -- 5. memory --------------------------------------------------------------------------

@defer.inlineCallbacks
def scenario_memory(reactor, contender, n):
    """
    RSS growth per stored job (n jobs), and tracemalloc's bytes per job for
    n/10 more.  The ids and POSIX times are made before measuring (they are
    the caller's); the datetimes the schedulers take are made inside, as a
    stored job keeps its own.
    """
    import tracemalloc
    contender.start()
    now = time.time()
    yield load(reactor, contender, noop, [now + 3600 + 0.5 * i for i in range(100)],
               ["warm-%d" % (i,) for i in range(100)])
    ids = ["job-%d" % (i,) for i in range(n)]
    times = [now + 60 + 3540.0 * i / n for i in range(n)]
    more = max(1000, n // 10)
    more_ids = ["more-%d" % (i,) for i in range(more)]
    more_times = [now + 60 + 3540.0 * i / more for i in range(more)]
    gc.collect()
    before = rss_bytes()
    yield load(reactor, contender, noop, times, ids)
    gc.collect()
    grown = rss_bytes() - before
    tracemalloc.start()
    traced = tracemalloc.get_traced_memory()[0]
    yield load(reactor, contender, noop, more_times, more_ids)
    gc.collect()
    traced = tracemalloc.get_traced_memory()[0] - traced
    tracemalloc.stop()
    return {"rss_bytes_per_job": grown / n, "traced_bytes_per_job": traced / more,
            "rss_mib_per_100k": grown / n * 100000 / 1048576}


# -- 2c. logged: saturated, under twistd's file log ------------------------------------

def twistd_file_observer(path):
    """
    The log observer C{twistd -n --logfile PATH} installs: the same
    C{UnixAppLogger._getLogObserver} (a text file observer on a rotating
    C{LogFile}), which L{child} then begins logging to, as twistd does.
    """
    from twisted.scripts._twistd_unix import UnixAppLogger
    return UnixAppLogger({"logfile": path, "nodaemon": True})._getLogObserver()


@defer.inlineCallbacks
def scenario_logged(reactor, contender, n, name, logfile):
    """
    L{scenario_saturated} under twistd's file log; also what the log files
    got (the log rotates at 1 MB: the older files count too).
    """
    before = _log_text(logfile)
    figures = yield scenario_saturated(reactor, contender, n, name)
    text = _log_text(logfile)[len(before):]
    figures["log_lines"] = text.count(b"\n")
    figures["log_bytes_per_run"] = len(text) / n
    return figures


def _log_text(logfile):
    """All the text of a log file and its rotated files, oldest first."""
    names = [logfile]
    while os.path.exists("%s.%d" % (logfile, len(names))):
        names.append("%s.%d" % (logfile, len(names)))
    text = b""
    for name in reversed(names):
        with open(name, "rb") as f:
            text += f.read()
    return text


SCENARIOS = {
    "add": scenario_add,
    "fire": scenario_fire,
    "saturated": scenario_saturated,
    "lateness": scenario_lateness,
    "churn": scenario_churn,
    "memory": scenario_memory,
    "logged": scenario_logged,
}

#: Scenarios whose function takes the contender's name (to build a probe).
NAMED = ("fire", "saturated", "lateness", "logged")


def child(scenario, name, params, profile=None):
    """Run one scenario for one contender in this process; print its figures as JSON."""
    from twisted.internet import reactor
    from twisted.logger import globalLogBeginner
    params = dict(params)
    if scenario == "logged":
        # twistd -n --logfile: its own observer chain, to a real file.
        import tempfile
        params["logfile"] = os.path.join(tempfile.mkdtemp(prefix="bench-log-"), "twistd.log")
        observers = [twistd_file_observer(params["logfile"])]
    else:
        # As in a twistd process: logging has begun (here to nowhere), so that log
        # events are not kept in the start-up buffer.
        observers = [lambda event: None]
    globalLogBeginner.beginLoggingTo(observers, redirectStandardIO=False)
    contender = CONTENDERS[name](reactor)
    if scenario in NAMED:
        params["name"] = name
    result = {}
    profiler = None
    if profile:
        import cProfile
        profiler = cProfile.Profile()

    def main(reactor):
        if profiler:
            profiler.enable()
        d = SCENARIOS[scenario](reactor, contender, **params)
        d.addCallback(result.update)
        return d
    try:
        task.react(main)
    except SystemExit as e:
        if e.code:
            raise
    if profiler:
        import pstats
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats(profile).print_stats(30)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)     # skip tearing down 100,000 jobs


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = sys.argv[1:]
    child(args[0], args[1], json.loads(args[2]), args[3] if len(args) > 3 else None)
