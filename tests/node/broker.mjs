// Runs the strikemq binary on a free port with a temporary data directory.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export async function startBroker() {
  const bin = process.env.STRIKEMQ_BIN || join(here, '..', '..', 'target', 'debug', 'strikemq');
  const dir = mkdtempSync(join(tmpdir(), 'strikemq-node-'));
  const child = spawn(bin, ['--bind', '127.0.0.1', '--port', '0', '--http-port', '0', '--io-threads', '2', '--data-dir', join(dir, 'data')], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const port = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error('broker did not report ready')), 30000);
    child.stdout.on('data', (chunk) => {
      seen += chunk.toString();
      const m = seen.match(/accepting Kafka connections on [^:]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.on('exit', (code) => reject(new Error(`broker exited with ${code}`)));
  });
  return {
    bootstrap: `127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
