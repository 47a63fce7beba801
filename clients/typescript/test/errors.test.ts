// Errors typed by `extensions.code`, and the code list kept equal to the server's documentation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createApiClient, ERROR_CODES, type ErrorCode } from '../src/index.js';
import { HealthDocument } from '../src/generated/graphql.js';

test('ERROR_CODES are the codes of ARCHITECTURE.md §6', () => {
  const architecture = readFileSync(
    new URL('../../../../ARCHITECTURE.md', import.meta.url),
    'utf8',
  );
  const section = architecture.split(/^## 6\. Error codes$/m)[1].split(/^## /m)[0];
  const documented = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1]);
  assert.deepEqual([...ERROR_CODES].sort(), documented.sort());
});

/** What a screen would say: the switch must name every code, or this does not compile. */
function advice(code: ErrorCode): string {
  switch (code) {
    case 'UNAUTHENTICATED':
      return 'sign in';
    case 'FORBIDDEN':
      return 'not allowed';
    case 'BAD_USER_INPUT':
      return 'fix the form';
    case 'NOT_FOUND':
      return 'gone';
    case 'BAD_REQUEST':
    case 'GRAPHQL_PARSE_FAILED':
    case 'GRAPHQL_VALIDATION_FAILED':
      return 'a bug in the app';
    case 'PERSISTED_QUERY_NOT_FOUND':
    case 'PERSISTED_QUERY_NOT_IN_LIST':
    case 'PERSISTED_QUERY_HASH_MISMATCH':
      return 'the server does not have this version of the app';
    case 'RATE_LIMITED':
    case 'SERVICE_UNAVAILABLE':
      return 'try again shortly';
    case 'INTERNAL_SERVER_ERROR':
      return 'a bug in the server';
    default: {
      const unreachable: never = code;
      return unreachable;
    }
  }
}

test('the code is a union type', () => {
  assert.equal(advice('NOT_FOUND'), 'gone');
  // @ts-expect-error: not a code of this API (Apollo Server's, for a server without APQ)
  const unknown: ErrorCode = 'PERSISTED_QUERY_NOT_SUPPORTED';
  assert.ok(unknown);
});

function answering(status: number, body: string, contentType = 'application/json') {
  const fake: typeof fetch = async () =>
    new Response(body, { status, headers: { 'content-type': contentType } });
  return createApiClient({
    url: 'http://api.invalid/graphql',
    getToken: async () => null,
    fetch: fake,
  });
}

test('an answer that is not GraphQL becomes one error coded after its status', async () => {
  const result = await answering(502, '<html>Bad Gateway</html>', 'text/html').execute(
    HealthDocument,
  );
  assert.equal(result.status, 502);
  assert.equal(result.data, undefined);
  assert.deepEqual(result.errors, [
    {
      message: 'HTTP 502: not a GraphQL response',
      extensions: { code: 'SERVICE_UNAVAILABLE', status: 502 },
    },
  ]);
});

test('a code this client does not know is kept aside, and the error typed by its status', async () => {
  const body = JSON.stringify({
    errors: [{ message: 'no APQ here', extensions: { code: 'PERSISTED_QUERY_NOT_SUPPORTED' } }],
  });
  const result = await answering(400, body).execute(HealthDocument);
  assert.deepEqual(result.errors, [
    {
      message: 'no APQ here',
      extensions: { code: 'BAD_REQUEST', unknownCode: 'PERSISTED_QUERY_NOT_SUPPORTED' },
    },
  ]);
});
