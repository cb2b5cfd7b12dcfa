/** /api/v1/me: the caller's own role, permissions and patient scope. */
import type { FastifyInstance } from 'fastify';
import { principalOf, type RoutePluginOptions } from '../../http/types.js';
import { PERMISSIONS, roleHas } from '../keys/keys.roles.js';
import { type MeResponseDto, meSchema } from './me.schemas.js';

export async function meRoutes(app: FastifyInstance, _opts: RoutePluginOptions): Promise<void> {
  // Any key that can see patients may ask; device and metrics keys get 403, which tells a
  // viewer client that this key is not meant for it.
  app.get('/me', { schema: meSchema, config: { permission: 'patients:read' } }, async (req): Promise<MeResponseDto> => {
    const p = principalOf(req);
    return {
      key_id: p.keyId,
      role: p.role,
      permissions: PERMISSIONS.filter((perm) => roleHas(p.role, perm)),
      patient_ids: p.patientIds,
    };
  });
}
