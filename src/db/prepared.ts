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
import { entityKind, fillPlaceholders, type SQL, type SQLWrapper } from 'drizzle-orm';
import { PgDialect, type PgPreparedQuery, type PreparedQueryConfig, QueryBuilder } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import type { DbOrTx } from './database.js';

const dialect = new PgDialect();

/**
 * A query builder without a database handle, for statements given to {@link rawStatement}:
 * they are written with Drizzle and compiled once, for every handle.
 */
export const qb = new QueryBuilder();

type Session = DbOrTx['_']['session'];

/** A raw statement compiled once; see the module comment. */
export interface RawStatement<P extends Record<string, unknown>> {
  /**
   * Runs the statement with the placeholder values and returns its rows, keyed by column
   * name. Dates, timestamps and intervals come back as PostgreSQL's text, as Drizzle
   * returns them to its own mappers, on both drivers.
   */
  rows<T = Record<string, unknown>>(db: DbOrTx, values: P): Promise<T[]>;
}

/** Types Drizzle's node-postgres session leaves as text: date, time and interval types and their arrays. */
const TEXT_TYPE_OIDS = new Set([1082, 1114, 1184, 1186, 1182, 1115, 1185, 1187, 1231]);
const asText = (value: string) => value;

/** The node-postgres pool (or transaction client) behind a Drizzle session, when it is one. */
function nodePgClient(session: Session): pg.Pool | pg.PoolClient | undefined {
  const ctor = session.constructor as unknown as Record<symbol, unknown>;
  return ctor[entityKind] === 'NodePgSession'
    ? (session as unknown as { client: pg.Pool | pg.PoolClient }).client
    : undefined;
}

/**
 * Compiles `query` (with `sql.placeholder()` parameters; a query builder works too) once,
 * to run as the named statement `name`. On node-postgres it goes to the driver directly:
 * Drizzle's prepared-query path adds a chain of promises and closures per call, which
 * measured as much CPU as a short statement's own driver work (docs/DESIGN.md, "HTTP
 * request cost"). PGlite runs it through Drizzle's session.
 */
export function rawStatement<P extends Record<string, unknown>>(
  name: string,
  query: SQL | SQLWrapper,
): RawStatement<P> {
  const compiled = dialect.sqlToQuery(query.getSQL());
  const bySession = new WeakMap<Session, PgPreparedQuery<PreparedQueryConfig>>();
  let types: pg.CustomTypesConfig | undefined;
  return {
    async rows<T>(db: DbOrTx, values: P): Promise<T[]> {
      const session = db._.session;
      const client = nodePgClient(session);
      if (client) {
        types ??= textTypes(await import('pg'));
        const params = fillPlaceholders(compiled.params, values);
        const result = await client.query({ name, text: compiled.sql, values: params, types });
        return result.rows as T[];
      }
      let prepared = bySession.get(session);
      if (!prepared) {
        prepared = session.prepareQuery(compiled, undefined, name, false);
        bySession.set(session, prepared);
      }
      // Without result fields, the driver's result comes back, rows included.
      const result = (await prepared.execute(values)) as unknown as { rows: T[] };
      return result.rows;
    },
  };
}

function textTypes(pgLib: { default: typeof pg }): pg.CustomTypesConfig {
  const builtin = pgLib.default.types;
  return {
    getTypeParser: ((oid: number, format?: string) =>
      TEXT_TYPE_OIDS.has(oid)
        ? asText
        : builtin.getTypeParser(oid, format as 'text')) as pg.CustomTypesConfig['getTypeParser'],
  };
}

/**
 * One value per variant of a statement (one per combination of optional filters, say),
 * built on first use and kept.
 */
export function perVariant<T>(make: (variant: number) => T): (variant: number) => T {
  const built = new Map<number, T>();
  return (variant) => {
    let value = built.get(variant);
    if (value === undefined) {
      value = make(variant);
      built.set(variant, value);
    }
    return value;
  };
}
