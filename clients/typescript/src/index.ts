// The Tasks API client: openapi-fetch over the types generated from openapi/openapi.yaml.
// Every call answers { data } or { error }, and `error` is the spec's Problem (problem+json).
import createClient, { type Client } from "openapi-fetch";
import type { components, operations, paths } from "./schema.js";

export type { components, operations, paths };
export type Task = components["schemas"]["Task"];
export type TaskList = components["schemas"]["TaskList"];
export type TaskCreate = components["schemas"]["TaskCreate"];
export type TaskPatch = components["schemas"]["TaskPatch"];
export type Problem = components["schemas"]["Problem"];
export type TodoClient = Client<paths> & {
  /** Forget the token held: call it on sign-out, so the next user's calls ask for theirs. */
  clearToken(): void;
};

export interface TodoClientOptions {
  /** The API's origin, e.g. "http://127.0.0.1:8000". */
  baseUrl: string;
  /**
   * A JWT for the signed-in user (Better Auth: `(await authClient.token()).data?.token`), or null
   * when nobody is signed in. Asked before the first call and again after a 401: tokens are
   * short-lived, so an expired one is replaced and the call retried once.
   */
  token: () => Promise<string | null>;
  /** The fetch to send with (default: the global one). */
  fetch?: (request: Request) => Promise<Response>;
}

export function createTodoClient(options: TodoClientOptions): TodoClient {
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));
  let current: Promise<string | null> | undefined;
  const ask = (): Promise<string | null> =>
    (current = options.token().catch((error: unknown) => {
      current = undefined; // a failed ask is not remembered: the next call asks again
      throw error;
    }));

  const withToken = (request: Request, token: string | null): Request => {
    const headers = new Headers(request.headers);
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return new Request(request, { headers });
  };

  async function fetchWithToken(request: Request): Promise<Response> {
    const retry = request.clone(); // the body can be read only once
    const first = await send(withToken(request, await (current ?? ask())));
    if (first.status !== 401) return first;
    const fresh = await ask(); // expired or revoked: ask once for a new one, retry once
    if (!fresh) return first;
    return send(withToken(retry, fresh));
  }

  const client = createClient<paths>({ baseUrl: options.baseUrl, fetch: fetchWithToken });
  return Object.assign(client, {
    clearToken: () => {
      current = undefined;
    },
  });
}

/** The problem's `type` without its URN prefix: "invalid-token", "forbidden", "not-found"... */
export function problemKind(problem: Problem): string {
  return problem.type.replace(/^urn:todo-api:problem:/, "");
}
