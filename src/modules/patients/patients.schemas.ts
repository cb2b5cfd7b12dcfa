/** Request and response schemas for /api/v1/patients (snake_case, as the reference). */
import { type Static, Type } from 'typebox';
import { errorResponses, IdParams, Nullable, OneOf, PageQuery } from '../../http/common.schemas.js';

const Gender = Type.String({
  pattern: '^(?:[mM][aA][lL][eE]|[fF][eE][mM][aA][lL][eE]|[oO][tT][hH][eE][rR])$',
  description: 'male, female or other (any letter case; stored in lower case)',
});

export const PatientSchema = Type.Object(
  {
    id: Type.Integer(),
    name: Type.String(),
    dob: Type.String({ format: 'date' }),
    gender: OneOf(['male', 'female', 'other']),
    address: Nullable(Type.String()),
    email: Type.String(),
    phone: Nullable(Type.String()),
  },
  { $id: 'Patient' },
);
export type PatientDto = Static<typeof PatientSchema>;

const Name = Type.String({
  minLength: 1,
  maxLength: 200,
  pattern: '\\S',
  description: 'a name with at least one visible character (surrounding spaces are trimmed)',
});
const Dob = Type.String({
  format: 'calendar-date',
  description: 'YYYY-MM-DD, from 1900-01-01 up to today',
});
const Email = Type.String({ format: 'email', maxLength: 254 });
const Address = Type.Union([Type.String({ maxLength: 500 }), Type.Null()]);
const Phone = Type.Union([
  Type.String({
    maxLength: 40,
    pattern: '^[0-9+()./ x-]*$',
    description: 'a phone number made of digits, spaces and + ( ) . / x -',
  }),
  Type.Null(),
]);

export const CreatePatientBody = Type.Object(
  {
    name: Name,
    dob: Dob,
    gender: Gender,
    email: Email,
    address: Type.Optional(Address),
    phone: Type.Optional(Phone),
  },
  { additionalProperties: false },
);
export type CreatePatientInput = Static<typeof CreatePatientBody>;

export const UpdatePatientBody = Type.Object(
  {
    name: Type.Optional(Name),
    dob: Type.Optional(Dob),
    gender: Type.Optional(Gender),
    email: Type.Optional(Email),
    address: Type.Optional(Address),
    phone: Type.Optional(Phone),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdatePatientInput = Static<typeof UpdatePatientBody>;

export const ListPatientsQuery = Type.Object({
  ...PageQuery,
  size: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  search: Type.Optional(
    Type.String({ minLength: 1, maxLength: 100, description: 'Case-insensitive match on name or email' }),
  ),
});
export type ListPatientsQueryT = Static<typeof ListPatientsQuery>;

export const PatientPage = Type.Object({
  page: Type.Integer(),
  size: Type.Integer(),
  total: Type.Integer(),
  items: Type.Array(PatientSchema),
});

export const listPatientsSchema = {
  tags: ['patients'],
  summary: 'List patients',
  querystring: ListPatientsQuery,
  response: { 200: PatientPage, ...errorResponses },
};
export const getPatientSchema = {
  tags: ['patients'],
  summary: 'Get one patient',
  params: IdParams,
  response: { 200: PatientSchema, ...errorResponses },
};
export const createPatientSchema = {
  tags: ['patients'],
  summary: 'Create a patient',
  body: CreatePatientBody,
  response: { 201: PatientSchema, 409: errorResponses[404], ...errorResponses },
};
export const updatePatientSchema = {
  tags: ['patients'],
  summary: 'Update a patient',
  params: IdParams,
  body: UpdatePatientBody,
  response: { 200: PatientSchema, 409: errorResponses[404], ...errorResponses },
};
export const deletePatientSchema = {
  tags: ['patients'],
  summary: 'Erase a patient with all their readings and analytics',
  params: IdParams,
  response: {
    200: Type.Object({ ok: Type.Boolean(), deleted_id: Type.Integer(), readings_deleted: Type.Integer() }),
    ...errorResponses,
  },
};
