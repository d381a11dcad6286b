/**
 * Which control of issue 11 each attack of the hostile-tenant suite waits for. An attack listed
 * here still works on main: its subtest runs as `todo` (reported, not failing the run). When the
 * control lands, delete its line (or the `probe@place` line) and the subtest asserts for real.
 *
 * Keys are a probe name (every place) or `probe@place` (one place, wins over the probe's line).
 * Places: instance, buildpack-compile, dockerfile-run, image-instance. What each probe does is in
 * fixtures/hostile-tenant/probe.js; the `route-*` and `metadata-rule` checks are the test's own.
 */
export const needs: Record<string, string> = {
  // Every container in its own network namespace on nap's bridge, with nap's firewall rules.
  'etcd-read': 'container network',
  'etcd-write': 'container network',
  'nats-connect': 'container network',
  'controller-port': 'container network',
  'directory-port': 'container network',
  'router-status-port': 'container network',
  'other-instance': 'container network',
  'proc-net-tcp': 'container network',
  'port-squat': 'container network',
  'metadata-rule': 'container network',
  // Dockerfile RUN steps keep Docker's default capabilities (CAP_NET_RAW) on the host network.
  'raw-socket@dockerfile-run': 'build isolation',
  // Route claims have no policy, and a claimed route with no instance falls back to a wildcard.
  'route-wildcard-claim': 'route policy',
  'route-foreign-domain-claim': 'route policy',
  'route-address-claim': 'route policy',
  'route-stopped-app-fallback': 'route policy',
};

/** The `todo` option of an attack's subtest: the control it waits for, or none when on main. */
export function todoFor(probe: string, place?: string): { todo?: string } {
  const control = (place && needs[`${probe}@${place}`]) || needs[probe];
  return control ? { todo: `needs ${control}` } : {};
}
