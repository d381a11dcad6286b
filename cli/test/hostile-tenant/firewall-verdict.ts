/**
 * What nap's nftables rules decide for a container's packet towards one IPv4 address, read from
 * `nft list table` output: the suite checks the metadata address this way, never with a packet.
 *
 * Such a packet leaves the host, so the forward chain decides: its first rule that names a
 * destination prefix holding the address is the verdict (an accept of only some ports counts as
 * an accept: the address would be reachable there). Rules without `ip daddr` (established
 * replies, container to container) never see a new connection to an outside address.
 */
export interface Verdict {
  verdict: 'drop' | 'reject' | 'accept' | 'none';
  /** The rule that decided, as nft lists it; what the chain holds when none did. */
  rule: string;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function holds(prefix: string, address: string): boolean {
  const [base, bits = '32'] = prefix.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipToInt(base) / size) * size;
  const a = ipToInt(address);
  return a >= start && a < start + size;
}

/** The rule lines of one chain of a listed table. */
function chainRules(listing: string, chain: string): string[] {
  const m = new RegExp(`chain ${chain} \\{\\n([\\s\\S]*?)\\n\\s*\\}`).exec(listing);
  if (!m) return [];
  return m[1]
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('type '));
}

export function forwardVerdict(listing: string, address: string): Verdict {
  const rules = chainRules(listing, 'forward');
  for (const rule of rules) {
    const daddr = /\bip daddr (\{[^}]*\}|\S+)/.exec(rule)?.[1];
    if (!daddr) continue;
    const prefixes = daddr.replace(/[{}]/g, '').split(',').map((s) => s.trim()).filter(Boolean);
    if (!prefixes.some((p) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(p) && holds(p, address))) continue;
    const verdict = /\b(drop|reject|accept)\b/.exec(rule.replace(/comment ".*"$/, ''))?.[1] as Verdict['verdict'] | undefined;
    if (verdict) return { verdict, rule };
  }
  return { verdict: 'none', rule: rules.join('\n') || '(no forward chain)' };
}
