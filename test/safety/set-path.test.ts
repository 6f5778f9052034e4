import { describe, expect, it } from 'vitest';
import { setPath } from '../../src/edit/yaml-path.js';

/* Issue 13, item 9: set-path that adds a key changes nothing but the lines it adds. */
const kubelet = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt   # the cluster CA
clusterDNS: [ 10.96.0.10 ]
evictionHard: {memory.available:  "100Mi"}
tlsCipherSuites:
    - TLS_A
    - TLS_B
# trailing comment
`;

describe('set-path adds keys without reformatting anything else (issue 13.9)', () => {
  it('a new key in a nested block map: one line added, every other byte kept', () => {
    const r = setPath(kubelet, 'authentication.x509.clientCAFileBundle', '/etc/kubernetes/pki/ca-bundle.crt');
    expect(r).toEqual({ changed: true, text: kubelet.replace('# the cluster CA\n', '# the cluster CA\n    clientCAFileBundle: /etc/kubernetes/pki/ca-bundle.crt\n') });
  });

  it('a new top-level key and missing maps on the way are inserted as text', () => {
    expect(setPath(kubelet, 'rotateCertificates', true).text).toBe(kubelet.replace('    - TLS_B\n', '    - TLS_B\nrotateCertificates: true\n'));
    expect(setPath(kubelet, 'serverTLS.bootstrap', true).text).toBe(kubelet.replace('    - TLS_B\n', '    - TLS_B\nserverTLS:\n  bootstrap: true\n'));
  });

  it('changing an existing value stays byte-exact, and setting the same value changes nothing', () => {
    expect(setPath(kubelet, 'authentication.x509.clientCAFile', '/new/ca.crt').text).toBe(kubelet.replace('/etc/kubernetes/pki/ca.crt', '/new/ca.crt'));
    expect(setPath(kubelet, 'clusterDNS', ['10.96.0.10'])).toEqual({ changed: false, text: kubelet });
  });
});
