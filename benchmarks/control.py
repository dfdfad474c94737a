"""
Control port benchmark: AMP add-job round trips per second over loopback TCP,
one call at a time and with 50 calls in flight on one connection; the
same jobs in AddJobs batches; then paging through every job with ListJobs.

    .venv/bin/python -m benchmarks.control [--calls 5000] [--in-flight 50]
                                           [--batch 50000] [--tls] [--profile SORT]
    .venv/bin/python -m benchmarks.control --cpu [--calls 20000] [--profile SORT]

With --cpu it measures instead, in this one process and without sockets,
the CPU time each side spends on an AddJob: the daemon's (question boxes
fed to a ControlProtocol over a StringTransport) and the client's
(ControlClient.add_job, its answer box fed back); the least of 5 rounds.
The loopback figures depend much on how the two processes are woken on a
shared machine; these do not.

With --tls the control port is an ssl: endpoint (a throwaway CA and server
certificate from tests/certs.py) and the client checks it as twistedsched-ctl
--tls --ca does.

The server (a Scheduler with a memory store and a ControlFactory) runs in a
child process, so that client and server each have a core.  Each added job
is an interval job due in an hour: nothing fires during the run.  Numbers on
a shared 2-core machine are noisy; run it twice.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def profiled(run, sort):
    """Run C{run()} under cProfile and print the top of it to stderr, sorted by C{sort}."""
    import cProfile
    import pstats
    profiler = cProfile.Profile()
    try:
        return profiler.runcall(run)
    finally:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(sort).print_stats(int(os.environ.get("PROFLINES", 25)))


def serve(pki=None):
    """The child: listen on a free loopback port, print it, run until stdin closes."""
    from twisted.internet import reactor, stdio
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.internet.protocol import Protocol

    from twistedsched import Scheduler
    from twistedsched.control import ControlFactory

    sched = Scheduler(reactor=reactor)
    sched.task("noop")(lambda *args, **kwargs: None)
    sched.startService()

    class StopOnEOF(Protocol):
        def connectionLost(self, reason):
            reactor.stop()

    def listening(port):
        sys.stdout.write("%d\n" % (port.getHost().port,))
        sys.stdout.flush()
        stdio.StandardIO(StopOnEOF())

    if pki:
        from twistedsched.tls import server_endpoint
        endpoint = server_endpoint(reactor, "ssl:0:interface=127.0.0.1:privateKey=%s" % (
            os.path.join(pki, "server.pem"),))
    else:
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    endpoint.listen(ControlFactory(sched)).addCallback(listening)
    reactor.run()


#: The answer the client side of --cpu is fed (a job as the daemon describes it).
ANSWERED_JOB = (
    b'{"id":"x","name":"noop","task":"noop","target":"noop","args":[1],"kwargs":{},'
    b'"trigger":"interval[1:00:00]","trigger_dict":{"type":"interval","seconds":3600.0,'
    b'"timezone":"UTC","start_date":"2026-12-02T05:00:00+00:00","end_date":null,'
    b'"jitter":null},"next_run_time":"2026-12-02T05:00:00+00:00",'
    b'"next_run":"2026-12-02 05:00:00+00:00","paused":false,"options":{}}')


def cpu_daemon(calls):
    """CPU seconds of a ControlProtocol answering C{calls} AddJob questions."""
    from twisted.internet import reactor
    from twisted.internet.testing import StringTransport
    from twisted.protocols import amp

    from twistedsched import Scheduler
    from twistedsched.control import ControlFactory

    sched = Scheduler(reactor=reactor)
    sched.task("noop")(lambda *args, **kwargs: None)
    sched.startService()
    server = ControlFactory(sched).buildProtocol(None)
    transport = StringTransport()
    server.makeConnection(transport)
    questions = [amp.AmpBox({
        b"_command": b"AddJob", b"_ask": b"%x" % (i,), b"task": b"noop",
        b"trigger_kind": b"interval", b"trigger": b"1h", b"id": b"cpu-%d" % (i,),
        b"args": b"[%d]" % (i,), b"kwargs": b"{}"}).serialize() for i in range(calls)]
    start = time.process_time()
    for question in questions:
        server.dataReceived(question)
        transport.clear()
    return time.process_time() - start


def cpu_client(calls):
    """CPU seconds of C{calls} ControlClient.add_job calls, each answer fed back."""
    from twisted.internet.testing import StringTransport
    from twisted.protocols import amp

    from twistedsched.client import ClientProtocol, ControlClient

    protocol = ClientProtocol()
    transport = StringTransport()
    protocol.makeConnection(transport)
    client = ControlClient(protocol)
    answers = [amp.AmpBox({b"_answer": b"%x" % (i + 1,), b"job": ANSWERED_JOB}).serialize()
               for i in range(calls)]
    trigger = ("interval", "1h")
    failed = []
    start = time.process_time()
    for i in range(calls):
        d = client.add_job("noop", trigger, id="cpu-%d" % (i,), args=[i])
        protocol.dataReceived(answers[i])
        transport.clear()
        d.addErrback(failed.append)
    spent = time.process_time() - start
    if failed:
        raise SystemExit("add_job failed: %s" % (failed[0].getErrorMessage(),))
    return spent


def measure_cpu(calls, sort=None):
    """Print the least CPU per AddJob of 5 rounds on each side (or profile one round)."""
    print("CPU per AddJob in one process (no sockets), %d calls, least of 5 rounds" % (calls,))
    for side, run in (("daemon", cpu_daemon), ("client", cpu_client)):
        if sort:
            sys.stderr.write("-- the %s:\n" % (side,))
            profiled(lambda: run(calls), sort)
            continue
        best = min(run(calls) for _ in range(5))
        print("  %s: %6.1f us" % (side, 1e6 * best / calls))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(reactor, port, calls, in_flight, batch, pki=None):
    from twisted.internet.defer import DeferredSemaphore, gatherResults

    from twistedsched.client import connect

    start = time.perf_counter()
    client = await connect(reactor, "tcp:127.0.0.1:%d" % (port,), tls=bool(pki),
                           ca_file=pki and os.path.join(pki, "ca.pem"))
    connecting = time.perf_counter() - start
    trigger = ("interval", "1h")
    for i in range(200):                                   # warm up
        await client.add_job("noop", trigger, id="warm-%d" % (i,), args=[i])

    latencies = []
    start = time.perf_counter()
    for i in range(calls):
        t0 = time.perf_counter()
        await client.add_job("noop", trigger, id="seq-%d" % (i,), args=[i])
        latencies.append(time.perf_counter() - t0)
    sequential = time.perf_counter() - start

    semaphore = DeferredSemaphore(in_flight)
    start = time.perf_counter()
    await gatherResults([
        semaphore.run(client.add_job, "noop", trigger, id="par-%d" % (i,), args=[i])
        for i in range(calls)])
    parallel = time.perf_counter() - start

    batched = None
    if hasattr(client, "add_jobs"):         # (not in code before AddJobs)
        batch_jobs = [{"task": "noop", "trigger": trigger, "id": "batch-%d" % (i,),
                       "args": [i]} for i in range(batch)]
        start = time.perf_counter()
        results = await client.add_jobs(batch_jobs)
        batched = time.perf_counter() - start
        refused = sum(1 for result in results if "error" in result)

    start = time.perf_counter()
    offset, pages, listed = 0, 0, 0
    while offset is not None:
        jobs, offset = await client.get_jobs_page(offset)
        pages += 1
        listed += len(jobs)
    listing = time.perf_counter() - start
    await client.close()

    print("AMP add_job over loopback %s, %d calls each, server in a child process" % (
        "TLS" if pki else "TCP", calls))
    print("  connect%s:    %.1f ms" % (" + handshake" if pki else "", 1000 * connecting))
    print("  1 in flight:   %8.0f calls/s  (latency p50 %.3f ms, p99 %.3f ms)" % (
        calls / sequential, 1000 * percentile(latencies, 0.5),
        1000 * percentile(latencies, 0.99)))
    print("  %d in flight: %8.0f calls/s" % (in_flight, calls / parallel))
    if batched is not None:
        print("AddJobs batches (ControlClient.add_jobs: 500 jobs a batch, 4 in flight):")
        print("  %d jobs:    %8.0f jobs/s%s" % (batch, batch / batched, "  (%d refused!)" % (
            refused,) if refused else ""))
    print("ListJobs: %d jobs in %d pages (under 64 KiB each) in %.2f s (%.0f jobs/s)" % (
        listed, pages, listing, listed / listing))


def main():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--batch", type=int, default=50000, help="jobs added with AddJobs")
    parser.add_argument("--tls", action="store_true", help="an ssl: control port")
    parser.add_argument("--profile", metavar="SORT",
                        help="cProfile the daemon and the client (stderr), sorted by SORT")
    parser.add_argument("--cpu", action="store_true",
                        help="CPU per AddJob of each side in one process, without sockets")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--pki", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cpu:
        return measure_cpu(args.calls, args.profile)
    if args.serve:
        if args.profile:
            return profiled(lambda: serve(args.pki), args.profile)
        return serve(args.pki)

    child = [sys.executable, os.path.abspath(__file__), "--serve"]
    if args.profile:
        child += ["--profile", args.profile]
    pki = None
    if args.tls:
        from tests.certs import make_pki
        pki = tempfile.mkdtemp(prefix="bench-pki-")
        make_pki(pki)
        child += ["--pki", pki]
    server = subprocess.Popen(child, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        from twisted.internet.defer import ensureDeferred
        from twisted.internet.task import react
        def run():
            react(lambda reactor: ensureDeferred(
                measure(reactor, port, args.calls, args.in_flight, args.batch, pki)))
        if args.profile:
            sys.stderr.write("-- the client:\n")
            profiled(lambda: _no_exit(run), args.profile)
            sys.stderr.write("-- the daemon:\n")
        else:
            run()
    finally:
        server.stdin.close()
        server.wait(30)
        if pki:
            shutil.rmtree(pki)


def _no_exit(run):
    """Call C{run()}; a SystemExit(0) (react's) ends it quietly."""
    try:
        run()
    except SystemExit as e:
        if e.code:
            raise


if __name__ == "__main__":
    main()
