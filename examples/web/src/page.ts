// The page: sign up / sign in with Better Auth, then list, create and toggle tasks on the API.
import type { Problem, Task } from "@todo-api/client";
import { api, authClient } from "./api.js";

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} missing`);
  return element as T;
};
const field = (id: string): string => $<HTMLInputElement>(id).value;

let userId: string | null = null;

function say(message: string): void {
  $("status").textContent = message;
}

function showProblem(what: string, problem: Problem | undefined, status: number): void {
  say(`${what} failed: ${status} ${problem ? `${problem.title} (${problem.type})` : ""}`);
}

function render(tasks: Task[]): void {
  const list = $("tasks");
  list.replaceChildren(
    ...tasks.map((task) => {
      const item = document.createElement("li");
      item.dataset.taskId = String(task.id);
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = task.completed;
      box.setAttribute("aria-label", `done: ${task.title}`);
      box.addEventListener("change", () => void toggle(task.id));
      const title = document.createElement("span");
      title.textContent = task.title;
      item.append(box, " ", title);
      return item;
    }),
  );
  list.dataset.count = String(tasks.length);
}

async function refresh(): Promise<void> {
  if (!userId) return;
  const { data, error, response } = await api.GET("/api/{user_id}/tasks", {
    params: { path: { user_id: userId }, query: { limit: 100 } },
  });
  if (error !== undefined || !data) return showProblem("list", error, response.status);
  render(data.items);
  say(`${data.items.length} task(s)`);
}

async function create(): Promise<void> {
  if (!userId) return;
  const input = $<HTMLInputElement>("title");
  const { error, response } = await api.POST("/api/{user_id}/tasks", {
    params: { path: { user_id: userId } },
    body: { title: input.value },
  });
  if (error !== undefined) return showProblem("create", error, response.status);
  input.value = "";
  await refresh();
}

async function toggle(taskId: number): Promise<void> {
  if (!userId) return;
  const { error, response } = await api.PATCH("/api/{user_id}/tasks/{task_id}/complete", {
    params: { path: { user_id: userId, task_id: taskId } },
  });
  if (error !== undefined) return showProblem("toggle", error, response.status);
  await refresh();
}

async function showSession(): Promise<void> {
  const { data } = await authClient.getSession();
  userId = data?.user.id ?? null;
  $("signed-in").hidden = !userId;
  $("signed-out").hidden = Boolean(userId);
  $("who").textContent = data ? data.user.email : "";
  try {
    if (userId) await refresh();
    else $("tasks").replaceChildren();
  } catch (error) {
    // A network error or a CORS refusal: the browser tells the page nothing more.
    say(`the API could not be reached (${String(error)}): is this origin in its CORS_ORIGINS?`);
    document.body.dataset.ready = "api-unreachable";
    return;
  }
  document.body.dataset.user = userId ?? "";
  document.body.dataset.ready = userId ? "signed-in" : "signed-out";
}

async function signUp(): Promise<void> {
  const { error } = await authClient.signUp.email({
    email: field("email"),
    password: field("password"),
    name: field("name") || field("email"),
  });
  if (error) return say(`sign-up failed: ${error.message ?? error.status}`);
  await showSession();
}

async function signIn(): Promise<void> {
  const { error } = await authClient.signIn.email({
    email: field("email"),
    password: field("password"),
  });
  if (error) return say(`sign-in failed: ${error.message ?? error.status}`);
  await showSession();
}

async function signOut(): Promise<void> {
  await authClient.signOut();
  api.clearToken(); // the next user signs in with a token of their own
  await showSession();
}

$("sign-up").addEventListener("click", () => void signUp());
$("sign-in").addEventListener("click", () => void signIn());
$("sign-out").addEventListener("click", () => void signOut());
$("new-task").addEventListener("submit", (event) => {
  event.preventDefault();
  void create();
});
void showSession();
