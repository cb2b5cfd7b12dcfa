/** `patientpulse serve`: the API server, as `npm start` runs it. */
import { loadConfig } from '../config/config.js';
import { startServer } from '../startup.js';
import { UsageError } from './cli-errors.js';

export async function serveCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    console.log(
      'usage: patientpulse serve\n\nStarts the API server with the configuration from the environment (see .env.example).',
    );
    return 0;
  }
  if (argv.length > 0) throw new UsageError(`unexpected argument "${argv[0]}"`);
  const server = await startServer(loadConfig(process.env, { isTty: Boolean(process.stdout.isTTY) }));
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      server.stop().then(resolve, resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  return 0;
}
