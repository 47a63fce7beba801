// What the tests share: the dev-mode servers scripts/clients started, tokens minted by the
// server binary (`clerk-graphql dev-token`), a stand-in for Clerk's getToken, a recording fetch.

import { execFileSync } from 'node:child_process';
import WebSocket from 'ws';
import { createApiClient, type ApiClientOptions, type GetToken } from '../src/index.js';

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through scripts/clients`);
  return value;
}

/** The dev-mode server (CLERK_CLOCK_SKEW_SECS=0: a token expires when it says). */
export const server = {
  url: () => env('GRAPHQL_URL'),
  wsUrl: () => env('GRAPHQL_WS_URL'),
  /** The same, with RATE_LIMIT_USER_PER_MINUTE=30: 30 at once, then one every 2 s. */
  limitedUrl: () => env('LIMITED_GRAPHQL_URL'),
  /** The same, enforcing the codegen's persisted-documents manifest (GRAPHQL_TRUSTED_DOCUMENTS). */
  trustedUrl: () => env('TRUSTED_GRAPHQL_URL'),
};

/** A dev token of `user`, living `ttl` seconds, with the app role `role`. */
export function mint(
  user: string,
  { ttl = 600, role }: { ttl?: number; role?: string } = {},
): string {
  const args = [
    'dev-token',
    '--user',
    user,
    '--ttl',
    String(ttl),
    ...(role ? ['--role', role] : []),
  ];
  return execFileSync(env('CLERK_GRAPHQL_BIN'), args, {
    // Nothing of the caller's environment but the path: a Clerk key there would end dev mode.
    env: { PATH: process.env.PATH, APP_ENV: 'development', DEV_KEYS_DIR: env('DEV_KEYS_DIR') },
    encoding: 'utf8',
  }).trim();
}

/** A token's `exp`, in milliseconds. */
export function expiry(token: string): number {
  const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
  return payload.exp * 1000;
}

export const until = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `promise`, or a failure naming `what` after `ms`: a test fails rather than hangs. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Resolves once `token` has expired (to the server, which allows no clock skew here). */
export async function expired(token: string): Promise<void> {
  await until(Math.max(0, expiry(token) - Date.now()) + 100);
}

/**
 * Clerk's `getToken` for one user, as clerk-js behaves: a cached token until it has less than
 * `leewaySecs` left (a negative leeway keeps handing out an expired one, like a tab that slept),
 * a new one on `skipCache`. Counts what it was asked.
 */
export function fakeClerk(user: string, { ttl = 600, leewaySecs = 10 } = {}) {
  let cached: string | undefined;
  const clerk = {
    calls: 0,
    skipCacheCalls: 0,
    minted: [] as string[],
    getToken: (async (options) => {
      clerk.calls += 1;
      if (options?.skipCache) clerk.skipCacheCalls += 1;
      if (options?.skipCache || !cached || expiry(cached) - Date.now() < leewaySecs * 1000) {
        cached = mint(user, { ttl });
        clerk.minted.push(cached);
      }
      return cached;
    }) satisfies GetToken,
    /** Starts from `token` as the cached one. */
    cache(token: string) {
      cached = token;
      return clerk;
    },
  };
  return clerk;
}

export const signedOut: GetToken = async () => null;

export interface Exchange {
  authorization: string | null;
  body: Record<string, unknown>;
  status: number;
  retryAfter: string | null;
}

/** `fetch`, remembering every request it sent and the answer's status. */
export function recordingFetch() {
  const exchanges: Exchange[] = [];
  const record: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    exchanges.push({
      authorization: new Headers(init?.headers).get('authorization'),
      body: JSON.parse(String(init?.body)),
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
    });
    return response;
  };
  return { fetch: record, exchanges };
}

/** An API client against the dev-mode server (Node 20 has no global WebSocket: `ws`'s). */
export function apiClient(options: Pick<ApiClientOptions, 'getToken'> & Partial<ApiClientOptions>) {
  return createApiClient({
    url: server.url(),
    wsUrl: server.wsUrl(),
    webSocketImpl: WebSocket,
    ...options,
  });
}
