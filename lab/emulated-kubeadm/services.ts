/**
 * KEPT ONLY FOR test/tasks/health/health-lab.test.ts (lab/emulated-kubeadm/layout.ts says why):
 * the emulated Kubernetes components the lab's bundle (lab/stand-ins/main.ts) adds for it.
 */
import { crictlMain } from './crictl.js';
import { kubeApiserverMain } from './kube-apiserver.js';
import { kubeControllerManagerMain } from './kube-controller-manager.js';
import { kubeSchedulerMain } from './kube-scheduler.js';
import { kubeletMain } from './kubelet.js';

/** Long-running components: each main resolves once it has read its files and is serving. */
export const EMULATED_KUBEADM_SERVICES: Record<string, (argv: string[]) => Promise<void>> = {
  kubelet: kubeletMain,
  'kube-apiserver': kubeApiserverMain,
  'kube-controller-manager': kubeControllerManagerMain,
  'kube-scheduler': kubeSchedulerMain,
};

/** Commands: their main returns the exit code. */
export const EMULATED_KUBEADM_COMMANDS: Record<string, (argv: string[]) => Promise<number>> = { crictl: crictlMain };

/** The names put on the nodes' PATH for them. */
export const EMULATED_KUBEADM_BINARIES = ['crictl', 'kubelet', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];
