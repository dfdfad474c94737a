"""
What the job policies keep in Redis, so that they hold for every scheduler
of a namespace (a mixin of L{RedisJobStore
<twistedsched.stores.redis.RedisJobStore>}, providing L{IPolicyStore
<twistedsched.policies.IPolicyStore>}).

Its keys, besides those of L{twistedsched.stores.redislua}:

  - C{<ns>:policy:<job id>}   hash: the job's policy counters (C{runs},
    C{failures}), counted atomically (C{HINCRBY}) by whichever scheduler
    ends a run; a job's document keeps its options and the reason it was
    paused, the counters live here (lookups and listings read them after
    the documents, for the jobs that count);
  - C{<ns>:buffered:<job id>} list: runs of the job held by its C{overlap}
    policy for an instance running on another scheduler (JSON lists of run
    times); the scheduler that ends an instance of the job takes the first;
  - C{<ns>:retries}           sorted set: pending retries (JSON C{[job id,
    attempt, run time]}) by when they are due (the schedulers' clocks); any
    scheduler of the namespace may take one (C{ZREM}: once), so that a retry
    survives the scheduler that set it;
  - C{<ns>:retries:unreadable} sorted set: pending retries that could not be
    read (set aside, so that they hide no other);
  - C{<ns>:retention}         hash: C{seconds} and C{jobs}, how long and for
    how many ended jobs the history is kept (L{set_retention}; the REMOVE
    script reads it);
  - C{<ns>:retained}          sorted set: ended jobs whose history is kept,
    by when it goes (Redis server time); their history lists expire then.

REMOVE and REMOVE_ALL drop a job's policy keys with it.
"""

import json

from twisted.internet import defer
from twisted.logger import Logger

from twistedsched.errors import JobStoreOutcomeUnknown, JobStoreUnavailable
from twistedsched.stores.redislua import Script
from twistedsched.timeutil import from_timestamp

log = Logger()

#: ARGV: id, count a run ('1'/'0'), failed ('1'/'0', '' when failures are not
#: counted).  KEYS: jobs, the job's counters.  Counts a run's end; returns
#: {runs, failures}, or {} when the job is not stored.  A job without counters
#: yet (new, or given counts by modify_job) starts from those of its document;
#: a counter that is not a whole number (edited by hand) counts again from 0.
RUN_ENDED = Script("policy_run_ended", """
local doc = redis.call('HGET', KEYS[1], ARGV[1])
if not doc then return {} end
-- A counter that is not a whole number (edited by hand) counts again from 0.
for _, name in ipairs({'runs', 'failures'}) do
  local n = redis.call('HGET', KEYS[2], name)
  if n and not string.match(n, '^%d+$') then redis.call('HSET', KEYS[2], name, 0) end
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local ok, data = pcall(cjson.decode, doc)
  local state = ok and type(data) == 'table' and data['policy_state']
  if type(state) == 'table' then
    for _, name in ipairs({'runs', 'failures'}) do
      local n = tonumber(state[name])
      if n and n > 0 then redis.call('HSET', KEYS[2], name, math.floor(n)) end
    end
  end
end
local runs = tonumber(redis.call('HGET', KEYS[2], 'runs') or 0)
if ARGV[2] == '1' then runs = redis.call('HINCRBY', KEYS[2], 'runs', 1) end
local failures = 0
if ARGV[3] == '1' then
  failures = redis.call('HINCRBY', KEYS[2], 'failures', 1)
elseif ARGV[3] == '0' then
  redis.call('HSET', KEYS[2], 'failures', 0)
end
return {runs, failures}
""")

#: KEYS: the counters of some jobs.  Returns them, each as a flat list.
COUNTS = Script("policy_counts", """
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGETALL', key) end
return out
""")

#: The counters a policy option keeps (the store's are the true ones).
COUNTED = (("max_runs", "runs"), ("pause_after_failures", "failures"))

#: ARGV: node, run (JSON), room, channel, cancel ('1'/'0'), id, seconds the
#: held runs are kept.  KEYS: the job's instances, its buffered runs.  Holds a
#: run for an instance running on a scheduler other than `node`: returns 1
#: (held; with cancel, that instance's scheduler is asked to cancel it), -1 (no
#: room: skip it) or 0 (none runs there now: run it).  The held runs expire
#: (a run held for a job removed at that moment leaves no key for good).
HOLD = Script("policy_hold", """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local prefix = ARGV[1] .. '#'
local elsewhere = 0
for _, token in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(token, 1, #prefix) ~= prefix then elsewhere = elsewhere + 1 end
end
if elsewhere == 0 then return 0 end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[7])
if ARGV[5] == '1' then
  redis.call('PUBLISH', ARGV[4], ARGV[1] .. ' cancel ' .. ARGV[6])
end
return 1
""")

#: ARGV: token.  KEYS: the job's instances, its buffered runs, the recovery
#: hash.  An instance ended: stop counting it, and take the first run held for
#: it (or nil).
TAKE = Script("policy_take", """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return redis.call('LPOP', KEYS[2])
""")

#: Seconds the runs held for a job are kept after the last was held (a week).
HELD_RUNS_KEPT = 7 * 24 * 3600

#: The most pending retries one look at the store sets timers for.
RETRIES_SEEN = 100

#: ARGV: a pending retry.  KEYS: the pending retries, the unreadable ones.
#: Moves a pending retry that cannot be read aside (kept, by its due time),
#: so that it is not read again and does not hide the retries after it.
SET_ASIDE = Script("policy_retry_aside", """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], due, ARGV[1])
return 1
""")


class RedisPolicies:
    """The L{IPolicyStore} methods of the Redis job store (see the module)."""

    def _policy_key(self, kind, job_id=None):
        key = "%s:%s" % (self.namespace, kind)
        return key if job_id is None else "%s:%s" % (key, job_id)

    def _policy_script(self, script, keys, args, changes=True):
        """Run one of this module's scripts (EVALSHA, its source on NOSCRIPT)."""
        def run(handler):
            d = handler.evalsha(script.sha, keys, args)
            d.addErrback(lambda f: f.trap(_no_script()) and handler.execute_command(
                "EVAL", script.source, len(keys), *(list(keys) + list(args))))
            return d
        return self._send(script.name, run, changes=changes)

    # -- History retention ------------------------------------------------------

    def set_retention(self, seconds, jobs):
        """
        Say how long (and for how many jobs) ended jobs keep their history.
        While Redis is away it is said again every C{timeout} seconds.
        """
        seconds = int(round(seconds)) if jobs else 0
        d = self._send("retention", lambda handler: handler.hmset(
            self._policy_key("retention"), {"seconds": seconds, "jobs": int(jobs)}))

        def failed(failure):
            if not self._stopped and failure.check(JobStoreUnavailable, JobStoreOutcomeUnknown):
                self.reactor.callLater(self.timeout, lambda: self.set_retention(
                    seconds, jobs).addErrback(lambda _: None))
            return failure
        return d.addErrback(failed)

    # -- Counters ---------------------------------------------------------------

    def count_run_end(self, job_id, count_run, failed):
        """
        Count atomically the end of a run of a job: a run (C{count_run}),
        a failure (C{failed} true) or a success (false: failures in a row
        start again; C{None}: failures are not counted).  Fires with
        C{(runs, failures)}, or C{None} if the job is not stored.
        """
        failed = "" if failed is None else "1" if failed else "0"
        d = self._policy_script(RUN_ENDED, [self.keys[0], self._policy_key("policy", job_id)],
                                [job_id, "1" if count_run else "0", failed])
        return d.addCallback(lambda reply: tuple(int(n) for n in reply) if reply else None)

    def reset_counts(self, job_id, names):
        """Set counters of a job back to zero (a resumed job's failures)."""
        return self._send("reset_counts", lambda handler: handler.hmset(
            self._policy_key("policy", job_id), {name: 0 for name in names}))

    def _with_job_counts(self, job):
        """A job read from its document (or C{None}), with its counters if it counts."""
        if job is None:
            return None
        return self._with_listed_counts([job]).addCallback(lambda jobs: jobs[0])

    def _with_listed_counts(self, jobs):
        """Jobs listed from their documents, with the counters of those that count."""
        counted = [job for job in jobs
                   if job.max_runs is not None or job.pause_after_failures is not None]
        if not counted:
            return defer.succeed(jobs)
        d = self._policy_script(COUNTS, [self._policy_key("policy", job.id) for job in counted],
                                [], changes=False)

        def merge(replies):
            for job, counters in zip(counted, replies):
                _merge_counts(job, counters)
            return jobs
        return d.addCallback(merge)

    # -- Overlap across schedulers -------------------------------------------------

    def hold_run(self, job_id, run_times, room, cancel=False):
        """
        Hold a run of a job for an instance running on another scheduler
        (at most C{room} runs wait); with C{cancel}, ask that scheduler to
        cancel its instance.  Fires with 1 (held), -1 (no room) or 0 (no
        instance runs elsewhere: run it now).
        """
        run = json.dumps([when.timestamp() for when in run_times])
        d = self._policy_script(HOLD, [self._instances_key(job_id),
                                       self._policy_key("buffered", job_id)],
                                [self.node_id, run, room, self.channel,
                                 "1" if cancel else "0", job_id, HELD_RUNS_KEPT])
        return d.addCallback(int)

    def take_held(self, job_id, token):
        """
        An instance of a job ended here (C{token}): fire with the run times
        of the first run held for it, or C{None}.
        """
        d = self._policy_script(TAKE, [self._instances_key(job_id),
                                       self._policy_key("buffered", job_id), self.keys[9]],
                                [token])
        return d.addCallback(lambda run: None if run is None else [
            from_timestamp(when) for when in json.loads(_text(run))])

    def _instances_key(self, job_id):
        return "%s:%s" % (self.keys[7], job_id)

    def _policy_message(self, words):
        """A message of another scheduler (C{words} after the sender): act on a cancel."""
        if len(words) == 2 and words[0] == "cancel" and self._scheduler is not None \
                and self._scheduler.running:
            d = self._scheduler.cancel_running(words[1], self._alias)
            d.addErrback(lambda f: None)        # not running here, or gone

    # -- Retries ------------------------------------------------------------------

    def add_retry(self, job_id, attempt, run_time, due, job=None):
        """
        Keep a pending retry (C{due}: POSIX seconds), carrying C{job}'s
        document if given (a job that has left the store); fire with its key
        for L{take_retry}.
        """
        retry = [job_id, attempt, run_time.timestamp()]
        if job is not None:
            retry.append(self._encode(job)[0])
        member = json.dumps(retry)
        d = self._send("add_retry", lambda handler: handler.zadd(
            self._policy_key("retries"), due, member))
        return d.addCallback(lambda _: member)

    def take_retry(self, member):
        """Take a pending retry (once, whoever asks first): fire with true if taken."""
        d = self._send("take_retry", lambda handler: handler.zrem(
            self._policy_key("retries"), member))
        return d.addCallback(lambda removed: int(removed) == 1)

    def pending_retries(self, limit=RETRIES_SEEN):
        """
        Fire with the first C{limit} pending retries: (key, job id, attempt,
        run time, due, the job carried or C{None}).
        """
        d = self._call("zrange", self._policy_key("retries"), 0, limit - 1, True)
        d.addCallback(_retries, self._decode)
        return d.addCallback(self._set_aside)

    def _set_aside(self, read):
        """Move the retries that cannot be read to C{<ns>:retries:unreadable}."""
        found, unreadable = read
        moves = []
        for member in unreadable:
            d = self._policy_script(SET_ASIDE, [self._policy_key("retries"),
                                                self._policy_key("retries:unreadable")],
                                    [member])
            d.addErrback(lambda f: log.warn("setting an unreadable retry aside failed: "
                                            "{error}", error=f.getErrorMessage()))
            moves.append(d)
        return defer.DeferredList(moves).addCallback(lambda _: found)


def _merge_counts(job, counters):
    """
    Put the store's counters (a flat list) in C{job.policy_state}, for its
    options; a job without counters yet keeps the counts of its document.
    """
    if not counters:
        return job
    counters = {_text(name): _whole(value, job.id, name)
                for name, value in zip(counters[::2], counters[1::2])}
    for option, name in COUNTED:
        if getattr(job, option) is None:
            continue
        if counters.get(name):
            job.policy_state[name] = counters[name]
        else:
            job.policy_state.pop(name, None)
    return job


def _whole(value, job_id, name):
    """A counter's value; one that is not a whole number is logged and read as 0."""
    try:
        return int(value)
    except ValueError:
        log.warn("job {job_id!r}: its policy counter {name!r} in Redis is not a whole "
                 "number ({value!r}); read as 0 (it counts again from 0)",
                 job_id=job_id, name=name, value=_text(value)[:100])
        return 0


def _retries(reply, decode):
    """
    The pending retries of a reply, and the members that cannot be read (not
    JSON, or not of a retry's shape).  One whose carried job cannot be
    loaded here is skipped but stays pending: another scheduler may load it.
    """
    found, unreadable = [], []
    for member, due in reply:
        member = _text(member)
        try:
            job_id, attempt, run_time, *carried = json.loads(member)
            if not isinstance(job_id, str) or len(carried) > 1 or not all(
                    isinstance(text, str) and isinstance(json.loads(text), dict)
                    for text in carried):
                raise ValueError("not [job id, attempt, run time, job document]")
            retry = [member, job_id, int(attempt), from_timestamp(run_time), float(due)]
        except Exception as e:
            log.warn("a pending retry in Redis cannot be read ({error}); it is set aside "
                     "in <namespace>:retries:unreadable: {member!r}", error=e,
                     member=member[:200])
            unreadable.append(member)
            continue
        try:
            found.append(tuple(retry) + (decode(carried[0]) if carried else None,))
        except Exception as e:
            log.warn("job {job_id!r}: the job its pending retry carries cannot be loaded "
                     "here ({error})", job_id=job_id[:200], error=e)
    return found, unreadable


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _no_script():
    import txredisapi
    return txredisapi.ScriptDoesNotExist
