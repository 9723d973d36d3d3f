// What the tools answer, shaped for a model: short keys, ids the next call takes, long text cut (pure).
import type { Static } from '@sinclair/typebox'
import type { SearchHit } from '../schemas/search.js'
import type { StoredEvent } from '../schemas/events.js'

/** Text cut to `max` characters, and how many were left out (0: none). */
export function cut (text: string, max: number): { text: string, omitted: number } {
  if (text.length <= max) return { text, omitted: 0 }
  // never split a surrogate pair
  let end = max
  const code = text.charCodeAt(end - 1)
  if (code >= 0xd800 && code <= 0xdbff) end--
  return { text: text.slice(0, end), omitted: text.length - end }
}

export interface ToolHit {
  agent: string
  session: number
  seq: number
  type: string
  time: string
  snippet: string
}

export function toolHit (h: Static<typeof SearchHit>): ToolHit {
  return { agent: h.agent_id, session: h.session_number, seq: h.seq, type: h.event_type, time: h.created_at, snippet: h.snippet }
}

export interface ToolEvent {
  seq: number
  session: number
  type: string
  time: string
  content?: string
  /** The event's metadata as JSON (a tool's input, a result's counters), cut like the content. */
  meta?: string
  /** Characters cut from content and meta. */
  omitted?: number
}

/** An event with its content and metadata cut to `max` characters each. */
export function toolEvent (e: StoredEvent, max: number): ToolEvent {
  const out: ToolEvent = { seq: e.seq, session: e.session_number, type: e.event_type, time: e.created_at }
  let omitted = 0
  if (e.content !== null) {
    const c = cut(e.content, max)
    out.content = c.text
    omitted += c.omitted
  }
  if (e.metadata !== null && Object.keys(e.metadata).length > 0) {
    const m = cut(JSON.stringify(e.metadata), max)
    out.meta = m.text
    omitted += m.omitted
  }
  if (omitted > 0) out.omitted = omitted
  return out
}

/** Which seqs `around` reads: up to half the limit before it (itself included) and the rest after. */
export function aroundSplit (limit: number): { upTo: number, after: number } {
  const upTo = Math.ceil(limit / 2)
  return { upTo, after: limit - upTo }
}
