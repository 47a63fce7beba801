// Queries and mutations over HTTP: the token, one refresh when it expired, one wait when the
// server asks for it.

import type { DocumentNode } from 'graphql';
import { operationOf, requestBody, type Variables } from './documents.js';
import { codeForStatus, toApiErrors, type ApiError } from './errors.js';
import { retryAfterMs, sleep } from './retry-after.js';
import type { GetToken } from './token.js';

/** A GraphQL result, its errors typed by code. */
export interface GraphQLResult<TData> {
  data?: TData | null;
  errors?: ApiError[];
}

export interface ApiResult<TData> extends GraphQLResult<TData> {
  /** The HTTP status of the last attempt. */
  status: number;
  /** The `Retry-After` of a 429 or 503 (seconds) the client did not wait for. */
  retryAfter?: number;
}

export interface HttpOptions {
  url: string;
  getToken: GetToken;
  persisted: boolean;
  fetch: typeof fetch;
  maxRetryAfterMs: number;
}

export function createExecutor(options: HttpOptions) {
  const post = async (body: string, token: string | null) => {
    const response = await options.fetch(options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json',
        // Signed out is no header at all, never `Bearer null`.
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body,
    });
    return { response, result: await readResult<unknown>(response) };
  };

  return async function execute<TData>(
    document: DocumentNode,
    variables: Variables,
  ): Promise<ApiResult<TData>> {
    const operation = operationOf(document);
    if (operation.kind === 'subscription') {
      throw new TypeError('subscriptions go over the WebSocket: use subscribe()');
    }
    const body = JSON.stringify(requestBody(operation, variables, options.persisted));
    let token = await options.getToken();
    let refreshed = false;
    let waited = false;
    for (;;) {
      const { response, result } = await post(body, token);
      if (
        response.status === 401 &&
        token &&
        !refreshed &&
        result.errors?.[0]?.extensions.reason === 'token_expired'
      ) {
        // Clerk's cached token outlived its minute (a sleeping tab, a slow clock): ask Clerk for
        // a new one, once. A 401 is a request refused before it ran, so a mutation may go again.
        refreshed = true;
        token = await options.getToken({ skipCache: true });
        if (token) continue;
      }
      if (response.status === 429 || response.status === 503) {
        const wait = retryAfterMs(response.headers.get('retry-after'));
        // Only queries: a 503 can be a mutation that timed out after it wrote. And never longer
        // than the bound: the caller hears about a long wait instead of hanging on it.
        if (
          operation.kind === 'query' &&
          !waited &&
          wait !== undefined &&
          wait <= options.maxRetryAfterMs
        ) {
          waited = true;
          await sleep(wait);
          token = await options.getToken();
          continue;
        }
        return {
          ...(result as GraphQLResult<TData>),
          status: response.status,
          ...(wait === undefined ? {} : { retryAfter: Math.ceil(wait / 1000) }),
        };
      }
      return { ...(result as GraphQLResult<TData>), status: response.status };
    }
  };
}

/**
 * The GraphQL response in a body, whatever the status (this server answers every refusal in
 * GraphQL's shape); a body that is not one becomes one error coded after the status.
 */
async function readResult<TData>(response: Response): Promise<GraphQLResult<TData>> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const fallback = codeForStatus(response.status);
  if (typeof body === 'object' && body !== null && ('data' in body || 'errors' in body)) {
    const { data, errors } = body as { data?: TData | null; errors?: unknown };
    return {
      ...(data === undefined ? {} : { data }),
      ...(errors === undefined ? {} : { errors: toApiErrors(errors, fallback) }),
    };
  }
  return {
    errors: [
      {
        message: `HTTP ${response.status}: not a GraphQL response`,
        extensions: { code: fallback, status: response.status },
      },
    ],
  };
}
