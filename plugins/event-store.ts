// Where events are written: one ordered queue per database, committed in batches by a single writer.
//
// Session numbers are stamped when a line is received (from the agent's in-memory current session,
// which clear-context bumps synchronously), so a context_cleared event is an exact barrier even for
// lines already waiting in the queue. Everything that depends on what was already stored (dedupe by
// uuid, seq, the cost baseline, which turn a line belongs to) is decided by the writer, in queue order,
// inside the batch's transaction, and applied to memory only after the commit.
import fp from 'fastify-plugin'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely, Transaction } from 'kysely'
import type SQLite from 'better-sqlite3'
import type { Database, SessionsTable } from '../db/schema.js'
import type { Config } from '../src/config.js'
import type { AgentMessage } from '../src/protocol/ndjson.js'
import {
  assistantEvents, countsEarlierTurns, type EventDraft, type EventType, initInfo, isClearReplyAssistant, isClearReplyResult,
  messageSessionId, messageUuid, resultEvent, resultTotalCost, resultUsage, userEvents
} from '../src/protocol/messages.js'
import { createRedactor } from '../src/redact.js'

declare module 'fastify' {
  interface FastifyInstance { events: EventStore }
}

export interface StoredEvent {
  id: number
  agent_id: string
  session_number: number
  seq: number
  event_type: string
  content: string | null
  metadata: Record<string, unknown> | null
  created_at: string
}

export type ClearOutcome = 'cleared' | 'not_supported' | 'no_answer' | 'not_connected'

interface ClearTurn {
  kind: 'clear'
  sessionNumber: number
  previousSession: number
  /** The CLI's session id before the clear; a different one afterwards means it really cleared. */
  previousClaudeSession: string | null
  cleared: boolean
  /** Already reported as no_answer: a late reply still counts, until a newer clear supersedes it. */
  timedOut: boolean
  settle: (outcome: ClearOutcome) => void
}

type Turn = { kind: 'prompt' } | ClearTurn

/** What the writer knows about an agent; cloned for each batch and swapped in after the commit. */
interface WriterState {
  lastSeq: number
  oldestSeq: number | null
  costBaseline: number | null
  /**
   * The previous process's session and counter, kept when a new process connects: a CLI started with
   * --resume continues that session's counter instead of starting at zero.
   */
  resumeFrom: { sessionId: string, total: number } | null
  claudeSessionId: string | null
  info: Record<string, unknown> | null
  pendingTurns: Turn[]
  lastSeenAt: string | null
  lastConnectedAt: string | null
  currentSession: number
}

export interface AgentState {
  agentId: string
  createdAt: string
  /** Receipt side: the session stamped on every line as it arrives; clear-context bumps it at once. */
  currentSession: number
  committed: WriterState
}

type QueueItem =
  | { kind: 'line', agentId: string, session: number, at: string, message: AgentMessage }
  | { kind: 'prompt', agentId: string, session: number, at: string, content: string, done: Waiter }
  | { kind: 'record', agentId: string, session: number, at: string, drafts: EventDraft[], done: Waiter }
  | { kind: 'clear', agentId: string, session: number, at: string, previousSession: number, turn: ClearTurn | null, outcome: ClearOutcome | null, done: Waiter }
  | { kind: 'clear_outcome', agentId: string, session: number, at: string, outcome: ClearOutcome, previousSession: number, cost?: ResultCost }
  | { kind: 'connect', agentId: string, session: number, at: string, newProcess: boolean }
  | { kind: 'seen', agentId: string, session: number, at: string }
  | { kind: 'exclusive', agentId: string, session: number, at: string, run: ExclusiveRun<unknown>, done: ExclusiveWaiter }

// ---- exclusive writes (imports) ----
// An import writes many events that must keep their own order and session, may take several queries to plan
// (what is already stored), and may need to know the agent's position first. It runs as one queue item: the
// writer commits everything queued before it, then runs it alone in its own transaction, with the agent's
// committed position (last seq, current session) as it stands after those earlier items, and continues with the
// items queued after it. So seq stays gapless and in receive order, and nothing the agent sends meanwhile can
// land between an import's events.

/** What an exclusive write sees of its agent and may move forward. */
export interface ExclusiveAgent {
  lastSeq: number
  oldestSeq: number | null
  currentSession: number
}

export interface ExclusiveResult<T> {
  /** The events it inserted (with their ids), announced to the live streams after the commit. */
  events: StoredEvent[]
  agent: ExclusiveAgent
  /** Line uuids it stored, with the seq of their first event: re-sent live lines with these are dropped. */
  uuids: Array<{ uuid: string, seq: number }>
  /** Replaces what the agent told about itself (model, cwd, ...), when given. */
  info?: Record<string, unknown> | null
  value: T
}

export type ExclusiveRun<T> = (trx: Transaction<Database>, agent: ExclusiveAgent) => Promise<ExclusiveResult<T>>

interface ExclusiveWaiter {
  resolve: (value: unknown) => void
  reject: (err: Error) => void
}

interface Waiter {
  resolve: (events: StoredEvent[]) => void
  reject: (err: Error) => void
}

interface ResultCost {
  cost_usd: number
  usage: ReturnType<typeof resultUsage>
}

interface PendingRow {
  agent_id: string
  session_number: number
  seq: number
  event_type: EventType
  content: string | null
  metadata: Record<string, unknown> | null
  created_at: string
}

/** A batch's additions to one session's totals, upserted into the sessions table. */
type SessionDelta = SessionsTable

export type CommitListener = (events: StoredEvent[]) => void

/** After each committed batch: how many queue items it held and how long its commit took. */
export type BatchListener = (items: number, seconds: number) => void

/**
 * Steps run inside each PostgreSQL write transaction (several instances, see src/cluster/): `begin` before
 * anything is written (it may refuse agents this instance no longer owns by throwing), `beforeCommit` once
 * the events have their ids (a NOTIFY sent there is delivered if and only if the batch commits).
 */
export interface WriteHooks {
  /** Whether this instance writes the agent: the state of one it does not own is read again on each load. */
  owns: (agentId: string) => boolean
  begin: (trx: Transaction<Database>, agentIds: string[]) => Promise<void>
  beforeCommit: (trx: Transaction<Database>, events: StoredEvent[]) => Promise<void>
}

const INSERT_CHUNK = 500
const PRUNE_CHUNK = 5000

function agentRow (st: WriterState) {
  return {
    last_seq: st.lastSeq,
    current_session: st.currentSession,
    cost_baseline_usd: st.costBaseline,
    info: st.info === null ? null : JSON.stringify(st.info),
    last_seen_at: st.lastSeenAt,
    last_connected_at: st.lastConnectedAt
  }
}

/** Adds a batch's totals to a session's row (created by its first event). */
function upsertSession (qc: Kysely<Database>, d: SessionsTable) {
  return qc.insertInto('sessions').values(d)
    .onConflict(oc => oc.columns(['agent_id', 'session_number']).doUpdateSet(eb => ({
      last_seq: eb.ref('excluded.last_seq'),
      ended_at: eb.ref('excluded.ended_at'),
      cost_usd: eb('sessions.cost_usd', '+', eb.ref('excluded.cost_usd')),
      input_tokens: eb('sessions.input_tokens', '+', eb.ref('excluded.input_tokens')),
      output_tokens: eb('sessions.output_tokens', '+', eb.ref('excluded.output_tokens')),
      cache_read_tokens: eb('sessions.cache_read_tokens', '+', eb.ref('excluded.cache_read_tokens')),
      cache_creation_tokens: eb('sessions.cache_creation_tokens', '+', eb.ref('excluded.cache_creation_tokens'))
    })))
}

/**
 * The embedded database's write path: the same statements Kysely compiles (so the SQL stays the one the
 * Postgres path runs), prepared once and run synchronously inside one transaction per batch.
 */
function prepareSqliteWriter (db: Kysely<Database>, sqlite: SQLite.Database) {
  const prepare = (query: { compile: () => { sql: string } }) => sqlite.prepare(query.compile().sql)
  const claim = prepare(db.insertInto('agent_lines').values({ agent_id: '', uuid: '', seq: 0 })
    .onConflict(oc => oc.columns(['agent_id', 'uuid']).doNothing()))
  const insert = prepare(db.insertInto('conversation_events').values({
    agent_id: '', session_number: 0, seq: 0, event_type: '', content: null, metadata: null, created_at: ''
  }))
  const upsert = prepare(upsertSession(db, {
    agent_id: '',
    session_number: 0,
    first_seq: 0,
    last_seq: 0,
    started_at: '',
    ended_at: '',
    cost_usd: 0,
    input_tokens: 0,
    output_tokens: 0,
    cache_read_tokens: 0,
    cache_creation_tokens: 0
  }))
  const update = prepare(db.updateTable('agents').set({
    last_seq: 0, current_session: 0, cost_baseline_usd: null, info: null, last_seen_at: null, last_connected_at: null
  }).where('agent_id', '=', ''))
  return {
    transaction (fn: () => void): void {
      sqlite.transaction(fn).immediate()
    },
    claimLine (agentId: string, uuid: string, seq: number): boolean {
      return claim.run(agentId, uuid, seq).changes === 1
    },
    insertEvent (r: { agent_id: string, session_number: number, seq: number, event_type: string, content: string | null, metadata: Record<string, unknown> | null, created_at: string }): number {
      const info = insert.run(r.agent_id, r.session_number, r.seq, r.event_type, r.content,
        r.metadata === null ? null : JSON.stringify(r.metadata), r.created_at)
      return Number(info.lastInsertRowid)
    },
    upsertSession (d: SessionsTable): void {
      upsert.run(d.agent_id, d.session_number, d.first_seq, d.last_seq, d.started_at, d.ended_at, d.cost_usd,
        d.input_tokens, d.output_tokens, d.cache_read_tokens, d.cache_creation_tokens)
    },
    updateAgent (agentId: string, row: ReturnType<typeof agentRow>): void {
      update.run(row.last_seq, row.current_session, row.cost_baseline_usd, row.info, row.last_seen_at, row.last_connected_at, agentId)
    }
  }
}

function cloneState (s: WriterState): WriterState {
  return { ...s, pendingTurns: s.pendingTurns.slice(), info: s.info === null ? null : { ...s.info } }
}

function roundUsd (x: number): number {
  return Math.round(x * 1e10) / 1e10
}

export function createEventStore (db: Kysely<Database>, config: Config, log: FastifyBaseLogger, sqlite: SQLite.Database | null = null, hooks: WriteHooks | null = null) {
  const fast = sqlite === null ? null : prepareSqliteWriter(db, sqlite)
  const agents = new Map<string, AgentState>()
  const loading = new Map<string, Promise<AgentState | null>>()
  const queue: QueueItem[] = []
  const listeners = new Set<CommitListener>()
  const pressureListeners = new Set<(full: boolean) => void>()
  const batchListeners = new Set<BatchListener>()
  const redact = createRedactor(config.redactPatterns)
  const idleWaiters: Array<() => void> = []
  const pruneNeeded = new Set<string>()
  /** Agents to drop from memory (and their queued items) as soon as no batch is being written. */
  const forgetting = new Map<string, Array<() => void>>()
  let writing = false
  let exclusiveQueued = 0
  let scheduled = false
  let closed = false
  let retryDelay = 0
  let retryTimer: NodeJS.Timeout | null = null
  let full = false
  const stats = {
    linesQueued: 0,
    duplicateLines: 0,
    batches: 0,
    eventsWritten: 0,
    writeErrors: 0,
    lastError: null as string | null,
    healthy: true
  }

  async function loadAgent (agentId: string, create: boolean): Promise<AgentState | null> {
    const known = agents.get(agentId)
    const current = hooks === null || hooks.owns(agentId)
    if (known !== undefined && current) return known
    const inFlight = loading.get(agentId)
    if (inFlight !== undefined && current) {
      const state = await inFlight
      if (state !== null || !create) return state
    }
    const p = (async () => {
      let row = await db.selectFrom('agents').selectAll().where('agent_id', '=', agentId).executeTakeFirst()
      if (row === undefined && create) {
        await db.insertInto('agents').values({
          agent_id: agentId, current_session: 0, last_seq: 0, created_at: new Date().toISOString()
        }).onConflict(oc => oc.column('agent_id').doNothing()).execute()
        row = await db.selectFrom('agents').selectAll().where('agent_id', '=', agentId).executeTakeFirstOrThrow()
      }
      if (row === undefined) return null
      const oldest = await db.selectFrom('conversation_events').select('seq')
        .where('agent_id', '=', agentId).orderBy('seq', 'asc').limit(1).executeTakeFirst()
      const info = row.info === null ? null : JSON.parse(row.info) as Record<string, unknown>
      const state: AgentState = {
        agentId,
        createdAt: row.created_at,
        currentSession: row.current_session,
        committed: {
          lastSeq: row.last_seq,
          oldestSeq: oldest?.seq ?? null,
          costBaseline: row.cost_baseline_usd,
          resumeFrom: null,
          claudeSessionId: typeof info?.claude_session_id === 'string' ? info.claude_session_id : null,
          info,
          pendingTurns: [],
          lastSeenAt: row.last_seen_at,
          lastConnectedAt: row.last_connected_at,
          currentSession: row.current_session
        }
      }
      // another load may have finished first; the first one in memory wins (unless another instance writes it)
      const winner = (current ? agents.get(agentId) : undefined) ?? state
      agents.set(agentId, winner)
      return winner
    })()
    loading.set(agentId, p)
    try {
      return await p
    } finally {
      if (loading.get(agentId) === p) loading.delete(agentId)
    }
  }

  /**
   * Drops an agent's state and whatever is still queued for it (its waiters are rejected): another instance
   * owns its writes now, and the next load reads the state it left. Resolves once done (after the current batch).
   */
  function forget (agentId: string): Promise<void> {
    return new Promise((resolve) => {
      const waiting = forgetting.get(agentId) ?? []
      waiting.push(resolve)
      forgetting.set(agentId, waiting)
      if (!writing) applyForget()
    })
  }

  /** Reads the agent's state afresh (after another instance wrote it), dropping anything kept here. */
  async function reload (agentId: string): Promise<AgentState> {
    await forget(agentId)
    await loading.get(agentId)?.catch(() => null)
    agents.delete(agentId)
    return await loadAgent(agentId, true) as AgentState
  }

  function applyForget (): void {
    if (forgetting.size === 0) return
    const gone = new Map(forgetting)
    forgetting.clear()
    let kept = 0
    for (const item of queue) {
      if (!gone.has(item.agentId)) { queue[kept++] = item; continue }
      if ('done' in item) item.done.reject(new Error(`agent ${item.agentId} is now written by another instance`))
      if (item.kind === 'exclusive') exclusiveQueued--
      if (item.kind === 'clear' && item.turn !== null) item.turn.settle('no_answer')
    }
    queue.length = kept
    for (const [agentId, waiting] of gone) {
      agents.delete(agentId)
      pruneNeeded.delete(agentId)
      for (const w of waiting) w()
    }
    if (queue.length === 0) for (const w of idleWaiters.splice(0)) w()
  }

  function mustGet (agentId: string): AgentState {
    const state = agents.get(agentId)
    if (state === undefined) throw new Error(`agent ${agentId} is not loaded`)
    return state
  }

  function enqueue (item: QueueItem): void {
    if (closed) throw new Error('event store is closed')
    queue.push(item)
    if (!full && queue.length >= config.queueMax) {
      full = true
      for (const l of pressureListeners) l(true)
    }
    schedule()
  }

  function schedule (): void {
    if (scheduled || writing || retryTimer !== null) return
    scheduled = true
    setImmediate(runWriter)
  }

  /** A stream-json line from a connected agent; its session is the one current at this instant. */
  function ingest (agentId: string, message: AgentMessage): void {
    const state = mustGet(agentId)
    stats.linesQueued++
    enqueue({ kind: 'line', agentId, session: state.currentSession, at: new Date().toISOString(), message })
  }

  function connected (agentId: string, newProcess: boolean): void {
    const state = mustGet(agentId)
    enqueue({ kind: 'connect', agentId, session: state.currentSession, at: new Date().toISOString(), newProcess })
  }

  function seen (agentId: string): void {
    const state = agents.get(agentId)
    if (state === undefined || closed) return
    enqueue({ kind: 'seen', agentId, session: state.currentSession, at: new Date().toISOString() })
  }

  function promptSent (agentId: string, content: string): Promise<StoredEvent[]> {
    const state = mustGet(agentId)
    return new Promise((resolve, reject) => {
      enqueue({ kind: 'prompt', agentId, session: state.currentSession, at: new Date().toISOString(), content, done: { resolve, reject } })
    })
  }

  /**
   * Appends events the server itself produces (operator commands, approvals, relay notices) to the agent's
   * current session, in receive order with its lines; resolves with them once committed.
   */
  function record (agentId: string, drafts: EventDraft[]): Promise<StoredEvent[]> {
    const state = mustGet(agentId)
    return new Promise((resolve, reject) => {
      enqueue({ kind: 'record', agentId, session: state.currentSession, at: new Date().toISOString(), drafts, done: { resolve, reject } })
    })
  }

  /**
   * Starts a new session at once (the barrier) and, when the agent is connected, expects its answer to /clear.
   * Resolves `committed` with the context_cleared event once it is durable; `outcome` settles when the agent
   * has answered (never rejects).
   */
  function clearContext (agentId: string, agentConnected: boolean) {
    const state = mustGet(agentId)
    const previousSession = state.currentSession
    const sessionNumber = previousSession + 1
    state.currentSession = sessionNumber
    let settle: (outcome: ClearOutcome) => void = () => {}
    const outcome = new Promise<ClearOutcome>((resolve) => { settle = resolve })
    const turn: ClearTurn | null = agentConnected
      ? { kind: 'clear', sessionNumber, previousSession, previousClaudeSession: null, cleared: false, timedOut: false, settle }
      : null
    if (turn === null) settle('not_connected')
    const committed = new Promise<StoredEvent[]>((resolve, reject) => {
      enqueue({
        kind: 'clear',
        agentId,
        session: sessionNumber,
        at: new Date().toISOString(),
        previousSession,
        turn,
        outcome: agentConnected ? null : 'not_connected',
        done: { resolve, reject }
      })
    })
    return { sessionNumber, previousSession, committed, outcome }
  }

  /**
   * Runs `run` at this point of the agent's queue, alone in its own transaction (see ExclusiveRun above).
   * Resolves with its value once committed; a failed run is rolled back and rejects (it is not retried).
   */
  function exclusive<T> (agentId: string, run: ExclusiveRun<T>): Promise<T> {
    const state = mustGet(agentId)
    return new Promise<T>((resolve, reject) => {
      exclusiveQueued++
      enqueue({
        kind: 'exclusive',
        agentId,
        session: state.currentSession,
        at: new Date().toISOString(),
        run: run as ExclusiveRun<unknown>,
        done: { resolve: resolve as (value: unknown) => void, reject }
      })
    })
  }

  async function runExclusive (item: Extract<QueueItem, { kind: 'exclusive' }>): Promise<void> {
    const state = mustGet(item.agentId)
    const before = state.committed
    let result: ExclusiveResult<unknown> | null = null
    try {
      await inTransaction(async (trx) => {
        if (hooks !== null) await hooks.begin(trx, [item.agentId])
        const r = await item.run(trx, { lastSeq: before.lastSeq, oldestSeq: before.oldestSeq, currentSession: before.currentSession })
        for (let i = 0; i < r.uuids.length; i += 1000) {
          await trx.insertInto('agent_lines')
            .values(r.uuids.slice(i, i + 1000).map(u => ({ agent_id: item.agentId, uuid: u.uuid, seq: u.seq })))
            .onConflict(oc => oc.columns(['agent_id', 'uuid']).doNothing())
            .execute()
        }
        await trx.updateTable('agents').set({
          last_seq: r.agent.lastSeq,
          current_session: r.agent.currentSession,
          ...(r.info !== undefined ? { info: r.info === null ? null : JSON.stringify(r.info) } : {})
        }).where('agent_id', '=', item.agentId).execute()
        if (hooks !== null && r.events.length > 0) await hooks.beforeCommit(trx, r.events)
        result = r
      })
    } catch (err) {
      log.warn({ err, agentId: item.agentId }, 'exclusive write failed and was rolled back')
      item.done.reject(err as Error)
      return
    }
    const r = result as unknown as ExclusiveResult<unknown>
    state.committed = { ...before, lastSeq: r.agent.lastSeq, oldestSeq: r.agent.oldestSeq, currentSession: r.agent.currentSession }
    if (r.info !== undefined) state.committed.info = r.info
    if (state.currentSession < r.agent.currentSession) state.currentSession = r.agent.currentSession
    if (config.eventsMaxPerAgent > 0 && r.agent.oldestSeq !== null && r.agent.lastSeq - r.agent.oldestSeq + 1 > config.eventsMaxPerAgent) {
      pruneNeeded.add(item.agentId)
    }
    stats.eventsWritten += r.events.length
    if (r.events.length > 0) {
      for (const l of listeners) {
        try { l(r.events) } catch (err) { log.error({ err }, 'commit listener failed') }
      }
    }
    item.done.resolve(r.value)
  }

  /** Records an outcome the writer did not see (the agent never answered in time). */
  function clearOutcome (agentId: string, sessionNumber: number, previousSession: number, outcome: ClearOutcome): void {
    if (closed) return
    enqueue({ kind: 'clear_outcome', agentId, session: sessionNumber, at: new Date().toISOString(), outcome, previousSession })
  }

  // ---- the writer ----

  async function runWriter (): Promise<void> {
    scheduled = false
    if (writing) return
    writing = true
    try {
      while (queue.length > 0) {
        applyForget()
        if (queue.length === 0) break
        if (queue[0].kind === 'exclusive') {
          const item = queue.shift() as Extract<QueueItem, { kind: 'exclusive' }>
          exclusiveQueued--
          await runExclusive(item)
          continue
        }
        let size = Math.min(queue.length, config.batchMax)
        if (exclusiveQueued > 0) {
          // a batch ends before the next exclusive write
          const cut = queue.findIndex(i => i.kind === 'exclusive')
          if (cut !== -1 && cut < size) size = cut
        }
        const batch = queue.slice(0, size)
        const started = performance.now()
        try {
          if (config.benchCommitDelayMs > 0) await new Promise(resolve => setTimeout(resolve, config.benchCommitDelayMs))
          await writeBatch(batch)
        } catch (err) {
          stats.writeErrors++
          stats.healthy = false
          stats.lastError = (err as Error).message
          retryDelay = Math.min(retryDelay === 0 ? 50 : retryDelay * 2, 5000)
          log.error({ err, batch: batch.length, queue: queue.length, retryInMs: retryDelay }, 'event batch failed to commit; will retry')
          retryTimer = setTimeout(() => { retryTimer = null; schedule() }, retryDelay)
          return
        }
        queue.splice(0, batch.length)
        for (const l of batchListeners) l(batch.length, (performance.now() - started) / 1000)
        if (!stats.healthy) log.info({ queue: queue.length, writeErrors: stats.writeErrors }, 'event batch committed: writes recovered')
        retryDelay = 0
        stats.healthy = true
        if (full && queue.length < config.queueMax / 2) {
          full = false
          for (const l of pressureListeners) l(false)
        }
        // one bounded retention step between batches keeps ingest moving
        const pruneNext = pruneNeeded.values().next()
        if (pruneNext.done !== true) {
          const agentId = pruneNext.value
          pruneNeeded.delete(agentId)
          try {
            await pruneStep(agentId)
          } catch (err) {
            log.warn({ err, agentId }, 'retention pass failed; will try again after the next batch')
            pruneNeeded.add(agentId)
          }
        }
      }
      // finish retention while nothing waits to be written (new lines go first; the next batch resumes it),
      // so a backlog larger than one step does not stay over the limit until the agent writes again
      while (pruneNeeded.size > 0 && queue.length === 0) {
        for (const agentId of [...pruneNeeded]) {
          pruneNeeded.delete(agentId)
          await pruneStep(agentId).catch((err: unknown) => log.warn({ err, agentId }, 'retention pass failed'))
          if (queue.length > 0) break
        }
      }
    } finally {
      writing = false
      applyForget()
      if (queue.length > 0 && retryTimer === null) schedule()
      else if (queue.length === 0) {
        for (const w of idleWaiters.splice(0)) w()
      }
    }
  }

  /**
   * Runs one transaction and, when it fails, throws the failure itself: SQLite rolls back on its own after
   * SQLITE_FULL and I/O errors, and the ROLLBACK Kysely's transaction() sends then fails with "cannot rollback -
   * no transaction is active", which would hide the cause from the log and from /health/ready.
   */
  async function inTransaction (fn: (trx: Transaction<Database>) => Promise<void>): Promise<void> {
    const trx = await db.startTransaction().execute()
    try {
      await fn(trx)
      await trx.commit().execute()
    } catch (err) {
      await trx.rollback().execute().catch((rollbackErr: unknown) => {
        log.debug({ err: rollbackErr }, 'rollback after a failed transaction failed (the database had rolled it back)')
      })
      throw err
    }
  }

  async function writeBatch (batch: QueueItem[]): Promise<void> {
    const touched = new Map<string, WriterState>()
    const rows: PendingRow[] = []
    const itemRows = new Map<QueueItem, PendingRow[]>()
    const sessions = new Map<string, SessionDelta>()
    const settles: Array<() => void> = []

    const stateOf = (agentId: string): WriterState => {
      let s = touched.get(agentId)
      if (s === undefined) {
        s = cloneState(mustGet(agentId).committed)
        touched.set(agentId, s)
      }
      return s
    }

    let duplicates = 0
    /** Turns the batch into rows and state changes; claimLine says whether a line's uuid is new (and keeps it). */
    const plan = (claimLine: (agentId: string, uuid: string, seq: number) => boolean): void => {
      const append = (item: QueueItem, st: WriterState, draft: EventDraft, cost?: ResultCost): void => {
        // secrets are masked before anything is stored or announced
        if (redact !== null) draft = redact(draft)
        const row: PendingRow = {
          agent_id: item.agentId,
          session_number: item.session,
          seq: ++st.lastSeq,
          event_type: draft.event_type,
          content: draft.content,
          metadata: draft.metadata,
          created_at: item.at
        }
        if (st.oldestSeq === null) st.oldestSeq = row.seq
        rows.push(row)
        let list = itemRows.get(item)
        if (list === undefined) { list = []; itemRows.set(item, list) }
        list.push(row)
        const key = `${item.agentId}\u0000${item.session}`
        let s = sessions.get(key)
        if (s === undefined) {
          s = {
            agent_id: item.agentId,
            session_number: item.session,
            first_seq: row.seq,
            last_seq: row.seq,
            started_at: item.at,
            ended_at: item.at,
            cost_usd: 0,
            input_tokens: 0,
            output_tokens: 0,
            cache_read_tokens: 0,
            cache_creation_tokens: 0
          }
          sessions.set(key, s)
        }
        s.last_seq = row.seq
        s.ended_at = item.at
        if (cost !== undefined) {
          s.cost_usd += cost.cost_usd
          s.input_tokens += cost.usage.input_tokens
          s.output_tokens += cost.usage.output_tokens
          s.cache_read_tokens += cost.usage.cache_read_tokens
          s.cache_creation_tokens += cost.usage.cache_creation_tokens
        }
      }

      for (const item of batch) {
        const st = stateOf(item.agentId)
        st.lastSeenAt = item.at
        switch (item.kind) {
          case 'seen':
            break
          case 'connect':
            st.lastConnectedAt = item.at
            if (item.newProcess) {
              // a new CLI process: its cost counter starts again, and prompts sent to the old one are gone
              st.resumeFrom = st.costBaseline !== null && st.claudeSessionId !== null
                ? { sessionId: st.claudeSessionId, total: st.costBaseline }
                : null
              st.costBaseline = null
              for (const turn of st.pendingTurns) {
                if (turn.kind === 'clear') { const t = turn; settles.push(() => t.settle('no_answer')) }
              }
              st.pendingTurns = []
            }
            break
          case 'prompt':
            append(item, st, { event_type: 'prompt_sent', content: item.content, metadata: null })
            append(item, st, { event_type: 'activity_changed', content: null, metadata: { state: 'busy' } })
            st.pendingTurns.push({ kind: 'prompt' })
            break
          case 'record':
            for (const draft of item.drafts) append(item, st, draft)
            break
          case 'clear': {
            st.currentSession = item.session
            const metadata: Record<string, unknown> = { previous_session: item.previousSession, session_number: item.session }
            if (item.outcome !== null) metadata.agent_context = item.outcome
            else metadata.agent_context = 'pending'
            append(item, st, { event_type: 'context_cleared', content: null, metadata })
            if (item.turn !== null) {
              item.turn.previousClaudeSession = st.claudeSessionId
              // a /clear the agent never answered would otherwise take this one's reply (the CLI may drop prompts)
              st.pendingTurns = st.pendingTurns.filter(turn => turn.kind !== 'clear' || !turn.timedOut)
              st.pendingTurns.push(item.turn)
            }
            break
          }
          case 'clear_outcome':
            for (const turn of st.pendingTurns) {
              if (turn.kind === 'clear' && turn.sessionNumber === item.session) turn.timedOut = true
            }
            append(item, st, {
              event_type: 'context_clear_outcome',
              content: null,
              metadata: { agent_context: item.outcome, session_number: item.session, previous_session: item.previousSession }
            })
            break
          case 'line': {
            const uuid = messageUuid(item.message)
            // the key sits at the line's first seq, so retention drops it together with the line's events
            if (uuid !== null && !claimLine(item.agentId, uuid, st.lastSeq + 1)) {
              duplicates++
              break
            }
            handleLine(item, st, append, settles)
            break
          }
        }
      }
    }

    if (fast !== null) {
      // SQLite: one synchronous transaction of cached prepared statements (BEGIN IMMEDIATE takes the write lock first)
      fast.transaction(() => {
        plan((agentId, uuid, seq) => fast.claimLine(agentId, uuid, seq))
        for (const r of rows) {
          (r as PendingRow & { id: number }).id = fast.insertEvent(r)
        }
        for (const d of sessions.values()) fast.upsertSession(d)
        for (const [agentId, st] of touched) fast.updateAgent(agentId, agentRow(st))
      })
    } else {
      await inTransaction(async (trx) => {
        if (hooks !== null) await hooks.begin(trx, [...new Set(batch.map(item => item.agentId))])
        const known = await knownLineUuids(trx, batch)
        const lineKeys: Array<{ agent_id: string, uuid: string, seq: number }> = []
        plan((agentId, uuid, seq) => {
          const key = `${agentId}\u0000${uuid}`
          if (known.has(key)) return false
          known.add(key)
          lineKeys.push({ agent_id: agentId, uuid, seq })
          return true
        })
        const ids = await insertEvents(trx, rows)
        for (let i = 0; i < lineKeys.length; i += 1000) {
          await trx.insertInto('agent_lines').values(lineKeys.slice(i, i + 1000))
            .onConflict(oc => oc.columns(['agent_id', 'uuid']).doNothing())
            .execute()
        }
        for (let i = 0; i < rows.length; i++) (rows[i] as PendingRow & { id: number }).id = ids[i]
        await upsertSessions(trx, [...sessions.values()])
        for (const [agentId, st] of touched) {
          await trx.updateTable('agents').set(agentRow(st)).where('agent_id', '=', agentId).execute()
        }
        if (hooks !== null && rows.length > 0) await hooks.beforeCommit(trx, rows.map(toStored))
      })
    }
    stats.duplicateLines += duplicates

    // committed: make it visible
    for (const [agentId, st] of touched) {
      const state = mustGet(agentId)
      state.committed = st
      if (config.eventsMaxPerAgent > 0 && st.oldestSeq !== null && st.lastSeq - st.oldestSeq + 1 > config.eventsMaxPerAgent) {
        pruneNeeded.add(agentId)
      }
    }
    stats.batches++
    stats.eventsWritten += rows.length
    const stored = rows.map(toStored)
    if (stored.length > 0) {
      for (const l of listeners) {
        try { l(stored) } catch (err) { log.error({ err }, 'commit listener failed') }
      }
    }
    const byRow = new Map<PendingRow, StoredEvent>()
    rows.forEach((r, i) => byRow.set(r, stored[i]))
    for (const item of batch) {
      if (item.kind === 'prompt' || item.kind === 'clear' || item.kind === 'record') {
        item.done.resolve((itemRows.get(item) ?? []).map(r => byRow.get(r) as StoredEvent))
      }
    }
    for (const s of settles) s()
  }

  function handleLine (
    item: Extract<QueueItem, { kind: 'line' }>,
    st: WriterState,
    append: (item: QueueItem, st: WriterState, draft: EventDraft, cost?: ResultCost) => void,
    settles: Array<() => void>
  ): void {
    const message = item.message
    const head = st.pendingTurns[0]
    const clearHead = head !== undefined && head.kind === 'clear' ? head : null
    const sessionId = messageSessionId(message)
    if (clearHead !== null && sessionId !== null && clearHead.previousClaudeSession !== null &&
        sessionId !== clearHead.previousClaudeSession) {
      clearHead.cleared = true
    }
    switch (message.type) {
      case 'system':
        if (message.subtype === 'init') {
          st.info = { ...(st.info ?? {}), ...initInfo(message) }
          if (sessionId !== null) st.claudeSessionId = sessionId
        }
        return
      case 'conversation_reset':
        if (clearHead !== null) clearHead.cleared = true
        return
      case 'assistant':
        if (clearHead !== null && isClearReplyAssistant(message)) return
        for (const d of assistantEvents(message, config.maxEventContentBytes)) append(item, st, d)
        return
      case 'user':
        for (const d of userEvents(message, config.maxEventContentBytes)) append(item, st, d)
        return
      case 'result': {
        const total = resultTotalCost(message)
        let costUsd = 0
        if (total !== null) {
          let baseline = st.costBaseline ?? 0
          const resumed = st.resumeFrom
          if (st.costBaseline === null && resumed !== null && sessionId === resumed.sessionId && total >= resumed.total &&
              countsEarlierTurns(message) !== false) {
            baseline = resumed.total
          }
          st.resumeFrom = null
          costUsd = total >= baseline ? roundUsd(total - baseline) : total
          st.costBaseline = total
        }
        const cost: ResultCost = { cost_usd: costUsd, usage: resultUsage(message) }
        if (sessionId !== null) st.claudeSessionId = sessionId
        // which turn does this result end? prompts the CLI dropped are skipped over
        const clearIndex = st.pendingTurns.findIndex(t => t.kind === 'clear')
        if (clearIndex !== -1 && isClearReplyResult(message)) {
          const turn = st.pendingTurns[clearIndex] as ClearTurn
          st.pendingTurns.splice(0, clearIndex + 1)
          const outcome: ClearOutcome = turn.cleared ? 'cleared' : 'not_supported'
          append(item, st, {
            event_type: 'context_clear_outcome',
            content: null,
            metadata: {
              agent_context: outcome,
              session_number: turn.sessionNumber,
              previous_session: turn.previousSession,
              claude_session_id: sessionId,
              cost_usd: costUsd,
              usage: message.usage ?? null,
              uuid: messageUuid(message)
            }
          }, cost)
          settles.push(() => turn.settle(outcome))
          return
        }
        if (head !== undefined && head.kind === 'prompt') st.pendingTurns.shift()
        const draft = resultEvent(message, config.maxEventContentBytes)
        draft.metadata = { ...draft.metadata, cost_usd: costUsd }
        append(item, st, draft, cost)
        append(item, st, { event_type: 'activity_changed', content: null, metadata: { state: 'idle' } })
      }
    }
  }

  /** The dedupe keys of this batch's lines that are already stored (lines re-sent by a reconnecting agent). */
  async function knownLineUuids (trx: Transaction<Database>, batch: QueueItem[]): Promise<Set<string>> {
    const byAgent = new Map<string, string[]>()
    for (const item of batch) {
      if (item.kind !== 'line') continue
      const uuid = messageUuid(item.message)
      if (uuid === null) continue
      let list = byAgent.get(item.agentId)
      if (list === undefined) { list = []; byAgent.set(item.agentId, list) }
      list.push(uuid)
    }
    const known = new Set<string>()
    for (const [agentId, uuids] of byAgent) {
      for (let i = 0; i < uuids.length; i += 500) {
        const found = await trx.selectFrom('agent_lines').select('uuid')
          .where('agent_id', '=', agentId).where('uuid', 'in', uuids.slice(i, i + 500)).execute()
        for (const r of found) known.add(`${agentId}\u0000${r.uuid}`)
      }
    }
    return known
  }

  async function insertEvents (trx: Transaction<Database>, rows: PendingRow[]): Promise<number[]> {
    const ids: number[] = []
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const chunk = rows.slice(i, i + INSERT_CHUNK)
      const inserted = await trx.insertInto('conversation_events').values(chunk.map(r => ({
        agent_id: r.agent_id,
        session_number: r.session_number,
        seq: r.seq,
        event_type: r.event_type,
        content: r.content,
        metadata: r.metadata === null ? null : JSON.stringify(r.metadata),
        created_at: r.created_at
      }))).returning(['id', 'agent_id', 'seq']).execute()
      const byKey = new Map(inserted.map(r => [`${r.agent_id}\u0000${r.seq}`, Number(r.id)]))
      for (const r of chunk) ids.push(byKey.get(`${r.agent_id}\u0000${r.seq}`) as number)
    }
    return ids
  }

  async function upsertSessions (trx: Transaction<Database>, deltas: SessionDelta[]): Promise<void> {
    for (const d of deltas) {
      await upsertSession(trx, d).execute()
    }
  }

  /** Deletes one bounded slice of an agent's oldest events (and their dedupe keys) beyond the retention limit. */
  async function pruneStep (agentId: string): Promise<void> {
    const state = agents.get(agentId)
    if (state === undefined) return
    const { lastSeq, oldestSeq } = state.committed
    if (oldestSeq === null || config.eventsMaxPerAgent === 0) return
    const keepFrom = lastSeq - config.eventsMaxPerAgent + 1
    if (oldestSeq >= keepFrom) return
    const cutoff = Math.min(keepFrom, oldestSeq + PRUNE_CHUNK)
    await inTransaction(async (trx) => {
      await trx.deleteFrom('conversation_events').where('agent_id', '=', agentId).where('seq', '<', cutoff).execute()
      await trx.deleteFrom('agent_lines').where('agent_id', '=', agentId).where('seq', '<', cutoff).execute()
    })
    state.committed = { ...state.committed, oldestSeq: cutoff }
    if (cutoff < keepFrom) pruneNeeded.add(agentId)
  }

  function toStored (r: PendingRow & { id?: number }): StoredEvent {
    return {
      id: r.id as number,
      agent_id: r.agent_id,
      session_number: r.session_number,
      seq: r.seq,
      event_type: r.event_type,
      content: r.content,
      metadata: r.metadata,
      created_at: r.created_at
    }
  }

  /** Resolves when everything queued so far is committed (retention may still be catching up). */
  function flush (): Promise<void> {
    if (queue.length === 0 && !writing) return Promise.resolve()
    return new Promise(resolve => idleWaiters.push(resolve))
  }

  async function close (): Promise<void> {
    if (retryTimer !== null) {
      clearTimeout(retryTimer)
      retryTimer = null
      schedule()
    }
    await flush()
    closed = true
  }

  return {
    loadAgent,
    forget,
    reload,
    getAgent: (agentId: string) => agents.get(agentId),
    ingest,
    connected,
    seen,
    promptSent,
    record,
    clearContext,
    clearOutcome,
    exclusive,
    flush,
    close,
    onCommit (listener: CommitListener): () => void {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    onBatch (listener: BatchListener): () => void {
      batchListeners.add(listener)
      return () => { batchListeners.delete(listener) }
    },
    onPressure (listener: (full: boolean) => void): () => void {
      pressureListeners.add(listener)
      return () => { pressureListeners.delete(listener) }
    },
    get queueDepth () { return queue.length },
    get isFull () { return full },
    stats
  }
}

export type EventStore = ReturnType<typeof createEventStore>

export default fp(async function eventStore (fastify) {
  const store = createEventStore(fastify.db, fastify.config, fastify.log, fastify.sqlite, fastify.cluster?.writeHooks ?? null)
  fastify.decorate('events', store)
  fastify.addHook('onClose', async () => { await store.close() })
}, { name: 'event-store', dependencies: ['config', 'db', 'cluster'] })
