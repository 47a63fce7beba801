/**
 * Clerk's `getToken`: `useAuth().getToken` in React, `Clerk.session.getToken` elsewhere. Null
 * when signed out; `skipCache` asks Clerk for a new token instead of the cached one.
 */
export type GetToken = (options?: { skipCache?: boolean }) => Promise<string | null>;
