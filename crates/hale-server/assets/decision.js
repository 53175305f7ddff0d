// What hale will do next for a target, and why, in words: "restart 2 of 3 in 41 s:
// cooldown; then recreate". Read from the target's status (step, attempts, the instant
// before which nothing is done) and its policy's ladder.

import { actionName, duration, serverNow, store } from './core.js';

/** The policy status called `name`, from the last poll. */
export function policyNamed(name) {
  return (store.policies?.items || []).find((p) => p.name === name);
}

/** The sentence for target `t` of policy `policyName`. */
export function explain(t, policyName) {
  const policy = policyNamed(policyName);
  const paused = (store.overview?.paused || []).includes(policyName);
  if (t.disabled) return 'Healing is turned off for this target: it is probed and shown, never remediated, until it is enabled again.';
  if (paused) return `Policy ${policyName} is paused: the target is assessed, nothing is decided or done until it is resumed.`;
  if (t.standby) return fleetHold(t.standby);
  if (!policy) return '';
  if (policy.circuitOpen && t.state !== 'healthy') return `Held back by the circuit breaker: ${policy.circuitOpen}.`;
  const steps = policy.spec?.remediation?.steps || [];
  const mode = policy.spec?.mode === 'DryRun' || store.overview?.dryRun ? ' (dry run: decided and recorded, not done)' : '';
  if (t.state === 'quarantined') {
    return `Quarantined: hale gave up after its ladder was used up or too many actions in the window; nothing more is done until it is unquarantined.`;
  }
  if (!steps.length) return 'The policy has no remediation steps: hale only observes.';
  const index = Math.max(0, Math.min(steps.length - 1, (t.step || 1) - 1));
  const step = steps[index];
  const action = actionName(step.action);
  const total = step.attempts || 1;
  const attempt = Math.min(total, (t.attempts || 0) + 1);
  const after = attempt < total
    ? `then ${action} again (${attempt + 1} of ${total})`
    : steps[index + 1]
      ? `then ${actionName(steps[index + 1].action)}`
      : 'then quarantine';
  const wait = t.nextActionAt ? t.nextActionAt - serverNow() : 0;
  const cooling = wait > 0 ? ` in ${duration(wait)}: ${t.lastActionAt ? 'cooldown and backoff since the last action' : 'waiting'}` : '';
  switch (t.state) {
    case 'healthy':
    case 'degraded':
      return `Healthy. If it fails: ${action} (step ${index + 1} of ${steps.length})${mode}.`;
    case 'failing':
      return `${action} ${attempt} of ${total}${cooling || ' now'}; ${after}${mode}.`;
    case 'verifying':
      return `Verifying the last ${t.lastAction || 'action'}: recovered only once fresh evidence says so; if it fails again, ${action} ${attempt} of ${total}${cooling}; ${after}${mode}.`;
    case 'pending':
      return `A probe is failing but its threshold is not reached yet; then ${action} ${attempt} of ${total}${cooling}${mode}.`;
    default:
      return `No fresh evidence yet (${t.state}); nothing is decided on old observations.`;
  }
}

/** Fleet mode: why this node does not heal the target now (`standby` of its status, whose
 * prefix says which), and the node's own words after it. */
function fleetHold(why) {
  const detail = why.replace(/^(held|fleet standby|waiting):\s*/, '');
  if (why.startsWith('held:')) return `Held: this node cannot reach the fleet store (Redis), and the action waits for it; probing goes on. (${detail})`;
  if (why.startsWith('waiting:')) return `Waiting for the fleet's counts: the failure is counted across every node (maxUnhealthy) before it is decided. (${detail})`;
  return `Fleet standby: another node holds this target's lease and heals it; this node probes it and shows it, and takes over if that node stops renewing. (${detail})`;
}
