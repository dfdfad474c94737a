"""
The game server example (tac/gameserver.tac) on a Clock: respawns, buffs
that end or are cancelled when the player leaves, the nightly reset.
"""

import os
import runpy

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from twistedsched import Scheduler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TAC = runpy.run_path(os.path.join(ROOT, "tac", "gameserver.tac"), run_name="gameserver")

START = 1_700_000_000  # 2023-11-14 22:13:20 UTC


class GameTests(unittest.TestCase):

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(START)
        self.sched = Scheduler(reactor=self.clock, timezone="UTC")
        self.game = TAC["Game"](self.sched)
        self.sched.startService()
        self.addCleanup(self.sched.shutdown)

    def player(self, name):
        protocol = TAC["GameProtocol"](self.game)
        protocol.makeConnection(StringTransport())
        protocol.dataReceived(b"join " + name.encode() + b"\r\n")
        protocol.transport.clear()
        return protocol

    def send(self, protocol, line):
        protocol.transport.clear()
        protocol.dataReceived(line.encode() + b"\r\n")
        return self.output(protocol)

    def output(self, protocol):
        return protocol.transport.value().decode()

    def run_until(self, end):
        """Advance the clock from timer to timer, as a reactor would, up to C{end}."""
        while self.clock.seconds() < end:
            due = min([call.getTime() for call in self.clock.getDelayedCalls()] + [end])
            self.clock.advance(max(0, due - self.clock.seconds()))

    def job_ids(self):
        return sorted(job.id for job in self.successResultOf(self.sched.get_jobs()))

    def test_jobs_at_start(self):
        self.assertEqual(self.job_ids(), ["nightly-reset", "respawn-caves", "respawn-forest"])

    def test_respawn(self):
        alice = self.player("alice")
        self.assertIn("You slay a wolf", self.send(alice, "attack forest"))
        self.assertIn("Nothing to fight", self.send(alice, "attack forest"))
        alice.transport.clear()
        self.clock.advance(30)
        self.assertIn("A wolf appears in the forest.", self.output(alice))
        self.assertIn("forest: 1 wolf", self.send(alice, "look"))

    def test_buff_ends(self):
        alice = self.player("alice")
        self.send(alice, "buff")
        self.assertIn("buff-alice", self.job_ids())
        self.assertIn("Score: 2", self.send(alice, "attack caves"))
        alice.transport.clear()
        self.clock.advance(60)
        self.assertIn("Your haste wears off.", self.output(alice))
        self.assertNotIn("buff-alice", self.job_ids())

    def test_buff_cancelled_when_player_leaves(self):
        alice = self.player("alice")
        self.send(alice, "buff")
        alice.connectionLost(None)
        self.assertNotIn("buff-alice", self.job_ids())
        self.assertNotIn("alice", self.game.players)

    def test_nightly_reset(self):
        alice = self.player("alice")
        self.send(alice, "attack forest")
        alice.transport.clear()
        self.run_until(START + 6 * 3600)      # past 04:00 UTC
        self.assertIn("Nightly reset", self.output(alice))
        self.assertEqual(self.game.scores["alice"], 0)

    def test_protocol_errors(self):
        bob = TAC["GameProtocol"](self.game)
        bob.makeConnection(StringTransport())
        self.assertIn("Join first", self.send(bob, "look"))
        self.player("carol")
        self.assertIn("taken", self.send(bob, "join carol"))
        self.assertIn("Line too long", self.send(bob, "x" * 500))
        self.assertIn("What?", self.send(self.player("dave"), "dance"))
