// A real Better Auth server for the interop tests, on loopback only.
// Configuration comes from the environment so each test can start the issuer it needs:
//   PORT (required), SECRET (required), ALG (EdDSA | ES256 | ES512 | RS256 | PS256, default EdDSA),
//   ROTATION_INTERVAL / GRACE_PERIOD (seconds; unset = no rotation), EXPIRATION (default "15m"),
//   PAGE_ORIGIN (a browser page on another origin that signs in here: trusted, and let in by CORS
//   with credentials; the browser test's examples/web page).
// Prints one line "ready <baseURL>" on stdout once it serves and its first key exists.
import { createServer } from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins/jwt";

const port = Number(process.env.PORT);
const baseURL = `http://127.0.0.1:${port}`;
const seconds = (name) => (process.env[name] ? Number(process.env[name]) : undefined);
const pageOrigin = process.env.PAGE_ORIGIN;

const auth = betterAuth({
  baseURL,
  secret: process.env.SECRET,
  database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  trustedOrigins: pageOrigin ? [baseURL, pageOrigin] : [baseURL],
  plugins: [
    jwt({
      jwks: {
        keyPairConfig: { alg: process.env.ALG || "EdDSA" },
        rotationInterval: seconds("ROTATION_INTERVAL"),
        gracePeriod: seconds("GRACE_PERIOD"),
      },
      jwt: { expirationTime: process.env.EXPIRATION || "15m" },
    }),
  ],
});

// Create the first key before anyone mints: two concurrent first calls could create two keys.
await auth.api.getJwks();

const handler = toNodeHandler(auth);
// Better Auth answers no CORS itself (a Next.js app serves it on its own origin); this page lives
// on another one, so let exactly that origin in, with its session cookie.
const server = createServer((request, response) => {
  if (pageOrigin && request.headers.origin === pageOrigin) {
    response.setHeader("Access-Control-Allow-Origin", pageOrigin);
    response.setHeader("Access-Control-Allow-Credentials", "true");
    response.setHeader("Vary", "Origin");
    if (request.method === "OPTIONS") {
      response.setHeader("Access-Control-Allow-Methods", "GET, POST");
      response.setHeader("Access-Control-Allow-Headers", "Content-Type");
      response.writeHead(204).end();
      return;
    }
  }
  return handler(request, response);
});
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`ready ${baseURL}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
