/**
 * Entry point of the lab's emulated binaries, bundled once at `up` into the lab's bin folder. Each
 * name on a node's PATH (systemctl, crictl, kubelet, kube-apiserver, ...) is a two-line wrapper that
 * calls this bundle with its own name first.
 */
import { crictlMain } from './crictl.js';
import { kubeApiserverMain } from './kube-apiserver.js';
import { kubeControllerManagerMain } from './kube-controller-manager.js';
import { kubeSchedulerMain } from './kube-scheduler.js';
import { kubeletMain } from './kubelet.js';
import { prometheusMain } from './prometheus.js';
import { systemctlMain } from './systemctl.js';
import { trafficMain } from './traffic.js';
import { signalReady } from './procs.js';

const [name, ...args] = process.argv.slice(2);

/** The long-running components; each main resolves once it has read its files and is serving. */
const SERVICES: Record<string, (argv: string[]) => Promise<void>> = {
  kubelet: kubeletMain,
  'kube-apiserver': kubeApiserverMain,
  'kube-controller-manager': kubeControllerManagerMain,
  'kube-scheduler': kubeSchedulerMain,
  prometheus: prometheusMain,
  traffic: trafficMain,
};

async function main(): Promise<void> {
  switch (name) {
    case 'systemctl':
      process.exit(await systemctlMain(args));
    case 'crictl':
      process.exit(await crictlMain(args));
  }
  const service = name === undefined ? undefined : SERVICES[name];
  if (!service) {
    console.error(`kcarun lab: unknown component ${name ?? '(none)'}`);
    process.exit(2);
  }
  await service(args);
  signalReady();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
