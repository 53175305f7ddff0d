//! The Lua scripts that change leases. Redis runs a script atomically, so a check and the
//! change it guards happen with no other node's command between them (no read-modify-write
//! race); each script is sent once and then called by its SHA1.

use std::sync::LazyLock;

use redis::Script;

/// Acquires or renews leases for one node, in one round trip for all of them.
///
/// KEYS: pairs of (lease key, fence counter key). ARGV[1]: the node, ARGV[2]: the TTL in
/// milliseconds. A lease's value is `"<token> <node>"`. A free lease is granted with the
/// next value of its fence counter (which never expires, so tokens only grow); a lease the
/// node holds is renewed with its token unchanged; a lease another node holds is left
/// alone. Answers, per pair: `{1, token, node, 0}` when this node holds it now, `{0, token,
/// holder, ms}` when another does, `ms` being the time its lease has left (`PTTL`), so a
/// standby can ask again the moment it runs out.
pub(crate) static ACQUIRE_OR_RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local node, ttl = ARGV[1], ARGV[2]
local answers = {}
for i = 1, #KEYS, 2 do
  local lease, fence = KEYS[i], KEYS[i + 1]
  local value = redis.call('GET', lease)
  if not value then
    local token = redis.call('INCR', fence)
    redis.call('SET', lease, token .. ' ' .. node, 'PX', ttl)
    answers[#answers + 1] = {1, token, node, 0}
  else
    local token, holder = string.match(value, '^(%d+) (.*)$')
    if holder == node then
      redis.call('PEXPIRE', lease, ttl)
      answers[#answers + 1] = {1, tonumber(token), node, 0}
    else
      answers[#answers + 1] = {0, tonumber(token), holder, redis.call('PTTL', lease)}
    end
  end
end
return answers
",
    )
});

/// 1 when KEYS[1] is still the grant ARGV[2] (token) to ARGV[1] (node), else 0: the fencing
/// check made right before an action.
pub(crate) static STILL_HOLDS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[2] .. ' ' .. ARGV[1] then return 1 end
return 0
",
    )
});

/// Deletes KEYS[1] if it is still the grant ARGV[2] to ARGV[1] (a node stopping hands its
/// leases over at once instead of letting them run out); 1 when it did.
pub(crate) static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[2] .. ' ' .. ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

/// Appends one node's audit records to the fleet's stream, each exactly once, if Redis has
/// the node as far delivered as the shipper believes (compare and append).
///
/// KEYS[1]: the stream, KEYS[2]: the hash of each node's last delivered sequence number.
/// ARGV[1]: the node, ARGV[2]: the stream's approximate cap, ARGV[3]: the sequence number
/// the shipper believes delivered (it ships from there), then pairs of (sequence number,
/// record JSON) in ascending order.
///
/// What Redis has delivered is found first:
/// - the stream is gone (a Redis restarted without persistence, a deleted key): what the
///   node delivered went with it, so its mark is 0 and everything local is shipped again;
/// - the stream is there but the node's mark is not (the hash was lost or deleted alone):
///   the node's newest entry in the stream is the mark, so nothing is doubled;
/// - otherwise the mark.
///
/// When that is not what the shipper believes, nothing is appended and the answer tells it
/// where to ship from: appending above a gap would lose the records in it, appending below
/// the mark would double them. Otherwise records above the mark are appended (one at or
/// below it is skipped) and the mark moved in the same script, so a retry after a lost
/// answer never doubles a record and no set of ids grows forever.
///
/// Answers `{1, appended, mark}` when it appended, `{0, 0, mark}` when the shipper must
/// ship from `mark` instead.
pub(crate) static SHIP_AUDIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local node, cap, expected = ARGV[1], ARGV[2], tonumber(ARGV[3])
local stored = redis.call('HGET', KEYS[2], node)
local mark = 0
if redis.call('EXISTS', KEYS[1]) == 0 then
  mark = 0
elseif stored then
  mark = tonumber(stored)
else
  local last, found = '+', false
  while not found do
    local entries = redis.call('XREVRANGE', KEYS[1], last, '-', 'COUNT', 1000)
    if #entries == 0 then break end
    for _, entry in ipairs(entries) do
      local fields, entry_node, entry_seq = entry[2], nil, nil
      for j = 1, #fields, 2 do
        if fields[j] == 'node' then entry_node = fields[j + 1] end
        if fields[j] == 'seq' then entry_seq = fields[j + 1] end
      end
      if entry_node == node and entry_seq then
        mark, found = tonumber(entry_seq), true
        break
      end
    end
    last = '(' .. entries[#entries][1]
  end
end
if mark ~= expected then
  redis.call('HSET', KEYS[2], node, mark)
  return {0, 0, mark}
end
local appended = 0
for i = 4, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq > mark then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', cap, '*',
      'node', node, 'seq', ARGV[i], 'record', ARGV[i + 1])
    mark = seq
    appended = appended + 1
  end
end
redis.call('HSET', KEYS[2], node, mark)
return {1, appended, mark}
",
    )
});

/// Lets one fleet-scoped remediation begin, or says what holds it.
///
/// KEYS[1]: the service's places, a sorted set of holders scored by when their place
/// expires (Redis' own clock, so the nodes' clocks need not agree); KEYS[2]: its shared
/// cooldown (value: the holder that started it); KEYS[3]: its quarantine (value: the
/// replica that kept failing); KEYS[4]: its ladder position (value: `"<rung> <holder>"`,
/// the highest rung a replica acted on lately, and who). ARGV[1]: the holder (node and
/// target), ARGV[2]: `maxConcurrent` (0: no budget), ARGV[3]: how long a place lasts in
/// milliseconds, ARGV[4]: the cooldown in milliseconds, ARGV[5]: the rung (0-based) this
/// remediation is at, ARGV[6]: the top rung of the holder's ladder, ARGV[7]: how long the
/// ladder position lasts after this remediation in milliseconds. Answers `{verdict, who,
/// number}`: `quarantined` (who, time left or -1), `cooling` (who started it, time left),
/// `busy` (the holders, space-separated, and the time until the first place expires),
/// `ahead` (who reached the rung, and the rung, no higher than the holder's top: the
/// replica must start there), or `go` after taking the place, starting the cooldown and
/// moving the ladder position up to this rung (never down: a node whose ladder is shorter
/// acts on its top rung and leaves a higher position to the others), for `lasts` more.
pub(crate) static BEGIN_REMEDIATION: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder, max, hold, cooldown = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local rung, top, lasts = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local quarantined = redis.call('GET', KEYS[3])
if quarantined then
  return {'quarantined', quarantined, redis.call('PTTL', KEYS[3])}
end
local cooling = redis.call('GET', KEYS[2])
if cooling and cooling ~= holder then
  return {'cooling', cooling, redis.call('PTTL', KEYS[2])}
end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if not redis.call('ZSCORE', KEYS[1], holder) and redis.call('ZCARD', KEYS[1]) >= max then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {'busy', table.concat(redis.call('ZRANGE', KEYS[1], 0, -1), ' '), tonumber(first[2]) - now}
  end
end
local position = redis.call('GET', KEYS[4])
local reached = -1
if position then
  local at, by = string.match(position, '^(%d+) (.*)$')
  reached = tonumber(at)
  if math.min(reached, top) > rung then
    return {'ahead', by, math.min(reached, top)}
  end
end
if max > 0 then
  redis.call('ZADD', KEYS[1], now + hold, holder)
end
if cooldown > 0 then
  redis.call('SET', KEYS[2], holder, 'PX', cooldown)
end
if rung >= reached then
  redis.call('SET', KEYS[4], rung .. ' ' .. holder, 'PX', lasts)
elseif redis.call('PTTL', KEYS[4]) < lasts then
  redis.call('PEXPIRE', KEYS[4], lasts)
end
return {'go', '', 0}
",
    )
});

/// Gives a replica's place in its service's budget back (it was seen healthy again) and
/// keeps the service's ladder position for at least ARGV[2] milliseconds more: the
/// service's ladder starts over only when no replica has been remediated, nor recovered
/// from a remediation, for that long (as a replica's own ladder does after `resetAfter`
/// of health).
///
/// KEYS[1]: the service's places, KEYS[2]: its ladder position. ARGV[1]: the holder.
pub(crate) static GIVE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
redis.call('ZREM', KEYS[1], ARGV[1])
local lasts = tonumber(ARGV[2])
local ttl = redis.call('PTTL', KEYS[2])
if ttl >= 0 and ttl < lasts then redis.call('PEXPIRE', KEYS[2], lasts) end
return 1
",
    )
});

/// Publishes one node's status view, or only refreshes it when it did not change.
///
/// KEYS[1]: the node's status hash. ARGV[1]: the publish period in milliseconds, ARGV[2]:
/// the key's TTL in milliseconds, ARGV[3]: the view (JSON), or `''` when it is unchanged.
/// The hash holds `view`, `changed` (when the view last changed) and `at` (when the node
/// last published), both on Redis' own clock so that readers need no agreement with the
/// nodes' clocks. A refresh of a key that is gone (it expired, Redis restarted) answers 0:
/// the node then sends its whole view. Answers 1 otherwise.
pub(crate) static PUBLISH_STATUS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local key, period, ttl, view = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if view == '' and redis.call('EXISTS', key) == 0 then return 0 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
if view ~= '' then redis.call('HSET', key, 'view', view, 'changed', now) end
redis.call('HSET', key, 'at', now, 'period', period)
redis.call('PEXPIRE', key, ttl)
return 1
",
    )
});

/// Reads the status hashes KEYS in one atomic snapshot, with Redis' clock.
///
/// Answers a flat list of strings: Redis' time in milliseconds, then for each key its
/// `at`, `period` and `view` (`''` for a key that expired since it was listed).
pub(crate) static READ_STATUS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local time = redis.call('TIME')
local answer = {tostring(tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000))}
for i = 1, #KEYS do
  local fields = redis.call('HMGET', KEYS[i], 'at', 'period', 'view')
  answer[#answer + 1] = fields[1] or ''
  answer[#answer + 1] = fields[2] or ''
  answer[#answer + 1] = fields[3] or ''
end
return answer
",
    )
});

/// [`RELEASE`] for many leases in one round trip (a node shutting down hands all of its
/// leases over at once). KEYS: the lease keys; ARGV[1]: the node, ARGV[1 + i]: the token
/// of KEYS[i]. Each key is deleted only if it is still that grant. Answers the (1-based)
/// positions of the keys that were.
pub(crate) static RELEASE_ALL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local released = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i + 1] .. ' ' .. ARGV[1] then
    redis.call('DEL', KEYS[i])
    released[#released + 1] = i
  end
end
return released
",
    )
});

/// Publishes one node's circuit counts of fleet-scoped policies and answers the others'
/// sums, in one atomic step per call (no read-modify-write race between nodes).
///
/// KEYS: pairs of (the policy's hash of each node's `"<failing> <total>"`, the policy's
/// sorted set of each node's entry expiry on Redis' own clock). ARGV[1]: the node, ARGV[2]:
/// how long its entry lives in milliseconds, then per pair: failing, total. Entries whose
/// expiry passed are dropped first (a node that died stops counting by itself), then this
/// node's entry is written, then the live entries of the other nodes are summed. Each key
/// expires with its last entry, so a fleet that stops leaves nothing behind. Answers, per
/// pair, `{others' failing, others' total, other nodes}`.
pub(crate) static PUBLISH_COUNTS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local node, ttl = ARGV[1], tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local answers = {}
for i = 1, #KEYS, 2 do
  local counts, expiries = KEYS[i], KEYS[i + 1]
  local failing, total = ARGV[i + 2], ARGV[i + 3]
  for _, dead in ipairs(redis.call('ZRANGEBYSCORE', expiries, '-inf', now)) do
    redis.call('HDEL', counts, dead)
  end
  redis.call('ZREMRANGEBYSCORE', expiries, '-inf', now)
  redis.call('HSET', counts, node, failing .. ' ' .. total)
  redis.call('ZADD', expiries, now + ttl, node)
  local last = redis.call('ZRANGE', expiries, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', counts, last[2])
  redis.call('PEXPIREAT', expiries, last[2])
  local sum_failing, sum_total, nodes = 0, 0, 0
  local entries = redis.call('HGETALL', counts)
  for j = 1, #entries, 2 do
    if entries[j] ~= node then
      local f, t = string.match(entries[j + 1], '^(%d+) (%d+)$')
      if f then
        sum_failing = sum_failing + tonumber(f)
        sum_total = sum_total + tonumber(t)
        nodes = nodes + 1
      end
    end
  end
  answers[#answers + 1] = {sum_failing, sum_total, nodes}
end
return answers
",
    )
});
