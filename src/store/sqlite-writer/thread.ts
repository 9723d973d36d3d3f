// The SQLite writer thread: owns the write connection, commits the batches the main thread plans (prepared
// statements, one transaction a batch), keeps the full-text index up with the log in transactions of its own,
// merges the index when it has nothing else to do, and pauses while the main thread writes (hold/release).
import { createRequire } from 'node:module'
import { parentPort, workerData } from 'node:worker_threads'
import type SQLite from 'better-sqlite3'
import { decodeBatch, type DecodedBatch } from '../batch-codec.js'
import { INDEX_RANGE, INDEXED_THROUGH, MARK_INDEXED, NEWEST_EVENT_ID } from '../../search/sqlite-index.js'
import { committed, indexed, initialCatchUp, mergeNow, nextSlice, type CatchUp } from './catch-up.js'
import type { Reply, Request, WriterOptions, WriterStats } from './protocol.js'
import { agentDayRows, fleetRows, USAGE_NUMBERS } from '../../usage/counters.js'

const options = workerData as WriterOptions
const port = parentPort as NonNullable<typeof parentPort>
const Database = createRequire(import.meta.url)(options.driver) as typeof SQLite

const db = new Database(options.databasePath)
db.pragma('journal_mode = WAL')
db.pragma(`synchronous = ${options.synchronous}`)
db.pragma(`busy_timeout = ${options.busyTimeoutMs}`)
// every write goes through this connection: its cache holds the hot pages of both indexes (32 MiB)
db.pragma('cache_size = -32768')
// checkpoints run in their own thread (db/checkpointer.ts); this is the safety net
db.pragma('wal_autocheckpoint = 100000')
// FTS5 merges its segments when this thread is idle instead of during each catch-up (see merge())
db.exec("insert into search_index (search_index, rank) values ('automerge', 0)")
// a level merged all at once (a crisis merge) stalls commits; it is left for very large levels only
db.exec("insert into search_index (search_index, rank) values ('crisismerge', 64)")

const text = 'cast(? as text)'
const insert = db.prepare(`insert into conversation_events
  (agent_key, session_number, seq, event_type, content, metadata, created_at, line_uuid)
  values (?, ?, ?, ?, ${text}, ${text}, ${text}, ${text})`)
const upsertSession = db.prepare(`insert into sessions (agent_key, session_number, first_seq, last_seq, cost_usd,
    input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, started_at, ended_at)
  values (?, ?, ?, ?, ?, ?, ?, ?, ?, ${text}, ${text})
  on conflict (agent_key, session_number) do update set last_seq = excluded.last_seq, ended_at = excluded.ended_at,
    cost_usd = sessions.cost_usd + excluded.cost_usd, input_tokens = sessions.input_tokens + excluded.input_tokens,
    output_tokens = sessions.output_tokens + excluded.output_tokens,
    cache_read_tokens = sessions.cache_read_tokens + excluded.cache_read_tokens,
    cache_creation_tokens = sessions.cache_creation_tokens + excluded.cache_creation_tokens`)
const updateAgent = db.prepare(`update agents set last_seq = ?, current_session = ?, cost_baseline_usd = ?,
  info = ${text}, last_seen_at = ${text}, last_connected_at = ${text}, usage_baseline = ${text} where agent_key = ?`)
/** Adds to a usage table's row (src/usage/): every number summed with the stored one. */
function usageUpsert (table: string, keys: string[]): string {
  const cols = [...keys, ...USAGE_NUMBERS]
  const values = [...keys.map(k => k === 'model' || k === 'hour' || k === 'day' ? text : '?'), ...USAGE_NUMBERS.map(() => '?')]
  return `insert into ${table} (${cols.join(', ')}) values (${values.join(', ')})
    on conflict (${keys.join(', ')}) do update set ${USAGE_NUMBERS.map(k => `${k} = ${table}.${k} + excluded.${k}`).join(', ')}`
}
// one row per agent, session, model and UTC hour, and one per model and hour for the fleet, in the batch's transaction
const upsertUsage = db.prepare(usageUpsert('usage_hours', ['agent_key', 'session_number', 'model', 'hour']))
const upsertFleetUsage = db.prepare(usageUpsert('usage_fleet_hours', ['model', 'hour']))
// and one per agent, model and UTC day (what per-agent queries read for whole days)
const upsertAgentDayUsage = db.prepare(usageUpsert('usage_agent_days', ['day', 'agent_key', 'model']))
const prune = db.prepare('delete from conversation_events where agent_key = ? and seq < ?')
const newestId = db.prepare(NEWEST_EVENT_ID).pluck()
const indexRange = db.prepare(INDEX_RANGE)
const markIndexed = db.prepare(MARK_INDEXED)
const mergeStep = db.prepare("insert into search_index (search_index, rank) values ('merge', 32)")
const totalChanges = db.prepare('select total_changes()').pluck()

const stats: WriterStats = {
  busyMs: { commit: 0, index: 0, merge: 0, other: 0 },
  slowestMs: { commit: 0, index: 0, merge: 0, other: 0 },
  commits: 0,
  rowsCommitted: 0,
  rowsIndexed: 0,
  indexLag: { events: 0, ms: 0 }
}
const pause = new Int32Array(new SharedArrayBuffer(4))
let commitCount = 0
/** The generation of the last commit that failed: later commits of it were planned on top of it. */
let failedGeneration = -1

const faultsApplied = [0, 0]
/** Seams: storage faults a test turns on and off (see WriterSeams.faults). */
function applyFaults (): void {
  const faults = options.seams.faults
  if (faults === undefined) return
  const limit = Atomics.load(faults, 0)
  if (limit !== faultsApplied[0]) {
    db.pragma(`max_page_count = ${limit === 0 ? 1073741823 : limit}`)
    faultsApplied[0] = limit
  }
  const readOnly = Atomics.load(faults, 1)
  if (readOnly !== faultsApplied[1]) {
    db.pragma(`query_only = ${readOnly}`)
    faultsApplied[1] = readOnly
  }
}

/** Seams: a slow disk, or the thread dying at a given point of a given commit. */
function seam (at: 'in_transaction' | 'after_commit'): void {
  if (at === 'in_transaction' && (options.seams.commitDelayMs ?? 0) > 0) Atomics.wait(pause, 0, 0, options.seams.commitDelayMs)
  const crash = options.seams.crash
  if (crash !== undefined && crash.at === at && crash.batch === commitCount) process.exit(70)
}

function writeRows (batch: DecodedBatch, ids: Float64Array | null, eventType: string | null): void {
  let i = 0
  batch.eachRow((agentKey, session, seq, type, content, metadata, createdAt, lineUuid) => {
    const id = insert.run(agentKey, session, seq, eventType ?? type, content, metadata, createdAt, lineUuid).lastInsertRowid
    if (ids !== null) ids[i++] = Number(id)
  })
}

const commit = db.transaction((batch: DecodedBatch): Float64Array => {
  const ids = new Float64Array(batch.rows)
  writeRows(batch, ids, null)
  for (const s of batch.sessions) {
    upsertSession.run(s.agent_key, s.session_number, s.first_seq, s.last_seq, s.cost_usd, s.input_tokens, s.output_tokens,
      s.cache_read_tokens, s.cache_creation_tokens, s.started_at, s.ended_at)
  }
  for (const a of batch.agents) {
    const u = a.update
    updateAgent.run(u.last_seq, u.current_session, u.cost_baseline_usd, u.info, u.last_seen_at, u.last_connected_at, u.usage_baseline, a.key)
  }
  for (const u of batch.usage) upsertUsage.run(u.agent_key, u.session_number, u.model, u.hour, ...USAGE_NUMBERS.map(k => u[k]))
  if (batch.usage.length > 0) {
    const named = batch.usage.map(u => ({ ...u, model: String(u.model), hour: String(u.hour) }))
    for (const f of fleetRows(named)) upsertFleetUsage.run(f.model, f.hour, ...USAGE_NUMBERS.map(k => f[k]))
    for (const d of agentDayRows(named)) upsertAgentDayUsage.run(d.day, d.agent_key, d.model, ...USAGE_NUMBERS.map(k => d[k]))
  }
  seam('in_transaction')
  return ids
})

// SQLite meets a full disk only when a commit writes the WAL (a rolled-back write may never leave the page cache),
// so the probe commits: its rows inserted then deleted in the same transaction, the id sequence put back, sessions
// and agents left alone. The rows take a type the search index skips.
const sequence = newestId
const setSequence = db.prepare("update sqlite_sequence set seq = ? where name = 'conversation_events'")
const dropSequence = db.prepare("delete from sqlite_sequence where name = 'conversation_events'")
const remove = db.prepare('delete from conversation_events where id = ?')
const probe = db.transaction((batch: DecodedBatch) => {
  const before = sequence.get() as number | undefined
  const ids = new Float64Array(batch.rows)
  writeRows(batch, ids, 'activity_changed')
  for (const id of ids) remove.run(id)
  if (before === undefined) dropSequence.run()
  else setSequence.run(before)
})

const indexSlice = db.transaction((from: number, to: number) => {
  indexRange.run(from, to)
  markIndexed.run(to)
})

let catchUp: CatchUp = initialCatchUp(
  (db.prepare(INDEXED_THROUGH).pluck().get() as number | undefined) ?? 0,
  (newestId.get() as number | undefined) ?? 0,
  performance.now())
/** Whether the index may have segments to merge (set by indexing, cleared when a merge step finds nothing). */
let mergeDue = true
let indexFailures = 0
let indexRetryAt = 0
let wake: NodeJS.Timeout | null = null
let wakeTime = 0

const jobs: Request[] = []
let held = false
let stopping = false
let scheduled = false

function send (reply: Reply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(reply, transfer)
}

function timed<T> (area: keyof WriterStats['busyMs'], fn: () => T): T {
  const started = performance.now()
  try {
    return fn()
  } finally {
    const ms = performance.now() - started
    stats.busyMs[area] += ms
    if (ms > stats.slowestMs[area]) stats.slowestMs[area] = ms
  }
}

function fail (id: number, err: unknown, buffer?: ArrayBuffer): void {
  const e = err as { message?: string, code?: unknown }
  const reply: Reply = { op: 'failed', id, message: String(e?.message ?? err), code: typeof e?.code === 'string' ? e.code : null }
  if (buffer !== undefined) reply.buffer = buffer
  send(reply, buffer !== undefined ? [buffer] : [])
}

function run (job: Request): void {
  applyFaults()
  switch (job.op) {
    case 'commit': {
      if (job.generation <= failedGeneration) {
        fail(job.id, new Error('not written: an earlier batch it was planned on failed'), job.buffer)
        return
      }
      let ids: Float64Array
      try {
        const batch = decodeBatch(job.buffer)
        commitCount++
        ids = timed('commit', () => commit.immediate(batch))
        stats.commits++
        stats.rowsCommitted += batch.rows
        if (batch.rows > 0) catchUp = committed(catchUp, ids[batch.rows - 1], performance.now())
      } catch (err) {
        failedGeneration = job.generation
        fail(job.id, err, job.buffer)
        return
      }
      seam('after_commit')
      send({ op: 'done', id: job.id, ids, buffer: job.buffer }, [ids.buffer as ArrayBuffer, job.buffer])
      return
    }
    case 'probe':
      try {
        timed('other', () => probe.immediate(decodeBatch(job.buffer)))
      } catch (err) {
        fail(job.id, err, job.buffer)
        return
      }
      send({ op: 'done', id: job.id, buffer: job.buffer }, [job.buffer])
      return
    case 'prune':
      try {
        timed('other', () => prune.run(job.agentKey, job.beforeSeq))
      } catch (err) {
        fail(job.id, err)
        return
      }
      send({ op: 'done', id: job.id })
      return
    case 'hold':
      held = true
      send({ op: 'done', id: job.id })
      return
    case 'release':
      held = false
      // the main thread may have written events meanwhile (imports): the index catches up with them too
      catchUp = committed(catchUp, (newestId.get() as number | undefined) ?? 0, performance.now())
      send({ op: 'done', id: job.id })
      return
    case 'index':
      try {
        catchUp = committed(catchUp, (newestId.get() as number | undefined) ?? 0, performance.now())
        while (catchUp.indexedThrough < catchUp.newest) indexNext(Number.MAX_SAFE_INTEGER)
      } catch (err) {
        fail(job.id, err)
        return
      }
      send({ op: 'done', id: job.id })
      return
    case 'stats':
      stats.indexLag = {
        events: Math.max(0, catchUp.newest - catchUp.indexedThrough),
        ms: catchUp.oldestMissingAt === null ? 0 : Math.round(performance.now() - catchUp.oldestMissingAt)
      }
      send({ op: 'done', id: job.id, stats })
      stats.slowestMs = { commit: 0, index: 0, merge: 0, other: 0 }
      return
    case 'stop':
      stopping = true
      db.close()
      send({ op: 'done', id: job.id })
      port.close()
  }
}

/** Indexes the next `events` ids in one transaction and says how far the index reaches now. */
function indexNext (events: number): void {
  const from = catchUp.indexedThrough
  const to = Math.min(catchUp.newest, from + events)
  const started = performance.now()
  timed('index', () => indexSlice.immediate(from, to))
  const ms = performance.now() - started
  catchUp = indexed(catchUp, to, to - from, ms)
  stats.rowsIndexed += to - from
  mergeDue = true
  send({ op: 'indexed', through: to, newest: catchUp.newest })
}

/** One bounded step of FTS5's merge; whether it found work. */
function merge (): boolean {
  const before = totalChanges.get() as number
  timed('merge', () => mergeStep.run())
  return (totalChanges.get() as number) - before >= 2
}

/** Runs what is queued, then (with nothing queued) one slice of indexing, or a merge step once idle. */
function drain (): void {
  scheduled = false
  while (jobs.length > 0 && !held && !stopping) run(jobs.shift() as Request)
  if (held || stopping) return
  const now = performance.now()
  if (now < indexRetryAt) {
    wakeAt(indexRetryAt)
    return
  }
  try {
    if (options.seams.searchIndex !== false) {
      const next = nextSlice(catchUp, now)
      if (next.events > 0) {
        indexNext(next.events)
        indexFailures = 0
        schedule()
        return
      }
      if (next.at !== null) wakeAt(next.at)
    }
    // one bounded step at a time, so a commit arriving meanwhile waits little
    if (mergeDue && mergeNow(catchUp, now)) {
      mergeDue = merge()
      if (mergeDue) schedule()
    }
  } catch (err) {
    // the log is committed; only the index waits: tried again with a growing pause, and said once per streak
    indexFailures++
    indexRetryAt = now + Math.min(5000, 50 * 2 ** Math.min(indexFailures, 7))
    if (indexFailures === 1) send({ op: 'warn', message: `full-text index catch-up failed: ${(err as Error).message}` })
    wakeAt(indexRetryAt)
  }
}

/** Looks again at `at` (performance.now() clock), unless an earlier look is set already. */
function wakeAt (at: number): void {
  if (wake !== null && wakeTime <= at) return
  if (wake !== null) clearTimeout(wake)
  wakeTime = at
  wake = setTimeout(() => { wake = null; schedule() }, Math.max(0, at - performance.now()))
  wake.unref()
}

function schedule (): void {
  if (scheduled || stopping) return
  scheduled = true
  setImmediate(drain)
}

port.on('message', (job: Request) => {
  // release is never queued behind what it releases
  if (job.op === 'release') run(job)
  else jobs.push(job)
  schedule()
})

send({ op: 'ready' })
schedule()
