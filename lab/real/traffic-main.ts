/**
 * The real lab's traffic generator as a process: `tsx lab/real/traffic-main.ts --dir DIR/traffic`
 * (started detached by `npm run lab -- traffic start` for a kubeadm-real lab; SIGTERM stops it after
 * its in-flight requests, with the counters flushed).
 */
import { realTrafficMain } from './traffic.js';

const i = process.argv.indexOf('--dir');
const dir = i >= 0 ? process.argv[i + 1] : undefined;
if (!dir) {
  console.error('usage: traffic-main.ts --dir DIR');
  process.exit(2);
}
await realTrafficMain(dir, (stop) => {
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
});
process.exit(0);
