// A planned batch as one ArrayBuffer, handed to the SQLite writer thread by transfer (no structured clone of the
// rows): a Float64 section of numbers and (offset, length) string references, then the UTF-8 bytes of the strings.
// The writer binds the bytes as they are (a blob cast to text), so no string is built on its side.
import { EVENT_TYPES, type EventType } from '../protocol/messages.js'
import type { AgentUpdate, CommitBatch } from './backend.js'
import type { SessionDelta } from './types.js'
import { USAGE_NUMBERS, type UsageDelta } from '../usage/counters.js'

const VERSION = 2
const HEADER = 6
/** Numbers per row: agent key, session, seq, event type index, then content, metadata, created_at, line_uuid. */
const ROW = 4 + 4 * 2
/** Numbers per session: key, number, first, last seq, cost and four token counts, then started_at and ended_at. */
const SESSION = 9 + 2 * 2
/** Numbers per agent: key, last seq, current session, cost baseline (NaN: none), then info, two times, usage baseline. */
const AGENT = 4 + 4 * 2
/** Numbers per usage row: key, session, six token counts, two costs, three counts, then model and hour. */
const USAGE = 13 + 2 * 2

const TYPE_INDEX = new Map<string, number>(EVENT_TYPES.map((t, i) => [t, i]))

/** The bytes a batch needs, to reuse a buffer that is large enough. */
export interface Encoded {
  buffer: ArrayBuffer
  /** Bytes used (the buffer may be larger). */
  length: number
}

function metadataText (metadata: Record<string, unknown> | null): string | null {
  return metadata === null ? null : JSON.stringify(metadata)
}

/**
 * Encodes a batch; `reuse` is a buffer handed back by the writer, used when large enough. Metadata objects are
 * serialized here, once.
 */
export function encodeBatch (batch: CommitBatch, reuse: ArrayBuffer | null = null): Encoded {
  const { rows, sessions, agents, usage } = batch
  const strings: Array<string | null> = []
  for (const r of rows) strings.push(r.content, metadataText(r.metadata), r.created_at, r.line_uuid)
  for (const s of sessions) strings.push(s.started_at, s.ended_at)
  for (const a of agents) strings.push(a.update.info, a.update.last_seen_at, a.update.last_connected_at, a.update.usage_baseline)
  for (const u of usage) strings.push(u.model, u.hour)
  let textBytes = 0
  const sizes = new Int32Array(strings.length)
  for (let i = 0; i < strings.length; i++) {
    const s = strings[i]
    sizes[i] = s === null ? -1 : Buffer.byteLength(s, 'utf8')
    if (s !== null) textBytes += sizes[i]
  }
  const count = HEADER + rows.length * ROW + sessions.length * SESSION + agents.length * AGENT + usage.length * USAGE
  const length = count * 8 + textBytes
  const buffer = reuse !== null && reuse.byteLength >= length ? reuse : new ArrayBuffer(Math.max(length, 1 << 16))
  const nums = new Float64Array(buffer, 0, count)
  const bytes = Buffer.from(buffer, count * 8, textBytes)
  let n = 0
  let at = 0
  let si = 0
  const text = (): void => {
    const size = sizes[si]
    const s = strings[si++]
    if (s === null) {
      nums[n++] = 0
      nums[n++] = -1
      return
    }
    bytes.write(s, at, size, 'utf8')
    nums[n++] = at
    nums[n++] = size
    at += size
  }
  nums[n++] = VERSION
  nums[n++] = rows.length
  nums[n++] = sessions.length
  nums[n++] = agents.length
  nums[n++] = usage.length
  nums[n++] = count * 8
  for (const r of rows) {
    const type = TYPE_INDEX.get(r.event_type)
    if (type === undefined) throw new Error(`unknown event type ${r.event_type}`)
    nums[n++] = r.agent_key
    nums[n++] = r.session_number
    nums[n++] = r.seq
    nums[n++] = type
    text(); text(); text(); text()
  }
  for (const s of sessions) {
    nums[n++] = s.agent_key
    nums[n++] = s.session_number
    nums[n++] = s.first_seq
    nums[n++] = s.last_seq
    nums[n++] = s.cost_usd
    nums[n++] = s.input_tokens
    nums[n++] = s.output_tokens
    nums[n++] = s.cache_read_tokens
    nums[n++] = s.cache_creation_tokens
    text(); text()
  }
  for (const a of agents) {
    nums[n++] = a.key
    nums[n++] = a.update.last_seq
    nums[n++] = a.update.current_session
    nums[n++] = a.update.cost_baseline_usd ?? NaN
    text(); text(); text(); text()
  }
  for (const u of usage) {
    nums[n++] = u.agent_key
    nums[n++] = u.session_number
    for (const k of USAGE_NUMBERS) nums[n++] = u[k]
    text(); text()
  }
  return { buffer, length }
}

/** A string field as the writer binds it: its UTF-8 bytes (a view, no copy), or null. */
export type TextBytes = Buffer | null

export interface RowSink {
  row: (agentKey: number, session: number, seq: number, eventType: EventType,
    content: TextBytes, metadata: TextBytes, createdAt: TextBytes, lineUuid: TextBytes) => void
}

export interface DecodedBatch {
  rows: number
  /** Calls `sink.row` for each row, in order, without building objects. */
  eachRow: (sink: RowSink['row']) => void
  sessions: Array<Omit<SessionDelta, 'started_at' | 'ended_at'> & { started_at: TextBytes, ended_at: TextBytes }>
  agents: Array<{ key: number, update: Omit<AgentUpdate, 'info' | 'last_seen_at' | 'last_connected_at' | 'usage_baseline'> & { info: TextBytes, last_seen_at: TextBytes, last_connected_at: TextBytes, usage_baseline: TextBytes } }>
  usage: Array<Omit<UsageDelta, 'model' | 'hour'> & { model: TextBytes, hour: TextBytes }>
  /** The first row's key and seq (null without rows): whether a batch committed can be told from them. */
  first: { agentKey: number, seq: number } | null
}

export function decodeBatch (buffer: ArrayBuffer): DecodedBatch {
  const head = new Float64Array(buffer, 0, HEADER)
  if (head[0] !== VERSION) throw new Error(`batch encoded with version ${head[0]}, expected ${VERSION}`)
  const rows = head[1]
  const sessionCount = head[2]
  const agentCount = head[3]
  const usageCount = head[4]
  const textStart = head[5]
  const nums = new Float64Array(buffer, 0, textStart / 8)
  const bytes = Buffer.from(buffer, textStart)
  const text = (i: number): TextBytes => nums[i + 1] < 0 ? null : bytes.subarray(nums[i], nums[i] + nums[i + 1])
  const rowsAt = HEADER
  const sessionsAt = rowsAt + rows * ROW
  const agentsAt = sessionsAt + sessionCount * SESSION
  const sessions: DecodedBatch['sessions'] = []
  for (let i = 0, n = sessionsAt; i < sessionCount; i++, n += SESSION) {
    sessions.push({
      agent_key: nums[n],
      session_number: nums[n + 1],
      first_seq: nums[n + 2],
      last_seq: nums[n + 3],
      cost_usd: nums[n + 4],
      input_tokens: nums[n + 5],
      output_tokens: nums[n + 6],
      cache_read_tokens: nums[n + 7],
      cache_creation_tokens: nums[n + 8],
      started_at: text(n + 9),
      ended_at: text(n + 11)
    })
  }
  const agents: DecodedBatch['agents'] = []
  for (let i = 0, n = agentsAt; i < agentCount; i++, n += AGENT) {
    agents.push({
      key: nums[n],
      update: {
        last_seq: nums[n + 1],
        current_session: nums[n + 2],
        cost_baseline_usd: Number.isNaN(nums[n + 3]) ? null : nums[n + 3],
        info: text(n + 4),
        last_seen_at: text(n + 6),
        last_connected_at: text(n + 8),
        usage_baseline: text(n + 10)
      }
    })
  }
  const usage: DecodedBatch['usage'] = []
  for (let i = 0, n = agentsAt + agentCount * AGENT; i < usageCount; i++, n += USAGE) {
    const u = { agent_key: nums[n], session_number: nums[n + 1], model: text(n + 13), hour: text(n + 15) } as DecodedBatch['usage'][number]
    USAGE_NUMBERS.forEach((k, j) => { u[k] = nums[n + 2 + j] })
    usage.push(u)
  }
  return {
    rows,
    first: rows === 0 ? null : { agentKey: nums[rowsAt], seq: nums[rowsAt + 2] },
    eachRow (sink) {
      for (let i = 0, n = rowsAt; i < rows; i++, n += ROW) {
        sink(nums[n], nums[n + 1], nums[n + 2], EVENT_TYPES[nums[n + 3]], text(n + 4), text(n + 6), text(n + 8), text(n + 10))
      }
    },
    sessions,
    agents,
    usage
  }
}
