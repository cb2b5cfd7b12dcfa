/** Assertions for RFC 9457 problem responses. */
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/**
 * Asserts the status, the problem+json content type and the whole problem body; the
 * request id must be the one in the X-Request-Id response header.
 */
export function expectProblem(
  res: LightMyRequestResponse,
  expected: {
    status: number;
    code: string;
    detail: string;
    instance: string;
    errors?: { field: string; message: string }[];
  },
): void {
  expect({ status: res.statusCode, body: res.json() }).toEqual({
    status: expected.status,
    body: {
      type: `https://patientpulse.dev/problems/${expected.code.replaceAll('_', '-')}`,
      title: TITLES[expected.status],
      status: expected.status,
      detail: expected.detail,
      code: expected.code,
      instance: expected.instance,
      request_id: res.headers['x-request-id'],
      ...(expected.errors ? { errors: expected.errors } : {}),
    },
  });
  expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  expect(typeof res.headers['x-request-id']).toBe('string');
}

/** A 422 validation problem with exactly these field errors. */
export function expectValidation(
  res: LightMyRequestResponse,
  instance: string,
  errors: { field: string; message: string }[],
): void {
  expectProblem(res, { status: 422, code: 'validation_failed', detail: 'The request is not valid', instance, errors });
}
