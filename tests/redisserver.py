"""
A real C{redis-server} for the Redis tests, on a free loopback port in a
temporary directory (never the machine's own Redis).

L{shared_server} starts one server for the whole test run and stops it at
exit; tests that kill or restart Redis start a L{RedisServer} of their own.
Without the binary the tests are skipped, unless C{CI=true}: then they fail.
"""

import atexit
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from twisted.trial.unittest import SkipTest

REDIS_SERVER = os.environ.get("REDIS_SERVER") or shutil.which("redis-server") or (
    "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)


def require_redis():
    """Skip (or, under CI=true, fail) when there is no redis-server."""
    if REDIS_SERVER is None:
        reason = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            raise RuntimeError("CI=true and " + reason)
        raise SkipTest(reason)


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """
    One C{redis-server} process.  C{persistent=True} turns on an
    append-only file synced at every write, so that a killed server comes
    back with every acknowledged write.
    """

    def __init__(self, persistent=False, tls=None, extra=()):
        require_redis()
        self.dir = tempfile.mkdtemp(prefix="twistedsched-redis-")
        self.port = free_port()
        self.socket_path = os.path.join(self.dir, "redis.sock")
        self.persistent = persistent
        self.tls = tls          # paths from tests.certs.make_pki: TLS only, on self.port
        self.extra = list(extra)    # more redis-server options
        self.process = None

    def url(self, db=0):
        if self.tls:
            return "rediss://localhost:%d/%d" % (self.port, db)
        return "redis://127.0.0.1:%d/%d" % (self.port, db)

    def unix_url(self, db=0):
        return "unix://%s?db=%d" % (self.socket_path, db)

    def start(self, timeout=10):
        if self.tls:
            port = ["--port", "0", "--tls-port", str(self.port),
                    "--tls-cert-file", self.tls["server.pem"],
                    "--tls-key-file", self.tls["server.pem"],
                    "--tls-ca-cert-file", self.tls["ca.pem"], "--tls-auth-clients", "no"]
        else:
            port = ["--port", str(self.port)]
        args = [REDIS_SERVER] + port + ["--bind", "127.0.0.1",
                "--dir", self.dir, "--unixsocket", self.socket_path,
                "--unixsocketperm", "700", "--save", "", "--daemonize", "no",
                "--logfile", os.path.join(self.dir, "redis.log")]
        if self.persistent:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        args += self.extra
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited (see %s/redis.log)" % (self.dir,))
            if self.ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("redis-server did not answer within %ss" % (timeout,))

    def _connect(self, timeout):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        if self.tls:
            context = ssl.create_default_context(cafile=self.tls["ca.pem"])
            s = context.wrap_socket(s, server_hostname="localhost")
        return s

    def ping(self):
        try:
            with self._connect(0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args):
        """Send one command and return the raw reply (for test set-up)."""
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            arg = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        with self._connect(5) as s:
            s.sendall(b"".join(parts))
            return s.recv(65536)

    def kill(self, sig=signal.SIGKILL):
        """Kill the server at once (SIGKILL unless told otherwise)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)

    def stop(self):
        self.kill(signal.SIGTERM)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


_shared = None


def shared_server():
    """The test run's Redis server, started on first use, stopped at exit."""
    global _shared
    if _shared is None or _shared.process.poll() is not None:
        server = RedisServer()
        server.start()
        atexit.register(server.cleanup)
        _shared = server
    return _shared


class Sentinel:
    """
    One C{redis-server --sentinel} watching the primary named C{service}
    at C{primary_port}: it calls it down after C{down_after} ms.
    """

    def __init__(self, primary_port, service="primary", down_after=1000):
        require_redis()
        self.dir = tempfile.mkdtemp(prefix="twistedsched-sentinel-")
        self.port = free_port()
        self.config = os.path.join(self.dir, "sentinel.conf")
        with open(self.config, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\n"
                    "sentinel monitor %s 127.0.0.1 %d 2\n"
                    "sentinel down-after-milliseconds %s %d\n"
                    "sentinel failover-timeout %s 5000\n" % (
                        self.port, self.dir, service, primary_port, service, down_after,
                        service))
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [REDIS_SERVER, self.config, "--sentinel", "--logfile",
             os.path.join(self.dir, "sentinel.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def command(self, *args):
        """Send one command and return the raw reply."""
        return _command(("127.0.0.1", self.port), args)

    def cleanup(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _command(address, args):
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        arg = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    with socket.create_connection(address, timeout=5) as s:
        s.sendall(b"".join(parts))
        return s.recv(65536)
