// The write path against its physical limits, side by side in one run (`npm run bench:store`): the store
// (planner + SQLite backend, the app's code) ingesting production-like lines (random v4 uuids, real content-block
// shapes, tool results and results mixed in) into 16 agents, new and holding long histories; the bare append of the
// same rows (better-sqlite3 alone, a table keyed by integer agent and seq, batches of 2000); and the raw parse of
// the same lines. Ratios, not absolute rates, are the result on a shared machine.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { randomUUID } from 'node:crypto'
import SQLite from 'better-sqlite3'
import Fastify from 'fastify'
import { openDatabase } from '../db/connect.js'
import { migrateToLatest } from '../db/migrate.js'
import { loadConfig } from '../src/config.js'
import { parseLine } from '../src/protocol/ndjson.js'
import { createEventStore } from '../src/store/event-store.js'
import { createSqliteBackend } from '../src/store/sqlite-backend.js'
import { createSqliteWriter } from '../src/store/sqlite-writer/client.js'
import { seedDatabase } from './seed.js'
import { bareAppend } from './bare-append.js'
import { envInt, lineSource, round } from './common.js'

const AGENTS = 16
const LINES = envInt('BENCH_STORE_LINES', 160000)
const SEED = envInt('BENCH_STORE_SEED', 1_000_000)
const FRAME = 20

/** A user line with one tool_result block and a result line, mixed in as the CLI sends them. */
function mixed (next: () => string): () => string {
  let n = 0
  return () => {
    n++
    if (n % 10 === 0) {
      return JSON.stringify({ type: 'result', subtype: 'success', num_turns: 1, result: 'done', session_id: 's', total_cost_usd: n / 1e4, usage: { input_tokens: 10, output_tokens: 3 }, uuid: randomUUID() })
    }
    if (n % 5 === 0) {
      return JSON.stringify({ type: 'user', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: 'ok 14 passing\n' }] }, session_id: 's', uuid: randomUUID() })
    }
    return next().trimEnd()
  }
}

function makeLines (): string[][] {
  return Array.from({ length: AGENTS }, () => {
    const next = mixed(lineSource())
    return Array.from({ length: LINES / AGENTS }, next)
  })
}

function parseAll (lines: string[][]): number {
  const started = performance.now()
  let n = 0
  for (const agent of lines) for (const l of agent) if (parseLine(l).ok) n++
  return n / ((performance.now() - started) / 1000)
}

async function storeIngest (path: string, lines: string[][], withSearch = true): Promise<{ linesPerS: number, eventsPerS: number, events: number }> {
  const config = loadConfig({ DATABASE_PATH: path, LOG_LEVEL: 'silent', EVENTS_MAX_PER_AGENT: '0', QUEUE_MAX: '1000000', BATCH_MAX: '2000' })
  const { db, sqlite, setWriteGate } = openDatabase(config)
  await migrateToLatest(db)
  // without the search index: the writer thread never catches it up (what indexing costs the write path)
  const writer = createSqliteWriter({
    databasePath: path,
    busyTimeoutMs: config.sqliteBusyTimeoutMs,
    synchronous: config.sqliteSynchronous,
    reader: sqlite as SQLite.Database,
    onWarn: (m) => process.stderr.write(m + '\n'),
    seams: { searchIndex: withSearch }
  })
  setWriteGate(writer)
  const store = createEventStore(createSqliteBackend(db, writer), config, Fastify().log)
  const ids = Array.from({ length: AGENTS }, (_, a) => `bench-${String(a).padStart(2, '0')}`)
  for (const id of ids) await store.loadAgent(id, true)
  const before = store.stats.eventsWritten
  const started = performance.now()
  // frames of 20 lines from each agent in turn, parsed as the socket route does, yielding between frames
  const per = lines[0].length
  for (let i = 0; i < per; i += FRAME) {
    for (let a = 0; a < AGENTS; a++) {
      for (let k = i; k < Math.min(per, i + FRAME); k++) {
        const parsed = parseLine(lines[a][k])
        if (parsed.ok) store.ingest(ids[a], parsed.message)
      }
    }
    if (store.queueDepth > 4000) await store.flush()
  }
  await store.flush()
  const events = store.stats.eventsWritten - before
  // the index caught up is part of the cost
  if (withSearch) await writer.indexNow()
  const seconds = (performance.now() - started) / 1000
  await store.close()
  await writer.stop()
  await db.destroy()
  return { linesPerS: (per * AGENTS) / seconds, eventsPerS: events / seconds, events }
}

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-bench-store-'))
  const log = (m: string): void => { process.stderr.write(m + '\n') }
  try {
    log(`lines: ${LINES} from ${AGENTS} agents (frames of ${FRAME}); history: ${SEED} events seeded once`)
    const lines = makeLines()
    const parse = parseAll(lines)
    log(`raw parse: ${Math.round(parse)} lines/s`)

    const fresh = await storeIngest(join(dir, 'new.db'), lines)
    log(`store into new agents: ${Math.round(fresh.eventsPerS)} events/s (${fresh.events} events)`)
    const bareStore = await storeIngest(join(dir, 'nosearch.db'), makeLines(), false)
    log(`store into new agents without the search index: ${Math.round(bareStore.eventsPerS)} events/s`)

    const longPath = join(dir, 'long.db')
    const seed = await seedDatabase(longPath, Array.from({ length: AGENTS }, (_, a) => ({ id: `bench-${String(a).padStart(2, '0')}`, events: Math.floor(SEED / AGENTS) })), log)
    log(`seeded ${SEED} events in ${round(seed.ms / 1000, 1)} s`)
    const long = await storeIngest(longPath, makeLines())
    log(`store into agents holding ${SEED} events: ${Math.round(long.eventsPerS)} events/s`)

    const bare = await bareAppend(dir, long.events, SEED, AGENTS)
    log(`bare append (same rows, same history depth): ${Math.round(bare)} rows/s`)

    const limit = Math.min(bare, parse * (long.events / LINES))
    const result = {
      at: new Date().toISOString(),
      machine: 'shared: 2 cores, several other workloads running; compare ratios, not rates',
      agents: AGENTS,
      lines: LINES,
      seeded_events: SEED,
      raw_parse_lines_per_s: Math.round(parse),
      bare_append_rows_per_s: Math.round(bare),
      store_new_events_per_s: Math.round(fresh.eventsPerS),
      store_new_without_search_trigger_events_per_s: Math.round(bareStore.eventsPerS),
      store_long_events_per_s: Math.round(long.eventsPerS),
      ratio_long_to_limit: round(long.eventsPerS / limit, 2),
      ratio_long_to_new: round(long.eventsPerS / fresh.eventsPerS, 2),
      ratio_long_to_bare_append: round(long.eventsPerS / bare, 2)
    }
    process.stdout.write(JSON.stringify(result, null, 2) + '\n')
    writeFileSync(resolve(process.env.BENCH_STORE_OUT ?? 'bench/store-results.json'), JSON.stringify(result, null, 2) + '\n')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
