// What a program that never talks to etcd or NATS needs (the CLI's push, apps, logs…). The full
// entry loads etcd3, grpc and nats, which costs about 0.3 s at every start of the CLI.
export * from './settings.js';
export * from './errors.js';
export * from './apps.js';
export * from './archive.js';
export * from './buildpacks.js';
export * from './app-manifest.js';
export * from './api-views.js';
export * from './container-network.js';
export * from './cluster.js';
export { caPinOf } from './engines/tls.js';
export * from './log-lines.js';
