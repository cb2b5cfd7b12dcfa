/** Opens the configured database and applies pending migrations: every entry point's first step. */
import type { Config } from '../config/config.js';
import { type Database, openDatabase } from './database.js';
import { runMigrations } from './migrate.js';

export async function openMigratedDatabase(config: Config, applicationName: string): Promise<Database> {
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolMax: config.dbPoolMax,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    connectTimeoutMs: config.dbConnectTimeoutMs,
    applicationName,
  });
  try {
    await runMigrations(database);
  } catch (err) {
    await database.close();
    throw err;
  }
  return database;
}
