/**
 * Lines logged while the process exits reach stdout. The server writes its last line
 * ("process exit", with the exit code) from an exit handler, and the shutdown watchdog
 * logs an error right before `process.exit(1)`. With pino's default destination, which
 * writes from a worker thread, the compiled server under plain `node` lost such a line
 * almost every time; under tsx (the other end-to-end tests) the race rarely showed. So
 * this test compiles `src/` and runs it with plain `node`.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
// Under node_modules, so the compiled files resolve the project's packages.
const OUT = path.join(ROOT, 'node_modules', '.cache', `patientpulse-logging-test-${process.pid}`);

beforeAll(() => {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json', '--noCheck', '--outDir', OUT], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`tsc failed: ${r.stdout}${r.stderr}`);
}, 120_000);

afterAll(() => rmSync(OUT, { recursive: true, force: true }));

function runScript(body: string): { status: number | null; stdout: string; stderr: string } {
  const module = (p: string) => pathToFileURL(path.join(OUT, p)).href;
  const script = `
    import Fastify from 'fastify';
    import { loadConfig } from '${module('config/config.js')}';
    import { buildServerOptions } from '${module('http/server-options.js')}';
    const app = Fastify(buildServerOptions(loadConfig({ LOG_PRETTY: 'false', LOG_LEVEL: 'info' })));
    ${body}
  `;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH },
    timeout: 60_000,
  });
}

const parse = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string; exitCode?: number });

describe('log lines at exit', () => {
  it('writes a line logged in an exit handler, after every earlier line', () => {
    for (let i = 0; i < 3; i++) {
      const r = runScript(`
        process.once('exit', (exitCode) => app.log.info({ exitCode }, 'process exit'));
        for (let i = 0; i < 500; i++) app.log.info({ i }, 'line');
        app.log.info('stopped');
      `);
      expect(r.status, r.stderr).toBe(0);
      const lines = parse(r.stdout);
      expect(lines).toHaveLength(502);
      expect(lines.slice(-2)).toEqual([
        expect.objectContaining({ msg: 'stopped' }),
        expect.objectContaining({ msg: 'process exit', exitCode: 0 }),
      ]);
    }
  });

  it('writes a line logged right before process.exit()', () => {
    const r = runScript(`
      app.log.error('shutdown did not finish in time; exiting');
      process.exit(1);
    `);
    expect(r.status).toBe(1);
    expect(parse(r.stdout)).toEqual([expect.objectContaining({ msg: 'shutdown did not finish in time; exiting' })]);
  });
});
