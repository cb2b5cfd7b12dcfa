/**
 * Statements compiled once instead of on every call. Building SQL with Drizzle walks the
 * query tree on each call (a sizeable share of a short request's CPU); a statement built
 * here is turned into text once, with `sql.placeholder()` values bound per call. On
 * PostgreSQL it runs as a named prepared statement, so each pool connection also parses
 * and plans it once; PGlite runs the same text as an unnamed statement.
 *
 * Names must be unique per statement text: PostgreSQL keeps one statement per name and
 * connection.
 */
import type { SQL } from 'drizzle-orm';
import { PgDialect, type PgPreparedQuery, type PreparedQueryConfig } from 'drizzle-orm/pg-core';
import type { DbOrTx } from './database.js';

const dialect = new PgDialect();

type Session = DbOrTx['_']['session'];

/** A raw statement compiled once; see the module comment. */
export interface RawStatement<P extends Record<string, unknown>> {
  /** Runs the statement with the placeholder values and returns its rows. */
  rows<T = Record<string, unknown>>(db: DbOrTx, values: P): Promise<T[]>;
}

/** Compiles `query` (with `sql.placeholder()` parameters) once, to run as the named statement `name`. */
export function rawStatement<P extends Record<string, unknown>>(name: string, query: SQL): RawStatement<P> {
  const compiled = dialect.sqlToQuery(query);
  const bySession = new WeakMap<Session, PgPreparedQuery<PreparedQueryConfig>>();
  return {
    async rows<T>(db: DbOrTx, values: P): Promise<T[]> {
      const session = db._.session;
      let prepared = bySession.get(session);
      if (!prepared) {
        prepared = session.prepareQuery(compiled, undefined, name, false);
        bySession.set(session, prepared);
      }
      // Without result fields, both drivers return the driver's result, rows included.
      const result = (await prepared.execute(values)) as unknown as { rows: T[] };
      return result.rows;
    },
  };
}

/**
 * One value per database handle (a prepared query-builder statement is bound to the
 * handle it was built on), created on first use.
 */
export function perDatabase<T>(make: (db: DbOrTx) => T): (db: DbOrTx) => T {
  const cache = new WeakMap<DbOrTx, T>();
  return (db) => {
    let value = cache.get(db);
    if (value === undefined) {
      value = make(db);
      cache.set(db, value);
    }
    return value;
  };
}

/**
 * Like {@link perDatabase}, for statements that come in variants (one per combination of
 * optional filters, say): each variant is built on first use and kept per handle.
 */
export function perDatabaseVariant<T>(make: (db: DbOrTx, variant: number) => T): (db: DbOrTx, variant: number) => T {
  const byDb = perDatabase(() => new Map<number, T>());
  return (db, variant) => {
    const built = byDb(db);
    let value = built.get(variant);
    if (value === undefined) {
      value = make(db, variant);
      built.set(variant, value);
    }
    return value;
  };
}
