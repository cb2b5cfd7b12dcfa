/**
 * The server process (`npm start`, `node dist/server.js`): exactly `patientpulse serve`,
 * with the same configuration, signal handling and exit codes.
 */
process.argv.splice(2, 0, 'serve');
await import('./cli.js');
