"""
The Lua scripts of the Redis job store.

Every script gets the same eleven keys, in this order:

  1. C{<ns>:jobs}       hash: job id -> JSON document
  2. C{<ns>:run_times}  sorted set: job id -> next run time (UTC POSIX seconds)
  3. C{<ns>:paused}     sorted set: ids of paused jobs (score 0: listed by id)
  4. C{<ns>:claims}     hash: job id -> id of the scheduler that claimed it
  5. C{<ns>:leases}     sorted set: job id -> end of its claim (Redis server time)
  6. C{<ns>:history}    not a key itself but the prefix of each job's run
                        history, the list C{<ns>:history:<job id>} (JSON
                        records, newest first, capped)
  7. C{<ns>:nodes}      sorted set: scheduler id -> end of its liveness record
                        (Redis server time), renewed by each scheduler every
                        second or so (L{BEAT})
  8. C{<ns>:instances}  not a key itself but the prefix of each job's running
                        instances, the sorted set C{<ns>:instances:<job id>}:
                        instance token (C{<scheduler id>#<n>}) -> end of its
                        lease, renewed by the scheduler running it
  9. C{<ns>:ids}        sorted set: every stored job id, all scored 0, so that
                        listings page by id (C{ZRANGEBYLEX}) with a cursor
                        that run times do not move (L{PAGE_BY_ID})
 10. C{<ns>:recovery}   hash: instance token -> job id, for the running
                        instances of jobs with the C{recover} option; their
                        token ends in C{@<run time>}
 11. C{<ns>:recover}    list: C{"<run time>\\n<job id>"} of the runs whose
                        scheduler died while they ran, waiting for a live
                        scheduler's heartbeat to take them (L{BEAT})

A job's next run time is its score in C{run_times} (absent: paused), not
the C{next_run_time} of its document: a due job's write-back (L{ADVANCE})
moves only that score, so the document's times may be older.  The hash
C{<ns>:run_times:scheduled} (job id -> score) holds the trigger's fire time
behind a jittered run time that such a write-back set; without an entry,
the fire time is the document's C{scheduled_run_time} if the document's
C{next_run_time} is the score (the document is current), else the score.
A script that writes a whole document drops the entry (C{schedule}).

A claimed job stays in C{run_times}: listings keep showing it, and the
claim is simply skipped by other schedulers until it is written back, its
lease runs out, or its holder's liveness record runs out (then any script
that calls C{reap} releases it).  Lease times come from the Redis server's clock (C{TIME}),
so schedulers whose clocks disagree still agree on leases.
"""

import hashlib

#: Shared prologue: the server time, and effects replication for old servers.
_PROLOGUE = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local function server_time()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- The hash of the fire times behind jittered run times (see the module doc).
local function scheduled_key()
  return KEYS[2] .. ':scheduled'
end
-- Schedule a job whose whole document was just written: it is current.
local function schedule(id, score)
  redis.call('HDEL', scheduled_key(), id)
  if score == '' then
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZADD', KEYS[3], 0, id)
  else
    redis.call('ZREM', KEYS[3], id)
    redis.call('ZADD', KEYS[2], score, id)
  end
end
local function release(id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZREM', KEYS[5], id)
end
-- One variadic command (HMGET, HSET, ZADD, HDEL, ZREM...) on `key` with
-- the values of `args` instead of a call per value: at most 1000 values a
-- call (Lua's unpack has a stack limit; pairs stay whole).  Returns the
-- replies of list-answering commands, concatenated.
local function call_many(command, key, args)
  local out = {}
  for first = 1, #args, 1000 do
    local reply = redis.call(command, key, unpack(args, first, math.min(#args, first + 999)))
    if type(reply) == 'table' then
      for _, value in ipairs(reply) do out[#out + 1] = value end
    end
  end
  return out
end
-- Release the claims on `ids` (a list) at once.
local function release_many(ids)
  call_many('HDEL', KEYS[4], ids)
  call_many('ZREM', KEYS[5], ids)
end
local function history(id)
  return KEYS[6] .. ':' .. id
end
-- A stored job as the readers get it, one bulk string:
-- "<score or ''>\\n<scheduled entry or ''>\\n<document>".
local function with_times(id, doc)
  local at = redis.call('ZSCORE', KEYS[2], id) or ''
  local fire = redis.call('HGET', scheduled_key(), id) or ''
  return at .. '\\n' .. fire .. '\\n' .. doc
end
-- The scheduler id in an instance token ("<node>#<n>[@<run time>]").
local function token_node(token)
  return string.match(token, '^(.*)#[^#]*$')
end
-- The runs of recoverable jobs that the schedulers in `gone` (a set) were
-- running go to the list of runs to recover.
local function orphan_runs(gone)
  local running = redis.call('HGETALL', KEYS[10])
  for i = 1, #running, 2 do
    local token = running[i]
    if gone[token_node(token)] then
      local run_time = string.match(token, '@([^@]*)$')
      redis.call('RPUSH', KEYS[11], run_time .. '\\n' .. running[i + 1])
      redis.call('HDEL', KEYS[10], token)
    end
  end
end
-- Schedulers whose liveness record ran out are dead: forget them, release
-- their claims, and queue the recoverable runs they had in flight.
-- Returns how many were reaped.
local function reap(now)
  local dead = redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now)
  if #dead == 0 then return 0 end
  redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', now)
  local gone = {}
  for _, node in ipairs(dead) do gone[node] = true end
  local claims = redis.call('HGETALL', KEYS[4])
  for i = 1, #claims, 2 do
    if gone[claims[i + 1]] then release(claims[i]) end
  end
  orphan_runs(gone)
  return #dead
end
local function instances(id)
  return KEYS[8] .. ':' .. id
end
-- Start counting an instance of job `id` (token) until now + lease seconds;
-- hold its run for recovery if its token names a run time.
local function add_instance(id, token, now, lease)
  local key = instances(id)
  redis.call('ZADD', key, now + lease, token)
  redis.call('PEXPIRE', key, math.ceil(lease * 1000))
  if string.find(token, '@', 1, true) then redis.call('HSET', KEYS[10], token, id) end
end
-- How many instances of job `id` run on schedulers other than `node`
-- (instances whose lease ran out are dropped first).
local function running_elsewhere(id, node, now)
  local key = instances(id)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local prefix = node .. '#'
  local count = 0
  for _, token in ipairs(redis.call('ZRANGE', key, 0, -1)) do
    if string.sub(token, 1, #prefix) ~= prefix then count = count + 1 end
  end
  return count
end
"""

#: ARGV: channel, node, then (id, doc, score) triples; score '' = paused.
#: Adds all jobs, or none if an id is taken: returns the taken ids.
ADD = _PROLOGUE + """
local taken = {}
for i = 3, #ARGV, 3 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then taken[#taken + 1] = ARGV[i] end
end
if #taken > 0 then return taken end
for i = 3, #ARGV, 3 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  redis.call('ZADD', KEYS[9], 0, ARGV[i])
  schedule(ARGV[i], ARGV[i + 2])
end
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' added ' .. ARGV[3])
return {}
"""

#: ARGV: channel, node, then (id, doc, score) triples; score '' = paused.
#: Adds each job whose id is not taken (the adds of several callers, each
#: on its own): returns the taken ids.
ADD_EACH = _PROLOGUE + """
local taken = {}
for i = 3, #ARGV, 3 do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) == 0 then
    taken[#taken + 1] = ARGV[i]
  else
    redis.call('ZADD', KEYS[9], 0, ARGV[i])
    schedule(ARGV[i], ARGV[i + 2])
  end
end
if #taken * 3 < #ARGV - 2 then
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' added ' .. ARGV[3])
end
return taken
"""

#: ARGV: channel, node, id, doc, score, mode, instance lease, tokens...
#: Mode 'writeback' writes only if this node still holds the claim and
#: publishes nothing; mode 'change' always writes (dropping anyone's claim)
#: and publishes.  The tokens are instances of the job that this node
#: started while it held the claim: they are counted from now on (before
#: the claim goes, so that the next holder sees them).
#: Returns 1 (written), 0 (no such job) or -1 (claim lost: not written).
UPDATE = _PROLOGUE + """
local id = ARGV[3]
if redis.call('HEXISTS', KEYS[1], id) == 0 then
  release(id)
  return 0
end
if #ARGV > 7 then
  local now = server_time()
  for i = 8, #ARGV do add_instance(id, ARGV[i], now, tonumber(ARGV[7])) end
end
local holder = redis.call('HGET', KEYS[4], id)
if ARGV[6] == 'writeback' and holder ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], id, ARGV[4])
schedule(id, ARGV[5])
release(id)
if ARGV[6] ~= 'writeback' then
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' modified ' .. id)
end
return 1
"""

#: The keys of the job policies (L{twistedsched.stores.redispolicy}), named
#: from the namespace, and what goes with a removed job.
_POLICY_KEYS = """
local ns = string.sub(KEYS[1], 1, -6)
local retained = ns .. ':retained'
-- A removed job's policy keys go; its history too, unless it ended as it
-- ran (`ended`) and ended jobs keep theirs (<ns>:retention): then it is kept
-- for that long, for the newest `jobs` such jobs at most.
local function forget(id, ended)
  redis.call('DEL', ns .. ':policy:' .. id, ns .. ':buffered:' .. id)
  local keep = redis.call('HMGET', ns .. ':retention', 'seconds', 'jobs')
  local seconds, jobs = tonumber(keep[1]) or 0, tonumber(keep[2]) or 0
  if not ended or seconds <= 0 or jobs <= 0 then
    redis.call('DEL', history(id))
    redis.call('ZREM', retained, id)
    return
  end
  local now = server_time()
  redis.call('ZADD', retained, now + seconds, id)
  redis.call('EXPIRE', history(id), seconds)
  redis.call('EXPIRE', retained, seconds)
  redis.call('ZREMRANGEBYSCORE', retained, '-inf', now)
  local over = redis.call('ZCARD', retained) - jobs
  if over > 0 then
    for _, old in ipairs(redis.call('ZRANGE', retained, 0, over - 1)) do
      redis.call('DEL', history(old))
    end
    redis.call('ZREMRANGEBYRANK', retained, 0, over - 1)
  end
end
"""

#: ARGV: channel, node, id, mode ('writeback', 'ended' or 'change').  Returns
#: 1 or 0.  A job removed by its write-back (it ended as it ran) or that a
#: policy ended ('ended': max_runs) keeps its history for a while (see
#: L{_POLICY_KEYS}).
REMOVE = _PROLOGUE + _POLICY_KEYS + """
local id = ARGV[3]
local removed = redis.call('HDEL', KEYS[1], id)
redis.call('ZREM', KEYS[9], id)
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('HDEL', scheduled_key(), id)
release(id)
redis.call('DEL', instances(id))
forget(id, removed == 1 and (ARGV[4] == 'writeback' or ARGV[4] == 'ended'))
if removed == 1 and ARGV[4] ~= 'writeback' then
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' removed ' .. id)
end
return removed
"""

#: ARGV: channel, node.  Deletes every key of the namespace but the
#: schedulers' liveness records (histories and instances exist for stored
#: jobs only).
REMOVE_ALL = _PROLOGUE + _POLICY_KEYS + """
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  redis.call('DEL', history(id), instances(id), ns .. ':policy:' .. id, ns .. ':buffered:' .. id)
end
for _, id in ipairs(redis.call('ZRANGE', retained, 0, -1)) do redis.call('DEL', history(id)) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[9], KEYS[10], KEYS[11],
           retained, ns .. ':retries', ns .. ':retries:unreadable', scheduled_key())
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' cleared *')
return 1
"""

#: ARGV: node, now (score), limit, lease seconds.
#: Drops expired claims and dead schedulers' claims (and a claim without a
#: lease: written by hand), then claims up to `limit` due jobs that nobody
#: holds, earliest first.  Returns one string
#: (one bulk reply parses much faster than one per job): for each claimed
#: job "<length>\n" and that many bytes, "<instances running
#: elsewhere>\n<id length>\n", the id and the job as C{with_times} gives it.
ACQUIRE = _PROLOGUE + """
local now = server_time()
release_many(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now))    -- expired claims
reap(now)
local node = ARGV[1]
local limit = tonumber(ARGV[3])
local held = redis.call('ZCARD', KEYS[5])
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'WITHSCORES',
                       'LIMIT', 0, limit + held)
local ids = {}
for i = 1, #due, 2 do ids[#ids + 1] = due[i] end
-- (Each step reads or writes the whole batch in one command.)
local holders = #ids > 0 and call_many('HMGET', KEYS[4], ids) or {}
local free, scores = {}, {}
for j, id in ipairs(ids) do
  if #free >= limit then break end
  local holder = holders[j]
  if holder and not redis.call('ZSCORE', KEYS[5], id) then
    release(id)     -- a claim without a lease (written by hand): it holds nothing
    holder = false
  end
  if not holder then
    free[#free + 1] = id
    scores[#free] = due[2 * j]
  end
end
if #free == 0 then return '' end
local docs = call_many('HMGET', KEYS[1], free)
local fires = call_many('HMGET', scheduled_key(), free)
local keys = {}
for j, id in ipairs(free) do keys[j] = instances(id) end
local counted = 0
for first = 1, #keys, 1000 do
  counted = counted + redis.call('EXISTS', unpack(keys, first, math.min(#keys, first + 999)))
end
-- A lease ends on a whole second: whole scores keep a small sorted set
-- (a listpack) cheap to insert into, where fractions are parsed again at
-- every comparison.
local lease_end = math.ceil(now + tonumber(ARGV[4]))
local claims, leases, gone, out = {}, {}, {}, {}
for j, id in ipairs(free) do
  local doc = docs[j]
  if doc then
    claims[#claims + 1] = id
    claims[#claims + 1] = node
    leases[#leases + 1] = lease_end
    leases[#leases + 1] = id
    local elsewhere = counted > 0 and running_elsewhere(id, node, now) or 0
    local head = elsewhere .. '\\n' .. #id .. '\\n' .. id
      .. scores[j] .. '\\n' .. (fires[j] or '') .. '\\n'
    out[#out + 1] = (#head + #doc) .. '\\n' .. head .. doc     -- (one copy of the document)
  else
    gone[#gone + 1] = id
  end
end
if #claims > 0 then
  call_many('HSET', KEYS[4], claims)
  call_many('ZADD', KEYS[5], leases)
end
if #gone > 0 then call_many('ZREM', KEYS[2], gone) end
return table.concat(out)
"""

#: ARGV: node, instance lease seconds, then one entry per claimed job that
#: this node writes back: op, id, two values, the number of instance tokens
#: and the tokens (instances of the job this node started while it held the
#: claim: counted from now on, before the claim goes; after the removal of
#: a removed job, as if started once it was removed).  Ops: 'a' (advance:
#: only its run times changed) with the run time score and the score of
#: the fire time behind it ('' if the same), written only if this node
#: still holds the claim; 'u' (a whole new document) with the document and
#: its score ('' = paused), written only if this node still holds the
#: claim; 'r' (removed: it ended as it ran, so its history is kept as
#: L{_POLICY_KEYS} says) with '' and '', removed only if this node still
#: holds the claim (else another changed it, or removed it and added a job
#: under its id, meanwhile); 'g' (given back unrun) with '' and '': nothing
#: written, its claim released if this node holds it.  Every claim of the entries is
#: released; nothing is published.  Returns the entries' results, one string
#: joined by commas (one string parses much faster than a list): 1
#: (written), 0 (no such job) or -1 (claim lost: not written).
ADVANCE = _PROLOGUE + _POLICY_KEYS + """
local node = ARGV[1]
local lease = tonumber(ARGV[2])
local fires = scheduled_key()
local now = nil
local out = {}
-- The advances ('a', the usual write-back) are checked one by one and
-- written together: run times, fire times, claims released.
local advanced = {}
local i = 3
while i <= #ARGV do
  if ARGV[i] == 'a' then advanced[#advanced + 1] = ARGV[i + 1] end
  i = i + 5 + tonumber(ARGV[i + 4])
end
local holders = #advanced > 0 and call_many('HMGET', KEYS[4], advanced) or {}
local run_times, fired, unfired, released = {}, {}, {}, {}
local a = 0
i = 3
while i <= #ARGV do
  local op, id, value, b = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local tokens = tonumber(ARGV[i + 4])
  local result = 1
  if op == 'r' and redis.call('HEXISTS', KEYS[1], id) == 1
      and redis.call('HGET', KEYS[4], id) ~= node then
    result = -1     -- changed, or removed and added again, by another meanwhile
  elseif op == 'r' then
    result = redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[9], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('ZREM', KEYS[3], id)
    redis.call('HDEL', fires, id)
    redis.call('DEL', instances(id))
    -- (Gone already: whoever removed it forgot it; it may be a retried
    -- write-back of an ended job, whose kept history stays.)
    if result == 1 then forget(id, true) end
  elseif redis.call('HEXISTS', KEYS[1], id) == 0 then
    result = 0
  end
  if tokens > 0 and result ~= 0 then
    now = now or server_time()
    for t = i + 5, i + 4 + tokens do add_instance(id, ARGV[t], now, lease) end
  end
  if op == 'a' then
    a = a + 1
    if result == 1 and holders[a] ~= node then
      result = -1
    elseif result == 1 then
      run_times[#run_times + 1] = value
      run_times[#run_times + 1] = id
      if b == '' then
        unfired[#unfired + 1] = id
      else
        fired[#fired + 1] = id
        fired[#fired + 1] = b
      end
    end
    if result ~= -1 then released[#released + 1] = id end
  else
    if op ~= 'r' and result == 1 then
      if redis.call('HGET', KEYS[4], id) ~= node then
        result = -1
      elseif op == 'u' then
        redis.call('HSET', KEYS[1], id, value)
        schedule(id, b)
      end
    end
    if result ~= -1 then release(id) end
  end
  out[#out + 1] = result
  i = i + 5 + tokens
end
if #run_times > 0 then call_many('ZADD', KEYS[2], run_times) end
if #unfired > 0 then call_many('HDEL', fires, unfired) end
if #fired > 0 then call_many('HSET', fires, fired) end
if #released > 0 then release_many(released) end
return table.concat(out, ',')
"""

#: No ARGV.  Returns {earliest run time of an unclaimed job or '',
#: seconds until the first claim among earlier claimed jobs ends or ''}: a
#: claim ends with its lease or with its holder's liveness record.
NEXT = _PROLOGUE + """
local held = redis.call('ZCARD', KEYS[5])
local first = redis.call('ZRANGE', KEYS[2], 0, held, 'WITHSCORES')
local now = nil
local wait = nil
for i = 1, #first, 2 do
  local lease = redis.call('ZSCORE', KEYS[5], first[i])
  if not lease then return {first[i + 1], wait and tostring(wait) or ''} end
  now = now or server_time()
  lease = tonumber(lease)
  local holder = redis.call('HGET', KEYS[4], first[i])
  local alive = holder and redis.call('ZSCORE', KEYS[7], holder)
  if alive and tonumber(alive) < lease then lease = tonumber(alive) end
  local left = lease - now
  if wait == nil or left < wait then wait = left end
end
return {'', wait and tostring(wait) or ''}
"""

#: ARGV: offset, limit (-1: all).  Returns the jobs at those positions
#: (as C{with_times} gives them): scheduled ones by run time, then paused
#: ones by id.
PAGE = _PROLOGUE + """
local offset = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local scheduled = redis.call('ZCARD', KEYS[2])
local ids = {}
if offset < scheduled then
  local stop = -1
  if limit >= 0 then stop = offset + limit - 1 end
  ids = redis.call('ZRANGE', KEYS[2], offset, stop)
end
local wanted = limit - #ids
if limit < 0 or wanted > 0 then
  local start = math.max(0, offset - scheduled)
  local stop = -1
  if limit >= 0 then stop = start + wanted - 1 end
  for _, id in ipairs(redis.call('ZRANGE', KEYS[3], start, stop)) do ids[#ids + 1] = id end
end
local docs = {}
for _, id in ipairs(ids) do
  local doc = redis.call('HGET', KEYS[1], id)
  if doc then docs[#docs + 1] = with_times(id, doc) end
end
return docs
"""

#: ARGV: after ('' = from the first), limit.  Returns the ids and jobs
#: (id, job, id, job..., each job as C{with_times} gives it, or false if
#: it went meanwhile) of at most `limit` jobs whose id comes
#: after `after`, by id: a cursor that jobs firing meanwhile do not move,
#: so that paging lists each stored job once.  An id index that does not
#: match the jobs (kept by a version before it existed) is rebuilt first.
PAGE_BY_ID = _PROLOGUE + """
if redis.call('ZCARD', KEYS[9]) ~= redis.call('HLEN', KEYS[1]) then
  redis.call('DEL', KEYS[9])
  for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do redis.call('ZADD', KEYS[9], 0, id) end
end
local start = '-'
if ARGV[1] ~= '' then start = '(' .. ARGV[1] end
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYLEX', KEYS[9], start, '+', 'LIMIT', 0, ARGV[2])) do
  local doc = redis.call('HGET', KEYS[1], id)
  out[#out + 1] = id
  out[#out + 1] = doc and with_times(id, doc)
end
return out
"""

#: ARGV: id.  Returns the job as C{with_times} gives it, or false.
GET = _PROLOGUE + """
local doc = redis.call('HGET', KEYS[1], ARGV[1])
return doc and with_times(ARGV[1], doc)
"""

#: ARGV: channel, node, ids...  A scheduler leaving: releases its claims on
#: those jobs, drops its liveness record (recoverable runs it leaves
#: running are queued for the others) and announces that it left, so that
#: the others look again at once rather than when its leases run out.
RELEASE = _PROLOGUE + """
redis.call('ZREM', KEYS[7], ARGV[2])
orphan_runs({[ARGV[2]] = true})
local count = 0
for i = 3, #ARGV do
  if redis.call('HGET', KEYS[4], ARGV[i]) == ARGV[2] then
    release(ARGV[i])
    count = count + 1
  end
end
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' left ' .. count)
return count
"""

#: ARGV: id.  Takes a job that cannot be loaded off the schedule (it stays
#: stored, listed among the paused jobs) and releases any claim on it.
SHELVE = _PROLOGUE + """
local id = ARGV[1]
release(id)
if redis.call('HEXISTS', KEYS[1], id) == 1 then
  schedule(id, '')
  return 1
end
redis.call('ZREM', KEYS[2], id)
return 0
"""

#: ARGV: (id, size, record) triples.  Pushes each record on its job's
#: history, keeping the newest `size`; records of jobs that are not stored
#: are dropped, but for ended jobs whose history is kept for a while
#: (L{_POLICY_KEYS}).  A job stored again under such an id keeps it for good.
#: Returns how many were kept.
APPEND_RUNS = _PROLOGUE + _POLICY_KEYS + """
local kept = 0
local now = nil
local any_retained = redis.call('EXISTS', retained) == 1
for i = 1, #ARGV, 3 do
  local key = history(ARGV[i])
  local ends = nil
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    if any_retained and redis.call('ZREM', retained, ARGV[i]) == 1 then
      redis.call('PERSIST', key)
    end
  else
    ends = tonumber(redis.call('ZSCORE', retained, ARGV[i]) or 0)
    now = now or server_time()
    if ends <= now then ends = false end
  end
  if ends ~= false then
    local size = tonumber(ARGV[i + 1])
    if redis.call('LPUSH', key, ARGV[i + 2]) > size then
      redis.call('LTRIM', key, 0, size - 1)
    end
    if ends then redis.call('EXPIRE', key, math.max(1, math.ceil(ends - now))) end
    kept = kept + 1
  end
end
return kept
"""


#: ARGV: channel, node, liveness seconds, then (job id, token) pairs of the
#: instances this node runs.  A scheduler's heartbeat: renews its liveness
#: record and its instances' leases (only those still counted: an instance
#: that ended meanwhile is not brought back), then reaps dead schedulers and
#: tells the others if it did, and takes up to 10 runs to recover.
#: Returns {1 if this node's record was still there (0: it was reaped, or
#: this is its first beat), schedulers reaped, runs to recover...}.
BEAT = _PROLOGUE + """
local now = server_time()
local ttl = tonumber(ARGV[3])
local known = redis.call('ZSCORE', KEYS[7], ARGV[2])
redis.call('ZADD', KEYS[7], now + ttl, ARGV[2])
for i = 4, #ARGV, 2 do
  local key = instances(ARGV[i])
  if redis.call('ZADD', key, 'XX', 'CH', now + ttl, ARGV[i + 1]) == 1 then
    redis.call('PEXPIRE', key, math.ceil(ttl * 1000))
  end
end
local reaped = reap(now)
if reaped > 0 then
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' reaped ' .. reaped)
end
local out = {known and 1 or 0, reaped}
for _ = 1, 10 do
  local run = redis.call('LPOP', KEYS[11])
  if not run then break end
  out[#out + 1] = run
end
return out
"""

#: ARGV: job id, token, lease seconds ('' to stop counting it).  Starts or
#: stops counting one instance outside a claim's write-back.
INSTANCE = _PROLOGUE + """
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[10], ARGV[2])
  return redis.call('ZREM', instances(ARGV[1]), ARGV[2])
end
add_instance(ARGV[1], ARGV[2], server_time(), tonumber(ARGV[3]))
return 1
"""

#: The schedulers of the namespace with a liveness record and how many
#: seconds it has left (negative: ran out, not yet reaped): a flat list of
#: id, seconds.  Reads only.
MEMBERS = _PROLOGUE + """
local now = server_time()
local out = {}
local nodes = redis.call('ZRANGE', KEYS[7], 0, -1, 'WITHSCORES')
for i = 1, #nodes, 2 do
  out[#out + 1] = nodes[i]
  out[#out + 1] = tostring(tonumber(nodes[i + 1]) - now)
end
return out
"""


class Script:
    """A Lua script and its SHA1, as EVALSHA wants it."""

    def __init__(self, name, source):
        self.name = name
        self.source = source.encode("utf-8")
        self.sha = hashlib.sha1(self.source).hexdigest()

    def __repr__(self):
        return "<Script %s %s>" % (self.name, self.sha[:8])


SCRIPTS = {name: Script(name, source) for name, source in dict(
    add=ADD, add_each=ADD_EACH, update=UPDATE, remove=REMOVE, remove_all=REMOVE_ALL, acquire=ACQUIRE,
    advance=ADVANCE, get=GET,
    next=NEXT, page=PAGE, page_by_id=PAGE_BY_ID, release=RELEASE, shelve=SHELVE,
    append_runs=APPEND_RUNS, beat=BEAT, instance=INSTANCE, members=MEMBERS).items()}
