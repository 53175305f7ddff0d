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
