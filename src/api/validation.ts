/**
 * Bounds on the API's numeric parameters and the words for a request that breaks them. Fastify's
 * validator (Ajv) coerces query and path strings to numbers and turns `1e309` into Infinity,
 * which passes `type: 'integer'`, `minimum` and `maximum` alike (Ajv checks those only on finite
 * numbers) and then reaches the database; the `x-finite` keyword refuses it.
 */
import type { FastifyError } from 'fastify';

/** The largest id, offset or count the API accepts (SQLite's and PostgreSQL's 32-bit integer). */
export const MAX_INT = 2 ** 31 - 1;

/**
 * A whole number from `minimum` to `maximum`, for a query or path parameter.
 * @example
 * wholeNumber(1) // => { type: 'integer', minimum: 1, maximum: 2147483647, 'x-finite': true }
 */
export function wholeNumber(minimum: number, maximum = MAX_INT, extra: { default?: number } = {}) {
  return { type: 'integer', minimum, maximum, 'x-finite': true, ...extra } as const;
}

/** An Ajv plugin adding `x-finite`: the value, after coercion, must be a finite number. */
export function finiteKeyword<A extends { addKeyword(def: { keyword: string; schemaType: 'boolean'; errors: false; validate: (on: boolean, data: unknown) => boolean }): A }>(ajv: A): A {
  return ajv.addKeyword({
    keyword: 'x-finite',
    schemaType: 'boolean',
    errors: false,
    validate: (on: boolean, data: unknown) => !on || typeof data !== 'number' || Number.isFinite(data),
  });
}

type AjvError = { instancePath?: string; keyword: string; params?: Record<string, unknown>; message?: string };

/**
 * One line in words for a request that failed validation: which parameter and what it must be.
 * @example
 * validationWords([{ instancePath: '/offset', keyword: 'maximum', params: { limit: 2147483647 } }], 'querystring')
 * // => 'offset must be at most 2147483647'
 */
export function validationWords(errors: readonly AjvError[], context: string): string {
  const e = errors[0];
  if (e === undefined) return 'the request is not valid';
  const field = (e.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.') || (context === 'body' ? 'the body' : context);
  const p = e.params ?? {};
  switch (e.keyword) {
    case 'maximum':
      return `${field} must be at most ${String(p.limit)}`;
    case 'minimum':
      return `${field} must be at least ${String(p.limit)}`;
    case 'type':
      return p.type === 'integer' ? `${field} must be a whole number` : `${field} must be of type ${String(p.type)}`;
    case 'x-finite':
      return `${field} must be a whole number`;
    case 'enum':
      return `${field} must be one of ${(p.allowedValues as unknown[] | undefined)?.map(String).join(', ') ?? '?'}`;
    case 'required':
      return `${context === 'body' ? 'the body' : context} needs ${String(p.missingProperty)}`;
    case 'maxLength':
      return `${field} must be at most ${String(p.limit)} characters`;
    default:
      return `${field} ${e.message ?? 'is not valid'}`;
  }
}

/** True for the error Fastify raises when a request fails its schema. */
export function isValidationError(err: unknown): err is FastifyError & { validation: AjvError[]; validationContext: string } {
  return typeof err === 'object' && err !== null && Array.isArray((err as { validation?: unknown }).validation);
}
