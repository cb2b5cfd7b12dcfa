/**
 * The `patientpulse` command line: one binary, one subcommand per task. Each subcommand
 * reads the same configuration as the server and applies pending migrations itself.
 *
 * Exit codes: 0 done, 1 failed, 2 usage error (and command-specific ones documented in
 * each command's help).
 */

import { UsageError } from './cli/cli-errors.js';
import { ConfigError, loadDotEnv } from './config/config.js';
import { DataDirNotPrivateError } from './db/data-dir.js';
import { DataDirLockedError } from './db/data-dir-lock.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  serve: { summary: 'start the API server', load: async () => (await import('./cli/serve.command.js')).serveCommand },
  etl: {
    summary: 'load patients (JSON) and readings (CSV) files',
    load: async () => (await import('./cli/etl.command.js')).etlCommand,
  },
  keys: {
    summary: 'create, list and revoke API keys',
    load: async () => (await import('./cli/keys.command.js')).keysCommand,
  },
  analytics: {
    summary: 'run the analytics job once',
    load: async () => (await import('./cli/analytics.command.js')).analyticsCommand,
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: patientpulse <command> [options]\n\ncommands:\n${lines.join('\n')}\n\nRun 'patientpulse <command> --help' for a command's options.`;
}

export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`patientpulse: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  loadDotEnv();
  try {
    return await (await command.load())(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`patientpulse ${name}: ${err.message}`);
      return 2;
    }
    if (err instanceof ConfigError || err instanceof DataDirLockedError || err instanceof DataDirNotPrivateError) {
      console.error(err.message);
      return 1;
    }
    console.error(`patientpulse ${name} failed:`, err instanceof Error ? err.message : err);
    return 1;
  }
}

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
