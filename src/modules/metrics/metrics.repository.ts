/** Database reads behind scrape-time gauges. */
import { sql } from 'drizzle-orm';
import { type DbOrTx, queryRows } from '../../db/database.js';

/**
 * Counting stops here: every instance runs this on every scrape, and a buffer that large
 * already says the incremental job is not keeping up.
 */
export const BUFFER_COUNT_CAP = 1_000_000;

/** Rows waiting in the change buffer for the incremental analytics engine (at most the cap). */
export async function countBufferRows(db: DbOrTx): Promise<number> {
  const [row] = await queryRows<{ n: number }>(
    db,
    sql`select count(*) as n from (select 1 from biometrics_hourly limit ${BUFFER_COUNT_CAP}) as buffered`,
  );
  return Number(row?.n ?? 0);
}
