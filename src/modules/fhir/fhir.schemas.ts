/**
 * Request and response schemas for the /fhir facade. Responses declare the subset of the
 * FHIR R4 resources we produce, closed with additionalProperties: false, so the serializer
 * cannot leak a column that is not mapped.
 */
import { type Static, type TObject, type TProperties, Type } from 'typebox';

const closed = <T extends TProperties>(props: T, opts: { $id?: string; description?: string } = {}): TObject<T> =>
  Type.Object(props, { additionalProperties: false, ...opts });

const Coding = closed({ system: Type.String(), code: Type.String(), display: Type.Optional(Type.String()) });
const CodeableConcept = closed({ coding: Type.Array(Coding), text: Type.Optional(Type.String()) });

/** OperationOutcome: every error on /fhir. */
export const OperationOutcomeSchema = closed(
  {
    resourceType: Type.Literal('OperationOutcome'),
    issue: Type.Array(
      closed({
        severity: Type.Literal('error'),
        code: Type.String(),
        details: closed({ text: Type.String() }),
        diagnostics: Type.String({ description: 'request_id=<id>; code=<PatientPulse error code>' }),
        expression: Type.Optional(Type.Array(Type.String())),
      }),
    ),
  },
  { $id: 'FhirOperationOutcome', description: 'FHIR R4 OperationOutcome' },
);

/** Error responses of the FHIR routes. */
export const fhirErrorResponses = {
  400: OperationOutcomeSchema,
  401: OperationOutcomeSchema,
  403: OperationOutcomeSchema,
  404: OperationOutcomeSchema,
  406: OperationOutcomeSchema,
  429: OperationOutcomeSchema,
  503: OperationOutcomeSchema,
};

export const PatientResource = closed(
  {
    resourceType: Type.Literal('Patient'),
    id: Type.String(),
    identifier: Type.Array(closed({ system: Type.String(), value: Type.String() })),
    name: Type.Array(closed({ text: Type.String() })),
    telecom: Type.Array(closed({ system: Type.String(), value: Type.String() })),
    gender: Type.String(),
    birthDate: Type.String(),
    address: Type.Optional(Type.Array(closed({ text: Type.String() }))),
  },
  { $id: 'FhirPatient', description: 'FHIR R4 Patient' },
);

export const ObservationResource = closed(
  {
    resourceType: Type.Literal('Observation'),
    id: Type.String(),
    status: Type.Literal('final'),
    category: Type.Array(CodeableConcept),
    code: CodeableConcept,
    subject: closed({ reference: Type.String() }),
    effectiveDateTime: Type.String(),
    valueQuantity: closed({ value: Type.Number(), unit: Type.String(), system: Type.String(), code: Type.String() }),
  },
  { $id: 'FhirObservation', description: 'FHIR R4 Observation (one per stored reading)' },
);

function bundleOf(resource: TObject, $id: string) {
  return closed(
    {
      resourceType: Type.Literal('Bundle'),
      type: Type.Literal('searchset'),
      total: Type.Integer(),
      link: Type.Array(closed({ relation: Type.String(), url: Type.String() })),
      entry: Type.Array(closed({ fullUrl: Type.String(), resource, search: closed({ mode: Type.Literal('match') }) })),
    },
    { $id, description: 'FHIR R4 Bundle (searchset)' },
  );
}

const Format = Type.Optional(
  Type.String({ maxLength: 64, description: 'json, application/json or application/fhir+json; others are 406' }),
);
const Page = Type.Integer({
  minimum: 1,
  maximum: 1_000_000,
  default: 1,
  description: '1-based page (from the next link)',
});

export const ResourceIdParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 64, description: 'Logical id' }),
});

export const PatientSearchQuery = Type.Object({
  _id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  identifier: Type.Optional(
    Type.String({ minLength: 1, maxLength: 320, description: 'email, optionally as mailto:|email' }),
  ),
  _count: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  page: Page,
  _format: Format,
});
export type PatientSearchT = Static<typeof PatientSearchQuery>;

export const ObservationSearchQuery = Type.Object({
  patient: Type.String({
    minLength: 1,
    maxLength: 40,
    pattern: '^(Patient/)?[0-9]+$',
    description: 'a reference such as Patient/12 or 12',
  }),
  code: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'http://loinc.org|8480-6 or 8480-6' })),
  date: Type.Optional(
    Type.Array(Type.String({ minLength: 1, maxLength: 40 }), {
      maxItems: 4,
      description: 'eq|gt|ge|lt|le followed by YYYY-MM-DD or a date-time with an offset; repeatable',
    }),
  ),
  _count: Type.Integer({ minimum: 1, maximum: 1000, default: 20 }),
  page: Page,
  _format: Format,
});
export type ObservationSearchT = Static<typeof ObservationSearchQuery>;

export const FormatQuery = Type.Object({ _format: Format });

export const metadataSchema = {
  tags: ['fhir'],
  summary: 'FHIR CapabilityStatement (public)',
  querystring: FormatQuery,
  response: {
    200: Type.Object({ resourceType: Type.Literal('CapabilityStatement') }, { additionalProperties: true }),
    406: OperationOutcomeSchema,
    429: OperationOutcomeSchema,
  },
};

export const readPatientSchema = {
  tags: ['fhir'],
  summary: 'FHIR Patient read',
  params: ResourceIdParams,
  querystring: FormatQuery,
  response: { 200: PatientResource, ...fhirErrorResponses },
};

export const searchPatientsSchema = {
  tags: ['fhir'],
  summary: 'FHIR Patient search (_id, identifier, _count, page)',
  querystring: PatientSearchQuery,
  response: { 200: bundleOf(PatientResource, 'FhirPatientBundle'), ...fhirErrorResponses },
};

export const readObservationSchema = {
  tags: ['fhir'],
  summary: 'FHIR Observation read (one stored reading)',
  params: ResourceIdParams,
  querystring: FormatQuery,
  response: { 200: ObservationResource, ...fhirErrorResponses },
};

export const searchObservationsSchema = {
  tags: ['fhir'],
  summary: "FHIR Observation search: a patient's readings, newest first",
  querystring: ObservationSearchQuery,
  response: { 200: bundleOf(ObservationResource, 'FhirObservationBundle'), ...fhirErrorResponses },
};
