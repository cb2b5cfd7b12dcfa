/** /api/v1/patients routes: thin adapters from HTTP to the patient service. */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import { ForbiddenError } from '../../domain/errors.js';
import { principalOf, type RoutePluginOptions } from '../../http/types.js';
import {
  createPatientSchema,
  deletePatientSchema,
  getPatientSchema,
  listPatientsSchema,
  updatePatientSchema,
} from './patients.schemas.js';
import * as service from './patients.service.js';

export async function patientsRoutes(app: FastifyInstance, { deps }: RoutePluginOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const svc = { db: deps.database.db, now: deps.now };

  r.get('/patients', { schema: listPatientsSchema, config: { permission: 'patients:read' } }, async (req) => {
    const result = await service.listPatients(svc, principalOf(req).patientIds, req.query);
    req.auditPatients(result.items.map((p) => p.id));
    return result;
  });

  r.get(
    '/patients/:id',
    { schema: getPatientSchema, config: { permission: 'patients:read', patientParam: 'id' } },
    async (req) => {
      req.auditPatients([req.params.id]);
      return service.getPatient(svc, principalOf(req).patientIds, req.params.id);
    },
  );

  r.post('/patients', { schema: createPatientSchema, config: { permission: 'patients:write' } }, async (req, reply) => {
    if (principalOf(req).patientIds !== null) {
      // A key limited to some patients cannot create new ones outside its scope.
      throw new ForbiddenError('A key limited to some patients cannot create patients');
    }
    const created = await service.createPatient(svc, req.body);
    req.auditPatients([created.id]);
    return reply.code(201).send(created);
  });

  r.patch(
    '/patients/:id',
    { schema: updatePatientSchema, config: { permission: 'patients:write', patientParam: 'id' } },
    async (req) => {
      req.auditPatients([req.params.id]);
      return service.updatePatient(svc, principalOf(req).patientIds, req.params.id, req.body);
    },
  );

  r.delete(
    '/patients/:id',
    { schema: deletePatientSchema, config: { permission: 'patients:write', patientParam: 'id' } },
    async (req) => {
      req.auditPatients([req.params.id]);
      return service.erasePatient(svc, principalOf(req).patientIds, req.params.id);
    },
  );
}
