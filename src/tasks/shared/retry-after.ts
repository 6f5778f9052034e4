/**
 * When kube-apiserver asks a client to send a request again, and how client-go does (k8s.io/client-go
 * v0.37.2 rest/with_retry.go `checkWait` and `retryAfterSeconds`; `maxRetries` 10 in rest/request.go):
 * a response with status 429 or any 5xx that carries a `Retry-After` header of whole seconds is
 * retried after that many seconds, up to 10 times. kube-apiserver answers so in two cases: a request
 * that reaches it after its graceful shutdown began gets 503 "apiserver is shutting down" with
 * `Retry-After: 1` (k8s.io/apiserver pkg/server/filters/waitgroup.go; kubeadm sets no
 * --shutdown-delay-duration, so a request accepted just before the listener closes meets it), and API
 * priority and fairness rejects with 429. Every client-go client (kubectl, the controllers, the
 * kubelet) rides through both; so do kcarun's own client and the lab's traffic.
 */

/** client-go's default number of retries after the first attempt. */
export const RETRY_AFTER_MAX_RETRIES = 10;

/**
 * Longest wait kcarun honours (seconds): client-go has no cap, but a step's own timeout must stay in
 * charge; kube-apiserver sends 1.
 */
export const RETRY_AFTER_MAX_SECONDS = 10;

/**
 * The seconds to wait before sending the request again, or undefined when the response is final:
 * `status` 429 or >= 500 and `retryAfter` (the header's value) a whole number of seconds (the
 * HTTP-date form client-go ignores is ignored too). Capped at RETRY_AFTER_MAX_SECONDS.
 */
export function retryAfterSeconds(status: number, retryAfter: string | string[] | undefined): number | undefined {
  if (!(status === 429 || status >= 500)) return undefined;
  const value = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  if (value === undefined || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Math.min(Number(value), RETRY_AFTER_MAX_SECONDS);
}
