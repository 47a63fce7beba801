// Subscriptions over graphql-ws: signed in by `connectionParams`, kept signed in by a `ping`
// that carries a fresh token, signed in again after a 4403.

import type { DocumentNode } from 'graphql';
import { createClient, type Client, type ClientOptions } from 'graphql-ws';
import { operationOf, requestBody, type Variables } from './documents.js';
import { toApiErrors, type ApiError, type ErrorCode } from './errors.js';
import type { GraphQLResult } from './http.js';
import type { GetToken } from './token.js';

/** Close code of refused, expired or revoked credentials (README "Subscriptions"). */
const FORBIDDEN = 4403;
const OPEN = 1; // WebSocket.OPEN, the same in browsers and `ws`

export interface SocketOptions {
  wsUrl: string;
  getToken: GetToken;
  /** How often a fresh token is sent in a `ping`: well within Clerk's 60 s token lifetime. */
  tokenRefreshIntervalMs: number;
  webSocketImpl?: unknown;
  retryAttempts?: number;
}

export interface SubscriptionSink<TData> {
  next: (result: GraphQLResult<TData>) => void;
  /**
   * The operation was refused (its errors), or the socket gave up: a close code graphql-ws does
   * not retry, or the retries ran out (one error, with `extensions.closeCode`).
   */
  error?: (errors: ApiError[]) => void;
  complete?: () => void;
}

/** The graphql-ws client of an API client; its socket opens with the first subscription. */
export function createSocket(options: SocketOptions): Client {
  let refresh: ReturnType<typeof setInterval> | undefined;
  let lastCloseCode: number | undefined;
  const client = createClient({
    url: options.wsUrl,
    webSocketImpl: options.webSocketImpl,
    ...(options.retryAttempts === undefined ? {} : { retryAttempts: options.retryAttempts }),
    connectionParams: async () => {
      // After a 4403 the cached token is the one the server just refused.
      const token =
        lastCloseCode === FORBIDDEN
          ? await options.getToken({ skipCache: true })
          : await options.getToken();
      return token ? { Authorization: `Bearer ${token}` } : {};
    },
  } satisfies ClientOptions);
  client.on('connected', (socket) => {
    const ws = socket as { readyState: number; send(data: string): void };
    // graphql-ws's own pings carry no payload: this one carries a fresh token, and the server
    // moves the connection's expiry to that token's `exp` (same user and session only).
    clearInterval(refresh);
    refresh = setInterval(async () => {
      const token = await options.getToken().catch(() => null);
      if (token && ws.readyState === OPEN) {
        ws.send(JSON.stringify({ type: 'ping', payload: { token } }));
      }
    }, options.tokenRefreshIntervalMs);
  });
  client.on('closed', (event) => {
    clearInterval(refresh);
    refresh = undefined;
    lastCloseCode = (event as { code?: number } | undefined)?.code;
  });
  return client;
}

export function subscribeWith<TData>(
  client: Client,
  document: DocumentNode,
  variables: Variables,
  sink: SubscriptionSink<TData>,
): () => void {
  const operation = operationOf(document);
  if (operation.kind !== 'subscription') {
    throw new TypeError(`subscribe() takes a subscription, not a ${operation.kind}`);
  }
  // Always the text: graphql-ws's payload has no room for a hash alone. It is the manifest's
  // text, so a server that runs trusted documents only accepts it.
  const payload = requestBody(operation, variables, false);
  return client.subscribe<TData>(payload, {
    next: (result) =>
      sink.next({
        ...(result.data === undefined ? {} : { data: result.data as TData | null }),
        ...(result.errors === undefined
          ? {}
          : { errors: toApiErrors(result.errors, 'INTERNAL_SERVER_ERROR') }),
      }),
    error: (error) => sink.error?.(failure(error)),
    complete: () => sink.complete?.(),
  });
}

/** What graphql-ws hands its sink's `error`, as `ApiError`s. */
function failure(error: unknown): ApiError[] {
  if (Array.isArray(error)) return toApiErrors(error, 'INTERNAL_SERVER_ERROR');
  const { code, reason } = (error ?? {}) as { code?: unknown; reason?: unknown };
  if (typeof code === 'number') {
    return [
      {
        message: `the socket closed: ${code}${reason ? ` ${String(reason)}` : ''}`,
        extensions: { code: codeForClose(code), closeCode: code },
      },
    ];
  }
  return [
    {
      message: error instanceof Error ? error.message : String(error),
      extensions: { code: 'SERVICE_UNAVAILABLE' },
    },
  ];
}

/** The close codes of README "Subscriptions", as error codes. */
function codeForClose(code: number): ErrorCode {
  if (code === FORBIDDEN) return 'UNAUTHENTICATED';
  if ([4400, 4401, 4409, 4429, 1009].includes(code)) return 'BAD_REQUEST';
  return 'SERVICE_UNAVAILABLE';
}
