/**
 * /fhir: a read-only HL7 FHIR R4 facade over patients and readings. Registered as its own
 * encapsulated plugin, so its hooks (content negotiation, problem details rewritten as
 * OperationOutcome) apply to the /fhir routes only and /api/v1 keeps problem+json.
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendProblem } from '../../http/plugins/problem.js';
import { principalOf, type RoutePluginOptions } from '../../http/types.js';
import { APP_VERSION } from '../../version.js';
import { FHIR_CONTENT_TYPE, type ProblemLike, toOperationOutcome } from './fhir.mapping.js';
import {
  metadataSchema,
  readObservationSchema,
  readPatientSchema,
  searchObservationsSchema,
  searchPatientsSchema,
} from './fhir.schemas.js';
import * as service from './fhir.service.js';

/** Media types a FHIR JSON client may ask for (application/json+fhir is the DSTU2 name). */
const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json+fhir', 'json']);

/** True when an Accept header admits FHIR JSON (absent, a JSON type, application/* or any). */
export function acceptsFhirJson(accept: string | undefined): boolean {
  if (!accept || accept.trim() === '') return true;
  return accept.split(',').some((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (params.some((p) => /^q=0(?:\.0*)?$/.test(p))) return false;
    return type === '*/*' || type === 'application/*' || JSON_TYPES.has(type ?? '');
  });
}

function isProblem(payload: unknown): payload is ProblemLike {
  const p = payload as Partial<ProblemLike> | null;
  return !!p && typeof p === 'object' && typeof p.status === 'number' && typeof p.request_id === 'string';
}

/**
 * Problem details become OperationOutcome here, whoever sent them (the auth hook, the
 * error handler, the not-found handler). Validation failures are 400, as FHIR servers
 * answer a bad search; every other status is kept.
 */
function rewriteProblem(reply: FastifyReply, problem: ProblemLike) {
  if (problem.code === 'validation_failed') reply.code(400);
  reply.type(FHIR_CONTENT_TYPE);
  return toOperationOutcome(problem);
}

/** Bundle links and fullUrls are absolute, on the address the client used. */
function baseUrl(req: FastifyRequest): string {
  return `${req.protocol}://${req.host}/fhir`;
}

function searchset<R extends { resourceType: string; id: string }>(
  req: FastifyRequest,
  type: string,
  params: Record<string, string | number | string[] | undefined>,
  page: { total: number; resources: R[]; hasNext: boolean },
  pageNo: number,
) {
  const base = baseUrl(req);
  const link = (p: number) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined) continue;
      for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
    }
    q.set('page', String(p));
    return `${base}/${type}?${q.toString()}`;
  };
  return {
    resourceType: 'Bundle' as const,
    type: 'searchset' as const,
    total: page.total,
    link: [
      { relation: 'self', url: link(pageNo) },
      ...(page.hasNext ? [{ relation: 'next', url: link(pageNo + 1) }] : []),
      ...(pageNo > 1 ? [{ relation: 'previous', url: link(pageNo - 1) }] : []),
    ],
    entry: page.resources.map((resource) => ({
      fullUrl: `${base}/${resource.resourceType}/${resource.id}`,
      resource,
      search: { mode: 'match' as const },
    })),
  };
}

/** Registers the /fhir routes; register with `{ prefix: '/fhir' }` and without fastify-plugin. */
export async function fhirRoutes(app: FastifyInstance, { deps }: RoutePluginOptions): Promise<void> {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const svc = { db: deps.database.db, now: deps.now, log: deps.log };

  // After the auth hook (parent hooks run first): a caller without a key learns 401 before 406.
  app.addHook('onRequest', async (req, reply) => {
    const format = (req.query as Record<string, unknown> | undefined)?._format;
    const formatOk = format === undefined || (typeof format === 'string' && JSON_TYPES.has(format.toLowerCase()));
    if (!formatOk || !acceptsFhirJson(req.headers.accept)) {
      return sendProblem(req, reply, 406, 'not_acceptable', 'Only FHIR JSON (application/fhir+json) is served');
    }
  });
  // Problem objects (auth refusals, errors, 404s) are rewritten before serialization, so
  // the declared OperationOutcome schema serializes them.
  app.addHook('preSerialization', async (_req, reply, payload) =>
    isProblem(payload) ? rewriteProblem(reply, payload) : payload,
  );
  // The audit plugin's fallback (an event that could not be stored) sends a problem as text.
  app.addHook('onSend', async (_req, reply, payload) => {
    const type = String(reply.getHeader('content-type') ?? '');
    if (typeof payload !== 'string' || !type.startsWith('application/problem+json')) return payload;
    return JSON.stringify(rewriteProblem(reply, JSON.parse(payload) as ProblemLike));
  });
  // The facade is read-only: other methods on /fhir are 405, unknown resources 404.
  app.setNotFoundHandler((req, reply) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply.header('allow', 'GET, HEAD');
      return sendProblem(req, reply, 405, 'method_not_allowed', 'The FHIR interface is read-only');
    }
    return sendProblem(req, reply, 404, 'not_found', 'No FHIR resource type or interaction matches this path');
  });

  r.get('/metadata', { schema: metadataSchema }, async (_req, reply) => {
    reply.type(FHIR_CONTENT_TYPE);
    return service.capabilityStatement(deps.now().toISOString(), APP_VERSION);
  });

  r.get(
    '/Patient/:id',
    { schema: readPatientSchema, config: { permission: 'patients:read', patientParam: 'id' } },
    async (req, reply) => {
      // A non-numeric id is dropped by the audit plugin's id check.
      req.auditPatients([Number(req.params.id)]);
      const patient = await service.readPatient(svc, principalOf(req).patientIds, req.params.id);
      return reply.type(FHIR_CONTENT_TYPE).send(patient);
    },
  );

  r.get('/Patient', { schema: searchPatientsSchema, config: { permission: 'patients:read' } }, async (req, reply) => {
    const q = req.query;
    const page = await service.searchPatients(svc, principalOf(req).patientIds, q);
    req.auditPatients(page.resources.map((p) => Number(p.id)));
    const params = { _id: q._id, identifier: q.identifier, _count: q._count };
    return reply.type(FHIR_CONTENT_TYPE).send(searchset(req, 'Patient', params, page, q.page));
  });

  r.get(
    '/Observation/:id',
    { schema: readObservationSchema, config: { permission: 'readings:read' } },
    async (req, reply) => {
      req.auditRecords([Number(req.params.id)]);
      const obs = await service.readObservation(svc, principalOf(req).patientIds, req.params.id);
      req.auditPatients([Number(obs.subject.reference.slice('Patient/'.length))]);
      return reply.type(FHIR_CONTENT_TYPE).send(obs);
    },
  );

  r.get(
    '/Observation',
    { schema: searchObservationsSchema, config: { permission: 'readings:read', patientQuery: 'patient' } },
    async (req, reply) => {
      const q = req.query;
      const patientId = service.patientOfReference(q.patient);
      if (patientId !== undefined) req.auditPatients([patientId]);
      const page = await service.searchObservations(svc, principalOf(req).patientIds, q);
      req.auditRecords(page.resources.map((o) => Number(o.id)));
      const params = { patient: q.patient, code: q.code, date: q.date, _count: q._count };
      return reply.type(FHIR_CONTENT_TYPE).send(searchset(req, 'Observation', params, page, q.page));
    },
  );
}
