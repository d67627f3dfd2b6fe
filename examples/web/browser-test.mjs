// The real-browser test: Debian's Chromium, headless, driven by playwright-core.
// Started by backend/tests/e2e/test_browser.py once the API, Better Auth and the page servers
// run. Environment: PAGE_URL, STRANGER_URL (the same page on an origin the API does not allow),
// API_URL, AUTH_URL, DEV_USER + DEV_TOKEN (for Swagger UI), TOKEN_SECONDS (Better Auth's JWT
// lifetime), SCREENSHOTS (a folder), CHROMIUM (default /usr/bin/chromium).
// Prints one JSON object of what it saw; pytest asserts on it. Exit 1 when a step times out.
import { chromium } from "playwright-core";

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const [pageUrl, strangerUrl, apiUrl, authUrl] = ["PAGE_URL", "STRANGER_URL", "API_URL", "AUTH_URL"].map(env);
const shots = env("SCREENSHOTS");
const tokenSeconds = Number(env("TOKEN_SECONDS"));
const allowedOrigins = new Set([pageUrl, strangerUrl, apiUrl, authUrl].map((url) => new URL(url).origin));
const seen = { requests: 0, foreign: [], api_allow_origins: [] };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const step = (name) => process.stderr.write(`[${new Date().toISOString()}] ${name}\n`);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  timeout: 30_000,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    // Chromium's own traffic (update checks, account pings) never reaches a resolver.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
  ],
});
try {
  await run();
} catch (error) {
  // What each page showed when a step failed, for the report.
  for (const [i, open] of browser.contexts().flatMap((c) => c.pages()).entries()) {
    await open.screenshot({ path: `${shots}/failed-${i}.png` }).catch(() => {});
  }
  throw error;
} finally {
  await browser.close();
}
process.stdout.write(`${JSON.stringify(seen)}\n`);

async function run() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  context.setDefaultTimeout(20_000);
  // Every request any page makes is recorded; one to another host is a failure. No route()
  // here: Playwright answers CORS preflights itself for intercepted requests, which would hide
  // the API's answer. The resolver rules keep such a request from leaving the machine.
  context.on("request", (request) => {
    seen.requests++;
    const url = new URL(request.url());
    if (!["data:", "blob:"].includes(url.protocol) && !allowedOrigins.has(url.origin)) seen.foreign.push(url.href);
  });
  const log = [];
  context.on("response", (response) => {
    const url = new URL(response.url());
    const where = url.origin === apiUrl ? "api" : url.origin === authUrl ? "auth" : "page";
    log.push({ where, method: response.request().method(), path: url.pathname, status: response.status() });
  });

  const page = await context.newPage();
  // What the API answered the page's origin (the docs pages, on the API's own origin, need none).
  page.on("response", (response) => {
    if (new URL(response.url()).origin !== apiUrl) return;
    seen.api_allow_origins.push(response.headers()["access-control-allow-origin"] ?? null);
  });
  const shot = (name, on = page) => on.screenshot({ path: `${shots}/${name}.png`, fullPage: on === page });
  const ready = (state) => page.waitForSelector(`body[data-ready="${state}"]`);
  const titles = () =>
    page.$$eval("#tasks li", (items) =>
      items.map((li) => ({ title: li.querySelector("span").textContent, completed: li.querySelector("input").checked })),
    );
  const count = (n) => page.waitForSelector(`#tasks[data-count="${n}"]`, { state: "attached" });
  const signUp = async (name) => {
    await page.fill("#name", name);
    await page.fill("#email", `${name.toLowerCase().replace(/\W+/g, "-")}-${Date.now()}@example.test`);
    await page.fill("#password", "correct horse battery staple");
    await page.click("#sign-up");
    await ready("signed-in");
  };
  const addTask = async (title, expected) => {
    await page.fill("#title", title);
    await page.press("#title", "Enter");
    await count(expected);
  };

  step("user one signs up and creates two tasks, toggles one");
  await page.goto(pageUrl);
  await ready("signed-out");
  await signUp("User One");
  await addTask("buy milk", 1);
  await addTask("write the report", 2);
  await page.click('#tasks li:has-text("buy milk") input');
  await page.waitForFunction(() =>
    [...document.querySelectorAll("#tasks li")].some((li) => li.textContent.includes("buy milk") && li.querySelector("input").checked),
  );
  await shot("1-user-one");

  step("a reload shows them persisted");
  await page.reload();
  await ready("signed-in");
  await count(2);
  seen.user_one_after_reload = await titles();
  await shot("2-user-one-reloaded");

  step("user two sees none of them");
  await page.click("#sign-out");
  await ready("signed-out");
  await signUp("User Two");
  await count(0);
  seen.user_two_id = await page.getAttribute("body", "data-user");
  seen.user_two_tasks = await titles();
  await shot("3-user-two");

  step("an expired token is replaced");
  // The page holds the token it fetched at sign-up; wait until it has expired (leeway 0).
  await sleep((tokenSeconds + 1.5) * 1000);
  const from = log.length;
  await addTask("after expiry", 1);
  seen.after_expiry = log
    .slice(from)
    .filter((entry) => entry.where === "api" || entry.path === "/api/auth/token")
    .map((entry) => `${entry.where} ${entry.method} ${entry.path} ${entry.status}`);
  await shot("4-after-expiry");

  step("a page on an origin the API does not allow is refused by the browser");
  const probe = (url) =>
    fetch(`${url}/api/me`, { headers: { Authorization: "Bearer not-a-token" } }).then(
      (response) => `answered ${response.status}`,
      (error) => `refused: ${error.name}`,
    );
  seen.allowed_origin_probe = await page.evaluate(probe, apiUrl);
  const stranger = await context.newPage();
  await stranger.goto(strangerUrl);
  seen.stranger_origin_probe = await stranger.evaluate(probe, apiUrl);

  step("Swagger UI: authorize with the demo user's token, try listTasks as it comes filled in");
  const docs = await context.newPage();
  await docs.goto(`${apiUrl}/docs`);
  await docs.click("button.authorize");
  await docs.fill(".modal-ux input", env("DEV_TOKEN"));
  await docs.click('.modal-ux button.authorize');
  await docs.click(".modal-ux button.btn-done");
  await docs.click("#operations-tasks-listTasks .opblock-summary");
  await docs.click("#operations-tasks-listTasks .try-out__btn");
  // Not filled in here: `serve --demo-user` serves the demo user's id as the example.
  seen.swagger_user_id = await docs.inputValue('#operations-tasks-listTasks input[placeholder="user_id"]');
  await docs.click("#operations-tasks-listTasks button.execute");
  const status = await docs.waitForSelector("#operations-tasks-listTasks .live-responses-table tr.response .response-col_status");
  seen.swagger_status = (await status.textContent()).trim();
  await shot("5-swagger", docs);

  step("ReDoc renders");
  const redoc = await context.newPage();
  await redoc.goto(`${apiUrl}/redoc`);
  await redoc.waitForSelector('[data-section-id="operation/listTasks"]');
  seen.redoc_heading = (await redoc.textContent("h1")).trim();
  await redoc.waitForLoadState("networkidle");
  await shot("6-redoc", redoc);
  await context.close();
}
