"""Lua scripts of the Redis engine. Each runs atomically; every key it touches is passed in KEYS.

All keys of one group share the hash tag ``{<group_id>}``, so on a Redis Cluster each script stays
on one slot. Scripts are written to be safe under redis-py's silent retry after a connection error:
a retried script that already ran must give the same answer, not a spurious conflict.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

# KEYS: state hash, log stream. ARGV: new epoch, state.
# Returns {epoch, seq, state} of the stored group (existing or fresh).
CREATE = """
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'state')
if cur[1] then return cur end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'seq', '0', 'state', ARGV[2])
return {ARGV[1], '0', ARGV[2]}
"""

# KEYS: state hash, log stream, channel[, answer key]. ARGV: epoch, seq, state, maxlen, commit token,
# answer ttl ms, answer, event.... Each event is logged with the explicit id <seq>-0 and published as
# "<epoch>|<seq>|<data>"; the answer (a command's outcome) is kept in the same atomic step.
# The token makes a retried commit that already applied answer 1 instead of "conflict".
COMMIT = """
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'seq', 'token')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then
  if cur[3] == ARGV[5] then return 1 end
  return 0
end
local seq = tonumber(ARGV[2])
for i = 8, #ARGV do
  seq = seq + 1
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], seq .. '-0', 'd', ARGV[i])
  redis.call('PUBLISH', KEYS[3], ARGV[1] .. '|' .. seq .. '|' .. ARGV[i])
end
redis.call('HSET', KEYS[1], 'seq', seq, 'state', ARGV[3], 'token', ARGV[5])
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[7], 'PX', ARGV[6]) end
return 1
"""

# KEYS: state hash, log stream. ARGV: epoch, after_seq.
# Returns the logged data of seq after_seq+1..current, or nil unless every one of them is present.
HISTORY = """
local cur = redis.call('HMGET', KEYS[1], 'epoch', 'seq')
if cur[1] ~= ARGV[1] then return false end
local last, after = tonumber(cur[2]), tonumber(ARGV[2])
if after < 0 or after > last then return false end
if after == last then return {} end
local entries = redis.call('XRANGE', KEYS[2], (after + 1) .. '-0', last .. '-0')
if #entries ~= last - after then return false end
local out = {}
for i, entry in ipairs(entries) do out[i] = entry[2][2] end
return out
"""

# KEYS: lock key. ARGV: token, lease ms. A retried acquire that already succeeded finds its own token.
LOCK_ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lock key. ARGV: token, lease ms. Extends only our own lock; 0 when it is no longer ours.
LOCK_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

# KEYS: lock key. ARGV: token. Deletes only our own lock: after a lease expiry it may be someone else's.
LOCK_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Presence keys of a group: KEYS[1] hash conn -> user, KEYS[2] zset conn -> expiry (ms, Redis server
# clock, so processes with skewed clocks agree), KEYS[3] hash user -> connection count.
_PRESENCE_LIB = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function dec(user)
  local n = redis.call('HINCRBY', KEYS[3], user, -1)
  if n <= 0 then redis.call('HDEL', KEYS[3], user) end
  return n
end
-- Keys of a group nobody refreshes (every process died) expire a minute after the last entry would.
local function keep_until_last_expiry()
  local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  if #top == 0 then return end
  local at = tonumber(top[2]) + 60000
  for i = 1, 3 do redis.call('PEXPIREAT', KEYS[i], at) end
end
"""

# ARGV: conn, user, ttl ms. Returns the user's connection count.
PRESENCE_ADD = (
    _PRESENCE_LIB
    + """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old ~= ARGV[2] then
  if old then dec(old) end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
end
redis.call('ZADD', KEYS[2], now_ms() + tonumber(ARGV[3]), ARGV[1])
keep_until_last_expiry()
return tonumber(redis.call('HGET', KEYS[3], ARGV[2]))
"""
)

# ARGV: conn. Returns {user or nil, remaining count}.
PRESENCE_REMOVE = (
    _PRESENCE_LIB
    + """
local user = redis.call('HGET', KEYS[1], ARGV[1])
if not user then return {false, 0} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {user, math.max(dec(user), 0)}
"""
)

# ARGV: ttl ms, conn.... Only connections still registered are extended (XX): never resurrect one.
PRESENCE_TOUCH = (
    _PRESENCE_LIB
    + """
local at = now_ms() + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[2], 'XX', at, ARGV[i]) end
keep_until_last_expiry()
return 0
"""
)

# Returns the users whose last connection was among the expired ones.
PRESENCE_EXPIRED = (
    _PRESENCE_LIB
    + """
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms())
local left = {}
for _, conn in ipairs(stale) do
  local user = redis.call('HGET', KEYS[1], conn)
  redis.call('HDEL', KEYS[1], conn)
  redis.call('ZREM', KEYS[2], conn)
  if user and dec(user) <= 0 then table.insert(left, user) end
end
return left
"""
)


@dataclass(frozen=True, slots=True)
class Scripts:
    """The scripts registered on one client (EVALSHA, with a fallback to EVAL on NOSCRIPT)."""

    create: AsyncScript
    commit: AsyncScript
    history: AsyncScript
    lock_acquire: AsyncScript
    lock_renew: AsyncScript
    lock_release: AsyncScript
    presence_add: AsyncScript
    presence_remove: AsyncScript
    presence_touch: AsyncScript
    presence_expired: AsyncScript

    @classmethod
    def register(cls, client: Redis) -> Scripts:
        return cls(
            create=client.register_script(CREATE),
            commit=client.register_script(COMMIT),
            history=client.register_script(HISTORY),
            lock_acquire=client.register_script(LOCK_ACQUIRE),
            lock_renew=client.register_script(LOCK_RENEW),
            lock_release=client.register_script(LOCK_RELEASE),
            presence_add=client.register_script(PRESENCE_ADD),
            presence_remove=client.register_script(PRESENCE_REMOVE),
            presence_touch=client.register_script(PRESENCE_TOUCH),
            presence_expired=client.register_script(PRESENCE_EXPIRED),
        )
