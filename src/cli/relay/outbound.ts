// The outbound buffer: what the relay keeps of the lines for the server. The last ones sent (re-sent after a
// reconnect: they may have been lost in flight, and the server drops those it has), the ones the CLI wrote while
// no socket was open (bounded: the oldest are dropped), the permission requests the CLI waits on, and the length
// at which the server refuses a line. No socket and no clock: the relay sends what it is told to, and says when.
import { blameTooBig, type Sent } from './too-big.js'

/** The uuid a line carries (the server stores each once), or null: only such lines are re-sent after a reconnect. */
export function uuidOf (message: Record<string, any> | null): string | null {
  return typeof message?.uuid === 'string' && message.uuid !== '' ? message.uuid : null
}

/** After a reconnect, before the held lines: the recent lines, then the open permission requests not held anyway. */
export function replayLines (recent: string[], permissions: Iterable<string>, held: string[]): { recent: string[], permissions: string[] } {
  const heldIds = new Set(held)
  return { recent: [...recent], permissions: [...permissions].filter(line => !heldIds.has(line)) }
}

export type Route =
  | { to: 'too_big' }
  | { to: 'server' }
  /** count: lines held, this one included, before the oldest was dropped; firstDrop: the first line dropped since the socket was last open. */
  | { to: 'held', count: number, firstDrop: boolean }

/** A close blamed a line for being too big: it, the recent lines as long (dropped too), the permission requests refused. */
export interface TooBig {
  code: number
  culprit: string
  alsoDropped: string[]
  /** request_ids of permission requests as long: the CLI would wait for them forever, so the relay denies them. */
  refused: string[]
}

export class OutboundBuffer {
  /** The last lines sent that carry a uuid, re-sent after a reconnect. */
  private recent: string[] = []
  /** Lines the CLI wrote while no socket was open, oldest first. */
  private held: string[] = []
  private dropped = 0
  /** can_use_tool requests sent and not answered yet, by request_id: the CLI waits for them. */
  private readonly permissions = new Map<string, string>()
  /** Lines at least this long are not sent: the server refused one of this length. */
  private tooBig = Infinity
  /** The last lines sent on the current connection, whatever their kind, and when: where a 1009's culprit is. */
  private sentHere: Sent[] = []
  /** The line suspected of a frame-too-big close that looked like a network error (see blameTooBig). */
  private suspect: string | null = null

  constructor (private readonly limits: { bufferLines: number, replayLines: number }) {}

  /** Where a line goes: nowhere (as long as one the server refused), out now (kept for replay if it has a uuid), or held. */
  route (line: string, uuid: string | null, writable: boolean): Route {
    if (line.length >= this.tooBig) return { to: 'too_big' }
    if (writable) {
      if (uuid !== null) {
        this.recent.push(line)
        if (this.recent.length > this.limits.replayLines) this.recent.shift()
      }
      return { to: 'server' }
    }
    this.held.push(line)
    const count = this.held.length
    const full = count > this.limits.bufferLines
    if (full) this.held.shift()
    const firstDrop = full && this.dropped === 0
    if (full) this.dropped++
    return { to: 'held', count, firstDrop }
  }

  /** A line went out on the current connection at `at` (ms). */
  sent (line: string, at: number): void {
    this.sentHere.push({ line, at })
    if (this.sentHere.length > this.limits.replayLines + 50) this.sentHere.shift()
  }

  /** A can_use_tool request the CLI now waits on: re-sent after each reconnect until answered. */
  permissionAsked (requestId: string, line: string): void {
    this.permissions.set(requestId, line)
  }

  /** Answered (or given up): no longer re-sent. True when it was open. */
  permissionClosed (requestId: string): boolean {
    return this.permissions.delete(requestId)
  }

  /** A new CLI process: the old one's open questions died with it. */
  forgetPermissions (): void {
    this.permissions.clear()
  }

  get openPermissions (): number {
    return this.permissions.size
  }

  get heldCount (): number {
    return this.held.length
  }

  /** What goes out again after a reconnect, before the held lines. */
  replay (): { recent: string[], permissions: string[] } {
    return replayLines(this.recent, this.permissions.values(), this.held)
  }

  /** The held lines, oldest first, and how many were dropped while they were held; both start over. */
  release (): { held: string[], dropped: number } {
    const out = { held: this.held, dropped: this.dropped }
    this.held = []
    this.dropped = 0
    return out
  }

  /** The connection closed with `code` at `now` (ms): what, if anything, is dropped for being too big. */
  closed (code: number, now: number): TooBig | null {
    const { culprit, suspect } = blameTooBig(this.sentHere, code, now, this.suspect)
    this.sentHere = []
    this.suspect = suspect
    if (culprit === null) return null
    const limit = this.tooBig = Math.min(this.tooBig, culprit.length)
    const alsoDropped = this.recent.filter(line => line.length >= limit && line !== culprit)
    this.recent = this.recent.filter(line => line.length < limit)
    const refused: string[] = []
    for (const [id, request] of this.permissions) {
      if (request.length < limit) continue
      this.permissions.delete(id)
      refused.push(id)
    }
    return { code, culprit, alsoDropped, refused }
  }
}
