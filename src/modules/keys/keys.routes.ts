/** /api/v1/keys: key management for keys with keys:manage (admins). */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../domain/errors.js';
import { parseTimestamp } from '../../domain/timestamps.js';
import type { RoutePluginOptions } from '../../http/types.js';
import type { KeyCache } from './keys.cache.js';
import type { Role } from './keys.roles.js';
import { createKeySchema, listKeysSchema, revokeKeySchema, toKeyInfoDto } from './keys.schemas.js';
import * as service from './keys.service.js';

export async function keysRoutes(
  app: FastifyInstance,
  { deps, keyCache }: RoutePluginOptions & { keyCache: KeyCache },
): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const svc = { db: deps.database.db, now: deps.now, cache: keyCache };

  r.post('/keys', { schema: createKeySchema, config: { permission: 'keys:manage' } }, async (req, reply) => {
    let expiresAt: Date | null = null;
    if (req.body.expires_at) {
      const ms = parseTimestamp(req.body.expires_at);
      if (ms === undefined) throw new ValidationError([{ field: 'body.expires_at', message: 'must be a date-time' }]);
      expiresAt = new Date(ms);
    }
    const { key, info } = await service.createKey(svc, {
      name: req.body.name,
      role: req.body.role as Role,
      patientIds: req.body.patient_ids ?? null,
      expiresAt,
    });
    req.auditDetail({ key_id: info.id, key_role: info.role });
    return reply.code(201).send({ key, ...toKeyInfoDto(info) });
  });

  r.get('/keys', { schema: listKeysSchema, config: { permission: 'keys:manage' } }, async (req) => {
    const { items, total } = await service.listKeyInfosPage(svc, req.query.page, req.query.size);
    return { page: req.query.page, size: req.query.size, total, items: items.map(toKeyInfoDto) };
  });

  r.delete('/keys/:id', { schema: revokeKeySchema, config: { permission: 'keys:manage' } }, async (req) => {
    req.auditDetail({ key_id: req.params.id });
    return toKeyInfoDto(await service.revokeKeyById(svc, req.params.id));
  });
}
