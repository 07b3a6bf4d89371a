//! [`RedisInbox`]: an inbox on Redis Streams, shared by receivers and workers on many machines
//! (feature `redis`).
//!
//! Every operation is one round trip: a Lua script run with `EVALSHA` (redis-rs loads it on the
//! first `NOSCRIPT`) over a redis-rs [`ConnectionManager`], which pipelines concurrent calls
//! over one connection and reconnects in the background. A script runs atomically, so each
//! state change (stream, consumer group, entry hash and indexes) is all or nothing. Concurrent
//! puts (a busy receiver) and concurrent acks (a worker's handlers) are sent together, up to
//! 64 puts or 256 acks per script call: each call takes what queued while the previous ones
//! were in flight, so nothing waits for a batch to fill. [`Inbox::ack_many`] (what the worker
//! sends) is one script call per 256 leases.
//!
//! # Data layout
//!
//! Under a prefix `P` (default [`DEFAULT_PREFIX`], `chathooks:inbox:`):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P q` | stream, consumer group `workers` | one message `{e: <entry id>}` per attempt: `XADD` on put (and on release, due retry, replay), `XREADGROUP` to lease, `XAUTOCLAIM` to take over an expired lease, `XACK` when the attempt ends |
//! | `P e:<id>` | hash | the entry's small fields: `ns`, `v` (vendor), `k` (dedupe key), `sid` (signed delivery id), `r` (received at, ns), `st` (state), `a` (attempts), `err` (last error, cut to [`MAX_ERROR_LEN`](super::MAX_ERROR_LEN)), `tok` (lease token), `c` (consumer), `due`, `na`, `sx` (its message in `P q`), `dx` (its message in `P dead`) |
//! | `P d:<id>` | string | the entry's headers and body: `<length of the headers>:<headers, JSON><body bytes, exact>` |
//! | `P k:<dedupe key>` | string | the entry id holding the key: the dedupe check of `put` |
//! | `P dead` | stream | one message `{e, ns, k, a, err}` per dead letter; `XREAD` it for alerts |
//! | `P s:<state>` | sorted sets | entry ids per state, scored by received-at: `list` and `stats` |
//! | `P due` | sorted set | retrying entries by due time; `lease` moves due ones back to `P q` |
//! | `P t:done` | sorted set | done entries by when they were done: `purge` |
//! | `P seq`, `P ml`, `P tk`, `P cur` | strings | id counter, shortest recent lease, takeover-scan throttle, `XAUTOCLAIM` cursor |
//!
//! Entry ids are a counter, zero-padded to 12 digits (`000000000042`) so that text order is
//! put order.
//!
//! Headers and body live apart from the hash so that the hash's values stay under Redis'
//! `hash-max-listpack-value` (64 bytes by default): one value above it turns the whole hash into
//! a hash table of separately allocated fields: 1,656 bytes of Redis memory per entry on the
//! inbox HTTP bench (`benches/inbox_load.sh`, 160-byte bodies) against 1,084 with this layout,
//! and more Redis CPU per put. Entries written before this layout keep `h` and `b` in their hash
//! and are read as before.
//!
//! # Trimming policy: nothing unhandled is ever trimmed
//!
//! The work stream `P q` is never trimmed by length (no `MAXLEN`), and never past a message
//! that was not handled: each `lease` ends with `XTRIM MINID` at the oldest message still in
//! the group's pending list (a live lease), or, with none pending, just past the last message
//! delivered. Every message below that id was delivered and acknowledged: its attempt ended
//! (ack, fail, release) and its entry lives on in its hash. Messages not yet delivered are
//! above the group's last-delivered id and are never trimmed. So the stream holds the backlog
//! from the oldest live lease on, plus at most the handled messages behind that lease.
//!
//! Entries themselves (their hashes) are never trimmed: done ones stay, and keep
//! deduplicating, until [`purge`](Inbox::purge) deletes them; dead letters stay in `P dead`
//! until replayed or purged. Nothing else deletes an entry.
//!
//! # Leases and takeover
//!
//! `lease` runs four bounded steps in one script: `XAUTOCLAIM` entries whose lease ran out
//! (their worker died), move due retries back onto the stream, `XREADGROUP` new messages, and
//! trim. The takeover scan runs at most once per quarter of the shortest recent lease (and at
//! least once a second) for the whole inbox, so an expired lease is taken over at most that
//! long after it ends; an entry still leased for longer than the scanning worker's lease is
//! handed back to its holder untouched (`XCLAIM … IDLE`). Each leased entry gets a fresh [`LeaseToken`], stored in its
//! hash; `ack`, `fail` and `release` check it in the script (`XACK` alone does not check who
//! holds a message), so a stale worker's late call returns `false` and changes nothing.
//! Lease ends, retry due times and purge ages run on the Redis server's clock (`TIME`), so
//! workers on machines with skewed clocks agree; the times an [`Entry`] reports are the
//! clients' own.
//!
//! # Durability
//!
//! A put is acknowledged once Redis has applied it: as durable as the server is configured to
//! be. For an inbox, run Redis with `appendonly yes` (`appendfsync everysec` loses at most about
//! a second of writes on a power loss, `always` none) and `maxmemory-policy noeviction` (an
//! evicting Redis would drop entries). Needs Redis 6.2 or later (`XAUTOCLAIM`).
//!
//! One Redis server (or a primary behind Sentinel): the scripts build their keys from the
//! prefix instead of declaring them in `KEYS`, which Redis Cluster requires, so a cluster is
//! not supported.
//!
//! # Failures
//!
//! Any Redis error, and any call taking longer than the operation timeout (default 2 s), is
//! [`Error::StoreUnavailable`] (a receiver answers 503 with `Retry-After`); a put is then not
//! acknowledged. The connection manager reconnects on a later call, so the same inbox recovers
//! when the server comes back.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, Semaphore};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script, ScriptInvocation, Value};

use super::{
    copy_unavailable, truncate_error, AfterFailure, Entry, EntryId, EntryState, Inbox, InboxFuture,
    InboxStats, Lease, LeaseToken, ListFilter, NewEntry, PutOutcome, ReplaySelector, MAX_DELAY,
};
use crate::idempotency::redis::unavailable;
use crate::idempotency::{ceil_millis, ClaimToken, IdempotencyKey};
use crate::Error;

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "chathooks:inbox:";
/// The consumer group every worker of one inbox reads with.
pub const GROUP: &str = "workers";
/// Default bound on one operation, including waiting for a reconnection.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(2);
/// Default `Retry-After` suggested when Redis cannot answer.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Most entries one [`lease`](Inbox::lease) call returns (a larger `max` is cut to this).
pub const MAX_LEASE_BATCH: usize = 1000;

/// Entries examined (list), replayed or purged per script call: each call stays short, so a
/// large inbox never blocks Redis for long.
const CHUNK: usize = 256;
/// Longest entry id `get` looks up; longer ones cannot exist.
const MAX_ID_LEN: usize = 32;

// Shared by every script: ARGV[1] is always the prefix.
macro_rules! prelude {
    () => {
        r"
local P = ARGV[1]
local Q = P .. 'q'
local G = 'workers'
local function num(n) return string.format('%d', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function ekey(id) return P .. 'e:' .. id end
local function dkey(id) return P .. 'd:' .. id end
-- `h` and `b` are only in hashes written before headers and body moved to `P d:<id>`.
local FIELDS = {'ns', 'v', 'k', 'sid', 'h', 'b', 'r', 'st', 'a', 'err', 'na'}
local function fields(id)
  local e = redis.call('HMGET', ekey(id), unpack(FIELDS))
  table.insert(e, 1, id)
  e[#e + 1] = redis.call('GET', dkey(id))
  return e
end
"
    };
}

// ARGV: prefix, na, then 8 per entry: key, ns, vendor, has_sid, sid, data (headers and body,
// see `pack_data`), received_ns, score. Returns {accepted 1|0, id} per entry, in order.
const PUT_LUA: &str = concat!(
    prelude!(),
    r"
local n = (#ARGV - 2) / 8
-- Redis keeps what a script wrote before an error. A foreign key under the prefix would make
-- a later write fail after the dedupe key was set, and every retry of that delivery would be
-- answered as a duplicate of an entry never stored: refuse before writing anything.
for _, k in ipairs({{Q, 'stream'}, {P .. 's:pending', 'zset'}, {P .. 'seq', 'string'}}) do
  local t = redis.call('TYPE', k[1])['ok']
  if t ~= 'none' and t ~= k[2] then
    return redis.error_reply('WRONGTYPE ' .. k[1] .. ' is a ' .. t .. ', not a ' .. k[2])
  end
end
-- Ids for the whole batch at once; a duplicate leaves a gap in the sequence.
local next_id = redis.call('INCRBY', P .. 'seq', n) - n
local out, added = {}, {}
for i = 3, #ARGV, 8 do
  next_id = next_id + 1
  local id = string.format('%012d', next_id)
  local kk = P .. 'k:' .. ARGV[i]
  local held = redis.call('GET', kk)
  if not held then
    -- The entry first, the dedupe key last: a write that fails leaves no key behind.
    local sx = redis.call('XADD', Q, '*', 'e', id)
    local f = {'ns', ARGV[i + 1], 'v', ARGV[i + 2], 'k', ARGV[i], 'r', ARGV[i + 6],
      'rs', ARGV[i + 7], 'st', 'pending', 'a', '0', 'na', ARGV[2], 'sx', sx}
    if ARGV[i + 3] == '1' then f[#f + 1] = 'sid'; f[#f + 1] = ARGV[i + 4] end
    redis.call('HSET', ekey(id), unpack(f))
    redis.call('SET', dkey(id), ARGV[i + 5])
    redis.call('SET', kk, id)
    added[#added + 1] = ARGV[i + 7]
    added[#added + 1] = id
    out[#out + 1] = {1, id}
  else
    out[#out + 1] = {0, held}
  end
end
if #added > 0 then redis.call('ZADD', P .. 's:pending', unpack(added)) end
return out
"
);

// ARGV: prefix, consumer, lease_ms, max, na (lease end, client clock), tokens[1..max]
const LEASE_LUA: &str = concat!(
    prelude!(),
    r"
local consumer = ARGV[2]
local lease_ms = tonumber(ARGV[3])
local max = tonumber(ARGV[4])
local na = ARGV[5]
local now = now_ms()
local ends = num(now + lease_ms)
local out = {}
local from_pending, to_leased = {}, {}
local function take(sx, id, claimed)
  local h = ekey(id)
  local f = redis.call('HMGET', h, 'st', 'sx', 'due', 'rs', 'c', 'ls', unpack(FIELDS))
  local st = f[1]
  -- A message is live only while its entry points at it; anything else is left over (it
  -- is acknowledged here and trimmed below).
  if f[2] ~= sx then redis.call('XACK', Q, G, sx) return end
  if st == 'leased' and tonumber(f[3]) > now then
    -- Still someone's (leased for longer than the shortest lease): give it back unchanged.
    if claimed and f[5] then
      redis.call('XCLAIM', Q, G, f[5], 0, sx, 'IDLE', num(math.max(0, now - tonumber(f[6]))), 'JUSTID')
    end
    return
  end
  if st ~= 'pending' and st ~= 'leased' then redis.call('XACK', Q, G, sx) return end
  local tok = ARGV[5 + #out + 1]
  redis.call('HSET', h, 'st', 'leased', 'tok', tok, 'due', ends, 'ls', num(now), 'c', consumer, 'na', na)
  -- The attempt counts now, so a handler that takes the process down still uses one up.
  f[6 + 9] = num(redis.call('HINCRBY', h, 'a', 1))
  if st == 'pending' then
    from_pending[#from_pending + 1] = id
    to_leased[#to_leased + 1] = f[4]
    to_leased[#to_leased + 1] = id
  end
  local e = {id, tok}
  for j = 7, 6 + #FIELDS do e[#e + 1] = f[j] end
  e[#e + 1] = redis.call('GET', dkey(id))
  out[#out + 1] = e
end

-- 1. Take over expired leases. The idle bound is the shortest lease handed out lately, so an
--    entry leased for 100 ms is found after 100 ms even by a worker leasing for 30 s.
local ml = tonumber(redis.call('GET', P .. 'ml'))
if (not ml) or lease_ms <= ml then
  -- A shorter lease than before: look for expired ones on its schedule from now on.
  if ml and lease_ms < ml then redis.call('DEL', P .. 'tk') end
  ml = lease_ms
  redis.call('SET', P .. 'ml', num(ml), 'PX', num(math.max(60000, 2 * ml)))
end
--    XAUTOCLAIM scans the group's pending list, so it runs at most once per quarter of that
--    lease (and per second) for the whole inbox: a takeover comes at most that late.
if redis.call('SET', P .. 'tk', '1', 'NX', 'PX', num(math.max(1, math.min(1000, math.floor(ml / 4))))) then
  local cursor = redis.call('GET', P .. 'cur') or '0-0'
  local r = redis.pcall('XAUTOCLAIM', Q, G, consumer, num(ml), cursor, 'COUNT', max)
  if type(r) == 'table' and r.err then
    if not string.find(r.err, 'NOGROUP') then return redis.error_reply(r.err) end
    redis.call('XGROUP', 'CREATE', Q, G, '0', 'MKSTREAM')
    r = redis.call('XAUTOCLAIM', Q, G, consumer, num(ml), '0-0', 'COUNT', max)
  end
  redis.call('SET', P .. 'cur', r[1])
  for _, m in ipairs(r[2]) do
    if type(m) == 'table' and type(m[2]) == 'table' and m[2][2] then take(m[1], m[2][2], true) end
  end
end

-- 2. Due retries back onto the stream (at most max per call).
local due = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', num(now), 'LIMIT', 0, max)
for _, id in ipairs(due) do
  redis.call('ZREM', P .. 'due', id)
  local f = redis.call('HMGET', ekey(id), 'st', 'rs')
  if f[1] == 'retrying' then
    local sx = redis.call('XADD', Q, '*', 'e', id)
    redis.call('HSET', ekey(id), 'st', 'pending', 'sx', sx)
    redis.call('ZREM', P .. 's:retrying', id)
    redis.call('ZADD', P .. 's:pending', f[2], id)
  end
end

-- 3. New messages.
if #out < max then
  local args = {'XREADGROUP', 'GROUP', G, consumer, 'COUNT', max - #out, 'STREAMS', Q, '>'}
  local m = redis.pcall(unpack(args))
  if type(m) == 'table' and m.err then
    if not string.find(m.err, 'NOGROUP') then return redis.error_reply(m.err) end
    redis.call('XGROUP', 'CREATE', Q, G, '0', 'MKSTREAM')
    m = redis.call(unpack(args))
  end
  if m then
    for _, msg in ipairs(m[1][2]) do
      if type(msg[2]) == 'table' and msg[2][2] then take(msg[1], msg[2][2], false) else redis.call('XACK', Q, G, msg[1]) end
    end
  end
end
if #from_pending > 0 then
  redis.call('ZREM', P .. 's:pending', unpack(from_pending))
  redis.call('ZADD', P .. 's:leased', unpack(to_leased))
end

-- 4. Trim what is handled: every message older than the oldest one still pending in the
--    group (or, with none pending, than the last one delivered) was delivered and
--    acknowledged. Undelivered and leased messages are never trimmed.
local pend = redis.call('XPENDING', Q, G)
local minid = nil
if tonumber(pend[1]) > 0 then
  minid = pend[2]
else
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', Q)) do
    local name, last = nil, nil
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
    end
    if name == G and last then
      -- Everything up to and including the last delivered message: trim below the id just
      -- after it.
      local ms, seq = string.match(last, '^(%d+)-(%d+)$')
      if ms then minid = ms .. '-' .. num(tonumber(seq) + 1) end
    end
  end
end
if minid then redis.call('XTRIM', Q, 'MINID', minid) end
return out
"
);

// ARGV: prefix, na, then id, token pairs. Returns 1|0 per pair, in order.
const ACK_LUA: &str = concat!(
    prelude!(),
    r"
local now = num(now_ms())
local out, sxs, ids, done, at = {}, {}, {}, {}, {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local h = ekey(id)
  local f = redis.call('HMGET', h, 'st', 'tok', 'sx', 'rs')
  if f[1] == 'leased' and f[2] == ARGV[i + 1] then
    redis.call('HSET', h, 'st', 'done', 'due', now, 'na', ARGV[2], 'tok', '')
    sxs[#sxs + 1] = f[3]
    ids[#ids + 1] = id
    done[#done + 1] = f[4]
    done[#done + 1] = id
    at[#at + 1] = now
    at[#at + 1] = id
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
if #ids > 0 then
  redis.call('XACK', Q, G, unpack(sxs))
  redis.call('ZREM', P .. 's:leased', unpack(ids))
  redis.call('ZADD', P .. 's:done', unpack(done))
  redis.call('ZADD', P .. 't:done', unpack(at))
end
return out
"
);

// ARGV: prefix, id, token, error, 'retry' | 'dead', delay_ms, na
const FAIL_LUA: &str = concat!(
    prelude!(),
    r"
local id = ARGV[2]
local h = ekey(id)
local f = redis.call('HMGET', h, 'st', 'tok', 'sx', 'rs', 'a', 'ns', 'k')
if f[1] ~= 'leased' or f[2] ~= ARGV[3] then return 0 end
local now = now_ms()
local a = num(tonumber(f[5]) or 0)
-- The fallible writes (XADD to the dead stream, ZADDs) come before the message is
-- acknowledged: should one fail, the entry stays leased and in the pending list, and is taken
-- over when its lease ends instead of being trimmed unhandled.
if ARGV[5] == 'retry' then
  local due = num(now + tonumber(ARGV[6]))
  redis.call('ZADD', P .. 'due', due, id)
  redis.call('ZADD', P .. 's:retrying', f[4], id)
  redis.call('HSET', h, 'st', 'retrying', 'err', ARGV[4], 'due', due, 'na', ARGV[7], 'tok', '')
else
  local dx = redis.call('XADD', P .. 'dead', '*', 'e', id, 'ns', f[6], 'k', f[7], 'a', a, 'err', ARGV[4])
  redis.call('ZADD', P .. 's:dead', f[4], id)
  redis.call('HSET', h, 'st', 'dead', 'err', ARGV[4], 'due', num(now), 'na', ARGV[7], 'dx', dx, 'tok', '')
end
redis.call('XACK', Q, G, f[3])
redis.call('ZREM', P .. 's:leased', id)
return 1
"
);

// ARGV: prefix, id, token, na
const RELEASE_LUA: &str = concat!(
    prelude!(),
    r"
local id = ARGV[2]
local h = ekey(id)
local f = redis.call('HMGET', h, 'st', 'tok', 'sx', 'rs', 'a')
if f[1] ~= 'leased' or f[2] ~= ARGV[3] then return 0 end
redis.call('XACK', Q, G, f[3])
redis.call('ZREM', P .. 's:leased', id)
-- The lease counted an attempt that never ran: give it back.
local a = math.max(0, (tonumber(f[5]) or 0) - 1)
redis.call('HSET', h, 'a', num(a))
if a > 0 then
  -- Failed before: retrying and due now, as on the other backends.
  local now = num(now_ms())
  redis.call('HSET', h, 'st', 'retrying', 'due', now, 'na', ARGV[4], 'tok', '')
  redis.call('ZADD', P .. 'due', now, id)
  redis.call('ZADD', P .. 's:retrying', f[4], id)
  return 1
end
local sx = redis.call('XADD', Q, '*', 'e', id)
redis.call('HSET', h, 'st', 'pending', 'sx', sx, 'na', ARGV[4], 'tok', '')
redis.call('ZADD', P .. 's:pending', f[4], id)
return 1
"
);

// ARGV: prefix, consumer. Deletes the consumer only if it holds no message, in one step: a
// consumer that leased between a separate check and XGROUP DELCONSUMER would lose its pending
// list, and its entries (st=leased, found again only through the PEL) would be stranded.
// Returns -1 when it holds messages, else what DELCONSUMER answers (0).
const PRUNE_LUA: &str = concat!(
    prelude!(),
    r"
local held = redis.call('XPENDING', Q, G, '-', '+', 1, ARGV[2])
if #held > 0 then return -1 end
return redis.call('XGROUP', 'DELCONSUMER', Q, G, ARGV[2])
"
);

macro_rules! replay_one {
    () => {
        r"
local function replay_one(id, na)
  local h = ekey(id)
  local f = redis.call('HMGET', h, 'st', 'rs', 'dx')
  if f[1] == 'dead' then
    redis.call('ZREM', P .. 's:dead', id)
    if f[3] then redis.call('XDEL', P .. 'dead', f[3]) end
  elseif f[1] == 'done' then
    redis.call('ZREM', P .. 's:done', id)
    redis.call('ZREM', P .. 't:done', id)
  else
    return false
  end
  local sx = redis.call('XADD', Q, '*', 'e', id)
  redis.call('HSET', h, 'st', 'pending', 'sx', sx, 'na', na, 'a', 0)
  redis.call('HDEL', h, 'dx')
  redis.call('ZADD', P .. 's:pending', f[2], id)
  return true
end
"
    };
}

// ARGV: prefix, na, ids...
const REPLAY_IDS_LUA: &str = concat!(
    prelude!(),
    replay_one!(),
    r"
local n = 0
for i = 3, #ARGV do
  if replay_one(ARGV[i], ARGV[2]) then n = n + 1 end
end
return n
"
);

// ARGV: prefix, na, state, min score, max score, after ns or '', before ns or '', offset, chunk
const REPLAY_RANGE_LUA: &str = concat!(
    prelude!(),
    replay_one!(),
    r"
local ids = redis.call('ZRANGEBYSCORE', P .. 's:' .. ARGV[3], ARGV[4], ARGV[5], 'LIMIT', ARGV[8], ARGV[9])
local n, skipped = 0, 0
for _, id in ipairs(ids) do
  -- Scores are microseconds; the exact bounds compare the 20-digit nanosecond strings.
  local r = redis.call('HGET', ekey(id), 'r')
  if r and (ARGV[6] == '' or r >= ARGV[6]) and (ARGV[7] == '' or r < ARGV[7]) and replay_one(id, ARGV[2]) then
    n = n + 1
  else
    skipped = skipped + 1
  end
end
return {n, skipped, #ids}
"
);

// ARGV: prefix, older_than_ms, chunk
const PURGE_LUA: &str = concat!(
    prelude!(),
    r"
local cutoff = now_ms() - tonumber(ARGV[2])
local chunk = tonumber(ARGV[3])
local n = 0
local function del(id)
  local h = ekey(id)
  local k = redis.call('HGET', h, 'k')
  if k and redis.call('GET', P .. 'k:' .. k) == id then redis.call('DEL', P .. 'k:' .. k) end
  redis.call('DEL', h, dkey(id))
  n = n + 1
end
-- Strictly before the cut-off, as on every backend: `(` makes the score bound exclusive.
local done = redis.call('ZRANGEBYSCORE', P .. 't:done', '-inf', '(' .. num(cutoff), 'LIMIT', 0, chunk)
for _, id in ipairs(done) do
  redis.call('ZREM', P .. 't:done', id)
  if redis.call('HGET', ekey(id), 'st') == 'done' then
    redis.call('ZREM', P .. 's:done', id)
    del(id)
  end
end
local more = #done == chunk
if cutoff > 0 then
  -- Dead-letter message ids are the server time of the death: XRANGE by time. An end id of
  -- whole milliseconds takes in every sequence number of that millisecond, so the last one
  -- before the cut-off is `cutoff - 1`.
  local dead = redis.call('XRANGE', P .. 'dead', '-', num(cutoff - 1), 'COUNT', chunk)
  for _, m in ipairs(dead) do
    redis.call('XDEL', P .. 'dead', m[1])
    local id = m[2][2]
    if id then
      local f = redis.call('HMGET', ekey(id), 'st', 'dx')
      if f[1] == 'dead' and f[2] == m[1] then
        redis.call('ZREM', P .. 's:dead', id)
        del(id)
      end
    end
  end
  more = more or #dead == chunk
end
return {n, more and 1 or 0}
"
);

// ARGV: prefix, state, namespace or '', offset, chunk, limit
const LIST_LUA: &str = concat!(
    prelude!(),
    r"
local offset = tonumber(ARGV[4])
local chunk = tonumber(ARGV[5])
local limit = tonumber(ARGV[6])
local ids = redis.call('ZRANGE', P .. 's:' .. ARGV[2], offset, offset + chunk - 1)
local out = {}
local examined = 0
for _, id in ipairs(ids) do
  examined = examined + 1
  local e = fields(id)
  if e[9] == ARGV[2] and (ARGV[3] == '' or e[2] == ARGV[3]) then
    out[#out + 1] = e
    if #out >= limit then break end
  end
end
return {examined, (#ids < chunk) and 1 or 0, out}
"
);

// ARGV: prefix
const STATS_LUA: &str = concat!(
    prelude!(),
    r"
local out = {}
for _, s in ipairs({'pending', 'leased', 'retrying', 'dead', 'done'}) do
  out[#out + 1] = redis.call('ZCARD', P .. 's:' .. s)
end
local oldest = redis.call('ZRANGE', P .. 's:pending', 0, 0)
if oldest[1] then out[#out + 1] = redis.call('HGET', ekey(oldest[1]), 'r') or '' else out[#out + 1] = '' end
return out
"
);

struct Scripts {
    put: Script,
    lease: Script,
    ack: Script,
    fail: Script,
    release: Script,
    replay_ids: Script,
    replay_range: Script,
    purge: Script,
    list: Script,
    stats: Script,
    prune: Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            put: Script::new(PUT_LUA),
            lease: Script::new(LEASE_LUA),
            ack: Script::new(ACK_LUA),
            fail: Script::new(FAIL_LUA),
            release: Script::new(RELEASE_LUA),
            replay_ids: Script::new(REPLAY_IDS_LUA),
            replay_range: Script::new(REPLAY_RANGE_LUA),
            purge: Script::new(PURGE_LUA),
            list: Script::new(LIST_LUA),
            stats: Script::new(STATS_LUA),
            prune: Script::new(PRUNE_LUA),
        }
    }
}

/// What every call needs: the connection, the prefix, the bounds and the scripts.
#[derive(Clone)]
struct Core {
    conn: ConnectionManager,
    prefix: String,
    op_timeout: Duration,
    retry_after: Duration,
    scripts: Arc<Scripts>,
}

impl Core {
    async fn run(&self, op: &'static str, inv: &ScriptInvocation<'_>) -> Result<Value, Error> {
        let mut conn = self.conn.clone();
        self.bounded(op, inv.invoke_async(&mut conn)).await
    }

    async fn query(&self, op: &'static str, cmd: &redis::Cmd) -> Result<Value, Error> {
        let mut conn = self.conn.clone();
        self.bounded(op, cmd.query_async(&mut conn)).await
    }

    /// `pipe` in one `MULTI`/`EXEC`: its replies, in order.
    async fn query_atomic(&self, op: &'static str, pipe: &redis::Pipeline) -> Result<Value, Error> {
        let mut conn = self.conn.clone();
        self.bounded(op, pipe.query_async(&mut conn)).await
    }

    /// One call to Redis within the operation timeout, its failure as `StoreUnavailable`.
    async fn bounded(
        &self,
        op: &'static str,
        call: impl std::future::Future<Output = redis::RedisResult<Value>>,
    ) -> Result<Value, Error> {
        match tokio::time::timeout(self.op_timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(unavailable(op, &e, self.retry_after)),
            Err(_) => Err(self.timed_out(op)),
        }
    }

    fn timed_out(&self, op: &'static str) -> Error {
        Error::StoreUnavailable {
            reason: format!("redis inbox {op}: no answer within {:?}", self.op_timeout),
            retry_after: self.retry_after,
        }
    }

    fn malformed(&self, op: &'static str, what: &str) -> Error {
        Error::StoreUnavailable {
            reason: format!("redis inbox {op}: unexpected reply ({what})"),
            retry_after: self.retry_after,
        }
    }

    /// One script call storing `entries` (one put each, in order).
    async fn put_many(&self, entries: Vec<NewEntry>) -> Result<Vec<PutOutcome>, Error> {
        let mut inv = self.scripts.put.prepare_invoke();
        inv.arg(&self.prefix).arg(ns_string(SystemTime::now()));
        for e in &entries {
            inv.arg(e.key.as_str())
                .arg(&e.namespace)
                .arg(&e.vendor)
                .arg(if e.signed_delivery_id.is_some() {
                    "1"
                } else {
                    "0"
                })
                .arg(e.signed_delivery_id.as_deref().unwrap_or(""))
                .arg(pack_data(e)?)
                .arg(ns_string(e.received_at))
                .arg(score_us(e.received_at));
        }
        let reply =
            array(self.run("put", &inv).await?).ok_or(self.malformed("put", "not an array"))?;
        if reply.len() != entries.len() {
            return Err(self.malformed("put", "one answer per entry"));
        }
        reply
            .into_iter()
            .map(|item| match array(item).as_deref() {
                Some([flag, id]) => {
                    let id = EntryId::new(text(id).ok_or(self.malformed("put", "id"))?);
                    Ok(if int(flag) == Some(1) {
                        PutOutcome::Accepted(id)
                    } else {
                        PutOutcome::Duplicate(id)
                    })
                }
                _ => Err(self.malformed("put", "not two items")),
            })
            .collect()
    }

    /// One script call acknowledging `leases` (one answer each, in order).
    async fn ack_many(&self, leases: &[(EntryId, LeaseToken)]) -> Result<Vec<bool>, Error> {
        let mut inv = self.scripts.ack.prepare_invoke();
        inv.arg(&self.prefix).arg(ns_string(SystemTime::now()));
        for (id, token) in leases {
            inv.arg(id.as_str()).arg(token.to_hex());
        }
        let reply =
            array(self.run("ack", &inv).await?).ok_or(self.malformed("ack", "not an array"))?;
        if reply.len() != leases.len() {
            return Err(self.malformed("ack", "one answer per lease"));
        }
        Ok(reply.iter().map(|v| int(v) == Some(1)).collect())
    }
}

/// Puts, then acks, waiting in a queue are sent together in one script call. A worker acks
/// many entries at once and a receiver puts many at once: one call (one `EVALSHA`, one reply
/// to parse) for a batch instead of one per entry is what lets one Redis core keep up. A call
/// never waits for a batch to fill: each flush takes what queued while the previous ones were
/// in flight.
struct Queue<T, R> {
    tx: mpsc::Sender<(T, oneshot::Sender<Result<R, Error>>)>,
}

/// Requests waiting per queue before callers wait to enqueue (backpressure).
const QUEUE_CAPACITY: usize = 8192;
/// Script calls one queue keeps in flight at once.
const FLUSHES_IN_FLIGHT: usize = 4;
/// Most acks in one script call.
const ACK_BATCH: usize = 256;
/// Most puts, and most body bytes (a single larger body goes alone), in one script call.
const PUT_BATCH: usize = 64;
const PUT_BATCH_BYTES: usize = 1 << 20;

impl<T: Send + 'static, R: Send + 'static> Queue<T, R> {
    /// Start the queue's task on the current tokio runtime (`None` outside of one: callers
    /// then make one call per request).
    fn start<F, Fut>(
        core: Core,
        flush: F,
        max: usize,
        max_bytes: usize,
        size: fn(&T) -> usize,
    ) -> Option<Self>
    where
        F: Fn(Core, Vec<T>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Vec<R>, Error>> + Send + 'static,
    {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let (tx, mut rx) = mpsc::channel::<(T, oneshot::Sender<Result<R, Error>>)>(QUEUE_CAPACITY);
        let flush = Arc::new(flush);
        let slots = Arc::new(Semaphore::new(FLUSHES_IN_FLIGHT));
        let spawner = handle.clone();
        // Ends when every sender is gone (the last clone of the inbox dropped).
        handle.spawn(async move {
            let mut carried = None;
            loop {
                let first = match carried.take() {
                    Some(item) => item,
                    None => match rx.recv().await {
                        Some(item) => item,
                        None => break,
                    },
                };
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    break;
                };
                // Gather after getting a slot and letting the callers that are ready run:
                // what queued meanwhile goes in this call.
                tokio::task::yield_now().await;
                let mut bytes = size(&first.0);
                let mut batch = vec![first];
                while batch.len() < max {
                    let Ok(item) = rx.try_recv() else { break };
                    bytes += size(&item.0);
                    if bytes > max_bytes {
                        carried = Some(item);
                        break;
                    }
                    batch.push(item);
                }
                let (flush, core) = (flush.clone(), core.clone());
                let core_retry_after = core.retry_after;
                spawner.spawn(async move {
                    let (items, replies): (Vec<T>, Vec<_>) = batch.into_iter().unzip();
                    match flush(core, items).await {
                        Ok(results) => {
                            for (result, reply) in results.into_iter().zip(replies) {
                                let _ = reply.send(Ok(result));
                            }
                        }
                        Err(err) => {
                            for reply in replies {
                                let _ = reply.send(Err(copy_unavailable(
                                    &err,
                                    "redis inbox",
                                    core_retry_after,
                                )));
                            }
                        }
                    }
                    drop(slot);
                });
            }
        });
        Some(Queue { tx })
    }

    /// Queue `item` and wait for its answer, all within `core.op_timeout`.
    async fn call(&self, core: &Core, op: &'static str, item: T) -> Result<R, Error> {
        let (reply, answer) = oneshot::channel();
        let wait = async {
            if self.tx.send((item, reply)).await.is_err() {
                return Err(core.malformed(op, "queue closed: its runtime has shut down"));
            }
            answer
                .await
                .unwrap_or_else(|_| Err(core.malformed(op, "queue task stopped")))
        };
        tokio::time::timeout(core.op_timeout, wait)
            .await
            .unwrap_or_else(|_| Err(core.timed_out(op)))
    }
}

#[derive(Default)]
struct Queues {
    put: OnceLock<Option<Queue<NewEntry, PutOutcome>>>,
    ack: OnceLock<Option<Queue<(EntryId, LeaseToken), bool>>>,
}

/// An [`Inbox`] on Redis Streams: any number of receivers and workers, on any number of
/// machines, share one Redis. See the [module docs](self) for the data layout, the trimming
/// policy and what durability to configure.
///
/// Cheap to clone (clones share the connection, the consumer name and the batching queues).
///
/// ```no_run
/// # async fn demo() -> Result<(), chathooks::Error> {
/// use std::sync::Arc;
/// use chathooks::inbox::{Inbox, RedisInbox};
///
/// let inbox = RedisInbox::connect("redis://127.0.0.1:6379/")
///     .await?
///     .with_prefix("myapp:inbox:")
///     .with_consumer("worker-eu-1")?;
/// let inbox: Arc<dyn Inbox> = Arc::new(inbox);
/// println!("{:?}", inbox.stats().await?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisInbox {
    core: Core,
    consumer: String,
    queues: Arc<Queues>,
}

impl RedisInbox {
    /// Connect to `url` (`redis://[user:password@]host:port/db`, or `rediss://` when redis-rs
    /// is built with TLS) with a connection manager tuned for request paths: 1 s to connect,
    /// 2 s per response, one quick reconnection retry per call.
    ///
    /// # Errors
    /// [`Error::Config`] for a malformed URL (the URL itself is not repeated: it may hold a
    /// password); [`Error::StoreUnavailable`] when the server cannot be reached now.
    pub async fn connect(url: &str) -> Result<Self, Error> {
        let client =
            Client::open(url).map_err(|_| Error::Config("Redis URL is not valid".into()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| unavailable("connect", &e, DEFAULT_RETRY_AFTER))?;
        let inbox = Self::from_manager(conn);
        inbox.warn_unless_durable().await;
        Ok(inbox)
    }

    /// Log a WARN when the server is not set up to keep what it acknowledged (see
    /// [Durability](self#durability)): without `appendonly yes` a restart loses the puts made
    /// since the last snapshot, every one of them answered 2xx; with an evicting
    /// `maxmemory-policy` Redis may drop entries. A server that refuses `CONFIG` (managed
    /// services often do) is not checked.
    async fn warn_unless_durable(&self) {
        let mut get = redis::cmd("CONFIG");
        get.arg("GET").arg("appendonly").arg("maxmemory-policy");
        let Ok(reply) = self.core.query("config", &get).await else {
            return;
        };
        for (name, value) in pairs(reply) {
            let (Some(name), Some(value)) = (name, text(&value)) else {
                continue;
            };
            match name.as_str() {
                "appendonly" if value == "no" => tracing::warn!(
                    "Redis runs without `appendonly yes`: a restart loses the inbox entries \
                     written since the last snapshot, though each was answered 2xx"
                ),
                "maxmemory-policy" if value != "noeviction" => tracing::warn!(policy = %value,
                    "Redis may evict keys (`maxmemory-policy` is not `noeviction`): inbox \
                     entries could be dropped"),
                _ => {}
            }
        }
    }

    /// Use an existing connection manager (your own timeouts, TLS, retry policy).
    pub fn from_manager(conn: ConnectionManager) -> Self {
        RedisInbox {
            core: Core {
                conn,
                prefix: DEFAULT_PREFIX.to_owned(),
                op_timeout: DEFAULT_OP_TIMEOUT,
                retry_after: DEFAULT_RETRY_AFTER,
                scripts: Arc::new(Scripts::new()),
            },
            consumer: default_consumer(),
            queues: Arc::default(),
        }
    }

    /// Put every key under `prefix` (default [`DEFAULT_PREFIX`]): one inbox per prefix, e.g.
    /// one per application sharing a Redis. Receivers and workers of one inbox use the same
    /// prefix.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.core.prefix = prefix.into();
        self.queues = Arc::default();
        self
    }

    /// Name this instance's consumer in the group (default: host name, process id and a
    /// random suffix, so two processes never share one). A stable name per worker makes
    /// `XINFO CONSUMERS` readable; two live instances must not share a name.
    ///
    /// # Errors
    /// [`Error::Config`] when `name` is empty, longer than 128 bytes, or holds whitespace or
    /// control characters.
    pub fn with_consumer(mut self, name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        if name.is_empty() || name.len() > 128 || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::Config(
                "Redis consumer name must be 1-128 visible ASCII characters".into(),
            ));
        }
        self.consumer = name;
        Ok(self)
    }

    /// Bound each operation, including any wait for a reconnection (default
    /// [`DEFAULT_OP_TIMEOUT`]). Past it the call fails with [`Error::StoreUnavailable`].
    #[must_use]
    pub fn with_op_timeout(mut self, timeout: Duration) -> Self {
        self.core.op_timeout = timeout;
        self.queues = Arc::default();
        self
    }

    /// The `Retry-After` to suggest when Redis cannot answer (default [`DEFAULT_RETRY_AFTER`]).
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.core.retry_after = retry_after;
        self.queues = Arc::default();
        self
    }

    /// The key prefix in use.
    pub fn prefix(&self) -> &str {
        &self.core.prefix
    }

    /// This instance's consumer name in the group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    fn put_queue(&self) -> Option<&Queue<NewEntry, PutOutcome>> {
        self.queues
            .put
            .get_or_init(|| {
                Queue::start(
                    self.core.clone(),
                    |core: Core, entries| async move { core.put_many(entries).await },
                    PUT_BATCH,
                    PUT_BATCH_BYTES,
                    |e: &NewEntry| e.body.len(),
                )
            })
            .as_ref()
    }

    fn ack_queue(&self) -> Option<&Queue<(EntryId, LeaseToken), bool>> {
        self.queues
            .ack
            .get_or_init(|| {
                Queue::start(
                    self.core.clone(),
                    |core: Core, leases: Vec<(EntryId, LeaseToken)>| async move {
                        core.ack_many(&leases).await
                    },
                    ACK_BATCH,
                    usize::MAX,
                    |_| 0,
                )
            })
            .as_ref()
    }

    async fn list_state(
        &self,
        state: EntryState,
        namespace: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Entry>, Error> {
        let core = &self.core;
        let mut out = Vec::new();
        let mut offset = 0usize;
        // Each call examines at most CHUNK entries; the loop ends at the end of the set or
        // once `limit` entries matched.
        while out.len() < limit {
            let mut inv = core.scripts.list.prepare_invoke();
            inv.arg(&core.prefix)
                .arg(state.as_str())
                .arg(namespace.unwrap_or(""))
                .arg(offset)
                .arg(CHUNK)
                .arg(limit - out.len());
            let reply = array(core.run("list", &inv).await?)
                .ok_or(core.malformed("list", "not an array"))?;
            let [examined, at_end, entries] = <[Value; 3]>::try_from(reply)
                .map_err(|_| core.malformed("list", "not three items"))?;
            for e in array(entries).unwrap_or_default() {
                let items = array(e).ok_or(core.malformed("list", "entry is not an array"))?;
                out.push(decode(items).map_err(|what| core.malformed("list", what))?);
            }
            let examined = int(&examined)
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            if int(&at_end) == Some(1) || examined == 0 {
                break;
            }
            offset += examined;
        }
        Ok(out)
    }

    /// Delete consumers of the group that hold no lease and were idle longer than `idle`
    /// (each process start makes a new consumer name, and Redis keeps them until deleted).
    /// A consumer still holding leases is never deleted: that would orphan its messages.
    /// Returns how many were deleted.
    ///
    /// # Errors
    /// [`Error::StoreUnavailable`] when Redis cannot answer.
    pub async fn prune_consumers(&self, idle: Duration) -> Result<u64, Error> {
        let core = &self.core;
        let stream = format!("{}q", core.prefix);
        let mut query = redis::cmd("XINFO");
        query.arg("CONSUMERS").arg(&stream).arg(GROUP);
        let mut conn = core.conn.clone();
        let info: Value = match tokio::time::timeout(core.op_timeout, query.query_async(&mut conn))
            .await
        {
            Ok(Ok(v)) => v,
            // No stream or group yet: nothing to prune.
            Ok(Err(e)) if e.code() == Some("NOGROUP") || e.to_string().contains("no such key") => {
                return Ok(0)
            }
            Ok(Err(e)) => return Err(unavailable("prune_consumers", &e, core.retry_after)),
            Err(_) => return Err(core.timed_out("prune_consumers")),
        };
        let idle_ms = i64::try_from(ceil_millis(idle)).unwrap_or(i64::MAX);
        let mut deleted = 0;
        for consumer in array(info).unwrap_or_default() {
            let (mut name, mut pending, mut inactive) = (None, None, None);
            for (k, v) in pairs(consumer) {
                match k.as_deref() {
                    Some("name") => name = text(&v),
                    Some("pending") => pending = int(&v),
                    // Redis 7.2 adds `inactive` (since the last successful read); `idle` is
                    // since the last attempted one.
                    Some("inactive") => inactive = int(&v).or(inactive),
                    Some("idle") => inactive = inactive.or(int(&v)),
                    _ => {}
                }
            }
            let (Some(name), Some(0), Some(inactive)) = (name, pending, inactive) else {
                continue;
            };
            if inactive < idle_ms || name == self.consumer {
                continue;
            }
            let mut del = core.scripts.prune.prepare_invoke();
            del.arg(&core.prefix).arg(&name);
            // The script re-checks, atomically, that the consumer holds nothing: one that read
            // since XINFO (a live consumer after all) is kept with its pending list. Stop and
            // leave the rest for the next call.
            if int(&core.run("prune_consumers", &del).await?) != Some(0) {
                break;
            }
            deleted += 1;
        }
        Ok(deleted)
    }
}

impl fmt::Debug for RedisInbox {
    // The connection manager's Debug includes the connection info (and so a password, if any).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInbox")
            .field("prefix", &self.core.prefix)
            .field("consumer", &self.consumer)
            .field("op_timeout", &self.core.op_timeout)
            .field("retry_after", &self.core.retry_after)
            .finish_non_exhaustive()
    }
}

impl Inbox for RedisInbox {
    fn put(&self, entry: NewEntry) -> InboxFuture<'_, PutOutcome> {
        Box::pin(async move {
            match self.put_queue() {
                Some(queue) => queue.call(&self.core, "put", entry).await,
                None => {
                    let mut out = self.core.put_many(vec![entry]).await?;
                    out.pop().ok_or(self.core.malformed("put", "no answer"))
                }
            }
        })
    }

    fn lease(&self, max: usize, lease: Duration) -> InboxFuture<'_, Vec<Lease>> {
        Box::pin(async move {
            let core = &self.core;
            let max = max.min(MAX_LEASE_BATCH);
            if max == 0 {
                return Ok(Vec::new());
            }
            let started = SystemTime::now();
            // The client's view of the lease end is taken before the call: never later than
            // the server's, so a worker that stops at `expires_at` is always on time.
            let expires_at = started.checked_add(lease).unwrap_or(started);
            let tokens: Vec<LeaseToken> = (0..max).map(|_| ClaimToken::generate()).collect();
            let mut inv = core.scripts.lease.prepare_invoke();
            inv.arg(&core.prefix)
                .arg(&self.consumer)
                .arg(ceil_millis(lease.min(MAX_DELAY)))
                .arg(max)
                .arg(ns_string(expires_at));
            for t in &tokens {
                inv.arg(t.to_hex());
            }
            let reply = array(core.run("lease", &inv).await?)
                .ok_or(core.malformed("lease", "not an array"))?;
            let mut leases = Vec::with_capacity(reply.len());
            for (i, item) in reply.into_iter().enumerate() {
                let Some(mut items) = array(item) else {
                    return Err(core.malformed("lease", "entry is not an array"));
                };
                // The script hands out the tokens in order.
                let token = tokens.get(i).copied();
                if items.len() < 2 || token.map(|t| t.to_hex()) != text(&items[1]) {
                    return Err(core.malformed("lease", "token"));
                }
                items.remove(1);
                let token = token.unwrap_or_else(ClaimToken::generate);
                match decode_or_id(items) {
                    Ok(mut entry) => {
                        entry.state = EntryState::Leased;
                        entry.next_attempt_at = expires_at;
                        leases.push(Lease::new(entry, token, expires_at));
                    }
                    // Only a hand-edited hash gets here. No worker ever sees it, so left
                    // leased it would come back after every lease, forever: dead-letter it
                    // with the reason (as SQLite does an unreadable row), without stopping
                    // the batch.
                    Err((what, id)) => {
                        tracing::warn!(
                            op = "lease",
                            what,
                            "redis inbox: a malformed entry is dead-lettered"
                        );
                        if let Some(id) = id {
                            let reason = format!("entry unreadable by this chathooks ({what})");
                            let id = EntryId::new(id);
                            let dead = self.fail(&id, token, &reason, AfterFailure::Dead).await;
                            if let Err(e) = dead {
                                tracing::warn!(error = %e, "dead-lettering it failed");
                            }
                        }
                    }
                }
            }
            Ok(leases)
        })
    }

    fn ack<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
        Box::pin(async move {
            match self.ack_queue() {
                Some(queue) => queue.call(&self.core, "ack", (id.clone(), token)).await,
                None => Ok(self.core.ack_many(&[(id.clone(), token)]).await? == [true]),
            }
        })
    }

    fn ack_many<'a>(&'a self, leases: &'a [(EntryId, LeaseToken)]) -> InboxFuture<'a, Vec<bool>> {
        // The caller already gathered the batch: straight to the script, one call per
        // ACK_BATCH leases, without the queue's per-ack hand-offs.
        Box::pin(async move {
            let mut out = Vec::with_capacity(leases.len());
            for chunk in leases.chunks(ACK_BATCH) {
                out.extend(self.core.ack_many(chunk).await?);
            }
            Ok(out)
        })
    }

    fn fail<'a>(
        &'a self,
        id: &'a EntryId,
        token: LeaseToken,
        error: &'a str,
        then: AfterFailure,
    ) -> InboxFuture<'a, bool> {
        Box::pin(async move {
            let core = &self.core;
            let now = SystemTime::now();
            let (mode, delay, na) = match then {
                AfterFailure::RetryAt(at) => {
                    let delay = at
                        .duration_since(now)
                        .unwrap_or(Duration::ZERO)
                        .min(MAX_DELAY);
                    // A zero delay is due at once: ceil_millis never says 0, so spell it out.
                    let ms = if delay.is_zero() {
                        0
                    } else {
                        ceil_millis(delay)
                    };
                    ("retry", ms, crate::inbox::capped_retry_at(at, now))
                }
                AfterFailure::Dead => ("dead", 0, now),
            };
            let mut inv = core.scripts.fail.prepare_invoke();
            inv.arg(&core.prefix)
                .arg(id.as_str())
                .arg(token.to_hex())
                .arg(truncate_error(error))
                .arg(mode)
                .arg(delay)
                .arg(ns_string(na));
            let v = core.run("fail", &inv).await?;
            Ok(int(&v) == Some(1))
        })
    }

    fn release<'a>(&'a self, id: &'a EntryId, token: LeaseToken) -> InboxFuture<'a, bool> {
        Box::pin(async move {
            let core = &self.core;
            let mut inv = core.scripts.release.prepare_invoke();
            inv.arg(&core.prefix)
                .arg(id.as_str())
                .arg(token.to_hex())
                .arg(ns_string(SystemTime::now()));
            let v = core.run("release", &inv).await?;
            Ok(int(&v) == Some(1))
        })
    }

    fn get<'a>(&'a self, id: &'a EntryId) -> InboxFuture<'a, Option<Entry>> {
        Box::pin(async move {
            let core = &self.core;
            if id.as_str().is_empty() || id.as_str().len() > MAX_ID_LEN {
                return Ok(None);
            }
            // Hash and data together: a purge between two reads would leave a bodiless entry.
            let mut pipe = redis::pipe();
            pipe.atomic();
            let hmget = pipe
                .cmd("HMGET")
                .arg(format!("{}e:{}", core.prefix, id.as_str()));
            for f in ["ns", "v", "k", "sid", "h", "b", "r", "st", "a", "err", "na"] {
                hmget.arg(f);
            }
            pipe.cmd("GET")
                .arg(format!("{}d:{}", core.prefix, id.as_str()));
            let replies = array(core.query_atomic("get", &pipe).await?)
                .ok_or(core.malformed("get", "not an array"))?;
            let [fields, data] = <[Value; 2]>::try_from(replies)
                .map_err(|_| core.malformed("get", "not two replies"))?;
            let mut items = array(fields).ok_or(core.malformed("get", "not an array"))?;
            if items.get(7).is_none_or(|st| bytes(st).is_none()) {
                return Ok(None);
            }
            items.insert(0, Value::BulkString(id.as_str().as_bytes().to_vec()));
            items.push(data);
            decode(items)
                .map(Some)
                .map_err(|what| core.malformed("get", what))
        })
    }

    fn list<'a>(&'a self, filter: &'a ListFilter) -> InboxFuture<'a, Vec<Entry>> {
        Box::pin(async move {
            let ns = filter.namespace.as_deref();
            let limit = filter.limit.min(super::MAX_LIST);
            if limit == 0 {
                return Ok(Vec::new());
            }
            match filter.state {
                Some(state) => self.list_state(state, ns, limit).await,
                None => {
                    // Each state's first `limit` (by received-at, then id) holds the overall
                    // first `limit`: merge them.
                    let mut all = Vec::new();
                    for state in EntryState::ALL {
                        all.extend(self.list_state(state, ns, limit).await?);
                        // Keep at most `limit` between states, not five times that.
                        all.sort_by(|a, b| (a.received_at, &a.id).cmp(&(b.received_at, &b.id)));
                        all.truncate(limit);
                    }
                    Ok(all)
                }
            }
        })
    }

    fn stats(&self) -> InboxFuture<'_, InboxStats> {
        Box::pin(async move {
            let core = &self.core;
            let mut inv = core.scripts.stats.prepare_invoke();
            inv.arg(&core.prefix);
            let reply = array(core.run("stats", &inv).await?)
                .ok_or(core.malformed("stats", "not an array"))?;
            if reply.len() != 6 {
                return Err(core.malformed("stats", "not six items"));
            }
            let count = |i: usize| {
                int(&reply[i])
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0)
            };
            Ok(InboxStats {
                pending: count(0),
                leased: count(1),
                retrying: count(2),
                dead: count(3),
                done: count(4),
                oldest_pending_age: bytes(&reply[5]).and_then(parse_ns).map(|at| {
                    SystemTime::now()
                        .duration_since(at)
                        .unwrap_or(Duration::ZERO)
                }),
            })
        })
    }

    fn replay<'a>(&'a self, selector: &'a ReplaySelector) -> InboxFuture<'a, u64> {
        Box::pin(async move {
            let core = &self.core;
            let na = ns_string(SystemTime::now());
            let mut replayed = 0u64;
            match selector {
                ReplaySelector::Ids(ids) => {
                    for chunk in ids.chunks(CHUNK) {
                        let mut inv = core.scripts.replay_ids.prepare_invoke();
                        inv.arg(&core.prefix).arg(&na);
                        for id in chunk {
                            inv.arg(id.as_str());
                        }
                        let v = core.run("replay", &inv).await?;
                        replayed += int(&v).and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
                    }
                }
                ReplaySelector::State {
                    state,
                    received_after,
                    received_before,
                } => {
                    if !matches!(state, EntryState::Dead | EntryState::Done) {
                        return Ok(0);
                    }
                    let min = received_after.map_or("-inf".to_owned(), |t| score_us(t).to_string());
                    // Inclusive on the microsecond, exact on the nanosecond in the script.
                    let max = received_before
                        .map_or("+inf".to_owned(), |t| (score_us(t) + 1).to_string());
                    let after = received_after.map(ns_string).unwrap_or_default();
                    let before = received_before.map(ns_string).unwrap_or_default();
                    let mut offset = 0u64;
                    // Each round replays or steps over at least one entry, or ends; the bound
                    // only guards against an inbox growing faster than we replay.
                    for _ in 0..1_000_000 {
                        let mut inv = core.scripts.replay_range.prepare_invoke();
                        inv.arg(&core.prefix)
                            .arg(&na)
                            .arg(state.as_str())
                            .arg(&min)
                            .arg(&max)
                            .arg(&after)
                            .arg(&before)
                            .arg(offset)
                            .arg(CHUNK);
                        let reply = array(core.run("replay", &inv).await?)
                            .ok_or(core.malformed("replay", "not an array"))?;
                        let n = |i: usize| {
                            reply
                                .get(i)
                                .and_then(int)
                                .and_then(|n| u64::try_from(n).ok())
                                .unwrap_or(0)
                        };
                        replayed += n(0);
                        offset += n(1);
                        if n(2) < CHUNK as u64 {
                            break;
                        }
                    }
                }
            }
            Ok(replayed)
        })
    }

    fn purge(&self, older_than: Duration) -> InboxFuture<'_, u64> {
        Box::pin(async move {
            let core = &self.core;
            let older_ms =
                u64::try_from(older_than.min(MAX_DELAY * 10).as_millis()).unwrap_or(u64::MAX);
            let mut purged = 0u64;
            // Each round deletes up to CHUNK done and CHUNK dead entries; the bound guards
            // against an inbox growing faster than we purge.
            for _ in 0..1_000_000 {
                let mut inv = core.scripts.purge.prepare_invoke();
                inv.arg(&core.prefix).arg(older_ms).arg(CHUNK);
                let reply = array(core.run("purge", &inv).await?)
                    .ok_or(core.malformed("purge", "not an array"))?;
                purged += reply
                    .first()
                    .and_then(int)
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0);
                if reply.get(1).and_then(int) != Some(1) {
                    break;
                }
            }
            Ok(purged)
        })
    }
}

/// `host-pid-random`: unique per process, readable in `XINFO CONSUMERS`.
fn default_consumer() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(64)
        .collect();
    let host = if host.is_empty() {
        "chathooks".to_owned()
    } else {
        host
    };
    let random = ClaimToken::generate().to_hex();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}

/// Nanoseconds since the epoch as 20 digits, so that text order is time order (times before
/// 1970 are stored as the epoch).
fn ns_string(t: SystemTime) -> String {
    let ns = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{:020}", ns.min(99_999_999_999_999_999_999))
}

fn parse_ns(b: &[u8]) -> Option<SystemTime> {
    let s = std::str::from_utf8(b).ok()?;
    let ns: u128 = s.parse().ok()?;
    let secs = u64::try_from(ns / 1_000_000_000).ok()?;
    let sub = u32::try_from(ns % 1_000_000_000).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, sub))
}

/// Microseconds since the epoch: a sorted-set score (exact in a double until the year 2255).
fn score_us(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn array(v: Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Int(n) => Some(n.to_string()),
        other => bytes(other)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_owned),
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        other => bytes(other)?.iter().try_fold(0i64, |acc, &b| {
            b.is_ascii_digit()
                .then(|| acc.checked_mul(10)?.checked_add(i64::from(b - b'0')))
                .flatten()
        }),
    }
}

/// Key/value pairs of a RESP2 flat array or a RESP3 map.
fn pairs(v: Value) -> Vec<(Option<String>, Value)> {
    match v {
        Value::Map(kv) => kv.into_iter().map(|(k, v)| (text(&k), v)).collect(),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((text(&k), v));
            }
            out
        }
        _ => Vec::new(),
    }
}

/// `P d:<id>`: the length of the headers' JSON in decimal, `:`, that JSON, then the body as is.
/// One string, so a put writes one key beside the hash and a read gets both in one `GET`.
fn pack_data(e: &NewEntry) -> Result<Vec<u8>, Error> {
    let headers = serde_json::to_vec(&e.headers)
        .map_err(|_| Error::Config("inbox headers cannot be encoded".into()))?;
    let len = headers.len().to_string();
    let mut data = Vec::with_capacity(len.len() + 1 + headers.len() + e.body.len());
    data.extend_from_slice(len.as_bytes());
    data.push(b':');
    data.extend_from_slice(&headers);
    data.extend_from_slice(&e.body);
    Ok(data)
}

/// An entry's headers and body, as [`Entry`] holds them.
type Data = (Vec<(String, String)>, bytes::Bytes);

/// Headers and body from `P d:<id>` (see [`pack_data`]); the body shares the reply's buffer.
fn unpack_data(data: Vec<u8>) -> Result<Data, &'static str> {
    let data = bytes::Bytes::from(data);
    let colon = data
        .iter()
        .take(21)
        .position(|&b| b == b':')
        .ok_or("data: no length")?;
    let len: usize = std::str::from_utf8(&data[..colon])
        .ok()
        .and_then(|n| n.parse().ok())
        .ok_or("data: length")?;
    let start = colon + 1;
    let end = start
        .checked_add(len)
        .filter(|&end| end <= data.len())
        .ok_or("data: headers cut short")?;
    let headers = serde_json::from_slice(&data[start..end]).map_err(|_| "headers")?;
    Ok((headers, data.slice(end..)))
}

/// An entry from `[id, ns, v, k, sid, h, b, r, st, a, err, na, d]` (the scripts' `fields`; `h`
/// and `b` only in entries written before `d`).
fn decode(items: Vec<Value>) -> Result<Entry, &'static str> {
    decode_or_id(items).map_err(|(what, _)| what)
}

/// [`decode`], and on a failure the entry's id when that much could be read.
fn decode_or_id(items: Vec<Value>) -> Result<Entry, (&'static str, Option<String>)> {
    let [id, ns, vendor, key, sid, headers, body, received, state, attempts, error, na, data] =
        <[Value; 13]>::try_from(items).map_err(|_| ("entry does not have 13 fields", None))?;
    let id = text(&id).ok_or(("id", None))?;
    // Everything but the id, which is moved in only once the rest decoded (no copy of it).
    let rest = move || -> Result<Entry, &'static str> {
        let key = text(&key)
            .and_then(|k| IdempotencyKey::from_stored(&k).ok())
            .ok_or("key")?;
        let (headers, body) = match data {
            Value::BulkString(d) => unpack_data(d)?,
            _ => {
                let headers: Vec<(String, String)> = match bytes(&headers) {
                    Some(h) => serde_json::from_slice(h).map_err(|_| "headers")?,
                    None => Vec::new(),
                };
                let body = match body {
                    Value::BulkString(b) => bytes::Bytes::from(b),
                    Value::SimpleString(s) => bytes::Bytes::from(s.into_bytes()),
                    _ => bytes::Bytes::new(),
                };
                (headers, body)
            }
        };
        let received_at = bytes(&received).and_then(parse_ns).ok_or("received_at")?;
        let state = text(&state)
            .and_then(|s| EntryState::parse(&s))
            .ok_or("state")?;
        let attempts = int(&attempts)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0);
        let next_attempt_at = bytes(&na).and_then(parse_ns).unwrap_or(received_at);
        Ok(Entry {
            id: EntryId::new(""),
            namespace: text(&ns).unwrap_or_default(),
            vendor: text(&vendor).unwrap_or_default(),
            key,
            signed_delivery_id: text(&sid),
            headers,
            body,
            received_at,
            state,
            attempts,
            last_error: text(&error),
            next_attempt_at,
        })
    };
    match rest() {
        Ok(mut entry) => {
            entry.id = EntryId::new(id);
            Ok(entry)
        }
        Err(what) => Err((what, Some(id))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_to_the_nanosecond_and_sort_as_text() {
        let t = UNIX_EPOCH + Duration::new(1_764_620_000, 123_456_789);
        let s = ns_string(t);
        assert_eq!(s.len(), 20);
        assert_eq!(parse_ns(s.as_bytes()), Some(t));
        assert!(ns_string(t) < ns_string(t + Duration::from_nanos(1)));
        assert!(
            ns_string(UNIX_EPOCH + Duration::from_secs(9))
                < ns_string(UNIX_EPOCH + Duration::from_secs(10))
        );
        assert_eq!(
            ns_string(UNIX_EPOCH - Duration::from_secs(5)),
            ns_string(UNIX_EPOCH)
        );
        assert_eq!(score_us(t), 1_764_620_000_123_456);
        assert_eq!(parse_ns(b"x"), None);
    }

    #[test]
    fn integer_replies_parse_without_panicking() {
        assert_eq!(int(&Value::Int(7)), Some(7));
        assert_eq!(int(&Value::BulkString(b"42".to_vec())), Some(42));
        assert_eq!(int(&Value::BulkString(b"-1".to_vec())), None);
        assert_eq!(
            int(&Value::BulkString(b"99999999999999999999999".to_vec())),
            None
        );
        assert_eq!(int(&Value::Nil), None);
    }

    #[test]
    fn consumer_names_are_checked() {
        let name = default_consumer();
        assert!(name.bytes().all(|b| b.is_ascii_graphic()), "{name}");
        assert!(name.len() <= 128);
    }
}
