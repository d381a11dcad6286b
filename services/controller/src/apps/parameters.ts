import { badRequest } from '@nap/common';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The seeds' `{param}` placeholders of a start command, in order of first appearance. */
export function parametersOf(command: string | null): string[] {
  if (!command) return [];
  return [...new Set([...command.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

/** One shell word whatever the value: the command runs under sh -c, and a value must stay a value. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Fills every placeholder; a missing or unknown parameter is a 400 naming it. */
export function fillParameters(command: string, values: Record<string, string>): string {
  const wanted = parametersOf(command);
  const missing = wanted.filter((p) => !(p in values));
  if (missing.length > 0) throw badRequest('missing_parameter', `missing parameter${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}`);
  const unknown = Object.keys(values).filter((p) => !wanted.includes(p));
  if (unknown.length > 0) throw badRequest('unknown_parameter', `unknown parameter${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (the command has ${wanted.join(', ') || 'none'})`);
  return command.replace(PLACEHOLDER, (_, name: string) => shellQuote(values[name]));
}
