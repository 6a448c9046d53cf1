import { describe, expect, it } from '@jest/globals';
import { defaultIptablesArgs, iptablesArgs, isCidr, parseIptablesArgs, type IptablesArgs } from '../../../src/api/injection.js';

describe('iptablesArgs / parseIptablesArgs', () => {
  it('round-trips the defaults and a full set of options', () => {
    expect(parseIptablesArgs(iptablesArgs(defaultIptablesArgs()))).toEqual(defaultIptablesArgs());
    const full: IptablesArgs = {
      inboundCapturePort: 15006,
      outboundCapturePort: 15001,
      includeInboundPorts: [8080, 8443],
      excludeInboundPorts: [15021, 15090],
      excludeOutboundPorts: [5432],
      excludeOutboundCidrs: ['169.254.169.254/32', 'fd00::/8'],
      proxyUid: 1337,
      proxyGid: 1337,
      dnsCapturePort: 15053,
    };
    expect(parseIptablesArgs(iptablesArgs(full))).toEqual(full);
  });

  it('always emits every flag, so argv is self-describing', () => {
    const argv = iptablesArgs(defaultIptablesArgs());
    expect(argv).toEqual(expect.arrayContaining(['--proxy-uid', '1337', '--include-inbound-ports', '*', '--exclude-inbound-ports', '15021,15090']));
  });

  it('accepts --flag=value', () => {
    expect(parseIptablesArgs(['--exclude-outbound-ports=53,443']).excludeOutboundPorts).toEqual([53, 443]);
  });

  it.each([
    [['--bogus', '1'], 'unknown flag "--bogus"'],
    [['--proxy-uid'], 'needs a value'],
    [['--proxy-uid', 'root'], 'not a numeric id'],
    [['--exclude-inbound-ports', '80,http'], '"http" is not a port number'],
    [['--exclude-inbound-ports', '0'], 'out of range'],
    [['--inbound-capture-port', '1,2'], 'want exactly one port'],
    [['--exclude-outbound-cidrs', '10.0.0.0/33'], 'is not a CIDR'],
  ])('rejects %j with a specific message', (argv, msg) => {
    expect(() => parseIptablesArgs(argv)).toThrow(msg);
  });

  it('recognises CIDRs', () => {
    for (const ok of ['10.0.0.0/8', '0.0.0.0/0', '192.168.1.1/32', 'fd00::/8', '::/0', '2001:db8::1/128']) expect(isCidr(ok)).toBe(true);
    for (const bad of ['10.0.0.0', '10.0.0.256/8', '10.0.0.0/40', 'fd00::/129', 'a::b::c/64', 'host/8', '']) expect(isCidr(bad)).toBe(false);
  });
});
