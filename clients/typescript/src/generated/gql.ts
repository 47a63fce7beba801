/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "query Health {\n  health\n}": typeof types.HealthDocument,
    "query Notes {\n  memberNote {\n    id\n    text\n  }\n  adminNote {\n    id\n    text\n  }\n  orgAdminNote {\n    id\n    text\n  }\n  billingNote {\n    id\n    text\n  }\n}\n\nquery Note($id: ID!) {\n  note(id: $id) {\n    __typename\n    ... on Node {\n      id\n      text\n    }\n  }\n}": typeof types.NotesDocument,
    "fragment PostFields on Post {\n  id\n  title\n  body\n  published\n  createdAt\n  updatedAt\n  author {\n    id\n    displayName\n  }\n}\n\nquery Posts($first: Int, $after: String) {\n  posts(first: $first, after: $after) {\n    nodes {\n      ...PostFields\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery Post($id: ID!) {\n  post(id: $id) {\n    ...PostFields\n  }\n}\n\nmutation CreatePost($input: CreatePostInput!) {\n  createPost(input: $input) {\n    ...PostFields\n  }\n}\n\nmutation UpdatePost($id: ID!, $input: UpdatePostInput!) {\n  updatePost(id: $id, input: $input) {\n    ...PostFields\n  }\n}\n\nmutation DeletePost($id: ID!) {\n  deletePost(id: $id)\n}\n\nmutation Echo($message: String!) {\n  echo(message: $message)\n}": typeof types.PostFieldsFragmentDoc,
    "subscription PostPublished {\n  postPublished {\n    ...PostFields\n  }\n}\n\nsubscription MyPostEvents {\n  myPostEvents {\n    kind\n    post {\n      ...PostFields\n    }\n  }\n}": typeof types.PostPublishedDocument,
    "query User($id: ID!, $first: Int = 10) {\n  user(id: $id) {\n    id\n    displayName\n  }\n  posts(authorId: $id, first: $first) {\n    nodes {\n      ...PostFields\n    }\n  }\n}\n\nquery Users($first: Int, $after: String, $search: String) {\n  users(first: $first, after: $after, search: $search) {\n    nodes {\n      id\n      displayName\n      email\n      username\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": typeof types.UserDocument,
    "query Viewer {\n  viewer {\n    userId\n    sessionId\n    orgId\n    orgRole\n    orgPermissions\n    role\n  }\n}\n\nquery Me {\n  me {\n    id\n    displayName\n    email\n    username\n    firstName\n    lastName\n    imageUrl\n    createdAt\n  }\n}": typeof types.ViewerDocument,
};
const documents: Documents = {
    "query Health {\n  health\n}": types.HealthDocument,
    "query Notes {\n  memberNote {\n    id\n    text\n  }\n  adminNote {\n    id\n    text\n  }\n  orgAdminNote {\n    id\n    text\n  }\n  billingNote {\n    id\n    text\n  }\n}\n\nquery Note($id: ID!) {\n  note(id: $id) {\n    __typename\n    ... on Node {\n      id\n      text\n    }\n  }\n}": types.NotesDocument,
    "fragment PostFields on Post {\n  id\n  title\n  body\n  published\n  createdAt\n  updatedAt\n  author {\n    id\n    displayName\n  }\n}\n\nquery Posts($first: Int, $after: String) {\n  posts(first: $first, after: $after) {\n    nodes {\n      ...PostFields\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery Post($id: ID!) {\n  post(id: $id) {\n    ...PostFields\n  }\n}\n\nmutation CreatePost($input: CreatePostInput!) {\n  createPost(input: $input) {\n    ...PostFields\n  }\n}\n\nmutation UpdatePost($id: ID!, $input: UpdatePostInput!) {\n  updatePost(id: $id, input: $input) {\n    ...PostFields\n  }\n}\n\nmutation DeletePost($id: ID!) {\n  deletePost(id: $id)\n}\n\nmutation Echo($message: String!) {\n  echo(message: $message)\n}": types.PostFieldsFragmentDoc,
    "subscription PostPublished {\n  postPublished {\n    ...PostFields\n  }\n}\n\nsubscription MyPostEvents {\n  myPostEvents {\n    kind\n    post {\n      ...PostFields\n    }\n  }\n}": types.PostPublishedDocument,
    "query User($id: ID!, $first: Int = 10) {\n  user(id: $id) {\n    id\n    displayName\n  }\n  posts(authorId: $id, first: $first) {\n    nodes {\n      ...PostFields\n    }\n  }\n}\n\nquery Users($first: Int, $after: String, $search: String) {\n  users(first: $first, after: $after, search: $search) {\n    nodes {\n      id\n      displayName\n      email\n      username\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}": types.UserDocument,
    "query Viewer {\n  viewer {\n    userId\n    sessionId\n    orgId\n    orgRole\n    orgPermissions\n    role\n  }\n}\n\nquery Me {\n  me {\n    id\n    displayName\n    email\n    username\n    firstName\n    lastName\n    imageUrl\n    createdAt\n  }\n}": types.ViewerDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Health {\n  health\n}"): (typeof documents)["query Health {\n  health\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Notes {\n  memberNote {\n    id\n    text\n  }\n  adminNote {\n    id\n    text\n  }\n  orgAdminNote {\n    id\n    text\n  }\n  billingNote {\n    id\n    text\n  }\n}\n\nquery Note($id: ID!) {\n  note(id: $id) {\n    __typename\n    ... on Node {\n      id\n      text\n    }\n  }\n}"): (typeof documents)["query Notes {\n  memberNote {\n    id\n    text\n  }\n  adminNote {\n    id\n    text\n  }\n  orgAdminNote {\n    id\n    text\n  }\n  billingNote {\n    id\n    text\n  }\n}\n\nquery Note($id: ID!) {\n  note(id: $id) {\n    __typename\n    ... on Node {\n      id\n      text\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment PostFields on Post {\n  id\n  title\n  body\n  published\n  createdAt\n  updatedAt\n  author {\n    id\n    displayName\n  }\n}\n\nquery Posts($first: Int, $after: String) {\n  posts(first: $first, after: $after) {\n    nodes {\n      ...PostFields\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery Post($id: ID!) {\n  post(id: $id) {\n    ...PostFields\n  }\n}\n\nmutation CreatePost($input: CreatePostInput!) {\n  createPost(input: $input) {\n    ...PostFields\n  }\n}\n\nmutation UpdatePost($id: ID!, $input: UpdatePostInput!) {\n  updatePost(id: $id, input: $input) {\n    ...PostFields\n  }\n}\n\nmutation DeletePost($id: ID!) {\n  deletePost(id: $id)\n}\n\nmutation Echo($message: String!) {\n  echo(message: $message)\n}"): (typeof documents)["fragment PostFields on Post {\n  id\n  title\n  body\n  published\n  createdAt\n  updatedAt\n  author {\n    id\n    displayName\n  }\n}\n\nquery Posts($first: Int, $after: String) {\n  posts(first: $first, after: $after) {\n    nodes {\n      ...PostFields\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery Post($id: ID!) {\n  post(id: $id) {\n    ...PostFields\n  }\n}\n\nmutation CreatePost($input: CreatePostInput!) {\n  createPost(input: $input) {\n    ...PostFields\n  }\n}\n\nmutation UpdatePost($id: ID!, $input: UpdatePostInput!) {\n  updatePost(id: $id, input: $input) {\n    ...PostFields\n  }\n}\n\nmutation DeletePost($id: ID!) {\n  deletePost(id: $id)\n}\n\nmutation Echo($message: String!) {\n  echo(message: $message)\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "subscription PostPublished {\n  postPublished {\n    ...PostFields\n  }\n}\n\nsubscription MyPostEvents {\n  myPostEvents {\n    kind\n    post {\n      ...PostFields\n    }\n  }\n}"): (typeof documents)["subscription PostPublished {\n  postPublished {\n    ...PostFields\n  }\n}\n\nsubscription MyPostEvents {\n  myPostEvents {\n    kind\n    post {\n      ...PostFields\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query User($id: ID!, $first: Int = 10) {\n  user(id: $id) {\n    id\n    displayName\n  }\n  posts(authorId: $id, first: $first) {\n    nodes {\n      ...PostFields\n    }\n  }\n}\n\nquery Users($first: Int, $after: String, $search: String) {\n  users(first: $first, after: $after, search: $search) {\n    nodes {\n      id\n      displayName\n      email\n      username\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"): (typeof documents)["query User($id: ID!, $first: Int = 10) {\n  user(id: $id) {\n    id\n    displayName\n  }\n  posts(authorId: $id, first: $first) {\n    nodes {\n      ...PostFields\n    }\n  }\n}\n\nquery Users($first: Int, $after: String, $search: String) {\n  users(first: $first, after: $after, search: $search) {\n    nodes {\n      id\n      displayName\n      email\n      username\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query Viewer {\n  viewer {\n    userId\n    sessionId\n    orgId\n    orgRole\n    orgPermissions\n    role\n  }\n}\n\nquery Me {\n  me {\n    id\n    displayName\n    email\n    username\n    firstName\n    lastName\n    imageUrl\n    createdAt\n  }\n}"): (typeof documents)["query Viewer {\n  viewer {\n    userId\n    sessionId\n    orgId\n    orgRole\n    orgPermissions\n    role\n  }\n}\n\nquery Me {\n  me {\n    id\n    displayName\n    email\n    username\n    firstName\n    lastName\n    imageUrl\n    createdAt\n  }\n}"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;