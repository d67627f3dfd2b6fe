// Bundles the page (esbuild) and serves it on 127.0.0.1: its own origin, apart from the API's
// and Better Auth's. Environment: PORT (required), API_URL and AUTH_URL (inlined as
// process.env.NEXT_PUBLIC_API_URL / NEXT_PUBLIC_AUTH_URL). Prints "ready <origin>" once serving.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { build } from "esbuild";

const here = new URL(".", import.meta.url).pathname;
const bundle = await build({
  entryPoints: [`${here}src/page.ts`],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  write: false,
  tsconfig: `${here}tsconfig.json`,
  define: {
    "process.env.NEXT_PUBLIC_API_URL": JSON.stringify(process.env.API_URL ?? ""),
    "process.env.NEXT_PUBLIC_AUTH_URL": JSON.stringify(process.env.AUTH_URL ?? ""),
  },
  logLevel: "warning",
});
const files = {
  "/": ["text/html; charset=utf-8", await readFile(`${here}public/index.html`)],
  "/app.js": ["text/javascript; charset=utf-8", bundle.outputFiles[0].contents],
};

const server = createServer((request, response) => {
  const file = files[new URL(request.url, "http://page").pathname];
  if (!file || request.method !== "GET") {
    response.writeHead(404, { "content-type": "text/plain" }).end("not found");
    return;
  }
  response.writeHead(200, { "content-type": file[0], "cache-control": "no-store" }).end(file[1]);
});
const port = Number(process.env.PORT);
server.listen(port, "127.0.0.1", () => process.stdout.write(`ready http://127.0.0.1:${port}\n`));
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
