/** Lease-based leader election as client-go does it (15 s lease, renewed every tick by the holder). */
import { errorMessage, logEvent } from '../shared/common.js';
import type { ApiClient } from './api-client.js';

interface Lease {
  metadata?: { name?: string };
  spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number; leaseTransitions?: number };
}

export class LeaderElector {
  private leading = false;

  constructor(
    private readonly api: ApiClient,
    private readonly name: string,
    private readonly identity: string,
    private readonly enabled: boolean,
  ) {}

  /** One round; true when this process leads afterwards. Connection failures are logged events. */
  async tick(): Promise<boolean> {
    if (!this.enabled) return true;
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${this.name}`;
    try {
      const lease = (await this.api.get(path)) as Lease | undefined;
      const holder = lease?.spec?.holderIdentity;
      const renew = lease?.spec?.renewTime ? Date.parse(lease.spec.renewTime) : 0;
      const expired = Date.now() - renew > (lease?.spec?.leaseDurationSeconds ?? 15) * 1000;
      if (!holder || holder === this.identity || expired) {
        const transitions = (lease?.spec?.leaseTransitions ?? 0) + (holder === this.identity ? 0 : 1);
        await this.api.put(path, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.name, namespace: 'kube-system' },
          spec: { holderIdentity: this.identity, leaseDurationSeconds: 15, renewTime: new Date().toISOString(), leaseTransitions: transitions },
        });
        if (!this.leading) logEvent('info', 'leader-election', `${this.identity} became leader of ${this.name}`);
        this.leading = true;
      } else {
        this.leading = false;
      }
    } catch (err) {
      logEvent('error', 'apiserver-connection', `${this.api.who} -> ${this.api.server}: ${errorMessage(err)}`);
      // Without a successful renewal the lease cannot be trusted: stop leading, as client-go does.
      this.leading = false;
    }
    return this.leading;
  }
}
