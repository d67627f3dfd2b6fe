// A real Better Auth server for the interop tests, on loopback only.
// Configuration comes from the environment so each test can start the issuer it needs:
//   PORT (required), SECRET (required), ALG (EdDSA | ES256 | ES512 | RS256 | PS256, default EdDSA),
//   ROTATION_INTERVAL / GRACE_PERIOD (seconds; unset = no rotation), EXPIRATION (default "15m").
// Prints one line "ready <baseURL>" on stdout once it serves and its first key exists.
import { createServer } from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins/jwt";

const port = Number(process.env.PORT);
const baseURL = `http://127.0.0.1:${port}`;
const seconds = (name) => (process.env[name] ? Number(process.env[name]) : undefined);

const auth = betterAuth({
  baseURL,
  secret: process.env.SECRET,
  database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
  emailAndPassword: { enabled: true },
  rateLimit: { enabled: false },
  trustedOrigins: [baseURL],
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

const server = createServer(toNodeHandler(auth));
server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`ready ${baseURL}\n`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
