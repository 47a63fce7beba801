// `createApiClient`: the one object an app needs to talk to the API.

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { Client } from 'graphql-ws';
import { createExecutor, type ApiResult } from './http.js';
import { createSocket, subscribeWith, type SubscriptionSink } from './subscriptions.js';
import type { GetToken } from './token.js';

export interface ApiClientOptions {
  /** The GraphQL endpoint, e.g. `https://api.example.com/graphql`. */
  url: string;
  /** The WebSocket endpoint, e.g. `wss://api.example.com/graphql/ws`; needed for subscriptions. */
  wsUrl?: string;
  /** Clerk's `getToken`. */
  getToken: GetToken;
  /**
   * Send operations by their sha256 hash only (`extensions.persistedQuery`), not their text: for
   * a server that knows the persisted-documents manifest. Default false.
   */
  persisted?: boolean;
  /** At most this long a query waits for `Retry-After` before its one retry. Default 10 s. */
  maxRetryAfterMs?: number;
  /** How often a socket sends a fresh token. Default 30 s (Clerk's tokens live 60 s). */
  tokenRefreshIntervalMs?: number;
  /** Default: the global `fetch`. */
  fetch?: typeof fetch;
  /** Default: the global `WebSocket` (browsers, Node 22+); on Node 20 pass the `ws` package's. */
  webSocketImpl?: unknown;
  /** How often graphql-ws reconnects before it gives up. Default 5 (graphql-ws's). */
  retryAttempts?: number;
}

/** Variables are optional exactly when the operation has no required one. */
type VariablesArgument<TVariables> = {} extends TVariables
  ? [variables?: TVariables]
  : [variables: TVariables];

type SubscribeOptions<TData, TVariables> = SubscriptionSink<TData> &
  ({} extends TVariables ? { variables?: TVariables } : { variables: TVariables });

export interface ApiClient {
  /** Runs a query or mutation; GraphQL errors come back in `errors`, never thrown. */
  execute<TData, TVariables extends Record<string, unknown>>(
    document: TypedDocumentNode<TData, TVariables>,
    ...variables: VariablesArgument<TVariables>
  ): Promise<ApiResult<TData>>;
  /** Starts a subscription; the returned function ends it. */
  subscribe<TData, TVariables extends Record<string, unknown>>(
    document: TypedDocumentNode<TData, TVariables>,
    options: SubscribeOptions<TData, TVariables>,
  ): () => void;
  /**
   * The graphql-ws client, e.g. `ws.on('closed', …)` to show "reconnecting"; null without
   * `wsUrl`.
   */
  readonly ws: Client | null;
  /** Closes the socket. */
  dispose(): Promise<void>;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const execute = createExecutor({
    url: options.url,
    getToken: options.getToken,
    persisted: options.persisted ?? false,
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    maxRetryAfterMs: options.maxRetryAfterMs ?? 10_000,
  });
  const ws =
    options.wsUrl === undefined
      ? null
      : createSocket({
          wsUrl: options.wsUrl,
          getToken: options.getToken,
          tokenRefreshIntervalMs: options.tokenRefreshIntervalMs ?? 30_000,
          webSocketImpl: options.webSocketImpl,
          retryAttempts: options.retryAttempts,
        });
  return {
    execute: (document, ...[variables]) => execute(document, variables),
    subscribe(document, { variables, ...sink }) {
      if (ws === null) throw new TypeError('subscriptions need the wsUrl option');
      return subscribeWith(ws, document, variables, sink);
    },
    ws,
    dispose: async () => {
      await ws?.dispose();
    },
  };
}
