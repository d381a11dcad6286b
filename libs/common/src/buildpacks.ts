/**
 * How an app names a buildpack (CONTRACT §6): a built-in one, an admin buildpack, or a git URL
 * with an optional `#ref`. Shared by the controller (which checks a choice at PUT time) and the
 * DEA (which clones it).
 */

/** Names of admin buildpacks (POST /v1/buildpacks). */
export const BUILDPACK_NAME = /^[a-z][a-z0-9-]{0,40}$/;

/** The git URLs a buildpack may come from: http(s)://, git://, ssh://, user@host:path and (admins only) file://. */
const GIT_URL = /^(?:(?:https?|git|ssh|file):\/\/[^\s#]+|[\w.-]+@[\w.-]+:[^\s#]+)$/;
/** A branch, a tag or a commit: no leading dash (it would be read as an option), nothing git would mistake. */
const GIT_REF = /^(?!-)(?!.*\.\.)[\w./-]{1,200}$/;
/** A ref that looks like a commit: cloned in full and checked out, since --branch takes only branches and tags. */
export const COMMIT_REF = /^[0-9a-f]{7,40}$/;

export type BuildpackChoice =
  | { kind: 'git'; url: string; ref?: string }
  | { kind: 'name'; name: string }
  | { kind: 'invalid'; reason: string };

/** Anything with a scheme, an ssh-style user@host: or a path is meant as a URL (and must then be a valid one). */
function looksLikeUrl(value: string): boolean {
  return value.includes('://') || /^[\w.-]+@[\w.-]+:/.test(value) || value.startsWith('/') || value.startsWith('.');
}

export function parseBuildpackChoice(value: string): BuildpackChoice {
  if (!looksLikeUrl(value)) return { kind: 'name', name: value };
  const hash = value.indexOf('#');
  const url = hash < 0 ? value : value.slice(0, hash);
  const ref = hash < 0 ? undefined : value.slice(hash + 1);
  if (value.startsWith('/') || value.startsWith('.')) {
    return { kind: 'invalid', reason: `${JSON.stringify(value)} is a path: name a local git repository as file://${value.startsWith('/') ? value : '/ABSOLUTE/PATH'}` };
  }
  if (!GIT_URL.test(url)) {
    return { kind: 'invalid', reason: `${JSON.stringify(url)} is not a git URL a buildpack can come from (https://, http://, git://, ssh://, git@host:path or file://)` };
  }
  if (ref !== undefined && !GIT_REF.test(ref)) return { kind: 'invalid', reason: `${JSON.stringify(ref)} is not a branch, tag or commit` };
  return ref === undefined ? { kind: 'git', url } : { kind: 'git', url, ref };
}

/** How a git buildpack is named in logs and in a droplet's detected_buildpack. */
export function gitBuildpackLabel(url: string, ref?: string): string {
  return ref ? `${url}#${ref}` : url;
}
