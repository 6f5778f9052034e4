import { redactSecrets } from '../../core/redact.js';

/**
 * Diffs go to the terminal and the journal: embedded client keys (kubeconfig client-key-data,
 * base64 so the PEM redaction cannot see them) and tokens are masked.
 */
export function redactDiff(diff: string): string {
  return redactSecrets(diff)
    .replace(/^([-+ ]\s*(?:client-key-data|token|password)\s*:\s*).+$/gm, '$1[REDACTED]')
    .replace(/^([-+ ].*"(?:client-key-data|token|password)"\s*:\s*)"[^"]*"/gm, '$1"[REDACTED]"');
}
