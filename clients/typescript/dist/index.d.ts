import { type Client } from "openapi-fetch";
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
export declare function createTodoClient(options: TodoClientOptions): TodoClient;
/** The problem's `type` without its URN prefix: "invalid-token", "forbidden", "not-found"... */
export declare function problemKind(problem: Problem): string;
