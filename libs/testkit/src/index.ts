export * from './engines.js';
export * from './platform.js';
export * from './http.js';
export * from './cli.js';
export * from './archives.js';
export * from './dockerd.js';
export * from './modules-loaded.js';
export * from './up-env.js';
