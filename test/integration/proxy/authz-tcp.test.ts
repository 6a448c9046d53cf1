// Network RBAC (envoy.filters.network.rbac in front of tcp_proxy) through a real proxy: a TCP
// echo backend behind TCP chains carrying an ALLOW by source IP and a DENY by destination port,
// as the control plane renders an AuthorizationPolicy for a TCP port. A refused connection is
// closed at once and never reaches the backend.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import net from 'node:net';
import type { Proxy } from '../../../src/proxy/proxy.js';
import type { ListenerShape } from '../../../src/proxy/config/envoy-shapes.js';
import { cla, edsCluster, TCP_TYPE } from '../../unit/proxy/fixtures.js';
import { freePort, startProxy } from './helpers.js';

const NET_RBAC = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';

function rbac(action: string, policy: Record<string, unknown>): Record<string, unknown> {
  return { name: 'envoy.filters.network.rbac', typed_config: { '@type': NET_RBAC, stat_prefix: 'tcp.', rules: { action, policies: { [`ns[default]-policy[${action.toLowerCase()}]-rule[0]`]: policy } } } };
}

/** A TCP listener whose chain is [DENY dst port `deniedPort`, ALLOW source 127.0.0.2, tcp_proxy]. */
function guardedTcpListener(name: string, port: number, deniedPort: number): ListenerShape {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [
      rbac('DENY', { permissions: [{ and_rules: { rules: [{ or_rules: { rules: [{ destination_port: deniedPort }] } }] } }], principals: [{ and_ids: { ids: [{ any: true }] } }] }),
      rbac('ALLOW', { permissions: [{ and_rules: { rules: [{ any: true }] } }],
        principals: [{ and_ids: { ids: [{ or_ids: { ids: [{ direct_remote_ip: { address_prefix: '127.0.0.2', prefix_len: { value: 32 } } }] } }] } }] }),
      { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_TYPE, stat_prefix: name, cluster: 'echo' } },
    ] }],
  };
}

interface Exchange { reply: string; closed: boolean; ms: number }

/** Connect from `localAddress`, send `ping`, collect what comes back until close or `ms`. */
function exchangeFrom(localAddress: string, port: number, ms = 1500): Promise<Exchange> {
  return new Promise((resolve) => {
    const start = Date.now();
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    let reply = '';
    const done = (closed: boolean): void => { clearTimeout(t); s.destroy(); resolve({ reply, closed, ms: Date.now() - start }); };
    const t = setTimeout(() => done(false), ms);
    s.on('data', (c) => {
      reply += c.toString();
      if (reply.includes('echo ping')) done(false);
    });
    s.on('close', () => done(true));
    s.on('error', () => undefined);
    s.on('connect', () => s.write('ping'));
  });
}

let proxy: Proxy;
let backend: net.Server;
let accepted = 0;
let openPort: number, deniedPort: number;

beforeAll(async () => {
  // Server-first greeting: a refused connection must not even see it (it never reaches the backend).
  backend = net.createServer((s) => {
    accepted++;
    s.write('hello\n');
    s.on('data', (d) => s.write(`echo ${d.toString()}`));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  openPort = await freePort();
  deniedPort = await freePort();
  proxy = await startProxy({
    listeners: [guardedTcpListener('tcp-open', openPort, deniedPort), guardedTcpListener('tcp-denied', deniedPort, deniedPort)],
    clusters: [edsCluster('echo')],
    endpoints: [cla('echo', [(backend.address() as net.AddressInfo).port])],
  });
});

afterAll(async () => {
  await proxy.close();
  await new Promise<void>((r) => backend.close(() => r()));
});

describe('network RBAC on TCP chains', () => {
  it('ALLOW by source IP admits 127.0.0.2: bytes flow both ways', async () => {
    const before = accepted;
    const r = await exchangeFrom('127.0.0.2', openPort);
    expect(r.reply).toBe('hello\necho ping');
    expect(accepted).toBe(before + 1);
  });

  it('refuses 127.0.0.3: closed at once with nothing written, backend never dialled', async () => {
    const before = accepted;
    const r = await exchangeFrom('127.0.0.3', openPort);
    expect(r).toMatchObject({ reply: '', closed: true });
    expect(r.ms).toBeLessThan(1000);
    expect(accepted).toBe(before);
  });

  it('DENY by destination port refuses even the allowed source', async () => {
    const before = accepted;
    const r = await exchangeFrom('127.0.0.2', deniedPort);
    expect(r).toMatchObject({ reply: '', closed: true });
    expect(accepted).toBe(before);
  });

  it('each connection is decided on its own: interleaved allowed and refused peers', async () => {
    const results = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.2', '127.0.0.3'].map((a) => exchangeFrom(a, openPort)));
    expect(results.map((r) => r.reply)).toEqual(['hello\necho ping', '', 'hello\necho ping', '']);
  });
});
