// Where events are written: one ordered queue per database, committed in batches by a single writer.
//
// Session numbers are stamped when an input is received (from the agent's in-memory current session, which
// clear-context bumps synchronously), so a context_cleared event is an exact barrier even for lines already
// waiting in the queue. Everything that depends on what was already stored (dedupe, seq, the cost baseline,
// which turn a line belongs to) is decided by the pure planner (plan.ts) in queue order; the backend commits
// what it planned in one transaction, and the new state becomes current only after the commit.
import type { FastifyBaseLogger } from 'fastify'
import type { AgentMessage } from '../protocol/ndjson.js'
import type { EventDraft } from '../protocol/messages.js'
import { createRedactor } from '../redact.js'
import { httpError } from '../errors.js'
import { within } from '../within.js'
import type { Config } from '../config.js'
import { computeCost } from '../usage/prices.js'
import type { ModelCounters } from '../usage/counters.js'
import { toStored, type CommitBatch, type StoreBackend, type WriteHooks } from './backend.js'
import { createAgents } from './agents.js'
import { fresh, failed, nextSize, passed, probeOf } from './isolate.js'
import { planBatch, type Planned, type SeenLines } from './plan.js'
import { createRetention } from './retention.js'
import type { ExclusiveAgent, ExclusiveItem, ExclusiveResult, ExclusiveRun } from './exclusive.js'
import type { AgentLog, ClearOutcome, ClearTurn, Input, StoredEvent } from './types.js'
import { createWriteQueue, type Queued, type Waiter } from './write-queue.js'

export type { AgentState } from './agents.js'
export type { ClearOutcome, StoredEvent } from './types.js'
export type { ExclusiveAgent, ExclusiveResult, ExclusiveRun } from './exclusive.js'

export type CommitListener = (events: StoredEvent[]) => void

type InputItem = Extract<Queued, { kind: 'input' }>

/** After each committed batch: how many queue items it held and how long its commit took. */
export type BatchListener = (items: number, seconds: number) => void

export type { WriteHooks } from './backend.js'

export interface StoreSeams {
  /** Benchmarks: each batch waits this long before it commits, to stand for a slow disk. */
  commitDelayMs?: number
}

/** A wait on the writer that ran out: the storage is failing or far behind. */
function writeTimeout (ms: number): Error {
  return httpError(503, `the event log did not commit within ${ms} ms; the storage is failing or overloaded`, 'write_timeout')
}

/** An item the database refuses on its own while it takes other writes (see isolate.ts): nothing of it is stored. */
function refused (err: Error): Error {
  return httpError(500, `the database refused to store this request's events (${err.message}); nothing of it was stored`, 'event_refused')
}

export function createEventStore (backend: StoreBackend, config: Config, log: FastifyBaseLogger, seams: StoreSeams = {}, hooks: WriteHooks | null = null) {
  const agents = createAgents(backend, config.dedupeWindowLines, hooks)
  const queue = createWriteQueue(config.queueMax)
  const retention = createRetention(backend, agents, config.eventsMaxPerAgent)
  const listeners = new Set<CommitListener>()
  const batchListeners = new Set<BatchListener>()
  const rules = {
    maxEventContentBytes: config.maxEventContentBytes,
    redact: createRedactor(config.redactPatterns),
    price: (model: string, counters: ModelCounters) => computeCost(config.prices, model, counters)
  }
  /** Callers of clearContext waiting for the agent's answer, by turn id. */
  const clearWaiters = new Map<number, (outcome: ClearOutcome) => void>()
  const idleWaiters: Array<() => void> = []
  /** Agents to drop from memory (and their queued items) as soon as no batch is being written. */
  const forgetting = new Map<string, Array<() => void>>()
  let nextTurnId = 1
  let writing = false
  let scheduled = false
  let closed = false
  let retryDelay = 0
  let retryTimer: NodeJS.Timeout | null = null
  /** How the writer is getting past a failed batch (isolate.ts), and the head item its failures were counted for. */
  let isolation = fresh(config.batchMax)
  let isolatedHead: Queued | undefined
  const stats = {
    linesQueued: 0,
    duplicateLines: 0,
    batches: 0,
    eventsWritten: 0,
    writeErrors: 0,
    /** Agent lines the database refused on their own, kept in set_aside_lines. */
    linesSetAside: 0,
    /** Prompts, server events and clears the database refused on their own; their callers got an error. */
    itemsRefused: 0,
    lastError: null as string | null,
    healthy: true
  }

  function enqueue (input: Input, waiter: Waiter | null = null): void {
    if (closed) throw httpError(503, 'the event store is closed', 'shutting_down')
    queue.push({ kind: 'input', input, waiter })
    schedule()
  }

  /** A promise for the events an input produces, rejected with a 503 if the writer does not commit in time. */
  function committed (make: (waiter: Waiter) => void): Promise<StoredEvent[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(writeTimeout(config.writeTimeoutMs)), config.writeTimeoutMs)
      make({
        resolve: (events) => { clearTimeout(timer); resolve(events) },
        reject: (err) => { clearTimeout(timer); reject(err) }
      })
    })
  }

  function schedule (): void {
    // after close() nothing more is written: the database is being (or has been) closed
    if (closed || scheduled || writing || retryTimer !== null) return
    scheduled = true
    setImmediate(runWriter)
  }

  // one receive time per millisecond: lines arriving in the same one share the string (toISOString per line was
  // a few percent of ingest)
  let nowMs = 0
  let nowIso = ''
  const now = (): string => {
    const ms = Date.now()
    if (ms !== nowMs) {
      nowMs = ms
      nowIso = new Date(ms).toISOString()
    }
    return nowIso
  }

  /** A stream-json line from a connected agent; its session is the one current at this instant. */
  function ingest (agentId: string, message: AgentMessage): void {
    const state = agents.mustGet(agentId)
    stats.linesQueued++
    enqueue({ kind: 'line', agentId, session: state.currentSession, at: now(), message })
  }

  function connected (agentId: string, newProcess: boolean): void {
    const state = agents.mustGet(agentId)
    enqueue({ kind: 'connect', agentId, session: state.currentSession, at: now(), newProcess })
  }

  function seen (agentId: string): void {
    const state = agents.get(agentId)
    if (state === undefined || closed) return
    enqueue({ kind: 'seen', agentId, session: state.currentSession, at: now() })
  }

  /**
   * A prompt for the agent: stored (prompt_sent, activity_changed busy), then handed to `deliver` once committed,
   * never before, so the agent never runs a prompt the log does not hold. Resolves with its events. At
   * WRITE_TIMEOUT_MS a prompt still queued is taken out (nothing stored, nothing delivered) and the promise rejects
   * 503; one the writer is committing cannot be taken back: the 503 carries `settled`, which resolves with its
   * events once committed and delivered (or null if it never is).
   */
  function sendPrompt (agentId: string, content: string, deliver: (events: StoredEvent[]) => void): Promise<StoredEvent[]> {
    const state = agents.mustGet(agentId)
    if (closed) return Promise.reject(httpError(503, 'the event store is closed', 'shutting_down'))
    return new Promise((resolve, reject) => {
      let late: ((events: StoredEvent[] | null) => void) | null = null
      const queued: Queued = {
        kind: 'input',
        input: { kind: 'prompt', agentId, session: state.currentSession, at: now(), content },
        waiter: {
          resolve: (events) => {
            clearTimeout(timer)
            deliver(events)
            if (late === null) resolve(events)
            else late(events)
          },
          reject: (err) => {
            clearTimeout(timer)
            if (late === null) reject(err)
            else late(null)
          }
        }
      }
      const timer = setTimeout(() => {
        if (cancelQueued(queued)) {
          reject(httpError(503, `the event log did not take the prompt within ${config.writeTimeoutMs} ms; nothing was stored or sent to the agent`, 'write_timeout'))
          return
        }
        const settled = new Promise<StoredEvent[] | null>((resolve) => { late = resolve })
        reject(Object.assign(httpError(503, `the event log did not commit the prompt within ${config.writeTimeoutMs} ms; it is being written, and is sent to the agent once it is`, 'write_timeout'), { settled }))
      }, config.writeTimeoutMs)
      queue.push(queued)
      schedule()
    })
  }

  /** Takes a queued item out if the writer has not started on it (it is not in a batch being committed). */
  function cancelQueued (item: Queued): boolean {
    const at = queue.indexOf(item)
    return at >= inflightItems && queue.cancel(item)
  }

  /**
   * Appends events the server itself produces (operator commands, approvals, relay notices) to the agent's
   * current session, in receive order with its lines; resolves with them once committed.
   */
  function record (agentId: string, drafts: EventDraft[]): Promise<StoredEvent[]> {
    const state = agents.mustGet(agentId)
    return committed(waiter => enqueue({ kind: 'record', agentId, session: state.currentSession, at: now(), drafts }, waiter))
  }

  /**
   * Starts a new session at once (the barrier) and, when the agent is connected, expects its answer to /clear.
   * Resolves `committed` with the context_cleared event once it is durable; `outcome` settles when the agent
   * has answered (never rejects).
   */
  function clearContext (agentId: string, agentConnected: boolean) {
    const state = agents.mustGet(agentId)
    const previousSession = state.currentSession
    const sessionNumber = previousSession + 1
    state.currentSession = sessionNumber
    let settle: (outcome: ClearOutcome) => void = () => {}
    const outcome = new Promise<ClearOutcome>((resolve) => { settle = resolve })
    let turn: ClearTurn | null = null
    if (agentConnected) {
      turn = { kind: 'clear', id: nextTurnId++, sessionNumber, previousSession, previousClaudeSession: null, cleared: false, timedOut: false }
      clearWaiters.set(turn.id, settle)
    } else {
      settle('not_connected')
    }
    const done = committed(waiter => enqueue({
      kind: 'clear', agentId, session: sessionNumber, at: now(), previousSession, turn, outcome: agentConnected ? null : 'not_connected'
    }, waiter))
    return { sessionNumber, previousSession, committed: done, outcome }
  }

  /**
   * Runs `run` at this point of the agent's queue, alone in its own transaction (see exclusive.ts).
   * Resolves with its value once committed; a failed run is rolled back and rejects (it is not retried).
   */
  function exclusive<T> (agentId: string, run: ExclusiveRun<T>): Promise<T> {
    agents.mustGet(agentId)
    if (closed) return Promise.reject(httpError(503, 'the event store is closed', 'shutting_down'))
    return new Promise<T>((resolve, reject) => {
      const queued: Queued = {
        kind: 'exclusive',
        item: {
          agentId,
          run: run as ExclusiveRun<unknown>,
          resolve: (value) => { clearTimeout(timer); resolve(value as T) },
          reject: (err) => { clearTimeout(timer); reject(err) }
        }
      }
      // still queued at the deadline (the writer is failing or far behind): taken out and failed, so a 503 means
      // nothing of it was written; one already running finishes (a transaction cannot be abandoned half-way)
      const timer = setTimeout(() => {
        if (queue.cancel(queued)) reject(writeTimeout(config.writeTimeoutMs))
      }, config.writeTimeoutMs)
      queue.push(queued)
      schedule()
    })
  }

  async function runExclusive (item: ExclusiveItem): Promise<void> {
    const state = agents.mustGet(item.agentId)
    const before = state.committed
    let r: ExclusiveResult<unknown>
    try {
      r = await backend.transaction(async (trx) => {
        if (hooks !== null) await hooks.begin(trx, [item.agentId])
        const result = await item.run(trx, { lastSeq: before.lastSeq, oldestSeq: before.oldestSeq, currentSession: before.currentSession } satisfies ExclusiveAgent)
        // each line's uuid on its first event: the dedupe record after a restart
        for (const u of result.uuids) {
          await trx.updateTable('conversation_events').set({ line_uuid: u.uuid })
            .where('agent_key', '=', state.key).where('seq', '=', u.seq).execute()
        }
        await trx.updateTable('agents').set({
          last_seq: result.agent.lastSeq,
          current_session: result.agent.currentSession,
          ...(result.info !== undefined ? { info: result.info === null ? null : JSON.stringify(result.info) } : {})
        }).where('agent_key', '=', state.key).execute()
        if (hooks !== null && result.events.length > 0) await hooks.beforeCommit(trx, result.events)
        return result
      })
    } catch (err) {
      log.warn({ err, agentId: item.agentId }, 'exclusive write failed and was rolled back')
      item.reject(err as Error)
      return
    }
    state.committed = { ...before, lastSeq: r.agent.lastSeq, oldestSeq: r.agent.oldestSeq, currentSession: r.agent.currentSession }
    if (r.info !== undefined) state.committed.info = r.info
    if (state.currentSession < r.agent.currentSession) state.currentSession = r.agent.currentSession
    for (const u of r.uuids) state.recent.add(u.uuid)
    retention.check(item.agentId)
    stats.eventsWritten += r.events.length
    if (r.events.length > 0) {
      for (const l of listeners) {
        try { l(r.events) } catch (err) { log.error({ err }, 'commit listener failed') }
      }
    }
    item.resolve(r.value)
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
  async function reload (agentId: string) {
    await forget(agentId)
    await agents.settled(agentId)
    agents.drop(agentId)
    return await agents.load(agentId, true) as NonNullable<Awaited<ReturnType<typeof agents.load>>>
  }

  function applyForget (): void {
    if (forgetting.size === 0) return
    const gone = new Map(forgetting)
    forgetting.clear()
    for (const q of queue.drop(new Set(gone.keys()))) {
      const err = new Error(`agent ${q.kind === 'input' ? q.input.agentId : q.item.agentId} is now written by another instance`)
      if (q.kind === 'exclusive') { q.item.reject(err); continue }
      q.waiter?.reject(err)
      if (q.input.kind === 'clear' && q.input.turn !== null) {
        clearWaiters.get(q.input.turn.id)?.('no_answer')
        clearWaiters.delete(q.input.turn.id)
      }
    }
    for (const [agentId, waiting] of gone) {
      const state = agents.get(agentId)
      for (const turn of state?.committed.pendingTurns ?? []) {
        if (turn.kind !== 'clear') continue
        clearWaiters.get(turn.id)?.('no_answer')
        clearWaiters.delete(turn.id)
      }
      agents.drop(agentId)
      retention.forget(agentId)
      for (const w of waiting) w()
    }
    if (queue.length === 0) for (const w of idleWaiters.splice(0)) w()
  }

  /** Records an outcome the writer did not see (the agent never answered in time). */
  function clearOutcome (agentId: string, sessionNumber: number, previousSession: number, outcome: ClearOutcome): void {
    const state = agents.get(agentId)
    if (closed || state === undefined) return
    enqueue({ kind: 'clear_outcome', agentId, session: state.currentSession, at: now(), outcome, clearSession: sessionNumber, previousSession })
  }

  // ---- the writer ----
  //
  // Batches are planned in queue order from the state the batches before them leave. A pipelined backend (the SQLite
  // writer thread) takes the next batch while it commits the previous one, so the main thread plans batch n+1 while
  // batch n commits; a batch fails together with every batch planned on top of it, which are planned again.

  /** A batch planned and handed to the backend, not acknowledged yet. */
  interface InFlight {
    batch: InputItem[]
    plan: Planned
    commit: CommitBatch
    started: number
    result: Promise<number[]>
  }
  const inflight: InFlight[] = []
  /** Queue items held by the batches in flight (they stay in the queue until committed). */
  let inflightItems = 0
  /** Per agent, its state after the batches in flight: what the next batch is planned from. */
  const ahead = new Map<string, AgentLog>()
  /** Per agent, the line uuids of the batches in flight: re-sends of those are duplicates too. */
  const aheadUuids = new Map<string, Set<string>>()
  const depth = backend.pipelined === true ? 2 : 1
  let retaining: Promise<void> | null = null

  async function runWriter (): Promise<void> {
    scheduled = false
    if (writing) return
    writing = true
    try {
      for (;;) {
        if (inflight.length === 0) {
          applyForget()
          const head = queue.head()
          if (head === undefined) break
          if (head.kind === 'exclusive') {
            queue.remove(1)
            await runExclusive(head.item)
            continue
          }
          if (head !== isolatedHead) {
            // the failures were counted for an item that is gone (its agent was handed over): judge afresh
            if (isolation.failures > 0) isolation = fresh(config.batchMax)
            isolatedHead = head
          }
        }
        const planError = fill()
        const f = inflight[0]
        if (f === undefined) {
          // the head batch could not even be planned: that is its items' doing
          if (planError === null) break
          if (await failedHead(queue.peek(nextSize(isolation, config.batchMax)), null, planError)) continue
          return
        }
        let ids: number[]
        try {
          ids = await f.result
        } catch (err) {
          // the batches planned on top of it are refused with it (the backend does not write them): planned again
          await Promise.allSettled(inflight.slice(1).map(x => x.result))
          inflight.length = 0
          inflightItems = 0
          ahead.clear()
          aheadUuids.clear()
          backend.reset?.()
          if (await failedHead(f.batch, f.commit, err as Error)) continue
          return
        }
        inflight.shift()
        inflightItems -= f.batch.length
        committedBatch(f, ids)
        queue.remove(f.batch.length)
        isolation = passed(isolation, f.batch.length, config.batchMax)
        for (const l of batchListeners) l(f.batch.length, (performance.now() - f.started) / 1000)
        if (!stats.healthy) log.info({ queue: queue.length, writeErrors: stats.writeErrors }, 'event batch committed: writes recovered')
        retryDelay = 0
        stats.healthy = true
        // bounded retention steps run beside ingest, one at a time
        if (retaining === null && retention.pending) retainStep()
      }
      // finish retention while nothing waits to be written (new lines go first; the next batch resumes it)
      if (retaining !== null) await retaining
      while (retention.pending && queue.length === 0) {
        if (closed) break
        await retention.step().catch((err: unknown) => log.warn({ err }, 'retention pass failed'))
      }
    } finally {
      writing = false
      if (inflight.length === 0) applyForget()
      if (queue.length > 0 && retryTimer === null) schedule()
      else if (queue.length === 0) {
        for (const w of idleWaiters.splice(0)) w()
      }
    }
  }

  function retainStep (): void {
    retaining = retention.step()
      .then(() => {}, (err: unknown) => log.warn({ err }, 'retention pass failed; will try again after the next batch'))
      .finally(() => { retaining = null })
  }

  /**
   * Plans batches and hands them to the backend until `depth` are in flight; returns the error of a head batch
   * that could not be planned (a later one is planned again once it is the head).
   */
  function fill (): Error | null {
    while (inflight.length < depth) {
      // once the store is closed nothing more is written (the database is being closed)
      if (closed) return null
      // while isolating a refused item, one batch at a time
      if (inflight.length > 0 && isolation.narrowed > 0) return null
      const next = queue.at(inflightItems)
      if (next === undefined || next.kind === 'exclusive') return null
      const batch = queue.peekFrom(inflightItems, inflight.length === 0 ? nextSize(isolation, config.batchMax) : config.batchMax)
      let planned: { plan: Planned, commit: CommitBatch }
      try {
        planned = planWrite(batch)
      } catch (err) {
        return inflight.length === 0 ? err as Error : null
      }
      for (const [agentId, st] of planned.plan.agents) ahead.set(agentId, st)
      for (const [agentId, uuids] of planned.plan.lineUuids) {
        let set = aheadUuids.get(agentId)
        if (set === undefined) { set = new Set(); aheadUuids.set(agentId, set) }
        for (const u of uuids) set.add(u)
      }
      const delay = seams.commitDelayMs ?? 0
      const result = delay > 0
        ? new Promise(resolve => setTimeout(resolve, delay)).then(async () => await backend.commit(planned.commit))
        : backend.commit(planned.commit)
      // awaited in order by runWriter; a rejection is handled there
      result.catch(() => {})
      inflight.push({ batch, ...planned, started: performance.now(), result })
      inflightItems += batch.length
    }
    return null
  }

  /**
   * The head batch failed (to plan, or to commit): isolation decides (afterFailure) whether to go on at once with
   * fewer items (true) or to back off and try again later (false).
   */
  async function failedHead (batch: InputItem[], commit: CommitBatch | null, err: Error): Promise<boolean> {
    stats.writeErrors++
    stats.lastError = err.message
    // once the store is closed nothing more is written (the database is being closed): no narrowing either
    if (!closed && await afterFailure(batch, commit, err)) return true
    stats.healthy = false
    retryDelay = Math.min(retryDelay === 0 ? 50 : retryDelay * 2, 5000)
    log.error({ err, batch: batch.length, queue: queue.length, retryInMs: retryDelay }, 'event batch failed to commit; will retry')
    retryTimer = setTimeout(() => { retryTimer = null; schedule() }, retryDelay)
    return false
  }

  /** What a batch becomes (pure, from the state the batches before it leave) and the write the backend takes for it. */
  function planWrite (batch: InputItem[]): { plan: Planned, commit: CommitBatch } {
    const plan: Planned = planBatch(batch.map(q => q.input), id => ahead.get(id) ?? agents.mustGet(id).committed, rules, seenOf)
    return {
      plan,
      commit: {
        agentIds: [...plan.agents.keys()],
        rows: plan.rows,
        sessions: plan.sessions,
        usage: plan.usage,
        agents: [...plan.agents.values()].map(st => ({
          key: st.key,
          update: {
            last_seq: st.lastSeq,
            current_session: st.currentSession,
            cost_baseline_usd: st.costBaseline,
            usage_baseline: st.usageBaseline === null ? null : JSON.stringify(st.usageBaseline),
            info: st.info === null ? null : JSON.stringify(st.info),
            last_seen_at: st.lastSeenAt,
            last_connected_at: st.lastConnectedAt
          }
        }))
      }
    }
  }

  /**
   * A batch failed: probes the storage with the same write minus its text, and decides (isolate.ts) whether to
   * back off (false: the storage refuses everything) or go on at once with fewer items, having set aside the head
   * item when it is the one refused (true).
   */
  async function afterFailure (batch: InputItem[], commit: CommitBatch | null, err: Error): Promise<boolean> {
    // a batch that could not even be planned failed before the storage: that is the items' doing
    let probePassed = commit === null
    if (commit !== null) {
      try {
        await backend.probe(probeOf(commit))
        probePassed = true
      } catch (probeErr) {
        log.debug({ err: probeErr }, 'the probe write failed too: the storage refuses writes')
      }
    }
    const decided = failed(isolation, batch.length, probePassed, config.batchMax)
    isolation = decided.state
    if (decided.then === 'back_off') return false
    if (decided.then === 'retry') {
      log.warn({ err, batch: batch.length, next: isolation.size, failures: isolation.failures },
        'event batch refused while the storage takes writes; trying fewer items to find the one refused')
      return true
    }
    try {
      await setAside(batch[0], err)
    } catch (setAsideErr) {
      // the storage did not take the set-aside row either: nothing is set aside, the writer backs off
      log.error({ err: setAsideErr }, 'could not set the refused item aside')
      isolation = failed(isolation, 1, false, config.batchMax).state
      return false
    }
    queue.remove(1)
    isolation = passed(isolation, 1, config.batchMax)
    return true
  }

  /** Takes a refused item out of the queue: a line is kept in set_aside_lines, anything else fails its caller. */
  async function setAside (q: Extract<Queued, { kind: 'input' }>, err: Error): Promise<void> {
    const input = q.input
    const state = agents.mustGet(input.agentId)
    const afterSeq = state.committed.lastSeq
    if (input.kind === 'line') {
      // the line as received (masked like events), escaped JSON: it keeps whatever the event columns could not
      const json = JSON.stringify(input.message)
      const line = rules.redact === null ? json : rules.redact({ event_type: 'output', content: json, metadata: null }).content ?? json
      await backend.setAside({ agentKey: state.key, afterSeq, sessionNumber: input.session, line, error: err.message, createdAt: now() })
      stats.linesSetAside++
      log.error({ err, agentId: input.agentId, afterSeq, sessionNumber: input.session },
        'agent line set aside: the database refuses it while it takes other writes (GET /set-aside lists it)')
      return
    }
    stats.itemsRefused++
    log.error({ err, agentId: input.agentId, afterSeq, kind: input.kind },
      'queued item dropped: the database refuses it while it takes other writes')
    q.waiter?.reject(refused(err))
    if (input.kind === 'clear' && input.turn !== null) {
      clearWaiters.get(input.turn.id)?.('no_answer')
      clearWaiters.delete(input.turn.id)
    }
  }

  /** The lines an agent sent that are stored already, or on their way in a batch in flight. */
  function seenOf (agentId: string): SeenLines {
    const recent = agents.mustGet(agentId).recent
    const pending = aheadUuids.get(agentId)
    return pending === undefined ? recent : { has: (uuid) => recent.has(uuid) || pending.has(uuid) }
  }

  /** A batch is committed: its state becomes the agents' committed state, then it is made visible. */
  function committedBatch ({ batch, plan }: InFlight, ids: number[]): void {
    stats.duplicateLines += plan.duplicates
    for (const [agentId, st] of plan.agents) {
      const state = agents.mustGet(agentId)
      // retention may have moved the oldest seq on while the batch was in flight
      const oldest = state.committed.oldestSeq
      state.committed = oldest !== null && st.oldestSeq !== null && oldest > st.oldestSeq ? { ...st, oldestSeq: oldest } : st
      if (ahead.get(agentId) === st) ahead.delete(agentId)
      const pending = aheadUuids.get(agentId)
      for (const uuid of plan.lineUuids.get(agentId) ?? []) {
        state.recent.add(uuid)
        pending?.delete(uuid)
      }
      if (pending?.size === 0) aheadUuids.delete(agentId)
      retention.check(agentId)
    }
    stats.batches++
    stats.eventsWritten += plan.rows.length
    const stored: StoredEvent[] = plan.rows.map((r, i) => toStored(r, ids[i]))
    if (stored.length > 0) {
      for (const l of listeners) {
        try { l(stored) } catch (err) { log.error({ err }, 'commit listener failed') }
      }
    }
    batch.forEach((q, i) => {
      if (q.waiter !== null) q.waiter.resolve(stored.slice(plan.spans[i][0], plan.spans[i][1]))
    })
    for (const { turnId, outcome } of plan.outcomes) {
      const settle = clearWaiters.get(turnId)
      clearWaiters.delete(turnId)
      settle?.(outcome)
    }
  }

  /** Resolves when everything queued so far is committed (retention may still be catching up). */
  function flush (): Promise<void> {
    if (queue.length === 0 && !writing) return Promise.resolve()
    return new Promise(resolve => idleWaiters.push(resolve))
  }

  /** Commits what is queued, waiting at most `deadlineMs` (a storage outage must not hold shutdown forever). */
  async function close (deadlineMs = config.writeTimeoutMs): Promise<void> {
    if (retryTimer !== null) {
      clearTimeout(retryTimer)
      retryTimer = null
      schedule()
    }
    if (!await within(flush(), deadlineMs)) {
      log.error({ queue: queue.length, lastError: stats.lastError }, 'shutting down with uncommitted events: the storage did not accept them in time')
      if (retryTimer !== null) clearTimeout(retryTimer)
      retryTimer = null
    }
    closed = true
  }

  return {
    loadAgent: agents.load,
    forget,
    reload,
    getAgent: agents.get,
    ingest,
    connected,
    seen,
    sendPrompt,
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
    onPressure: queue.onPressure,
    get queueDepth () { return queue.length },
    get isFull () { return queue.isFull },
    /** How long the oldest queued item (the head of the batch being written) has waited, in ms. */
    get oldestWaitMs () { return queue.oldestWaitMs },
    stats
  }
}

export type EventStore = ReturnType<typeof createEventStore>
