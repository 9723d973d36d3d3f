// Imports a Claude Code transcript into an agent's log: each file becomes a session of its own, appended whole,
// stored exactly once whatever was seen before (a re-import, the same session relayed live, a file being written).
//
// How it is written: the body is read line by line (one line in memory, up to a limit) and mapped; every few
// hundred records the chunk goes through the event store's exclusive write (src/store/exclusive.ts), which runs it
// at the agent's place in the write queue, alone in one transaction: what is already stored is checked, seq numbers
// continue from the agent's last one, the file's position moves with the events it produced. A failed chunk rolls
// back with its position, so a retry resumes exactly there.
//
// What counts as already stored (exactly once across sources): the events of the file's own session and of the
// sessions whose time span meets the chunk's records (live sessions of the same run), read by session and seq range.
// A record whose uuid one of them holds is a duplicate (the uuids of assistant and tool-result records are those of
// the live stream-json lines). Prompts and the /clear have no live uuid: one is a duplicate when such a session
// holds a live prompt with the same text (or a live context_cleared) not matched yet.
import { roundUsd } from '../usd.js'
import type { Kysely } from 'kysely'
import type { Database, TranscriptFilesTable } from '../../db/schema.js'
import type { EventStore, ExclusiveAgent, ExclusiveResult } from '../store/event-store.js'
import type { Static } from '@sinclair/typebox'
import type { StoredEvent } from '../schemas/events.js'
import type { TranscriptImportResult } from '../schemas/transcripts.js'
import { parseLine } from '../protocol/ndjson.js'
import {
  costDelta, mapTranscriptRecord, type MappedRecord, type TranscriptCost, type TranscriptSource, ZERO_COST
} from '../protocol/transcript.js'
import type { EventDraft } from '../protocol/messages.js'
import { httpError } from '../errors.js'
import { streamLines } from './lines.js'
import { type MessageUsage, transcriptMessageUsage, UsageRows } from '../usage/counters.js'
import { computeCost, type PriceTable } from '../usage/prices.js'
import {
  addToSession, addUsage, countedMessages, filePosition, keyOf, insertEvents, type NewEvent, saveFilePosition, sessionEvents, sessionExists,
  sessionsBetween, type SessionTotals, type Trx
} from './repository.js'

/** How far apart the clocks of the transcript's machine and the server may be, for finding live sessions. */
const CLOCK_SLACK_MS = 15 * 60 * 1000
const CHUNK_RECORDS = 500
const CHUNK_BYTES = 4 * 1024 * 1024

export interface ImportOptions {
  file: string
  /** Where the body starts in the file: 0, or the file's stored position. */
  offset: number
  dryRun: boolean
}

/** What an import did, as the import route answers it. */
export type ImportSummary = Static<typeof TranscriptImportResult>

interface Item {
  mapped: MappedRecord
  line: number
  end: number
  sessionId: string | null
  /** An assistant record's message usage (the message is counted once, by its key). */
  usage: MessageUsage | null
  cwd: string | null
}

function zeroTotals (): SessionTotals {
  return { cost_usd: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_creation_tokens: 0 }
}

function fileCost (row: TranscriptFilesTable): TranscriptCost {
  return {
    cost_usd: row.cost_usd,
    input_tokens: row.input_tokens,
    output_tokens: row.output_tokens,
    cache_read_tokens: row.cache_read_tokens,
    cache_creation_tokens: row.cache_creation_tokens
  }
}

function shift (iso: string, ms: number): string {
  return new Date(new Date(iso).getTime() + ms).toISOString()
}

/** What the sessions that may overlap a transcript already hold. */
class Seen {
  uuids = new Set<string>()
  /** Live events without a uuid (prompts, clears) by `type\0content`, with how many are not matched yet. */
  unmatched = new Map<string, number>()
  private scanned = new Map<number, number>()

  async load (trx: Trx, agentId: string, sessions: number[]): Promise<void> {
    for (const session of sessions) {
      const after = this.scanned.get(session) ?? 0
      let last = after
      for await (const r of sessionEvents(trx, agentId, session, after)) {
        last = r.seq
        const uuid = r.metadata === null ? null : uuidOf(r.metadata)
        if (uuid !== null) this.uuids.add(uuid)
        else if (r.event_type === 'prompt_sent' || r.event_type === 'context_cleared') {
          const key = `${r.event_type}\u0000${r.content ?? ''}`
          this.unmatched.set(key, (this.unmatched.get(key) ?? 0) + 1)
        }
      }
      this.scanned.set(session, last)
    }
  }

  /** Takes one unmatched live event of this kind, if there is one. */
  match (type: string, content: string | null): boolean {
    const key = `${type}\u0000${content ?? ''}`
    const n = this.unmatched.get(key) ?? 0
    if (n === 0) return false
    this.unmatched.set(key, n - 1)
    return true
  }
}

function uuidOf (metadata: string): string | null {
  // most rows hold one; parsing every row's metadata would cost more than the search
  const i = metadata.indexOf('"uuid":"')
  if (i === -1) return null
  try {
    const value = (JSON.parse(metadata) as Record<string, unknown>).uuid
    return typeof value === 'string' ? value : null
  } catch {
    return null
  }
}

/** One import at a time per agent: each plans against what the previous one stored. */
export function createAgentLocks () {
  const locks = new Map<string, Promise<unknown>>()
  return async function serialized<T> (agentId: string, fn: () => Promise<T>): Promise<T> {
    const previous = locks.get(agentId) ?? Promise.resolve()
    const run = previous.catch(() => {}).then(fn)
    locks.set(agentId, run)
    try {
      return await run
    } finally {
      if (locks.get(agentId) === run) locks.delete(agentId)
    }
  }
}

export type AgentLocks = ReturnType<typeof createAgentLocks>

export function createTranscriptImporter (db: Kysely<Database>, events: EventStore, serialized: AgentLocks, opts: { maxEventContentBytes: number, maxLineBytes: number, prices: PriceTable }) {
  async function importTranscript (agentId: string, body: AsyncIterable<Buffer>, options: ImportOptions): Promise<ImportSummary> {
    await events.loadAgent(agentId, true)
    return await serialized(agentId, () => run(agentId, body, options))
  }

  async function run (agentId: string, body: AsyncIterable<Buffer>, options: ImportOptions): Promise<ImportSummary> {
    const now = new Date().toISOString()
    let row: TranscriptFilesTable = await filePosition(db, agentId, options.file) ?? {
      agent_id: agentId,
      file: options.file,
      claude_session_id: null,
      cwd: null,
      session_number: null,
      byte_offset: 0,
      lines: 0,
      ...ZERO_COST,
      updated_at: now
    }
    if (options.offset !== 0 && options.offset !== row.byte_offset) {
      throw httpError(409, `offset ${options.offset} is not where ${JSON.stringify(options.file)} stands (${row.byte_offset}); send from 0 or from there`, 'position_mismatch')
    }
    // the body starts at `base` in the file; lines that end at or before the stored position are already in
    const base = options.offset
    let lineNo = base === 0 ? 0 : row.lines
    const summary: ImportSummary = {
      agent_id: agentId,
      file: options.file,
      offset: row.byte_offset,
      lines: row.lines,
      records: 0,
      events_added: 0,
      duplicates: 0,
      skipped: {},
      unknown: {},
      invalid: 0,
      sessions: [],
      partial_line: false,
      dry_run: options.dryRun
    }
    const seen = new Seen()
    let lastAt: string | null = null
    let chunk: Item[] = []
    let chunkBytes = 0
    let chunkEnd = row.byte_offset
    let chunkLines = row.lines

    const flush = async (): Promise<void> => {
      const items = chunk
      const end = chunkEnd
      const lines = chunkLines
      chunk = []
      chunkBytes = 0
      row = await events.exclusive(agentId, (trx, agent) => applyChunk(trx, agent, items, row, end, lines))
      summary.offset = row.byte_offset
      summary.lines = row.lines
    }

    /** Plans one chunk against what is stored and writes it (unless a dry run), with the file's new position. */
    async function applyChunk (trx: Trx, agent: ExclusiveAgent, items: Item[], before: TranscriptFilesTable, end: number, lines: number): Promise<ExclusiveResult<TranscriptFilesTable>> {
      const next: TranscriptFilesTable = { ...before, byte_offset: end, lines, updated_at: new Date().toISOString() }
      const times = items.map(i => i.mapped.kind === 'events' || i.mapped.kind === 'clear' ? i.mapped.at : null).filter(t => t !== null)
      const overlapping = new Set<number>()
      if (next.session_number !== null) overlapping.add(next.session_number)
      if (times.length > 0) {
        const from = shift(times.reduce((a, b) => a < b ? a : b), -CLOCK_SLACK_MS)
        const to = shift(times.reduce((a, b) => a > b ? a : b), CLOCK_SLACK_MS)
        for (const s of await sessionsBetween(trx, agentId, from, to)) overlapping.add(s.session_number)
      }
      await seen.load(trx, agentId, [...overlapping])

      const state: ExclusiveAgent = { ...agent }
      let currentEmpty = state.lastSeq === 0 || !(await sessionExists(trx, agentId, state.currentSession))
      const rows: NewEvent[] = []
      const uuids: Array<{ uuid: string, seq: number }> = []
      const spans = new Map<number, { first_seq: number, last_seq: number, started_at: string, ended_at: string }>()
      const totals = new Map<number, SessionTotals>()
      const agentKey = await keyOf(trx, agentId)
      const usage = new UsageRows()
      // a message's usage is repeated on each of its content blocks, and a resumed session's file repeats messages
      const chunkKeys = items.map(i => i.usage?.key ?? null).filter(k => k !== null)
      const counted = chunkKeys.length === 0 ? new Set<string>() : await countedMessages(trx, [...new Set(chunkKeys)])
      const newKeys: string[] = []
      /** The session this file's records go to now; null until one is needed. */
      let target: number | null = next.session_number !== null && next.session_number === state.currentSession ? next.session_number : null

      const openSession = (): number => {
        target = currentEmpty ? state.currentSession : state.currentSession + 1
        currentEmpty = false
        state.currentSession = target
        next.session_number = target
        return target
      }
      const append = (draft: EventDraft, at: string): number => {
        const session = target ?? openSession()
        const seq = ++state.lastSeq
        if (state.oldestSeq === null) state.oldestSeq = seq
        rows.push({
          agent_id: agentId,
          session_number: session,
          seq,
          event_type: draft.event_type,
          content: draft.content,
          metadata: draft.metadata === null ? null : JSON.stringify(draft.metadata),
          created_at: at
        })
        const span = spans.get(session)
        if (span === undefined) spans.set(session, { first_seq: seq, last_seq: seq, started_at: at, ended_at: at })
        else { span.last_seq = seq; span.ended_at = at }
        return seq
      }

      for (const item of items) {
        const m = item.mapped
        if (item.sessionId !== null && next.claude_session_id === null) next.claude_session_id = item.sessionId
        if (item.cwd !== null) next.cwd = item.cwd
        if (m.kind === 'skipped') {
          const bucket = m.known ? summary.skipped : summary.unknown
          bucket[m.type] = (bucket[m.type] ?? 0) + 1
          continue
        }
        if (m.kind === 'cost') {
          const delta = costDelta(fileCost(next), m.cost)
          Object.assign(next, m.cost)
          // no session yet: everything so far was stored live, whose results already counted this cost
          const session = target ?? next.session_number
          if (session === null) continue
          const t = totals.get(session) ?? zeroTotals()
          t.cost_usd = roundUsd(t.cost_usd + delta.cost_usd)
          t.input_tokens += delta.input_tokens
          t.output_tokens += delta.output_tokens
          t.cache_read_tokens += delta.cache_read_tokens
          t.cache_creation_tokens += delta.cache_creation_tokens
          totals.set(session, t)
          continue
        }
        const at = m.at ?? lastAt ?? new Date().toISOString()
        lastAt = at
        if (m.uuid !== null && seen.uuids.has(m.uuid)) { summary.duplicates++; continue }
        if (m.kind === 'clear') {
          if (seen.match('context_cleared', null)) { summary.duplicates++; continue }
          const previous = state.lastSeq === 0 ? null : state.currentSession
          const session = openSession()
          const source: TranscriptSource = { kind: 'transcript', file: options.file, line: item.line }
          const seq = append({
            event_type: 'context_cleared',
            content: null,
            metadata: { previous_session: previous, session_number: session, agent_context: 'cleared', uuid: m.uuid, source }
          }, at)
          if (m.uuid !== null) { seen.uuids.add(m.uuid); uuids.push({ uuid: m.uuid, seq }) }
          continue
        }
        if (m.prompt && seen.match('prompt_sent', m.drafts[0].content)) { summary.duplicates++; continue }
        const u = item.usage
        if (u !== null && (u.key === null || !counted.has(u.key))) {
          if (u.key !== null) { counted.add(u.key); newKeys.push(u.key) }
          const computed = u.counters.cost_usd === null ? computeCost(opts.prices, u.model, u.counters) : null
          usage.add(agentKey, target ?? openSession(), at, u.model, u.counters, u.counters.cost_usd !== null
            ? { kind: 'reported', usd: u.counters.cost_usd }
            : computed !== null ? { kind: 'computed', usd: computed } : { kind: 'unpriced', usd: 0 })
        }
        if (m.drafts.length === 0) continue
        let first = -1
        for (const d of m.drafts) {
          const seq = append(d, at)
          if (first === -1) first = seq
        }
        if (m.uuid !== null) { seen.uuids.add(m.uuid); uuids.push({ uuid: m.uuid, seq: first }) }
      }

      if (options.dryRun) {
        summary.events_added += rows.length
        for (const s of spans.keys()) if (!summary.sessions.includes(s)) summary.sessions.push(s)
        return { events: [], agent, uuids: [], value: before }
      }
      const stored: StoredEvent[] = await insertEvents(trx, rows)
      for (const [session, span] of spans) {
        await addToSession(trx, agentId, session, span, totals.get(session) ?? zeroTotals())
        totals.delete(session)
      }
      for (const [session, t] of totals) await addToSession(trx, agentId, session, null, t)
      await addUsage(trx, agentKey, newKeys, usage.list())
      await saveFilePosition(trx, next)
      summary.events_added += rows.length
      for (const s of spans.keys()) if (!summary.sessions.includes(s)) summary.sessions.push(s)
      return { events: stored, agent: state, uuids, value: next }
    }

    const lines = streamLines(body, opts.maxLineBytes)
    for (;;) {
      const step = await lines.next()
      if (step.done === true) {
        summary.partial_line = step.value.partialBytes > 0
        break
      }
      const end = base + step.value.end
      lineNo++
      // already read by an earlier import of this file
      if (end <= row.byte_offset) continue
      summary.records++
      chunkEnd = end
      chunkLines = lineNo
      const text = step.value.text
      const parsed = text === null ? null : parseLine(text)
      if (parsed === null || !parsed.ok) {
        summary.invalid++
        continue
      }
      const record = parsed.message
      const source: TranscriptSource = { kind: 'transcript', file: options.file, line: lineNo }
      chunk.push({
        mapped: mapTranscriptRecord(record, source, opts.maxEventContentBytes),
        line: lineNo,
        end,
        sessionId: typeof record.sessionId === 'string' ? record.sessionId : null,
        usage: transcriptMessageUsage(record),
        cwd: typeof record.cwd === 'string' && record.cwd !== '' ? record.cwd : null
      })
      chunkBytes += text === null ? 0 : text.length
      if (chunk.length >= CHUNK_RECORDS || chunkBytes >= CHUNK_BYTES) await flush()
    }
    // the last chunk also moves the position past trailing invalid or skipped lines
    if (chunk.length > 0 || chunkEnd > row.byte_offset) await flush()
    summary.sessions.sort((a, b) => a - b)
    return summary
  }

  return { importTranscript }
}

export type TranscriptImporter = ReturnType<typeof createTranscriptImporter>
