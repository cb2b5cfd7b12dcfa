/**
 * Rejects text PostgreSQL cannot store faithfully before it reaches validation or SQL:
 * NUL characters (PostgreSQL refuses them in text, which would surface as a 500) and
 * unpaired UTF-16 surrogates (silently turned into U+FFFD on the way to UTF-8). Applies to
 * JSON bodies, text bodies, query strings and path parameters, with a 422 naming the field.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ValidationError } from '../../domain/errors.js';

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what is looked for
const BAD_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isWalkable(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  // Raw bodies (buffers, streams) are not text here and are not walked.
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer || typeof (v as { pipe?: unknown }).pipe === 'function') {
    return false;
  }
  return !(v instanceof Date);
}

/** The dotted path of the first string (value or property name) that cannot be stored. */
export function findUnstorableText(root: unknown, rootPath: string): string | undefined {
  // Iterative walk: a deeply nested body must not exhaust the stack.
  const stack: [unknown, string][] = [[root, rootPath]];
  while (stack.length > 0) {
    const [value, path] = stack.pop() as [unknown, string];
    if (typeof value === 'string') {
      if (BAD_TEXT.test(value)) return path;
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], `${path}.${i}`]);
    } else if (isWalkable(value)) {
      // Pushed in reverse so the first offending field in document order is reported.
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, v] = entries[i] as [string, unknown];
        const p = `${path}.${BAD_TEXT.test(k) ? '?' : k}`;
        if (BAD_TEXT.test(k)) return p;
        stack.push([v, p]);
      }
    }
  }
  return undefined;
}

async function inputGuardPlugin(app: FastifyInstance): Promise<void> {
  app.addHook('preValidation', async (request) => {
    const field =
      findUnstorableText(request.params, 'path') ??
      findUnstorableText(request.query, 'query') ??
      findUnstorableText(request.body, 'body');
    if (field) {
      throw new ValidationError([
        { field, message: 'must not contain NUL characters or unpaired surrogate code units' },
      ]);
    }
  });
}

export default fp(inputGuardPlugin, { name: 'input-guard' });
