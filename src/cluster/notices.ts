// What instances tell each other over PostgreSQL's NOTIFY: small JSON payloads (the events themselves are read
// from the database), each for everyone or for one instance.

/** PostgreSQL refuses payloads of 8000 bytes or more. */
export const MAX_PAYLOAD = 7900

/** One agent's events in a committed batch: seq from..to, the highest event id among them. */
export type CommitRange = [agentId: string, fromSeq: number, toSeq: number, maxId: number]

/** Where a commit stands among all: the highest event id committed before it, and its own highest. */
export interface CommitOrder { prev: number, max: number }

export type Notice =
  /** Events committed (delivered only if the transaction that sent it committed, in commit order). */
  | { t: 'commit', from: string, ranges: CommitRange[], order: CommitOrder }
  /** An agent's socket opened or closed on an instance. */
  | { t: 'presence', from: string, agent: string, state: 'connected' | 'disconnected' }
  /** Asks the owner to let go of an agent (a newer connection, or a write, wants it elsewhere). */
  | { t: 'release', from: string, to: string, agent: string }
  /** The agent is let go: everything received for it is committed and its lock released. */
  | { t: 'released', from: string, to: string, agent: string }
  /** An operator command for the owner, in instance_commands under this id. */
  | { t: 'command', from: string, to: string, id: string }
  /** The owner's answer is in instance_commands. */
  | { t: 'reply', from: string, to: string, id: string }

export function encodeNotice (notice: Notice): string {
  return JSON.stringify(notice)
}

/** The notice, or null for a payload that is not one (another program on the channel, a newer version). */
export function decodeNotice (payload: string | undefined): Notice | null {
  if (payload === undefined) return null
  try {
    const n = JSON.parse(payload) as Notice
    if (typeof n !== 'object' || n === null || typeof n.t !== 'string' || typeof n.from !== 'string') return null
    return n
  } catch {
    return null
  }
}

/** Whether an instance should act on a notice: those for everyone, and those for it. */
export function isFor (notice: Notice, instanceId: string): boolean {
  return !('to' in notice) || notice.to === instanceId
}

/** The notice in a payload, when it is one this instance acts on; else null. */
export function noticeFor (payload: string | undefined, instanceId: string): Notice | null {
  const notice = decodeNotice(payload)
  return notice !== null && isFor(notice, instanceId) ? notice : null
}

/**
 * A committed batch as commit notices: one range per agent (a batch holds each agent's events in seq order),
 * split over as many payloads as the size limit needs.
 */
export function commitNotices (from: string, events: Array<{ agent_id: string, seq: number, id: number }>, order: CommitOrder): string[] {
  const byAgent = new Map<string, CommitRange>()
  for (const e of events) {
    const range = byAgent.get(e.agent_id)
    if (range === undefined) {
      byAgent.set(e.agent_id, [e.agent_id, e.seq, e.seq, e.id])
    } else {
      range[1] = Math.min(range[1], e.seq)
      range[2] = Math.max(range[2], e.seq)
      range[3] = Math.max(range[3], e.id)
    }
  }
  const payloads: string[] = []
  const overhead = encodeNotice({ t: 'commit', from, ranges: [], order }).length
  let ranges: CommitRange[] = []
  let size = overhead
  for (const range of byAgent.values()) {
    // UTF-8 bytes, not characters: agent ids may be any text
    const bytes = Buffer.byteLength(JSON.stringify(range)) + 1
    if (ranges.length > 0 && size + bytes > MAX_PAYLOAD) {
      payloads.push(encodeNotice({ t: 'commit', from, ranges, order }))
      ranges = []
      size = overhead
    }
    ranges.push(range)
    size += bytes
  }
  if (ranges.length > 0) payloads.push(encodeNotice({ t: 'commit', from, ranges, order }))
  return payloads
}
