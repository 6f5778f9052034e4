/** Emulated kube-scheduler: connects through --kubeconfig every second (leader election + node list). */
import { randomUUID } from 'node:crypto';
import { NODE, errorMessage, every, loadKubeconfig, logEvent, parseFlags, requireFlag, setComponent } from '../shared/common.js';
import { ApiClient } from './api-client.js';
import { LeaderElector } from './leader-election.js';

export async function kubeSchedulerMain(argv: string[]): Promise<void> {
  setComponent('kube-scheduler');
  const flags = parseFlags(argv);
  const api = new ApiClient(loadKubeconfig(requireFlag(flags, 'kubeconfig')), 'kube-scheduler');
  const elector = new LeaderElector(api, 'kube-scheduler', `${NODE}_${randomUUID()}`, flags.get('leader-elect') !== 'false');
  every(1000, async () => {
    await elector.tick();
    try {
      await api.get('/api/v1/nodes');
    } catch (err) {
      logEvent('error', 'apiserver-connection', `kube-scheduler -> ${api.server}: ${errorMessage(err)}`);
    }
  });
}
