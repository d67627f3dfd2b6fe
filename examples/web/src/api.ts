import { createAuthClient } from "better-auth/client"; // in Next.js: "better-auth/react"
import { jwtClient } from "better-auth/client/plugins";
import { createTodoClient } from "@todo-api/client";

export const authClient = createAuthClient({
  baseURL: process.env.NEXT_PUBLIC_AUTH_URL, // the Better Auth server
  plugins: [jwtClient()],
});

export const api = createTodoClient({
  baseUrl: process.env.NEXT_PUBLIC_API_URL!, // this API, on another origin
  // A short-lived JWT minted from the session cookie; asked again after a 401.
  token: async () => (await authClient.token()).data?.token ?? null,
});
