/**
 * The server process: reads configuration, opens the database, starts listening and
 * shuts down gracefully. Everything else lives in app.ts and the modules.
 */
import { ConfigError, loadConfig, loadDotEnv } from './config/config.js';
import { DataDirLockedError } from './db/data-dir-lock.js';
import { startServer } from './startup.js';

async function main(): Promise<void> {
  loadDotEnv();
  const config = loadConfig(process.env, { isTty: Boolean(process.stdout.isTTY) });
  const server = await startServer(config);

  let stopping = false;
  const stop = (signal: string) => {
    // Ctrl-C under `npm start` delivers SIGINT twice; the drain is already under way.
    if (stopping) return;
    stopping = true;
    server.log.info({ signal }, 'shutting down');
    server
      .stop()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError || err instanceof DataDirLockedError) {
    console.error(err.message);
  } else {
    console.error('PatientPulse failed to start:', err);
  }
  process.exit(1);
});
