"""
A C{twistd -n sched} subprocess for end-to-end tests, on free loopback ports,
with every wait bounded.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from twisted.trial import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 20.0      # the longest we wait for the daemon, or for one answer


def free_ports(count):
    """Loopback ports free right now (all held until every one is chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port():
    return free_ports(1)[0]


def environment():
    """This environment, with the project on the import path."""
    path = [ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))


def stop_process(process):
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class DaemonTestCase(unittest.TestCase):
    """
    Starts C{twistd -n sched --tasks twistedsched.example_tasks} plus
    L{daemon_args} (by default a control port on C{self.port}, no console),
    and waits until L{listening_port} accepts connections.
    """

    timeout = 120

    def daemon_args(self):
        return ["--control", "tcp:%d:interface=127.0.0.1" % (self.port,), "--console", "none"]

    def listening_port(self):
        return self.port

    def setUp(self):
        self.port, self.console_port = free_ports(2)
        self.workdir = self.mktemp()
        os.makedirs(self.workdir)
        self.log_path = os.path.join(self.workdir, "twistd.log")
        args = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "-n", "--pidfile=", "--logfile=-", "sched",
                "--tasks", "twistedsched.example_tasks"] + self.daemon_args()
        with open(self.log_path, "wb") as log:
            self.daemon = subprocess.Popen(args, cwd=self.workdir, env=environment(),
                                           stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(stop_process, self.daemon)
        self.wait_for_port()

    def daemon_log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def extra_ports(self):
        """Other ports the daemon must listen on before a test starts."""
        return []

    def wait_for_port(self):
        for port in [self.listening_port()] + self.extra_ports():
            self.wait_for(port)

    def wait_for(self, port):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                self.fail("twistd exited with %s:\n%s" % (self.daemon.returncode,
                                                         self.daemon_log()))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.fail("port %d did not listen within %ss:\n%s" % (
            port, TIMEOUT, self.daemon_log()))
