// Every operation of the API through the generated client, against a live server.
// Run by contract_tests/test_typescript_client.py; prints one JSON object of what it saw.
// Environment: TODO_API_URL, USER_ID, TOKEN (valid), EXPIRED_TOKEN (handed out first).
import { createTodoClient, problemKind, type Problem, type Task } from "@todo-api/client";

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const baseUrl = env("TODO_API_URL");
const userId = env("USER_ID");

// Hands out an expired token first, like a tab left open past the token's lifetime.
const handedOut = [env("EXPIRED_TOKEN"), env("TOKEN")];
let asked = 0;
const api = createTodoClient({ baseUrl, token: async () => handedOut[Math.min(asked++, 1)] ?? null });
const user_id = userId;
const seen: Record<string, unknown> = {};

function must<T>(result: { data?: T; error?: Problem }, what: string): T {
  if (result.error !== undefined || result.data === undefined) {
    throw new Error(`${what}: ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

// Create three, the first through an expired token (refreshed after its 401).
const created: Task[] = [];
for (const title of ["write the spec", "generate the client", "ship it"]) {
  const result = await api.POST("/api/{user_id}/tasks", {
    params: { path: { user_id } },
    body: { title, description: `${title}, from TypeScript` },
  });
  created.push(must(result, "create"));
  if (result.response.status !== 201) throw new Error(`create answered ${result.response.status}`);
}
seen.token_asks_after_create = asked;
seen.created = created.map((task) => task.id);

// List page by page (two per page): newest first, then follow next_cursor.
const pages: number[][] = [];
let cursor: string | undefined;
do {
  const page = must(
    await api.GET("/api/{user_id}/tasks", {
      params: { path: { user_id }, query: cursor ? { limit: 2, cursor } : { limit: 2 } },
    }),
    "list",
  );
  pages.push(page.items.map((task) => task.id));
  cursor = page.next_cursor ?? undefined;
} while (cursor);
seen.pages = pages;

const [first] = created;
if (!first) throw new Error("nothing created");
const path = { user_id, task_id: first.id };
const patched = must(
  await api.PATCH("/api/{user_id}/tasks/{task_id}", {
    params: { path },
    body: { title: "write the spec first" },
  }),
  "patch",
);
seen.patched_title = patched.title;
const toggled = must(await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", { params: { path } }), "toggle");
seen.toggled_completed = toggled.completed;
const pending = must(
  await api.GET("/api/{user_id}/tasks", { params: { path: { user_id }, query: { status: "pending" } } }),
  "pending",
);
seen.pending = pending.items.map((task) => task.id);
const deleted = await api.DELETE("/api/{user_id}/tasks/{task_id}", { params: { path } });
seen.deleted_status = deleted.response.status;

// Safe writes: a create retried with its Idempotency-Key makes one task (the retry is marked
// replayed); a write with an ETag that is no longer current changes nothing (412, below).
const createOnce = (key: string) =>
  api.POST("/api/{user_id}/tasks", {
    params: { path: { user_id }, header: { "Idempotency-Key": key } },
    body: { title: "exactly once" },
  });
const key = `tour-${Date.now()}`;
const [sent, resent] = [await createOnce(key), await createOnce(key)];
seen.idempotent = {
  ids: [must(sent, "keyed create").id, must(resent, "keyed retry").id],
  replayed: resent.response.headers.get("Idempotent-Replayed"),
};
const second = created[1];
if (!second) throw new Error("nothing created");
const secondPath = { user_id, task_id: second.id };
const edit = (etag: string) =>
  api.PATCH("/api/{user_id}/tasks/{task_id}", {
    params: { path: secondPath, header: { "If-Match": etag } },
    body: { title: "generate the typed client" },
  });
const edited = await edit(`"${second.version}"`);
seen.if_match_etag = edited.response.headers.get("ETag");

// Each failure comes back as a typed Problem, never as a thrown exception.
const problem = (what: string, result: { error?: Problem; response: Response }) => {
  const error = result.error;
  if (error === undefined) throw new Error(`${what}: expected a problem, got ${result.response.status}`);
  seen[what] = {
    status: error.status,
    kind: problemKind(error),
    title: error.title,
    content_type: result.response.headers.get("content-type"),
    errors: error.errors?.map((entry) => entry.loc.join(".")) ?? null,
  };
};
const stranger = createTodoClient({ baseUrl, token: async () => "not-a-jwt" });
problem("unauthorized", await stranger.GET("/api/me"));
problem("forbidden", await api.GET("/api/{user_id}/tasks", { params: { path: { user_id: "someone-else" } } }));
problem("not_found", await api.GET("/api/{user_id}/tasks/{task_id}", { params: { path } }));
problem(
  "invalid",
  await api.POST("/api/{user_id}/tasks", { params: { path: { user_id } }, body: { title: "   " } }),
);
problem("stale", await edit(`"${second.version}"`));
seen.token_asks = asked;

process.stdout.write(`${JSON.stringify(seen)}\n`);
