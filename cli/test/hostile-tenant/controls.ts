/**
 * Controls of issue 11 that are on main. Adding a control's name here is all it takes to make
 * every attack that waits for it (below) assert for real.
 */
export const landed: string[] = ['engine credentials', 'route policy', 'container network'];

/**
 * Which control of issue 11 each attack of the hostile-tenant suite waits for. An attack listed
 * here with a control not yet `landed` still works on main: its subtest runs as `todo` (reported,
 * not failing the run). Deleting a line makes that one attack assert regardless.
 *
 * Keys are a probe name (every place) or `probe@place` (one place, wins over the probe's line).
 * Places: instance, buildpack-compile, dockerfile-run, image-instance. What each probe does is in
 * fixtures/hostile-tenant/probe.js; the `route-*` and `metadata-rule` checks are the test's own.
 */
export const needs: Record<string, string> = {
  // etcd with auth on: a client without a user reads and writes nothing, wherever it runs.
  'etcd-read': 'engine credentials',
  'etcd-write': 'engine credentials',
  // Every container in its own network namespace on nap's bridge, with nap's firewall rules.
  'nats-connect': 'container network',
  'controller-port': 'container network',
  'directory-port': 'container network',
  'router-status-port': 'container network',
  'other-instance': 'container network',
  'proc-net-tcp': 'container network',
  'port-squat': 'container network',
  'metadata-rule': 'container network',
  // A Dockerfile RUN step keeps Docker's default capabilities (CAP_NET_RAW): on the host's network
  // its packet socket sees everyone's traffic; in a namespace of its own, only its own.
  'raw-socket@dockerfile-run': 'container network',
  // Route claims have no policy, and a claimed route with no instance falls back to a wildcard.
  'route-wildcard-claim': 'route policy',
  'route-foreign-domain-claim': 'route policy',
  'route-address-claim': 'route policy',
  'route-stopped-app-fallback': 'route policy',
};

/** The `todo` option of an attack's subtest: the control it waits for, or none when on main. */
export function todoFor(probe: string, place?: string): { todo?: string } {
  const control = (place && needs[`${probe}@${place}`]) || needs[probe];
  return control && !landed.includes(control) ? { todo: `needs ${control}` } : {};
}
