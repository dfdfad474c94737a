# A small game server that embeds the scheduler.
#
#     twistd -ny tac/gameserver.tac          then: telnet 127.0.0.1 7740
#
# Players join with a line protocol.  The scheduler runs:
#   - a monster respawn job every 30 s per zone (interval trigger);
#   - a per-player "haste" buff that ends 60 s later (a one-shot date job,
#     removed when the player leaves before it ends);
#   - a nightly reset at 04:00 server time (cron trigger).
# A control port on 7742 lets `twistedsched-ctl --connect tcp:127.0.0.1:7742`
# watch the game's jobs; GAMESERVER_PORT and GAMESERVER_CONTROL override them.
import os
from datetime import timedelta

from twisted.application import service, strports
from twisted.internet import protocol
from twisted.logger import Logger
from twisted.protocols.basic import LineReceiver

from twistedsched import Scheduler
from twistedsched.daemon import make_control_service
from twistedsched.errors import JobLookupError

ZONES = {"forest": "wolf", "caves": "bat"}
MAX_MONSTERS = 5
RESPAWN_SECONDS = 30
BUFF_SECONDS = 60

log = Logger(namespace="gameserver")


class Game:
    """The world: players, monsters per zone, scores; jobs on C{scheduler}."""

    def __init__(self, scheduler):
        self.sched = scheduler
        self.players = {}                       # name -> GameProtocol
        self.monsters = dict.fromkeys(ZONES, 1)
        self.scores = {}
        self.buffed = set()
        scheduler.task("respawn")(self.respawn)
        scheduler.task("buff_expire")(self.buff_expire)
        scheduler.task("nightly_reset")(self.nightly_reset)
        for zone in ZONES:
            scheduler.add_job("respawn", "interval", seconds=RESPAWN_SECONDS,
                              id="respawn-" + zone, args=(zone,), replace_existing=True)
        scheduler.add_job("nightly_reset", "cron", hour=4, minute=0, id="nightly-reset",
                          replace_existing=True)

    def broadcast(self, text):
        for player in list(self.players.values()):
            player.say(text)

    # Jobs (registered tasks, so a Redis store could keep them too).

    def respawn(self, zone):
        if self.monsters[zone] < MAX_MONSTERS:
            self.monsters[zone] += 1
            self.broadcast("A %s appears in the %s." % (ZONES[zone], zone))

    def buff_expire(self, name):
        self.buffed.discard(name)
        if name in self.players:
            self.players[name].say("Your haste wears off.")

    def nightly_reset(self):
        self.monsters = dict.fromkeys(ZONES, 1)
        self.scores = dict.fromkeys(self.scores, 0)
        self.broadcast("Nightly reset: the world is new again, scores are zero.")

    # Player actions.

    def join(self, name, player):
        if name in self.players:
            raise ValueError("the name %r is taken" % (name,))
        self.players[name] = player
        self.scores.setdefault(name, 0)
        self.broadcast("%s joins the game." % (name,))

    def leave(self, name):
        self.players.pop(name, None)
        self.buffed.discard(name)
        d = self.sched.remove_job("buff-" + name)
        d.addErrback(lambda f: f.trap(JobLookupError))
        self.broadcast("%s leaves the game." % (name,))

    def attack(self, name, zone):
        if zone not in ZONES:
            return "No such zone; zones: %s." % (", ".join(sorted(ZONES)),)
        if not self.monsters[zone]:
            return "Nothing to fight in the %s; wait for a respawn." % (zone,)
        self.monsters[zone] -= 1
        self.scores[name] += 2 if name in self.buffed else 1
        return "You slay a %s. Score: %d." % (ZONES[zone], self.scores[name])

    def buff(self, name):
        self.buffed.add(name)
        when = self.sched.now() + timedelta(seconds=BUFF_SECONDS)
        self.sched.add_job("buff_expire", "date", run_date=when, id="buff-" + name,
                           args=(name,), replace_existing=True)
        return "You feel fast: double score for %d s." % (BUFF_SECONDS,)

    def look(self):
        zones = ", ".join("%s: %d %s(s)" % (zone, self.monsters[zone], ZONES[zone])
                          for zone in sorted(ZONES))
        return "%s. Players: %s." % (zones, ", ".join(sorted(self.players)) or "none")


class GameProtocol(LineReceiver):
    """One player's connection: join NAME, look, attack ZONE, buff, quit."""

    delimiter = b"\n"
    MAX_LENGTH = 200
    HELP = "Commands: join NAME, look, attack ZONE, buff, scores, quit."

    def __init__(self, game):
        self.game = game
        self.name = None

    def say(self, text):
        self.sendLine(text.encode("utf-8") + b"\r")

    def connectionMade(self):
        self.say("Welcome! " + self.HELP)

    def lineReceived(self, line):
        words = line.decode("utf-8", "replace").strip().split()
        if not words:
            return
        command, rest = words[0].lower(), words[1:]
        if command == "quit":
            self.say("Bye.")
            self.transport.loseConnection()
        elif command == "join":
            self.do_join(rest)
        elif self.name is None:
            self.say("Join first: join NAME.")
        elif command == "look":
            self.say(self.game.look())
        elif command == "attack" and len(rest) == 1:
            self.say(self.game.attack(self.name, rest[0]))
        elif command == "buff":
            self.say(self.game.buff(self.name))
        elif command == "scores":
            self.say(", ".join("%s %d" % item for item in sorted(self.game.scores.items())))
        else:
            self.say("What? " + self.HELP)

    def do_join(self, rest):
        if self.name is not None or len(rest) != 1 or not rest[0].isalnum():
            self.say("Use: join NAME (letters and digits), once.")
            return
        try:
            self.game.join(rest[0], self)
        except ValueError as e:
            self.say(str(e))
            return
        self.name = rest[0]

    def lineLengthExceeded(self, line):
        self.say("Line too long.")

    def connectionLost(self, reason):
        if self.name is not None:
            self.game.leave(self.name)


class GameFactory(protocol.Factory):
    def __init__(self, game):
        self.game = game

    def buildProtocol(self, addr):
        return GameProtocol(self.game)


def make_application(reactor=None):
    """The application: scheduler, game port, control port."""
    application = service.Application("gameserver")
    sched = Scheduler(reactor=reactor, timezone=os.environ.get("GAMESERVER_TZ", "UTC"))
    sched.setServiceParent(application)
    game = Game(sched)
    port = os.environ.get("GAMESERVER_PORT", "tcp:7740:interface=127.0.0.1")
    strports.service(port, GameFactory(game)).setServiceParent(application)
    control = os.environ.get("GAMESERVER_CONTROL", "tcp:7742:interface=127.0.0.1")
    if control != "none":
        make_control_service(sched, control, {}).setServiceParent(application)
    application.game = game
    return application


application = make_application()
