export { startRouter, type Router, type RouterOptions } from './router.js';
export { RouteTable, type Registration, type RouteTableOptions } from './table/route-table.js';
export { EndpointPool } from './table/endpoint-pool.js';
export { normalizeHost, endpointKey, type Endpoint } from './table/endpoint.js';
export type { BalancingStrategy, EndpointIterator } from './balancing/strategy.js';
export { RoundRobin } from './balancing/round-robin.js';
export { RouteSubscriber, type RouteSubscriberOptions } from './bus/route-subscriber.js';
export { RouterProxy, type ProxyOptions } from './proxy/proxy.js';
export { StatusServer, type StatusOptions } from './status/status-server.js';
