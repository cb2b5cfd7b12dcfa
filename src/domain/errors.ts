/**
 * Domain errors with stable codes. The HTTP layer maps them to RFC 9457 problem details;
 * services and the command line throw them without knowing about HTTP.
 */

/** One invalid input field. `field` is a dotted path such as `body.value` or `query.page`. */
export interface FieldError {
  field: string;
  message: string;
}

/** Base class: a stable machine-readable code, an HTTP status and a safe message. */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly errors?: FieldError[],
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends AppError {
  constructor(what = 'Resource') {
    super('not_found', 404, `${what} not found`);
  }
}

export class ConflictError extends AppError {
  constructor(message: string) {
    super('conflict', 409, message);
  }
}

export class ValidationError extends AppError {
  constructor(errors: FieldError[], message = 'The request is not valid') {
    super('validation_failed', 422, message, errors);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid API key is required') {
    super('unauthorized', 401, message);
  }
}

export class ForbiddenError extends AppError {
  constructor(message = 'This API key is not allowed to do this') {
    super('forbidden', 403, message);
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(message = 'The service is temporarily unavailable; retry shortly') {
    super('unavailable', 503, message);
  }
}
