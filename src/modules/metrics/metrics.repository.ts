/** Database reads behind scrape-time gauges. */
import { count } from 'drizzle-orm';
import type { DbOrTx } from '../../db/database.js';
import { biometricsHourly } from '../../db/schema.js';

/** Rows waiting in the change buffer for the incremental analytics engine. */
export async function countBufferRows(db: DbOrTx): Promise<number> {
  const [row] = await db.select({ n: count() }).from(biometricsHourly);
  return Number(row?.n ?? 0);
}
