export { startDirectoryServer, type DirectoryServer, type DirectoryServerOptions } from './server.js';
export { rawQuery, signatureCheck, type SignedRequest } from './signature-check.js';
export { isInside, openInside, resolveInside, type OpenedEntry, type Refusal } from './resolve-inside.js';
export { directoryListing } from './listing.js';
export { followFile, FOLLOW_POLL_MS, type Follow, type FollowSource, type FollowedFile } from './follow.js';
export { RESOURCE_ID, instancesRoot, isStrictlyInside, locateResource, stagingDoneFile, stagingRoot } from './resources.js';
export { InstanceSnapshot, parseSnapshot, type SnapshotInstance } from './instance-snapshot.js';
export { followStart } from './resource-route.js';
