// Direct access to the local cluster's etcd through its gRPC gateway (127.0.0.1 only), for tests
// that need a state the API server only reaches with time, such as a compacted history.
const ETCD_URL = process.env.WEFT_ETCD_URL ?? 'http://127.0.0.1:12379';

async function post<T>(path: string, body: unknown): Promise<T> {
  const res = await fetch(`${ETCD_URL}${path}`, { method: 'POST', body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`etcd ${path} answered HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

/** Compacts etcd's history up to its current revision, so any older resourceVersion is gone (410 Gone). */
export async function compactEtcdNow(): Promise<number> {
  const range = await post<{ header: { revision: string } }>('/v3/kv/range', { key: Buffer.from('/registry').toString('base64'), limit: 1, keys_only: true });
  const revision = Number(range.header.revision);
  await post('/v3/kv/compaction', { revision: String(revision), physical: true });
  return revision;
}
