import { describe, expect, it } from '@jest/globals';
import { defaultIptablesArgs, parseIptablesArgs } from '../../../src/api/injection.js';
import { applyIptables, hasGlobalIpv6, iptablesRules } from '../../../src/proxy/iptables.js';

describe('iptables rules', () => {
  it('captures all inbound except proxy and excluded ports, and outbound except the proxy UID', () => {
    const rules = iptablesRules(parseIptablesArgs(['--exclude-inbound-ports', '22', '--exclude-outbound-ports', '5432', '--exclude-outbound-cidrs', '10.96.0.0/12,fd00::/8']));
    expect(rules).toContain('-A WEFT_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006');
    expect(rules).toContain('-A WEFT_REDIRECT -p tcp -j REDIRECT --to-ports 15001');
    expect(rules).toContain('-A WEFT_INBOUND -p tcp --dport 22 -j RETURN');
    expect(rules).toContain('-A WEFT_INBOUND -p tcp --dport 15021 -j RETURN');
    expect(rules).toContain('-A WEFT_OUTPUT -m owner --uid-owner 1337 -j RETURN');
    expect(rules).toContain('-A WEFT_OUTPUT -p tcp --dport 5432 -j RETURN');
    expect(rules).toContain('-A WEFT_OUTPUT -d 10.96.0.0/12 -j RETURN');
    expect(rules).not.toContain('fd00::/8');
    expect(iptablesRules(parseIptablesArgs(['--exclude-outbound-cidrs', 'fd00::/8']), 6)).toContain('-A WEFT_OUTPUT -d fd00::/8 -j RETURN');
    // The UID exclusion comes before the final redirect.
    expect(rules.indexOf('--uid-owner 1337 -j RETURN')).toBeLessThan(rules.indexOf('-A WEFT_OUTPUT -j WEFT_REDIRECT'));
    expect(rules.trim().endsWith('COMMIT')).toBe(true);
  });

  it('captures only listed inbound ports, or none', () => {
    const listed = iptablesRules(parseIptablesArgs(['--include-inbound-ports', '8080,9090']));
    expect(listed).toContain('-A WEFT_INBOUND -p tcp --dport 8080 -j WEFT_IN_REDIRECT');
    expect(listed).not.toContain('-A WEFT_INBOUND -p tcp -j WEFT_IN_REDIRECT');
    const none = iptablesRules({ ...defaultIptablesArgs(), includeInboundPorts: [] });
    expect(none).not.toContain('PREROUTING');
  });

  it('adds DNS capture when asked: UDP and TCP 53 to 15053, the proxy UID/GID exempt, before the TCP capture', () => {
    const rules = iptablesRules(parseIptablesArgs(['--dns-capture-port', '15053']));
    const udp = '-A OUTPUT -p udp --dport 53 -m owner ! --uid-owner 1337 -m owner ! --gid-owner 1337 -j REDIRECT --to-ports 15053';
    const tcp = '-A OUTPUT -p tcp --dport 53 -m owner ! --uid-owner 1337 -m owner ! --gid-owner 1337 -j REDIRECT --to-ports 15053';
    expect(rules).toContain(udp);
    expect(rules).toContain(tcp);
    // TCP/53 would otherwise be caught by the outbound TCP capture (15001) first.
    expect(rules.indexOf(tcp)).toBeLessThan(rules.indexOf('-A OUTPUT -p tcp -j WEFT_OUTPUT'));
    expect(iptablesRules(parseIptablesArgs(['--dns-capture-port', '15053']), 6)).toContain(udp);
    expect(iptablesRules(defaultIptablesArgs())).not.toContain('--dport 53');
  });

  it('rejects bad flags with specific errors', () => {
    expect(() => parseIptablesArgs(['--exclude-outbound-cidrs', '10.0.0.0/99'])).toThrow(/not a CIDR/);
    expect(() => parseIptablesArgs(['--bogus'])).toThrow(/unknown flag/);
  });

  it('applies through iptables-restore (v4, and v6 on request)', async () => {
    const calls: [string, string[], string][] = [];
    await applyIptables(defaultIptablesArgs(), { ipv6: true, run: async (c, a, s) => { calls.push([c, a, s]); } });
    expect(calls.map((c) => c[0])).toEqual(['iptables-restore', 'ip6tables-restore']);
    expect(calls[0]![1]).toEqual(['--noflush']);
  });
});

describe('hasGlobalIpv6 (/proc/net/if_inet6)', () => {
  const lo = '00000000000000000000000000000001 01 80 10 80       lo';
  const linkLocal = 'fe80000000000000009a34fffecc4d45 63f 40 20 80    eth0';
  const global = 'fd000000000000000000000000000002 04 40 00 82     eth0';
  it('a dual-stack pod (a global address on an interface) needs IPv6 capture', () => {
    expect(hasGlobalIpv6([lo, linkLocal, global, ''].join('\n'))).toBe(true);
  });
  it('loopback and link-local only, or no IPv6 at all, do not', () => {
    expect(hasGlobalIpv6([lo, linkLocal].join('\n'))).toBe(false);
    expect(hasGlobalIpv6('')).toBe(false);
    expect(hasGlobalIpv6('garbage line\n')).toBe(false);
  });
});
