// The floor of the fan-out benchmark: the same five steps with bare ssh2, one connection per host,
// all hosts at once, no journal, no retries, no templating. Plain JS (no tsx loader) so its start-up
// costs what a minimal script costs. Usage: node bench/floor-ssh2.mjs JOB.json
// JOB.json: { hosts: [{name,address,port,hostKey}], identityFile, base, payload, fetchDir }
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const privateKey = readFileSync(job.identityFile);

function exec(conn, command) {
  return new Promise((resolve, reject) => {
    conn.exec(command, (err, ch) => {
      if (err) return reject(err);
      let out = '';
      let errOut = '';
      ch.on('data', (d) => (out += d));
      ch.stderr.on('data', (d) => (errOut += d));
      ch.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command}: rc ${code} ${errOut}`))));
    });
  });
}

const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

async function one(h) {
  const conn = new ssh2.Client();
  await new Promise((resolve, reject) => {
    conn.once('ready', resolve).once('error', reject);
    conn.connect({
      host: h.address,
      port: h.port,
      username: 'root',
      privateKey,
      // Host key checked against known_hosts' key, as the two other tools do.
      hostVerifier: (key) => key.toString('base64') === h.hostKey,
    });
  });
  try {
    const dir = `${job.base}/${h.name}`;
    await exec(conn, `mkdir -p ${q(`${dir}/data`)}`);
    const sftp = await new Promise((resolve, reject) => conn.sftp((e, s) => (e ? reject(e) : resolve(s))));
    await new Promise((resolve, reject) => sftp.writeFile(`${dir}/data/secret.key`, job.payload, { mode: 0o600 }, (e) => (e ? reject(e) : resolve())));
    await exec(conn, `sed -i 's/^flag=.*/flag=on/' ${q(`${dir}/app.conf`)}`);
    const back = await exec(conn, `grep '^flag=' ${q(`${dir}/app.conf`)}`);
    if (back.trim() !== 'flag=on') throw new Error(`${h.name}: read back ${back}`);
    const data = await new Promise((resolve, reject) => sftp.readFile(`${dir}/app.conf`, (e, d) => (e ? reject(e) : resolve(d))));
    mkdirSync(join(job.fetchDir, h.name), { recursive: true });
    writeFileSync(join(job.fetchDir, h.name, 'app.conf'), data);
    sftp.end();
  } finally {
    conn.end();
  }
}

const results = await Promise.allSettled(job.hosts.map(one));
const failed = results.filter((r) => r.status === 'rejected');
for (const f of failed) console.error(String(f.reason));
process.exit(failed.length ? 1 : 0);
