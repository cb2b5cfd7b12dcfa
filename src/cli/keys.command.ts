/**
 * `patientpulse keys create|list|revoke`: API key management from the command line (for
 * the first keys of an installation, and for recovery). Every change is written to the
 * audit trail like its API counterpart.
 *
 * Exit codes: 0 done, 1 failed (for example an unknown key id), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/config.js';
import type { Database } from '../db/database.js';
import { openMigratedDatabase } from '../db/open.js';
import { AppError, ValidationError } from '../domain/errors.js';
import { parseTimestamp } from '../domain/timestamps.js';
import { insertAuditEvents } from '../modules/audit/audit.repository.js';
import { isRole, ROLES } from '../modules/keys/keys.roles.js';
import { toKeyInfoDto } from '../modules/keys/keys.schemas.js';
import { createKey, type KeyInfo, listKeyInfos, revokeKeyById } from '../modules/keys/keys.service.js';
import { UsageError } from './cli-errors.js';

const USAGE = `usage: patientpulse keys <command>

commands:
  create --role ROLE --name NAME [--patients ID,ID...] [--expires ISO-8601] [--json]
            creates a key and prints its secret (shown only this once)
  list [--json]
            lists keys (never their secrets)
  revoke ID
            revokes a key, with immediate effect on a server using this database
            (other instances within KEY_CACHE_TTL_MS)

roles: ${ROLES.join(', ')}
exit codes: 0 done, 1 failed, 2 usage error`;

/** Where the command writes; replaceable for tests. */
export interface KeysCommandIo {
  env?: Record<string, string | undefined>;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

function describe(k: KeyInfo): string {
  const scope = k.patientIds ? `patients ${k.patientIds.join(',')}` : 'all patients';
  const state = k.revokedAt
    ? `revoked ${k.revokedAt.toISOString()}`
    : k.expiresAt
      ? `expires ${k.expiresAt.toISOString()}`
      : 'active';
  return `${String(k.id).padStart(5)}  pp_${k.prefix}_…  ${k.role.padEnd(9)}  ${scope.padEnd(20)}  ${state.padEnd(34)}  ${k.name}`;
}

function parsePatients(text: string | undefined): number[] | null {
  if (text === undefined) return null;
  const ids = text.split(',').map((s) => s.trim());
  if (ids.some((s) => !/^[1-9]\d{0,9}$/.test(s) || Number(s) > 2147483647)) {
    throw new UsageError('--patients must be a comma-separated list of patient ids');
  }
  return ids.map(Number);
}

function parseExpires(text: string | undefined): Date | null {
  if (text === undefined) return null;
  const ms = parseTimestamp(text);
  if (ms === undefined)
    throw new UsageError('--expires must be an ISO 8601 date-time, for example 2026-01-31T00:00:00Z');
  return new Date(ms);
}

const OPTIONS = {
  role: { type: 'string' },
  name: { type: 'string' },
  patients: { type: 'string' },
  expires: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

function parseKeysArgs(args: string[]) {
  return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
}

async function audit(database: Database, action: string, detail: Record<string, unknown>): Promise<void> {
  await insertAuditEvents(database.db, [
    { action: `cli keys ${action}`, outcome: 'allowed', detail: { via: 'cli', ...detail } },
  ]);
}

/** Runs `keys <args>`; returns the exit code. */
export async function keysCommand(argv: string[], io: KeysCommandIo = {}): Promise<number> {
  const out = io.out ?? ((l: string) => console.log(l));
  const [sub, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    out(USAGE);
    return sub ? 0 : 2;
  }
  let parsed: ReturnType<typeof parseKeysArgs>;
  try {
    parsed = parseKeysArgs(rest);
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(USAGE);
    return 0;
  }

  // Check the arguments fully before opening the database.
  let run: (database: Database) => Promise<number>;
  switch (sub) {
    case 'create': {
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      if (!values.role || !isRole(values.role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
      if (!values.name?.trim()) throw new UsageError('--name is required');
      const input = {
        role: values.role,
        name: values.name,
        patientIds: parsePatients(values.patients),
        expiresAt: parseExpires(values.expires),
      };
      run = async (database) => {
        const { key, info } = await createKey({ db: database.db }, input);
        await audit(database, 'create', { key_id: info.id, key_role: info.role });
        if (values.json) {
          out(JSON.stringify({ key, ...toKeyInfoDto(info) }));
        } else {
          out(
            `Created key ${info.id} (${info.role}, ${info.patientIds ? `patients ${info.patientIds.join(',')}` : 'all patients'}).`,
          );
          out('The secret is shown only this once; store it now:');
          out('');
          out(`  ${key}`);
          out('');
        }
        return 0;
      };
      break;
    }
    case 'list': {
      if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
      run = async (database) => {
        const keys = await listKeyInfos({ db: database.db });
        if (values.json) out(JSON.stringify(keys.map(toKeyInfoDto)));
        else {
          out(
            `${'id'.padStart(5)}  ${'prefix'.padEnd(14)}  ${'role'.padEnd(9)}  ${'scope'.padEnd(20)}  ${'state'.padEnd(34)}  name`,
          );
          for (const k of keys) out(describe(k));
        }
        return 0;
      };
      break;
    }
    case 'revoke': {
      const [id, extra] = positionals;
      if (!id || extra !== undefined || !/^[1-9]\d{0,9}$/.test(id)) throw new UsageError('revoke takes one key id');
      run = async (database) => {
        const info = await revokeKeyById({ db: database.db }, Number(id));
        await audit(database, 'revoke', { key_id: info.id });
        out(values.json ? JSON.stringify(toKeyInfoDto(info)) : `Revoked key ${info.id} (${info.role}, ${info.name}).`);
        return 0;
      };
      break;
    }
    default:
      throw new UsageError(`unknown keys command "${sub}"\n\n${USAGE}`);
  }

  const config = loadConfig(io.env ?? process.env);
  const database = await openMigratedDatabase(config, 'patientpulse-keys');
  try {
    return await run(database);
  } catch (e) {
    if (e instanceof ValidationError) {
      throw new UsageError(
        e.errors?.map((f) => `${f.field.replace(/^body\./, '')}: ${f.message}`).join('; ') ?? e.message,
      );
    }
    if (e instanceof AppError) {
      (io.err ?? ((l: string) => console.error(l)))(`patientpulse keys ${sub}: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    await database.close();
  }
}
