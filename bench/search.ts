// Search latency on a large log: seeds a database whose text has a realistic spread of words (a few very common,
// a long tail, one rare word, one recurring phrase), then times GET /search through the app for each kind of
// query. `npm run bench:search` runs it alone; `npm run bench` runs it as its `search` step.
// Knobs: BENCH_SEARCH_EVENTS (default 1,000,000), BENCH_SEARCH_REQUESTS (200 per query), BENCH_SEARCH_DB (reuse a
// seeded file), BENCH_SEARCH_PG=1 (PostgreSQL at DATABASE_URL instead, in a schema of its own, dropped after).
import { mkdirSync, rmSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { tmpdir } from 'node:os'
import { pathToFileURL } from 'node:url'
import SQLite from 'better-sqlite3'
import Fastify, { type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { Kysely, SqliteDialect, sql } from 'kysely'
import { migrateToLatest } from '../db/migrate.js'
import { indexAll } from '../src/search/sqlite-index.js'
import { openDatabase } from '../db/connect.js'
import app, { serverOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { envInt, envStr, mb, round, summarize } from './common.js'

export const RARE = 'zanzibar'
export const PHRASE = 'run the session tests'
/** One event in RARE_EVERY has the rare word; one in PHRASE_EVERY the phrase. */
const RARE_EVERY = 200_000
const PHRASE_EVERY = 100
const AGENTS = 20

const COMMON = ['the', 'to', 'a', 'and', 'of', 'in', 'is', 'it', 'for', 'that', 'test', 'file', 'run', 'session',
  'error', 'function', 'import', 'const', 'return', 'await', 'check', 'fix', 'read', 'write', 'change', 'value',
  'migrate', 'migration', 'database', 'event', 'agent', 'query', 'index', 'type', 'string', 'number', 'line',
  'node', 'npm', 'build', 'config', 'server', 'request', 'response', 'status', 'update', 'first', 'then', 'now']

/** Deterministic xorshift, so every run seeds the same text. */
function random (seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    return x / 0x100000000
  }
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'so', 'vi', 'pe', 'do', 'ga', 'fu', 'ze', 'bo', 'xi', 'ha']
/** A long tail of 4,096 made-up words, drawn with a Zipf-like skew. */
const TAIL = Array.from({ length: 4096 }, (_, i) => SYLLABLES[i & 15] + SYLLABLES[(i >> 4) & 15] + SYLLABLES[(i >> 8) & 15])

function textMaker (seed: number): (n: number) => string {
  const rnd = random(seed)
  return (n: number) => {
    const words: string[] = []
    const length = 8 + Math.floor(rnd() * 50)
    for (let i = 0; i < length; i++) {
      const r = rnd()
      words.push(r < 0.45 ? COMMON[Math.floor(rnd() * rnd() * COMMON.length)] : TAIL[Math.floor(TAIL.length * rnd() * rnd() * rnd())])
    }
    if (n % PHRASE_EVERY === 7) words.splice(Math.floor(words.length / 2), 0, PHRASE)
    if (n % RARE_EVERY === 12) words.push(RARE)
    return words.join(' ') + '.'
  }
}

const TYPES = ['output', 'thinking', 'tool_use', 'tool_result', 'output', 'activity_changed'] as const

/** Seeds `events` events into a fresh SQLite file through the real migrations (so the index triggers run). */
export async function seedSqlite (path: string, events: number, log: (msg: string) => void): Promise<{ ms: number, bytes: number }> {
  const started = Date.now()
  mkdirSync(dirname(path), { recursive: true })
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
  const migrator = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(path) }) })
  await migrateToLatest(migrator)
  await migrator.destroy()
  const db = new SQLite(path)
  db.pragma('journal_mode = OFF')
  db.pragma('synchronous = OFF')
  db.pragma('cache_size = -524288')
  const insert = db.prepare('insert into conversation_events (agent_key, session_number, seq, event_type, content, metadata, created_at) values (?, ?, ?, ?, ?, ?, ?)')
  const insAgent = db.prepare('insert into agents (agent_key, agent_id, current_session, last_seq, created_at) values (?, ?, 0, ?, ?)')
  const text = textMaker(1)
  const base = Date.parse('2025-01-01T00:00:00.000Z')
  const batch = db.transaction((from: number, to: number) => {
    for (let n = from; n < to; n++) {
      const type = TYPES[n % TYPES.length]
      const agent = (n % AGENTS) + 1
      const at = new Date(base + n * 10).toISOString()
      if (type === 'activity_changed') insert.run(agent, 0, Math.floor(n / AGENTS) + 1, type, null, '{"state":"idle"}', at)
      else if (type === 'tool_use') insert.run(agent, 0, Math.floor(n / AGENTS) + 1, type, 'Bash', JSON.stringify({ id: `toolu_${n}`, name: 'Bash', input: { command: text(n), description: 'Run it' } }), at)
      else insert.run(agent, 0, Math.floor(n / AGENTS) + 1, type, text(n), '{"uuid":"x"}', at)
    }
    // the full-text index catches up after each slice, as the writer thread does
    indexAll(db)
  })
  for (let n = 0; n < events; n += 10_000) {
    batch(n, Math.min(events, n + 10_000))
    if ((n + 10_000) % 500_000 === 0) log(`  seeded ${((n + 10_000) / 1e6).toFixed(1)}M of ${(events / 1e6).toFixed(1)}M events (${round((Date.now() - started) / 1000, 1)} s)`)
  }
  for (let a = 0; a < AGENTS; a++) insAgent.run(a + 1, `bench-${String(a).padStart(2, '0')}`, Math.ceil((events - a) / AGENTS), new Date(base).toISOString())
  db.pragma('journal_mode = WAL')
  db.close()
  return { ms: Date.now() - started, bytes: statSync(path).size }
}

/** Seeds `events` events into PostgreSQL (the schema the app will use), in multi-row inserts as the writer does. */
export async function seedPostgres (url: string, schema: string, events: number, log: (msg: string) => void): Promise<{ ms: number }> {
  const started = Date.now()
  const { db } = openDatabase({ databasePath: '', databaseUrl: url, databaseSchema: schema })
  try {
    await migrateToLatest(db as unknown as Kysely<any>, schema)
    const text = textMaker(1)
    const base = Date.parse('2025-01-01T00:00:00.000Z')
    // events carry the agent's integer key: the agents come first
    await db.insertInto('agents').values(Array.from({ length: AGENTS }, (_, a) => ({
      agent_key: a + 1, agent_id: `bench-${String(a).padStart(2, '0')}`, current_session: 0, last_seq: Math.ceil((events - a) / AGENTS), created_at: new Date(base).toISOString()
    }))).execute()
    await sql`select setval(pg_get_serial_sequence('agents', 'agent_key'), ${AGENTS})`.execute(db)
    for (let n = 0; n < events; n += 1000) {
      const rows = []
      for (let k = n; k < Math.min(events, n + 1000); k++) {
        const type = TYPES[k % TYPES.length]
        rows.push({
          agent_key: (k % AGENTS) + 1,
          session_number: 0,
          seq: Math.floor(k / AGENTS) + 1,
          event_type: type,
          content: type === 'activity_changed' ? null : type === 'tool_use' ? 'Bash' : text(k),
          metadata: type === 'activity_changed' ? '{"state":"idle"}' : type === 'tool_use' ? JSON.stringify({ id: `toolu_${k}`, name: 'Bash', input: { command: text(k), description: 'Run it' } }) : '{"uuid":"x"}',
          created_at: new Date(base + k * 10).toISOString()
        })
      }
      await db.insertInto('conversation_events').values(rows).execute()
      if ((n + 1000) % 200_000 === 0) log(`  seeded ${((n + 1000) / 1e6).toFixed(1)}M of ${(events / 1e6).toFixed(1)}M events (${round((Date.now() - started) / 1000, 1)} s)`)
    }
    await sql`analyze`.execute(db)
  } finally {
    await db.destroy()
  }
  return { ms: Date.now() - started }
}

export interface SearchBenchResult {
  database: 'sqlite' | 'postgres'
  events: number
  seed_s: number | null
  db_mb: number | null
  requests: number
  queries: Record<string, { q: string, hits: number, requests: number, p50: number, p99: number, max: number }>
}

async function timeQueries (server: FastifyInstance, requests: number, log: (msg: string) => void): Promise<SearchBenchResult['queries']> {
  const queries: Array<[string, Record<string, string>]> = [
    ['common word', { q: 'session' }],
    ['rare word', { q: RARE }],
    ['phrase', { q: `"${PHRASE}"` }],
    ['prefix', { q: 'migrat*' }],
    ['common word, one agent', { q: 'session', agent: 'bench-03' }],
    ['two words AND NOT', { q: 'database error NOT test' }]
  ]
  const out: SearchBenchResult['queries'] = {}
  for (const [name, params] of queries) {
    const url = `/search?${new URLSearchParams({ ...params, limit: '20' }).toString()}`
    const first = await server.inject({ method: 'GET', url })
    if (first.statusCode !== 200) throw new Error(`${name}: ${first.statusCode} ${first.body}`)
    for (let i = 0; i < 10; i++) await server.inject({ method: 'GET', url })
    const times: number[] = []
    // a slow kind of query gets fewer requests rather than holding up the run
    const until = performance.now() + 30_000
    for (let i = 0; i < requests && (i < 20 || performance.now() < until); i++) {
      const t = performance.now()
      const res = await server.inject({ method: 'GET', url })
      times.push(performance.now() - t)
      if (res.statusCode !== 200) throw new Error(`${name}: ${res.statusCode}`)
    }
    const s = summarize(times)
    out[name] = { q: params.q, hits: first.json().hits.length, requests: times.length, p50: round(s.p50, 2), p99: round(s.p99, 2), max: round(s.max, 2) }
    log(`  ${name.padEnd(26)} ${JSON.stringify(params.q).padEnd(26)} p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms  (${times.length} requests, ${out[name].hits} hits on the first page)`)
  }
  return out
}

export async function runSearchBench (log: (msg: string) => void = console.log): Promise<SearchBenchResult> {
  const events = envInt('BENCH_SEARCH_EVENTS', 1_000_000)
  const requests = envInt('BENCH_SEARCH_REQUESTS', 200)
  const postgres = process.env.BENCH_SEARCH_PG === '1'
  let env: Record<string, string>
  let seedS: number | null = null
  let dbMb: number | null = null
  let cleanup = async (): Promise<void> => {}
  if (postgres) {
    const url = envStr('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/test')
    const schema = `agentlog_bench_search_${process.pid}`
    log(`search: seeding ${events} events into PostgreSQL schema ${schema}`)
    seedS = round((await seedPostgres(url, schema, events, log)).ms / 1000, 1)
    env = { DATABASE_URL: url, DATABASE_SCHEMA: schema }
    cleanup = async () => {
      const { default: pg } = await import('pg')
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      await client.query(`drop schema if exists ${schema} cascade`)
      await client.end()
    }
  } else {
    const reuse = envStr('BENCH_SEARCH_DB', '')
    const path = reuse !== '' ? resolve(reuse) : join(tmpdir(), `agentlog-bench-search-${process.pid}.db`)
    if (reuse === '') {
      log(`search: seeding ${events} events into ${path}`)
      const seeded = await seedSqlite(path, events, log)
      seedS = round(seeded.ms / 1000, 1)
      dbMb = mb(seeded.bytes)
      log(`  ${seedS} s, ${dbMb} MB`)
      cleanup = async () => { for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true }) }
    }
    env = { DATABASE_PATH: path }
  }
  try {
    const config = loadConfig({ LOG_LEVEL: 'warn', EVENTS_MAX_PER_AGENT: '0', ...env })
    const server = Fastify(serverOptions(config))
    await server.register(fp(app), { config })
    await server.ready()
    try {
      const counted = await sql<{ n: number }>`select count(*) as n from conversation_events`.execute(server.db)
      const total = Number(counted.rows[0].n)
      log(`search: ${requests} requests per query, ${total} events (${postgres ? 'PostgreSQL' : 'SQLite'})`)
      const queries = await timeQueries(server, requests, log)
      return { database: postgres ? 'postgres' : 'sqlite', events: total, seed_s: seedS, db_mb: dbMb, requests, queries }
    } finally {
      await server.close()
    }
  } finally {
    await cleanup()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runSearchBench().then((r) => { console.log(JSON.stringify(r, null, 2)) }).catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
