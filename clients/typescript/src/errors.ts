// The errors a client of this API meets, typed by `extensions.code`.

/**
 * Every `extensions.code` the server sends (ARCHITECTURE.md §6; a unit test keeps this list and
 * that table the same).
 */
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BAD_USER_INPUT',
  'NOT_FOUND',
  'BAD_REQUEST',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_IN_LIST',
  'PERSISTED_QUERY_HASH_MISMATCH',
  'RATE_LIMITED',
  'SERVICE_UNAVAILABLE',
  'INTERNAL_SERVER_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** A GraphQL error of this API: every one carries a code. */
export interface ApiError {
  message: string;
  locations?: ReadonlyArray<{ line: number; column: number }>;
  path?: ReadonlyArray<string | number>;
  extensions: {
    code: ErrorCode;
    /** Why a request was refused: the 401 reasons (`token_expired`, …), the 429 limits, … */
    reason?: string;
    /** The argument (`argument`) or input field (`field`) of a `BAD_USER_INPUT`. */
    argument?: string;
    field?: string;
    [key: string]: unknown;
  };
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return (ERROR_CODES as readonly unknown[]).includes(value);
}

/**
 * The server's errors as `ApiError`s. An error without a known code (which this server does not
 * send, but a proxy or a newer server might) is kept, coded `fallback`, with the code it had as
 * `extensions.unknownCode`: a caller's `switch` on the code stays exhaustive.
 */
export function toApiErrors(errors: unknown, fallback: ErrorCode): ApiError[] {
  if (!Array.isArray(errors)) return [];
  return errors.map((error) => {
    const { message, locations, path, extensions } = (error ?? {}) as Record<string, unknown>;
    const given = (extensions ?? {}) as Record<string, unknown>;
    const code = isErrorCode(given.code) ? given.code : fallback;
    return {
      message: typeof message === 'string' ? message : 'Unknown error.',
      ...(Array.isArray(locations) ? { locations } : {}),
      ...(Array.isArray(path) ? { path } : {}),
      extensions: {
        ...given,
        code,
        ...(given.code !== undefined && given.code !== code ? { unknownCode: given.code } : {}),
      },
    };
  });
}

/** The code of an answer that is not GraphQL at all (e.g. a proxy's 502 page). */
export function codeForStatus(status: number): ErrorCode {
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 429) return 'RATE_LIMITED';
  if (status === 502 || status === 503 || status === 504) return 'SERVICE_UNAVAILABLE';
  if (status >= 400 && status < 500) return 'BAD_REQUEST';
  return 'INTERNAL_SERVER_ERROR';
}
