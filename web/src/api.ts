// Requests to the server: the token (kept in session storage, sent as a header) and error bodies.
import type { Identity } from '../../src/client/index.js'

const TOKEN_KEY = 'agentlog.token'

export const token = {
  get (): string | null {
    return sessionStorage.getItem(TOKEN_KEY)
  },
  set (value: string): void {
    sessionStorage.setItem(TOKEN_KEY, value)
  },
  clear (): void {
    sessionStorage.removeItem(TOKEN_KEY)
  }
}

export class ApiError extends Error {
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

/** A 404 from the router itself: this server has no such route (an older or smaller deployment). */
export function isMissingRoute (err: unknown): boolean {
  return err instanceof ApiError && err.status === 404 && err.code === 'route_not_found'
}

export function authHeaders (): Record<string, string> {
  const t = token.get()
  return t === null ? {} : { authorization: `Bearer ${t}` }
}

/** Called when the server refuses the token (401), so the page can ask for another. */
let onUnauthorized: () => void = () => {}
export function whenUnauthorized (handler: () => void): void {
  onUnauthorized = handler
}

export async function api<T> (path: string, opts: { method?: string, body?: unknown, signal?: AbortSignal } = {}): Promise<T> {
  const headers = authHeaders()
  let body: string | undefined
  if (opts.body !== undefined) {
    headers['content-type'] = 'application/json'
    body = JSON.stringify(opts.body)
  }
  // relative: the viewer also works behind a proxy that serves it under a path
  const res = await fetch(path, { method: opts.method ?? 'GET', headers, body, signal: opts.signal })
  const text = await res.text()
  let data: unknown = null
  try {
    data = text === '' ? null : JSON.parse(text)
  } catch {}
  if (!res.ok) {
    const err = (data ?? {}) as { code?: unknown, message?: unknown }
    if (res.status === 401) onUnauthorized()
    throw new ApiError(res.status, typeof err.code === 'string' ? err.code : 'error',
      typeof err.message === 'string' ? err.message : `${res.status} ${res.statusText}`)
  }
  return data as T
}

export function whoami (): Promise<Identity> {
  return api<Identity>('auth/whoami')
}

/** Path segment for an agent id (ids are restricted, but nothing here relies on it). */
export function agentPath (agentId: string): string {
  return `agents/${encodeURIComponent(agentId)}`
}
