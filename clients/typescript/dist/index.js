// The Tasks API client: openapi-fetch over the types generated from openapi/openapi.yaml.
// Every call answers { data } or { error }, and `error` is the spec's Problem (problem+json).
import createClient from "openapi-fetch";
export function createTodoClient(options) {
    const send = options.fetch ?? ((request) => globalThis.fetch(request));
    let current;
    const ask = () => (current = options.token().catch((error) => {
        current = undefined; // a failed ask is not remembered: the next call asks again
        throw error;
    }));
    const withToken = (request, token) => {
        const headers = new Headers(request.headers);
        if (token)
            headers.set("Authorization", `Bearer ${token}`);
        return new Request(request, { headers });
    };
    async function fetchWithToken(request) {
        const retry = request.clone(); // the body can be read only once
        const first = await send(withToken(request, await (current ?? ask())));
        if (first.status !== 401)
            return first;
        const fresh = await ask(); // expired or revoked: ask once for a new one, retry once
        if (!fresh)
            return first;
        return send(withToken(retry, fresh));
    }
    const client = createClient({ baseUrl: options.baseUrl, fetch: fetchWithToken });
    return Object.assign(client, {
        clearToken: () => {
            current = undefined;
        },
    });
}
/** The problem's `type` without its URN prefix: "invalid-token", "forbidden", "not-found"... */
export function problemKind(problem) {
    return problem.type.replace(/^urn:todo-api:problem:/, "");
}
