/**
 * The clinician dashboard: static ES modules from `public/` at `/`, and uPlot served from
 * the installed package (no CDN, no build step). These routes are public; the page holds
 * no data until the user signs in with an API key, and every data call goes through the
 * authenticated /api/v1 routes.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** `public/` at the repository root, from src/ (tsx) and dist/ (build) alike. */
export const PUBLIC_DIR = fileURLToPath(new URL('../../../public/', import.meta.url));

const UPLOT_DIR = path.dirname(createRequire(import.meta.url).resolve('uplot'));
const VENDOR_FILES: Record<string, string> = {
  '/vendor/uplot/uPlot.esm.js': 'uPlot.esm.js',
  '/vendor/uplot/uPlot.min.css': 'uPlot.min.css',
};

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  // wildcard: false registers one route per file at start-up, so the dashboard never
  // shadows other routes or the JSON 404 of unknown paths.
  await app.register(fastifyStatic, {
    root: PUBLIC_DIR,
    prefix: '/',
    wildcard: false,
    index: ['index.html'],
    dotfiles: 'ignore',
    // Revalidate on every load (cheap with ETags), so a deploy is picked up at once.
    maxAge: 0,
  });
  for (const [url, file] of Object.entries(VENDOR_FILES)) {
    app.get(url, { schema: { hide: true } }, (_req, reply) => reply.sendFile(file, UPLOT_DIR, { maxAge: 86_400_000 }));
  }
}
