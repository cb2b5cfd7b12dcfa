/**
 * The COPY baseline on the embedded database, as a child process so its time and memory
 * are measured like the loader's: `COPY <table>(...) FROM '/dev/blob'` of a CSV file.
 *
 * usage: node --import tsx bench/lib/pglite-copy.ts <pgdata dir> <table> <csv file>
 */
import { openAsBlob } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';

async function main(): Promise<void> {
  const [dir, table, file] = process.argv.slice(2);
  if (!dir || !table || !file || !/^[a-z_][a-z0-9_]*$/.test(table)) {
    throw new Error('usage: pglite-copy.ts <pgdata dir> <table> <csv file>');
  }
  const db = await PGlite.create({ dataDir: dir });
  try {
    const blob = await openAsBlob(file);
    await db.query(`copy ${table} (patient_id, type, value, unit, timestamp) from '/dev/blob' with (format csv)`, [], {
      blob,
    });
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
