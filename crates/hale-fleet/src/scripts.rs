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
/// alone. Answers, per pair: `{1, token, node}` when this node holds it now, `{0, token,
/// holder}` when another does.
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
    answers[#answers + 1] = {1, token, node}
  else
    local token, holder = string.match(value, '^(%d+) (.*)$')
    if holder == node then
      redis.call('PEXPIRE', lease, ttl)
      answers[#answers + 1] = {1, tonumber(token), node}
    else
      answers[#answers + 1] = {0, tonumber(token), holder}
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

/// Takes a place in a fleet-wide remediation budget (`maxConcurrent`).
///
/// KEYS[1]: a sorted set of holders scored by when their place expires (Redis' own clock,
/// so the nodes' clocks need not agree). ARGV[1]: the holder (node and target), ARGV[2]:
/// the budget, ARGV[3]: how long the place lasts in milliseconds (longer than the action's
/// timeout, so a node that dies mid-action frees its place by itself). Expired places are
/// dropped first; a holder that has a place keeps it (renewed); otherwise a place is taken
/// if one is free. Answers 1 when the holder has a place now, else 0.
pub(crate) static TAKE_PLACE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local expires = now + tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], expires, ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], expires, ARGV[1])
  return 1
end
return 0
",
    )
});
