"""
End to end: start C{twistd -n sched} as a subprocess and talk to its admin
console over a real loopback socket.
"""

import re
import socket
import time


from tests.daemonprocess import TIMEOUT, DaemonTestCase

PROMPT = b"sched> "


class Client:
    """A blocking console client: C{cmd} sends a line and reads up to the prompt."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buffer = b""

    def read_until(self, marker):
        deadline = time.monotonic() + TIMEOUT
        while marker not in self.buffer:
            if time.monotonic() > deadline:
                raise AssertionError("no %r in %r" % (marker, self.buffer))
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed; got %r" % (self.buffer,))
            self.buffer += data
        out, self.buffer = self.buffer.split(marker, 1)
        return out

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line.encode("utf-8") + b"\r\n")
        return self.read_until(PROMPT).decode("utf-8").split("\r\n")[:-1]

    def watch_one(self, events):
        """C{watch EVENTS}, read the first event line, stop watching; that line."""
        self.send(b"watch " + events.encode("utf-8") + b"\r\n")
        self.read_until(b"stop\r\n")
        event = self.read_until(b"\r\n").decode("utf-8")
        self.send(b"\r\n")
        self.read_until(b"stopped watching\r\n" + PROMPT)
        return event

    def read_to_end(self):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            data = self.sock.recv(65536)
            if not data:
                return self.buffer
            self.buffer += data
        raise AssertionError("the server did not close; got %r" % (self.buffer,))

    def close(self):
        self.sock.close()


class ConsoleEndToEndTests(DaemonTestCase):

    def daemon_args(self):
        return ["--console", "tcp:%d:interface=127.0.0.1" % (self.console_port,),
                "--control", "tcp:%d:interface=127.0.0.1" % (self.port,),
                "--timezone", "Europe/Paris"]

    def listening_port(self):
        return self.console_port

    def assertCleanLog(self):
        log = self.daemon_log()
        for bad in ["Traceback", "Unhandled"]:
            self.assertNotIn(bad, log)

    def connect(self):
        client = Client(self.console_port)
        self.addCleanup(client.close)
        greeting = client.read_until(PROMPT).decode("utf-8")
        self.assertIn("admin console", greeting)
        return client

    def test_session(self):
        client = self.connect()
        self.assertIn("echo", "\n".join(client.cmd("tasks")))
        lines = client.cmd("""add echo every 1s id=e2e args='["hi"]'""")
        self.assertTrue(lines[0].startswith("added job e2e (echo): interval[0:00:01]"), lines)
        self.assertRegex(lines[0], r"\+0[12]:00$")          # Paris time
        lines = client.cmd("jobs")
        self.assertEqual(lines[0].split()[:3], ["ID", "NAME", "TRIGGER"])
        self.assertTrue(lines[1].startswith("e2e "), lines)
        self.assertIn("job_executed job_id=e2e", client.watch_one("job_executed"))
        lines = client.cmd("show e2e")
        self.assertIn('args:', lines[6])
        self.assertTrue(any(re.search(r"\bok\b", line) for line in lines), lines)
        self.assertEqual(client.cmd("pause e2e"), ["paused job e2e"])
        self.assertEqual(client.cmd("remove e2e"), ["removed job e2e"])
        self.assertEqual(client.cmd("jbos")[0][:40], "error: unknown command 'jbos' (did you m")
        self.assertIn("no task is registered as 'os:system'",
                      client.cmd("add os:system every 1s")[0])
        client.send(b"quit\r\n")
        self.assertEqual(client.read_to_end(), b"bye\r\n")
        self.assertCleanLog()

    def test_bad_input(self):
        client = self.connect()
        other = self.connect()
        # Telnet negotiation is refused, garbage and a too-long line get errors.
        client.send(b"\xff\xfd\x01\xff\xfb\x1f")
        self.assertEqual(client.read_until(b"\xff\xfe\x1f"), b"\xff\xfc\x01")
        client.send(b"\x00\x80\xfe\xc3(garbage\r\n")
        self.assertTrue(client.read_until(PROMPT).startswith(b"error: unknown command"))
        client.send(b"x" * 100000 + b"\r\n")
        self.assertEqual(client.read_until(PROMPT),
                         b"error: line too long (more than 8192 bytes); ignored\r\n")
        self.assertEqual(client.cmd("jobs"), ["no jobs"])
        # Ctrl-C as telnet sends it, and as nc sends it.
        client.send(b"half a line\xff\xf4")
        client.read_until(b"^C\r\n" + PROMPT)
        client.send(b"more\x03")
        client.read_until(b"^C\r\n" + PROMPT)
        # The other session and the daemon are fine.
        self.assertEqual(other.cmd("stats")[0].split(), ["jobs:", "0"])
        client.close()
        self.assertEqual(other.cmd("jobs"), ["no jobs"])
        self.assertIsNone(self.daemon.poll())
        self.assertCleanLog()
