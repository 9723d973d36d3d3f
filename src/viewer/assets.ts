// The web viewer's files: the page and stylesheet shipped in web/static, the modules tsc compiles into dist/web
// (its own from web/src, and what it shares with the client: src/client/sse.ts, src/client/usage-blocks.ts), and
// the browser libraries it uses (marked, DOMPurify, uPlot for the usage charts) served from node_modules.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { packageRoot } from '../package-root.js'

export interface Asset {
  body: string
  type: string
}

/**
 * The page may run only its own modules, load only its own styles, talk only to this server, and build HTML only
 * through DOMPurify's Trusted Types policy: an innerHTML of a plain string throws instead of running anything.
 */
export const VIEWER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types dompurify'
].join('; ')

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8'
}

function typeOf (file: string): string {
  const ext = file.slice(file.lastIndexOf('.'))
  return TYPES[ext] ?? 'application/octet-stream'
}

export class ViewerNotBuiltError extends Error {}

/**
 * Reads every file the page may ask for, once. The compiled modules must exist: `npm run build` (which `npm start`
 * and `npm test` run) makes them.
 */
export function loadAssets (root: string = packageRoot()): Map<string, Asset> {
  const compiled = join(root, 'dist', 'web')
  if (!existsSync(join(compiled, 'main.js'))) {
    throw new ViewerNotBuiltError(`the viewer is not built (${join(compiled, 'main.js')} is missing): run npm run build`)
  }
  const files = new Map<string, string>()
  for (const name of readdirSync(compiled)) if (name.endsWith('.js')) files.set(name, join(compiled, name))
  const statics = join(root, 'web', 'static')
  for (const name of readdirSync(statics)) files.set(name, join(statics, name))
  files.set('marked.js', fileURLToPath(import.meta.resolve('marked')))
  files.set('purify.js', fileURLToPath(import.meta.resolve('dompurify')))
  files.set('uplot.js', fileURLToPath(import.meta.resolve('uplot/dist/uPlot.esm.js')))
  files.set('uplot.css', fileURLToPath(import.meta.resolve('uplot/dist/uPlot.min.css')))
  const assets = new Map<string, Asset>()
  for (const [name, path] of files) assets.set(name, { body: readFileSync(path, 'utf8'), type: typeOf(name) })
  return assets
}
