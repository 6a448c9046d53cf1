// A raw state-of-the-world ADS client for tests: subscribes to every type, then ACKs every
// response, or NACKs every one (its accepted version stays where it was) with `nackMessage`.
import * as grpc from '@grpc/grpc-js';
import { AdsClient, PUSH_ORDER, type AdsClientStream, type DiscoveryResponse } from '../../src/envoy/index.js';

export class RawAdsClient {
  private readonly client: AdsClient;
  private readonly stream: AdsClientStream;
  readonly responses: DiscoveryResponse[] = [];
  private readonly accepted = new Map<string, string>();

  constructor(address: string, private readonly nodeId: string, private readonly nackMessage: string | undefined) {
    this.client = new AdsClient(address, grpc.credentials.createInsecure());
    this.stream = this.client.StreamAggregatedResources();
    this.stream.on('data', (r: DiscoveryResponse) => this.onResponse(r));
    this.stream.on('error', () => undefined);
    for (const typeUrl of PUSH_ORDER) this.stream.write({ node: { id: this.nodeId, cluster: 'test' }, type_url: typeUrl, resource_names: [] });
  }

  private onResponse(r: DiscoveryResponse): void {
    this.responses.push(r);
    if (this.nackMessage !== undefined) {
      this.stream.write({ type_url: r.type_url, version_info: this.accepted.get(r.type_url) ?? '', response_nonce: r.nonce, resource_names: [], error_detail: { code: 3, message: this.nackMessage } });
    } else {
      this.accepted.set(r.type_url, r.version_info);
      this.stream.write({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce, resource_names: [] });
    }
  }

  close(): void {
    this.stream.end();
    this.client.close();
  }
}
