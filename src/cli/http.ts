// Talking to an agentlog server over HTTP from the command line: base URL, bearer token, JSON answers.
import { isLoopbackHost } from '../loopback.js'

export const DEFAULT_HTTP_SERVER = 'http://127.0.0.1:7700'

export interface ServerTarget {
  /** http(s)://host:port, without a trailing slash. */
  base: string
  token: string | null
}

/** Accepts http(s):// and the ws(s):// form `agentlog connect` takes. */
export function httpBase (server: string): string {
  let url: URL
  try {
    url = new URL(server)
  } catch {
    throw new Error(`--server must be a URL such as ${DEFAULT_HTTP_SERVER}, got ${JSON.stringify(server)}`)
  }
  if (url.protocol === 'ws:') url.protocol = 'http:'
  else if (url.protocol === 'wss:') url.protocol = 'https:'
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--server must be http(s):// or ws(s)://, got ${JSON.stringify(server)}`)
  return url.origin + url.pathname.replace(/\/+$/, '')
}

/** Whether the server is this machine (an http(s) base address). */
export function isLoopback (base: string): boolean {
  return isLoopbackHost(new URL(base).hostname)
}

export class ServerError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
    this.name = 'ServerError'
  }
}

export function headers (target: ServerTarget, extra: Record<string, string> = {}): Record<string, string> {
  return target.token === null ? extra : { ...extra, authorization: `Bearer ${target.token}` }
}

/** Throws ServerError with the body's code and message for any answer but 2xx. */
export async function checked (res: Response): Promise<Response> {
  if (res.ok) return res
  let code = 'error'
  let message = `${res.status} ${res.statusText}`
  try {
    const body = await res.json() as { code?: string, message?: string }
    if (typeof body.code === 'string') code = body.code
    if (typeof body.message === 'string') message = `${res.status}: ${body.message}`
  } catch {}
  throw new ServerError(res.status, code, message)
}

/** A connection that failed or a server that is not ready (5xx): worth trying again later. */
export function isTransient (err: unknown): boolean {
  if (err instanceof ServerError) return err.status >= 500 || err.status === 429
  return err instanceof TypeError || (err as NodeJS.ErrnoException)?.code === 'ECONNREFUSED'
}
