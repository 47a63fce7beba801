// What the client sends for a generated document: its text as the persisted-documents manifest
// holds it, or only its hash.

import { Kind, print, type DocumentNode, type OperationTypeNode } from 'graphql';
import manifest from './generated/persisted-documents.json' with { type: 'json' };

export interface Operation {
  kind: OperationTypeNode;
  name: string | undefined;
  /** sha256 hex of `text`: the key of the persisted-documents manifest. */
  hash: string | undefined;
  text: string;
}

const documents: Readonly<Record<string, string>> = manifest;
const seen = new WeakMap<DocumentNode, Operation>();

/**
 * The operation of a document (one operation, and the fragments it uses). A generated document
 * carries its hash (`__meta__.hash`, from the codegen's persisted-documents option) and is sent
 * with the manifest's text, so that text and hash always agree: the server's list of trusted
 * documents is that manifest. Any other document is printed.
 */
export function operationOf(document: DocumentNode): Operation {
  const known = seen.get(document);
  if (known) return known;
  const definitions = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (definitions.length !== 1) {
    throw new TypeError(`a document must hold one operation, not ${definitions.length}`);
  }
  const [definition] = definitions;
  const hash = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  let text: string;
  if (hash === undefined) {
    text = print(document);
  } else {
    const listed = documents[hash];
    if (listed === undefined) {
      throw new Error(
        `document ${hash} is not in persisted-documents.json: regenerate the client (clients/generate)`,
      );
    }
    text = listed;
  }
  const operation = { kind: definition.operation, name: definition.name?.value, hash, text };
  seen.set(document, operation);
  return operation;
}

export type Variables = Record<string, unknown> | undefined;

interface Common {
  operationName?: string;
  variables?: Record<string, unknown>;
}
export type TextBody = Common & { query: string };
export type PersistedBody = Common & {
  extensions: { persistedQuery: { version: 1; sha256Hash: string } };
};

/** The JSON body of a GraphQL-over-HTTP request (or `subscribe` payload) for an operation. */
export function requestBody(operation: Operation, variables: Variables, persisted: false): TextBody;
export function requestBody(
  operation: Operation,
  variables: Variables,
  persisted: boolean,
): TextBody | PersistedBody;
export function requestBody(operation: Operation, variables: Variables, persisted: boolean) {
  const common: Common = {
    ...(operation.name === undefined ? {} : { operationName: operation.name }),
    ...(variables === undefined ? {} : { variables }),
  };
  if (!persisted) return { query: operation.text, ...common };
  if (operation.hash === undefined) {
    throw new TypeError('only generated documents (with a hash) can be sent persisted');
  }
  return {
    ...common,
    extensions: { persistedQuery: { version: 1, sha256Hash: operation.hash } },
  };
}
