// Replaced at build time by esbuild's `define` (as Next.js inlines NEXT_PUBLIC_* variables).
declare const process: { env: Record<string, string | undefined> };
