"""
Run the benchmarks and print the tables:

    python -m benchmarks [SCENARIO ...] [--quick | --scale F] [--profile SORT]
    python benchmarks/run.py ...                  (the same)

Scenarios (default: the side-by-side ones, add ... memory):
  add        100,000 one-shot date jobs spread over the next hour: adds/s
  fire       100,000 no-op jobs due within one second: wall time from the
             first due time to the last fire, and CPU per fire
  saturated  100,000 jobs all overdue at once: fires/s, pure throughput
  logged     saturated with 20,000 jobs, under twistd's file log observer
  lateness   10,000 fires/s for 10 s on the real reactor: p50/p99/max lateness
  churn      50,000 live timers; each second 5,000 removed, 5,000 added: ops/s
  memory     RSS growth and traced bytes per stored job
  triggers   next-fire-time computations of the triggers (vs APScheduler 3)
  redis      the Redis job store (a private redis-server is started)
  redis-cluster  one and three scheduler processes on one redis-server
  listing-redis  pages of a 1,000,000-job Redis store; twistedsched-ctl list of it
  control    AMP round trips to the control port
  listing    the first page of a 1,000,000-job memory store after a change
  all        every one of them

Each contender of a side-by-side scenario runs in its own child process,
one after the other: a fresh reactor and heap each, and none pays for the
garbage of another.  --quick runs a tenth of the sizes; the output says
which sizes ran.  --profile cumulative prints a cProfile of the twistedsched
runs to stderr.
"""

import argparse
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks.contenders import CONTENDERS, available  # noqa: E402

ALL_CONTENDERS = ("raw", "twistedsched", "twistedsched-quiet", "apscheduler",
                  "apscheduler-reactor")
ONE_EXECUTOR = ("raw", "twistedsched", "twistedsched-quiet", "apscheduler")


class SideBySide:
    """
    A scenario run once per contender.  C{columns} are (key, header,
    format); the first is the headline, whose ratios are printed.
    """

    def __init__(self, name, title, sizes, columns, note, contenders=ALL_CONTENDERS,
                 higher_is_better=True):
        self.name = name
        self.title = title
        self.sizes = sizes
        self.columns = columns
        self.note = note
        self.contenders = contenders
        self.higher_is_better = higher_is_better

    def params(self, scale):
        return self.sizes(scale)

    def run(self, scale, profile):
        params = self.params(scale)
        print("\n== %s  [%s]" % (self.title, ", ".join(
            "%s=%s" % item for item in sorted(params.items()))))
        results = {}
        for name in self.contenders:
            if not available(name):
                print("  (%s: not installed; pip install -e '.[bench]')" % (name,))
                continue
            results[name] = measure(self.name, name, params,
                                    profile if name == "twistedsched" else None)
        self.print_table(results)
        return {"params": params, "results": results}

    def print_table(self, results):
        width = max(len(CONTENDERS[name].label) for name in results)
        print("  %-*s " % (width, "") + " ".join("%14s" % header for _, header, _ in
                                              self.columns))
        for name, figures in results.items():
            cells = []
            for key, _, form in self.columns:
                value = figures.get(key)
                cells.append("%14s" % ("-" if value is None else form % value))
            print("  %-*s " % (width, CONTENDERS[name].label) + " ".join(cells))
        key, header, _ = self.columns[0]
        for mine in ("twistedsched", "twistedsched-quiet"):
            ours = results.get(mine, {}).get(key)
            for other in ("raw", "apscheduler", "apscheduler-reactor"):
                theirs = results.get(other, {}).get(key)
                if ours and theirs:
                    print("  %s: %s/%s = %.2f  (%s is better)" % (
                        header, CONTENDERS[mine].label, CONTENDERS[other].label,
                        ours / theirs, "higher" if self.higher_is_better else "lower"))
        for line in self.note:
            print("  " + line)


def measure(scenario, contender, params, profile=None):
    """Run one contender of a scenario in a child process; its figures."""
    command = [sys.executable, "-m", "benchmarks.scenarios", scenario, contender,
               json.dumps(params)]
    if profile:
        command.append(profile)
    out = subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


class Script:
    """A micro-benchmark script of its own (triggers, Redis store, control port)."""

    def __init__(self, name, module, args):
        self.name = name
        self.module = module
        self.args = args

    def run(self, scale, profile):
        args = self.args(scale)
        if profile and self.name == "redis":
            args = args + ["--profile", profile]
        print("\n== %s  [%s]" % (self.name, " ".join(args) or "fixed sizes"))
        sys.stdout.flush()
        subprocess.run([sys.executable, "-m", self.module] + args, cwd=ROOT, check=True)
        return {"params": args}


def sized(n, scale, least=1):
    return max(least, int(n * scale))


FIRE_NOTE = [
    "fires/s = jobs / wall; wall = first due time to last call of a job.",
    "CPU us/fire = process CPU (all threads) from start to the last call, per job.",
    "late start = how late adding the jobs made the first one (0 is fair).",
]

SCENARIOS = [
    SideBySide(
        "add", "1. add: one-shot date jobs spread over the next hour, to a running scheduler",
        lambda s: {"n": sized(100000, s)},
        [("adds_per_s", "adds/s", "%.0f"), ("seconds", "seconds", "%.2f"),
         ("cpu_us_per_add", "CPU us/add", "%.1f")],
        ["Counted until the reactor has also run what the adds queued (APScheduler's "
         "wakeups)."],
        contenders=ONE_EXECUTOR),
    SideBySide(
        "fire", "2. fire: no-op jobs all due within one second, on the real reactor",
        lambda s: {"n": sized(100000, s)},
        [("fires_per_s", "fires/s", "%.0f"), ("wall_s", "wall s", "%.3f"),
         ("cpu_us_per_fire", "CPU us/fire", "%.1f"), ("late_start_s", "late start s", "%.2f")],
        FIRE_NOTE + ["Whoever keeps up ends near 1 s: compare CPU us/fire and 'saturated'."]),
    SideBySide(
        "saturated", "2b. fire, saturated: all jobs overdue when the scheduler starts",
        lambda s: {"n": sized(100000, s)},
        [("fires_per_s", "fires/s", "%.0f"), ("wall_s", "wall s", "%.3f"),
         ("cpu_us_per_fire", "CPU us/fire", "%.1f")],
        ["wall = from starting the contender to the last call: pure throughput."]),
    SideBySide(
        "logged", "2c. fire, saturated, under twistd's file log (twistd -n --logfile's observer)",
        lambda s: {"n": sized(20000, s)},
        [("fires_per_s", "fires/s", "%.0f"), ("wall_s", "wall s", "%.3f"),
         ("cpu_us_per_fire", "CPU us/fire", "%.1f"), ("log_lines", "log lines", "%d"),
         ("log_bytes_per_run", "log B/run", "%.0f")],
        ["The observer twistd installs for --logfile (UnixAppLogger._getLogObserver: "
         "text lines, a rotating LogFile), begun as twistd begins it.",
         "APScheduler logs through the standard library's logging, which twistd does "
         "not route to its file: its runs write nothing there."]),
    SideBySide(
        "lateness", "3. lateness: 10,000 fires/s on the real reactor",
        lambda s: {"n": 10000 * sized(10, s, least=2), "rate": 10000},
        [("p99_ms", "p99 ms", "%.2f"), ("p50_ms", "p50 ms", "%.2f"),
         ("max_ms", "max ms", "%.1f"), ("cpu_share", "CPU share", "%.2f"),
         ("late_start_s", "late start s", "%.2f")],
        ["lateness = time of the call - scheduled time.  CPU share = CPU seconds per "
         "second of the run (1.0 = one core saturated)."],
        higher_is_better=False),
    SideBySide(
        "churn", "4. churn: live one-shot timers, each second some removed and as many added",
        lambda s: {"n": sized(50000, s), "per_second": sized(5000, s),
                   "seconds": sized(10, s, least=3)},
        [("ops_per_s", "ops/s", "%.0f"), ("cpu_us_per_op", "CPU us/op", "%.1f"),
         ("tick_ms_p50", "tick ms p50", "%.1f"),
         ("tick_ms_max", "tick ms max", "%.1f"), ("fired", "fired", "%d")],
        ["ops/s = (removes + adds) / time spent doing them; timers due in 1-61 s also fire."],
        contenders=ONE_EXECUTOR),
    SideBySide(
        "memory", "5. memory: stored one-shot jobs",
        lambda s: {"n": sized(100000, s)},
        [("rss_bytes_per_job", "RSS B/job", "%.0f"),
         ("traced_bytes_per_job", "traced B/job", "%.0f"),
         ("rss_mib_per_100k", "MiB/100k", "%.1f")],
        ["RSS growth over n jobs; traced = tracemalloc bytes per job for n/10 more."],
        contenders=ONE_EXECUTOR, higher_is_better=False),
    Script("triggers", "benchmarks.triggers", lambda s: []),
    Script("redis", "benchmarks.redis_store", lambda s: [
        "--jobs", str(sized(200000, s)), "--add", str(sized(20000, s)),
        "--fire", str(sized(10000, s)), "--aps-add", str(sized(5000, s)),
        "--aps-jobs", str(sized(50000, s))]),
    Script("redis-cluster", "benchmarks.redis_cluster", lambda s: [
        "--jobs", str(sized(30000, s))]),
    Script("control", "benchmarks.control", lambda s: ["--calls", str(sized(5000, s)),
                                                       "--batch", str(sized(50000, s))]),
    Script("listing", "benchmarks.listing", lambda s: ["--jobs", str(sized(1000000, s))]),
    Script("listing-redis", "benchmarks.listing_redis",
           lambda s: ["--jobs", str(sized(1000000, s))]),
]

DEFAULT = ("add", "fire", "saturated", "logged", "lateness", "churn", "memory")


def describe_machine():
    import twisted
    line = "Python %s, Twisted %s" % (platform.python_version(), twisted.__version__)
    try:
        import apscheduler
        line += ", APScheduler %s" % (apscheduler.__version__,)
    except ImportError:
        line += ", APScheduler not installed"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for text in f:
                if text.startswith("model name"):
                    cpu = text.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s; %s, %d CPUs, %s" % (line, cpu, os.cpu_count(), platform.platform())


def main(argv=None):
    names = [scenario.name for scenario in SCENARIOS]
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="twistedsched side by side with raw callLater and APScheduler 3.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="some of: %s, all" % (", ".join(names),))
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the sizes")
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--profile", metavar="SORT",
                        help="cProfile twistedsched's runs, sorted by SORT (e.g. tottime)")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    chosen = args.scenarios or list(DEFAULT)
    if "all" in chosen:
        chosen = names
    unknown = [name for name in chosen if name not in names]
    if unknown:
        parser.error("unknown scenario(s) %s (known: %s, all)" % (
            ", ".join(unknown), ", ".join(names)))
    scale = args.scale * (0.1 if args.quick else 1.0)
    print("twistedsched benchmarks, scale %g%s" % (scale, " (--quick)" if args.quick else ""))
    print(describe_machine())
    figures = {}
    for scenario in SCENARIOS:
        if scenario.name in chosen:
            sys.stdout.flush()
            figures[scenario.name] = scenario.run(scale, args.profile)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"scale": scale, "machine": describe_machine(), "figures": figures},
                      f, indent=1)


if __name__ == "__main__":
    main()
