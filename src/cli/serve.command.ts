/**
 * `patientpulse serve`: the API server. `npm start`, `node dist/server.js` and the
 * container all run this command, so signal handling and exit codes live only here.
 *
 * SIGTERM or SIGINT starts a graceful stop (see startServer); the process exits 0 once
 * the drain is done, or 1 when it failed or overran its bound.
 */
import { loadConfig } from '../config/config.js';
import { type RunningServer, startServer } from '../startup.js';
import { UsageError } from './cli-errors.js';

/** Past SHUTDOWN_TIMEOUT_MS, how long the pool close and the job rollback may take before a forced exit. */
const FORCED_EXIT_GRACE_MS = 5_000;

export async function serveCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    console.log(
      'usage: patientpulse serve\n\n' +
        'Starts the API server with the configuration from the environment (see .env.example).\n' +
        'SIGTERM or SIGINT stops it gracefully; exit code 0 after a clean stop.',
    );
    return 0;
  }
  if (argv.length > 0) throw new UsageError(`unexpected argument "${argv[0]}"`);
  const config = loadConfig(process.env, { isTty: Boolean(process.stdout.isTTY) });
  const server = await startServer(config);
  // The last line of a run: under `npm start` the exit status is npm's, not the server's.
  // Prepended, so it runs before pino's own exit handler flushes a pretty-printing transport.
  process.prependOnceListener('exit', (exitCode) => server.log.info({ exitCode }, 'process exit'));
  const signal = await shutdownSignal(server);

  server.log.info({ signal }, 'shutting down');
  const watchdog = setTimeout(() => {
    server.log.error('shutdown did not finish in time; exiting');
    process.exit(1);
  }, config.shutdownTimeoutMs + FORCED_EXIT_GRACE_MS);
  watchdog.unref();
  try {
    await server.stop();
    return 0;
  } catch (err) {
    server.log.error({ err }, 'shutdown failed');
    return 1;
  } finally {
    clearTimeout(watchdog);
    // Nothing should keep a stopped server alive; if a stray handle does, still exit.
    setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
  }
}

/**
 * Resolves with the first SIGTERM or SIGINT. The handlers stay installed: Ctrl-C under
 * `npm start` delivers SIGINT more than once (the terminal signals the whole process
 * group and npm and tsx relay it too), and a repeated signal must not cut the drain short.
 */
function shutdownSignal(server: RunningServer): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (first) {
        server.log.info({ signal }, 'already shutting down; signal ignored');
        return;
      }
      first = signal;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
