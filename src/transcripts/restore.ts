// Takes an export (src/transcripts/export.ts) back: an agent moved between servers keeps its seq numbers,
// sessions, totals and info. Events whose seq the agent already has are skipped, so importing the same file again
// (or a later export of the same agent, or the rest of one cut short) adds only what is new.
//
// Written like transcript imports: chunks of lines through the event store's exclusive write, each in one
// transaction at the agent's place in the write queue.
import type { Static } from '@sinclair/typebox'
import { EVENT_TYPES } from '../protocol/messages.js'
import type { ExportImportResult } from '../schemas/transcripts.js'
import type { EventStore, ExclusiveAgent, ExclusiveResult } from '../store/event-store.js'
import { httpError } from '../errors.js'
import { streamLines } from './lines.js'
import type { AgentLocks } from './import.js'
import { addToSession, insertEvents, type NewEvent, type SessionRowValues, setSession, type Trx } from './repository.js'

const CHUNK_LINES = 1000
const CHUNK_BYTES = 4 * 1024 * 1024

/** What a restore did, as the import route answers it. */
export type RestoreSummary = Static<typeof ExportImportResult>

interface EndLine {
  current_session: number
  info: Record<string, unknown> | null
}

type Obj = Record<string, unknown>

const isInt = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= 2147483647
const isStr = (v: unknown): v is string => typeof v === 'string'
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v)
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0

function bad (line: number, what: string): Error {
  return httpError(400, `line ${line}: ${what}`, 'invalid_line')
}

function eventOf (o: Obj, line: number): Omit<NewEvent, 'agent_id'> {
  if (!isInt(o.seq, 1) || !isInt(o.session_number) || !isStr(o.event_type) || !(EVENT_TYPES as string[]).includes(o.event_type) ||
      !(o.content === null || isStr(o.content)) || !(o.metadata === null || isObj(o.metadata)) || !isStr(o.created_at)) {
    throw bad(line, 'not an exported event (seq, session_number, event_type, content, metadata, created_at)')
  }
  return {
    session_number: o.session_number,
    seq: o.seq,
    event_type: o.event_type,
    content: o.content,
    metadata: o.metadata === null ? null : JSON.stringify(o.metadata),
    created_at: o.created_at
  }
}

function sessionOf (o: Obj, line: number): SessionRowValues {
  if (!isInt(o.session_number) || !isInt(o.first_seq, 1) || !isInt(o.last_seq, 1) || !isStr(o.started_at) || !isStr(o.ended_at) ||
      !isCount(o.cost_usd) || !isCount(o.input_tokens) || !isCount(o.output_tokens) || !isCount(o.cache_read_tokens) || !isCount(o.cache_creation_tokens)) {
    throw bad(line, 'not an exported session')
  }
  return {
    session_number: o.session_number,
    first_seq: o.first_seq,
    last_seq: o.last_seq,
    started_at: o.started_at,
    ended_at: o.ended_at,
    cost_usd: o.cost_usd,
    input_tokens: o.input_tokens,
    output_tokens: o.output_tokens,
    cache_read_tokens: o.cache_read_tokens,
    cache_creation_tokens: o.cache_creation_tokens
  }
}

export function createRestorer (events: EventStore, serialized: AgentLocks, opts: { maxLineBytes: number }) {
  async function importExport (agentId: string, body: AsyncIterable<Buffer>, options: { offset: number, dryRun: boolean }): Promise<RestoreSummary> {
    await events.loadAgent(agentId, true)
    return await serialized(agentId, () => run(agentId, body, options))
  }

  async function run (agentId: string, body: AsyncIterable<Buffer>, options: { offset: number, dryRun: boolean }): Promise<RestoreSummary> {
    const summary: RestoreSummary = {
      agent_id: agentId,
      format: 'agentlog',
      offset: options.offset,
      records: 0,
      events_added: 0,
      duplicates: 0,
      sessions: 0,
      complete: false,
      partial_line: false,
      dry_run: options.dryRun
    }
    let evs: Array<Omit<NewEvent, 'agent_id'>> = []
    let sessions: SessionRowValues[] = []
    let end: EndLine | null = null
    let bytes = 0
    let chunkEnd = options.offset

    const flush = async (): Promise<void> => {
      const batch = { evs, sessions, end, offset: chunkEnd }
      evs = []
      sessions = []
      end = null
      bytes = 0
      await events.exclusive(agentId, (trx, agent) => apply(trx, agent, batch))
      summary.offset = batch.offset
    }

    async function apply (trx: Trx, agent: ExclusiveAgent, batch: { evs: Array<Omit<NewEvent, 'agent_id'>>, sessions: SessionRowValues[], end: EndLine | null }): Promise<ExclusiveResult<null>> {
      const state: ExclusiveAgent = { ...agent }
      const rows: NewEvent[] = []
      const uuids: Array<{ uuid: string, seq: number }> = []
      const spans = new Map<number, { first_seq: number, last_seq: number, started_at: string, ended_at: string }>()
      for (const e of batch.evs) {
        // seq numbers are kept as they were; those the agent already has were imported before
        if (e.seq <= state.lastSeq) { summary.duplicates++; continue }
        state.lastSeq = e.seq
        if (state.oldestSeq === null) state.oldestSeq = e.seq
        if (e.session_number > state.currentSession) state.currentSession = e.session_number
        rows.push({ agent_id: agentId, ...e })
        const uuid = e.metadata === null ? undefined : (JSON.parse(e.metadata) as Obj).uuid
        if (typeof uuid === 'string' && !uuids.some(u => u.uuid === uuid)) uuids.push({ uuid, seq: e.seq })
        const span = spans.get(e.session_number)
        if (span === undefined) spans.set(e.session_number, { first_seq: e.seq, last_seq: e.seq, started_at: e.created_at, ended_at: e.created_at })
        else { span.last_seq = e.seq; span.ended_at = e.created_at }
      }
      summary.events_added += rows.length
      summary.sessions += batch.sessions.length
      if (batch.end !== null && batch.end.current_session > state.currentSession) state.currentSession = batch.end.current_session
      if (options.dryRun) return { events: [], agent, uuids: [], value: null }
      const stored = await insertEvents(trx, rows)
      const zero = { cost_usd: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_creation_tokens: 0 }
      // the session lines (at the end of the file) then set each session's row exactly as it was
      for (const [session, span] of spans) await addToSession(trx, agentId, session, span, zero)
      for (const s of batch.sessions) await setSession(trx, agentId, s)
      const result: ExclusiveResult<null> = { events: stored, agent: state, uuids, value: null }
      if (batch.end !== null && batch.end.info !== null) result.info = batch.end.info
      return result
    }

    const lines = streamLines(body, opts.maxLineBytes)
    let lineNo = 0
    for (;;) {
      const step = await lines.next()
      if (step.done === true) {
        summary.partial_line = step.value.partialBytes > 0
        break
      }
      lineNo++
      summary.records++
      chunkEnd = options.offset + step.value.end
      const text = step.value.text
      if (text === null) throw bad(lineNo, 'longer than the limit')
      if (text.trim() === '') continue
      let o: unknown
      try { o = JSON.parse(text) } catch { throw bad(lineNo, 'not JSON') }
      if (!isObj(o)) throw bad(lineNo, 'not a JSON object')
      if ('event_type' in o) evs.push(eventOf(o, lineNo))
      else if (o.type === 'session') sessions.push(sessionOf(o, lineNo))
      else if (o.type === 'end') {
        if (!isInt(o.current_session) || !(o.info === null || isObj(o.info))) throw bad(lineNo, 'not an export\'s end line')
        end = { current_session: o.current_session, info: o.info as Obj | null }
        summary.complete = true
      } else throw bad(lineNo, 'neither an event, a session nor the end line of an export')
      bytes += text.length
      if (evs.length + sessions.length >= CHUNK_LINES || bytes >= CHUNK_BYTES) await flush()
    }
    if (evs.length > 0 || sessions.length > 0 || end !== null || chunkEnd > summary.offset) await flush()
    return summary
  }

  return { importExport }
}
