// The search cursor: opaque to clients, a small base64url JSON document to the server.
import { createHash } from 'node:crypto'

/**
 * Hits are ranked within windows of the newest matches: `hi`/`lo` bound the current window by event id
 * (inclusive), and `score`/`id` are the last hit sent from it (absent when the page starts a new window).
 * `f` ties the cursor to the query and filters it was made for.
 */
export interface SearchCursor {
  f: string
  hi: number
  lo: number
  score?: number
  id?: number
}

export function fingerprint (parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 12)
}

export function encodeCursor (c: SearchCursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url')
}

/** The cursor, or null when it is not one this server made for these query and filters. */
export function decodeCursor (raw: string, f: string): SearchCursor | null {
  let c: unknown
  try {
    c = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'))
  } catch {
    return null
  }
  if (typeof c !== 'object' || c === null) return null
  const { f: cf, hi, lo, score, id } = c as Record<string, unknown>
  if (cf !== f || !isId(hi) || !isId(lo) || lo > hi) return null
  if (score === undefined && id === undefined) return { f, hi, lo }
  if (typeof score !== 'number' || !Number.isFinite(score) || !isId(id)) return null
  return { f, hi, lo, score, id }
}

function isId (v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}
