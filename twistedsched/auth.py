"""
Login for the control port and the console: C{twisted.cred} checkers from a
C{--auth} spec, hashed password files, and the guards around each login: a
per-peer throttle (L{LoginThrottle}) and a bound on concurrent password
checks (L{CheckQueue}), put together by L{Authenticator}.

C{--auth file:PATH} reads lines C{user:HASH} where HASH is what
C{python -m twistedsched.auth USER} prints (scrypt, salted).  Any other spec
goes to L{twisted.cred.strcred} (C{memory:user:pass}, C{unix}, ...).
"""

import argparse
import base64
import binascii
import collections
import getpass
import hashlib
import hmac
import os
import sys

from twisted.cred import error as cred_error
from twisted.cred import strcred
from twisted.cred.checkers import ICredentialsChecker, InMemoryUsernamePasswordDatabaseDontUse
from twisted.cred.credentials import IUsernamePassword, UsernamePassword
from twisted.internet import defer, task, threads
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

SCRYPT = dict(n=2 ** 14, r=8, p=1, dklen=32)
PREFIX = "scrypt"
SALT_BYTES = 16

log = Logger(namespace="twistedsched.auth")


# -- Hashes ----------------------------------------------------------------------

def _scrypt(password, salt):
    return hashlib.scrypt(password.encode("utf-8", "surrogatepass"), salt=salt, **SCRYPT)


def hash_password(password, salt=None):
    """A storable, salted scrypt hash of C{password} (text)."""
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    key = _scrypt(password, salt)
    return "%s$%s$%s" % (PREFIX, base64.b64encode(salt).decode(), base64.b64encode(key).decode())


def _strict_b64(text, size):
    """The bytes of C{text}, canonical base64 of exactly C{size} bytes, or C{None}."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    if len(raw) != size or base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def parse_hash(stored):
    """C{(salt, key)} from a hash made by L{hash_password}, or C{None} if malformed."""
    parts = stored.split("$") if isinstance(stored, str) else ()
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    salt = _strict_b64(parts[1], SALT_BYTES)
    key = _strict_b64(parts[2], SCRYPT["dklen"])
    return None if salt is None or key is None else (salt, key)


def password_file_entries(path):
    """The (name, stored text) pairs of a password file: its lines but blank ones and comments."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, stored = line.partition(":")
                yield name, stored


def verify_password(password, stored):
    """
    True if C{password} matches C{stored}, a hash from L{hash_password}.
    Always costs one scrypt: for C{stored=None} (an unknown user) or a
    malformed hash too, and then it is false.
    """
    parsed = parse_hash(stored) if stored is not None else None
    salt, expected = parsed if parsed else (os.urandom(SALT_BYTES), None)
    actual = _scrypt(password, salt)
    return expected is not None and hmac.compare_digest(actual, expected)


@implementer(ICredentialsChecker)
class HashedPasswordFile:
    """
    Checks user names and passwords against a file of C{user:HASH} lines,
    re-read at each login so that edits apply at once.  Reading the file and
    hashing run in a thread, for unknown users too, so that a login never
    stalls the reactor; an unknown user costs the same scrypt as a known one.
    """

    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, path):
        self.path = path
        if not os.path.isfile(path):
            raise ValueError("password file %r does not exist" % (path,))

    def _lookup(self, username):
        for user, stored in password_file_entries(self.path):
            if user == username:
                return stored
        return None

    def check(self, username, password):
        """True if the file has C{username} with C{password} (blocking: call in a thread)."""
        try:
            stored = self._lookup(username)
        except (OSError, UnicodeDecodeError) as e:
            log.error("cannot read password file {path}: {e}", path=self.path, e=e)
            stored = None
        return verify_password(password, stored)

    def requestAvatarId(self, credentials):
        username = _text(credentials.username)
        d = threads.deferToThread(self.check, username, _text(credentials.password))
        d.addCallback(lambda ok: username if ok else _unauthorized())
        return d


def _unauthorized():
    raise cred_error.UnauthorizedLogin()


def _wrong_password():
    raise cred_error.UnauthorizedLogin("wrong user name or password")


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _bytes(value):
    return value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value


def make_checker(spec):
    """
    A credentials checker from an C{--auth} spec: C{file:PATH} (hashed, see
    L{hash_password}) or any L{strcred} spec such as C{memory:alice:secret}.
    Raises C{ValueError} with a clear message for a bad spec.
    """
    if spec.startswith("file:"):
        return HashedPasswordFile(spec[len("file:"):])
    try:
        checker = strcred.makeChecker(spec)
    except strcred.InvalidAuthType:
        raise ValueError("bad --auth %r: unknown kind %r (use file:PATH or "
                         "memory:USER:PASSWORD)" % (spec, spec.partition(":")[0])) from None
    except (strcred.InvalidAuthArgumentString, ValueError) as e:
        raise ValueError("bad --auth %r: %s" % (spec, e)) from None
    if isinstance(checker, InMemoryUsernamePasswordDatabaseDontUse):
        # strcred's memory checker keeps text; credentials arrive as bytes.
        checker.users = {_bytes(user): _bytes(password)
                         for user, password in checker.users.items()}
    return checker


# -- Guards around a login ---------------------------------------------------------

class LoginRefused(cred_error.UnauthorizedLogin):
    """
    A login refused before its password was checked; C{str()} says why in a
    sentence the client may be shown.
    """


class _Peer:
    """What L{LoginThrottle} knows of one host."""

    def __init__(self):
        self.failures = 0
        self.blocked_until = 0.0
        self.checking = False
        self.waiting = collections.deque()
        self.timer = None

    def idle(self):
        return not (self.checking or self.waiting or self.timer)


class LoginThrottle:
    """
    Limits password guessing per peer host (an address: every connection
    and every port from it counts together).

    Each failed login from a host starts a delay for that host, doubling
    with each failure (0, C{base_delay}, twice that ... at most
    C{max_delay} seconds); a success clears it.  One login per host is
    checked at a time, and only after its delay: others from the host wait
    their turn, so hanging up and coming back, or opening many connections,
    gets no more guesses.  At most C{max_waiting} logins wait per host; more
    are refused at once.  Failure records of at most C{max_hosts} hosts are
    kept (the oldest forgotten first).

    The API, for every port that takes logins::

        d = throttle.turn(host)      # fires when this login may be checked
        # ... check the password ...
        throttle.done(host, ok)      # once per turn: True, False, or None (not checked)

    L{turn} fails with L{LoginRefused} when too many wait; cancelling its
    Deferred leaves the line.  L{retry_after} gives the seconds until a host
    may try again (for an HTTP C{Retry-After}); L{delay_for} the delay its
    next failure would get.
    """

    def __init__(self, reactor, base_delay=0.5, max_delay=30.0, max_hosts=10000,
                 max_waiting=10):
        self.reactor = reactor
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_hosts = max_hosts
        self.max_waiting = max_waiting
        self._peers = collections.OrderedDict()

    def _peer(self, host):
        peer = self._peers.get(host)
        if peer is None:
            peer = self._peers[host] = _Peer()
            self._forget_old()
        return peer

    def _forget_old(self):
        if len(self._peers) <= self.max_hosts:
            return
        for host, peer in list(self._peers.items()):
            if peer.idle():
                del self._peers[host]
                return

    def delay_for(self, host):
        """The delay a failure from C{host} would start now, in seconds."""
        peer = self._peers.get(host)
        if peer is None or not peer.failures:
            return 0.0
        return min(self.max_delay, self.base_delay * 2 ** (peer.failures - 1))

    def retry_after(self, host):
        """Seconds until C{host}'s delay is over (0 if it may log in now)."""
        peer = self._peers.get(host)
        return max(0.0, peer.blocked_until - self.reactor.seconds()) if peer else 0.0

    def turn(self, host):
        """A Deferred that fires when a login from C{host} may be checked."""
        peer = self._peer(host)
        if len(peer.waiting) >= self.max_waiting:
            return defer.fail(LoginRefused(
                "too many logins waiting from %s; try again later" % (host,)))
        d = defer.Deferred(lambda d: self._leave(host, d))
        peer.waiting.append(d)
        self._next(host)
        return d

    def _leave(self, host, d):
        peer = self._peers.get(host)
        if peer is not None and d in peer.waiting:
            peer.waiting.remove(d)
            self._tidy(host)

    def _next(self, host):
        """Let the next waiting login of C{host} in, now or when its delay ends."""
        peer = self._peers.get(host)
        if peer is None or peer.checking or not peer.waiting or peer.timer:
            return
        wait = peer.blocked_until - self.reactor.seconds()
        if wait > 0:
            peer.timer = self.reactor.callLater(wait, self._woken, host)
            return
        peer.checking = True
        peer.waiting.popleft().callback(None)

    def _woken(self, host):
        peer = self._peers.get(host)
        if peer is not None:
            peer.timer = None
            self._next(host)
            self._tidy(host)

    def done(self, host, ok):
        """
        The check of C{host}'s login (let in by L{turn}) ended: C{ok} true
        (success: clears the host's failures), false (a failure: starts its
        delay) or C{None} (not checked).  Returns the host's delay in seconds.
        """
        peer = self._peer(host)
        peer.checking = False
        if ok:
            peer.failures = 0
            peer.blocked_until = 0.0
        elif ok is not None:
            delay = self.delay_for(host)
            peer.failures += 1
            peer.blocked_until = self.reactor.seconds() + delay
            self._peers.move_to_end(host)
        self._next(host)
        self._tidy(host)
        return self.retry_after(host)

    def succeeded(self, host):
        """Forget C{host}'s failures (as after a successful login)."""
        peer = self._peers.get(host)
        if peer is not None:
            peer.failures, peer.blocked_until = 0, 0.0
            self._tidy(host)

    def _tidy(self, host):
        peer = self._peers.get(host)
        if peer is not None and peer.idle() and not peer.failures:
            del self._peers[host]


class CheckQueue:
    """
    Bounds concurrent password checks: at most C{concurrency} run at once,
    at most C{backlog} more wait (first come, first served); past that
    L{run} fails at once with L{LoginRefused}.  Cancelling the Deferred of a
    waiting check drops it without running it; a running check cannot be
    stopped (its hash is in a thread): it finishes and frees its place, and
    whoever cancelled it is not told the result.
    """

    def __init__(self, concurrency=2, backlog=32):
        self.backlog = backlog
        self._semaphore = defer.DeferredSemaphore(concurrency)

    @property
    def running(self):
        return self._semaphore.limit - self._semaphore.tokens

    @property
    def waiting(self):
        return len(self._semaphore.waiting)

    def run(self, func, *args):
        """C{func(*args)} when a place is free; a Deferred of its result."""
        if not self._semaphore.tokens and self.waiting >= self.backlog:
            return defer.fail(LoginRefused(
                "the server is busy checking other logins; try again shortly"))
        place = self._semaphore.acquire()
        result = defer.Deferred(lambda _: place.cancel())

        def start(_):
            work = defer.maybeDeferred(func, *args)
            work.addBoth(self._release)
            work.addBoth(_deliver, result)
        place.addCallbacks(start, lambda failure: failure.trap(defer.CancelledError) and None)
        return result

    def _release(self, outcome):
        self._semaphore.release()
        return outcome


def _deliver(outcome, d):
    """Fire C{d} with C{outcome} unless it was cancelled."""
    if not d.called:
        if isinstance(outcome, Failure):
            d.errback(outcome)
        else:
            d.callback(outcome)


def peer_host(peer):
    """The host part of a peer address: what L{LoginThrottle} counts by."""
    return getattr(peer, "host", None) or str(peer)


class Authenticator:
    """
    Logs a peer in through a checker, shared by every port: one login at a
    time per peer host after its delay (L{LoginThrottle}), at most a few
    password checks at once in all (L{CheckQueue}), failures logged with the
    peer's address and answered only once the host's delay is over.
    """

    def __init__(self, checker, reactor, throttle=None, checks=None):
        self.checker = checker
        self.reactor = reactor
        self.throttle = throttle or LoginThrottle(reactor)
        self.checks = checks or CheckQueue()

    def login(self, username, password, peer):
        """
        Fire with the user name, or fail with
        L{UnauthorizedLogin <twisted.cred.error.UnauthorizedLogin>} (after a
        delay), or at once with L{LoginRefused} when throttled or busy.
        Cancel the Deferred when the client goes away: a login still waiting
        is dropped; one being checked still counts.
        """
        host = peer_host(peer)
        credentials = UsernamePassword(_bytes(username), _bytes(password))
        d = self.throttle.turn(host)
        d.addCallback(lambda _: self._check(credentials, username, peer))

        def failed(failure):
            if failure.check(defer.CancelledError, LoginRefused):
                if failure.check(LoginRefused):
                    log.warn("login for {user!r} from {peer} refused: {why}",
                             user=username, peer=peer, why=failure.getErrorMessage())
                return failure
            return task.deferLater(self.reactor, self.throttle.retry_after(host),
                                   _wrong_password)
        return d.addCallbacks(_text, failed)

    def _check(self, credentials, username, peer):
        """
        Check C{credentials} in the queue; log the outcome and tell the
        throttle exactly once, even if the client has left meanwhile.
        """
        host = peer_host(peer)
        started = []

        def check():
            started.append(True)
            d = defer.maybeDeferred(self.checker.requestAvatarId, credentials)
            return d.addBoth(record)

        def record(outcome):
            if isinstance(outcome, Failure) and not outcome.check(cred_error.UnauthorizedLogin):
                log.failure("checking a login failed", outcome)
                outcome = Failure(cred_error.UnauthorizedLogin())
            if isinstance(outcome, Failure):
                log.warn("failed login for {user!r} from {peer}", user=username, peer=peer)
            else:
                log.info("login of {user!r} from {peer}", user=username, peer=peer)
            self.throttle.done(host, not isinstance(outcome, Failure))
            return outcome

        def not_started(failure):
            if not started:
                self.throttle.done(host, None)
            return failure
        return self.checks.run(check).addErrback(not_started)


# -- python -m twistedsched.auth ------------------------------------------------------

def user_name_problem(name):
    """Why C{name} cannot be a user in a password file, or C{None}."""
    if not name:
        return "the user name is empty"
    if ":" in name:
        return "a user name may not contain ':' (it separates the name from the hash)"
    if name.startswith("-"):
        return "a user name may not start with '-' (it would read as an option)"
    if name.startswith("#"):
        return "a user name may not start with '#' (the line would be a comment)"
    if not name.isprintable() or any(c.isspace() for c in name):
        return "a user name may not contain spaces or control characters"
    return None


def main(argv=None):
    """C{python -m twistedsched.auth USER}: ask for a password twice, print a password-file line."""
    parser = argparse.ArgumentParser(
        prog="python -m twistedsched.auth",
        description="Print a line for a --auth file:PATH password file: USER:HASH "
                    "(salted scrypt). The password is asked for twice on the terminal.",
        epilog="example: python -m twistedsched.auth ops >> /etc/twistedsched.users")
    parser.add_argument("user", help="the user name (no ':', not starting with '-' or '#')")
    parser.add_argument("--token", action="store_true",
                        help="print a new bearer token for the web API (twistd sched "
                             "--web-tokens FILE) and its file line, instead of asking for "
                             "a password")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    problem = user_name_problem(args.user)
    if problem:
        parser.error("bad user name %r: %s" % (args.user, problem))
    if args.token:
        from twistedsched.web import tokens
        return tokens.main([args.user])
    password = getpass.getpass("password for %s: " % (args.user,))
    if not password:
        sys.stderr.write("error: the password is empty; nothing printed\n")
        return 1
    if getpass.getpass("password again: ") != password:
        sys.stderr.write("error: the two passwords differ; nothing printed\n")
        return 1
    print("%s:%s" % (args.user, hash_password(password)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
