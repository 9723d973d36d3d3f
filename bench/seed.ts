// Builds a large agentlog database fast (bulk insert through better-sqlite3, schema from the real migrations).
// `npm run bench:seed` makes the 10M-event one (never in CI); bench/run.ts seeds a smaller one on its own.
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { migrateToLatest } from '../db/migrate.js'
import { indexAll } from '../src/search/sqlite-index.js'
import { envInt, envStr, mb, round } from './common.js'

export interface SeedAgent {
  id: string
  events: number
}

export interface SeedResult {
  path: string
  agents: Array<{ id: string, lastSeq: number, sessions: number }>
  totalEvents: number
  bytes: number
  ms: number
}

/** A Claude Code turn as the app stores it: prompt, busy, thinking, text, two tools with results, text, result, idle. */
const TURN: Array<{ type: string, line: boolean, content: string | null, meta: string }> = [
  { type: 'prompt_sent', line: false, content: 'Fix the failing session test and run the suite.', meta: 'null' },
  { type: 'activity_changed', line: false, content: null, meta: '{"state":"busy"}' },
  { type: 'thinking', line: true, content: 'The test restarts the app on the same file; the session must come from the agents row.', meta: '@COMMON@' },
  { type: 'output', line: true, content: 'I will read plugins/event-store.ts and check how loadAgent restores currentSession before the socket reads anything.', meta: '@COMMON@' },
  { type: 'tool_use', line: true, content: 'Read', meta: '{"message_id":"@MSG@","uuid":"@UUID@","parent_tool_use_id":null,"model":"claude-sonnet-4-6","id":"toolu_@N@a","name":"Read","input":{"file_path":"/home/dev/agentlog/plugins/event-store.ts"}}' },
  { type: 'tool_result', line: true, content: '     1\t// Where events are written: one ordered queue per database, committed in batches by a single writer.\n     2\timport fp from \'fastify-plugin\'\n     3\timport type { FastifyBaseLogger } from \'fastify\'\n', meta: '{"tool_use_id":"toolu_@N@a","is_error":false,"uuid":"@UUID@","parent_tool_use_id":null}' },
  { type: 'tool_use', line: true, content: 'Bash', meta: '{"message_id":"@MSG@","uuid":"@UUID@","parent_tool_use_id":null,"model":"claude-sonnet-4-6","id":"toolu_@N@b","name":"Bash","input":{"command":"npx tap -R tap test/sessions.test.ts","description":"Run the session tests"}}' },
  { type: 'tool_result', line: true, content: 'TAP version 14\n# Subtest: session number after a restart\nok 1 - session number after a restart\n1..1\n# { total: 1, pass: 1 }', meta: '{"tool_use_id":"toolu_@N@b","is_error":false,"uuid":"@UUID@","parent_tool_use_id":null}' },
  { type: 'output', line: true, content: 'Done: the session number now survives a restart, and the suite passes.', meta: '@COMMON@' },
  { type: 'result', line: true, content: 'Done: the session number now survives a restart, and the suite passes.', meta: '{"subtype":"success","is_error":false,"duration_ms":48211,"duration_api_ms":40102,"num_turns":5,"total_cost_usd":0.0123,"usage":{"input_tokens":1203,"output_tokens":412,"cache_read_input_tokens":14320,"cache_creation_input_tokens":0},"uuid":"@UUID@","cost_usd":0.0021}' },
  { type: 'activity_changed', line: false, content: null, meta: '{"state":"idle"}' }
]
const COMMON = '{"message_id":"@MSG@","uuid":"@UUID@","parent_tool_use_id":null,"model":"claude-sonnet-4-6"}'
/** Turns per session: a clear-context every ~1,100 events. */
const SESSION_TURNS = 100
/** Events written for one agent before the next agent's turn: concurrent agents interleave in the table. */
const INTERLEAVE = 16
const BASE_TIME = Date.parse('2025-01-01T00:00:00.000Z')

export async function seedDatabase (path: string, agents: SeedAgent[], log: (msg: string) => void = () => {}): Promise<SeedResult> {
  const started = Date.now()
  mkdirSync(dirname(path), { recursive: true })
  for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
  const migrator = new Kysely<any>({ dialect: new SqliteDialect({ database: new SQLite(path) }) })
  await migrateToLatest(migrator)
  await migrator.destroy()

  const db = new SQLite(path)
  // a throw-away build: no journal, no fsync, a big cache; WAL is switched on at the end as the app expects
  db.pragma('journal_mode = OFF')
  db.pragma('synchronous = OFF')
  db.pragma('cache_size = -524288')
  db.pragma('temp_store = MEMORY')
  const insEvent = db.prepare('insert into conversation_events (agent_key, session_number, seq, event_type, content, metadata, created_at, line_uuid) values (?, ?, ?, ?, ?, ?, ?, ?)')
  const insSession = db.prepare(`insert into sessions (agent_key, session_number, first_seq, last_seq, started_at, ended_at,
    cost_usd, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
  const insAgent = db.prepare(`insert into agents (agent_key, agent_id, current_session, last_seq, created_at, last_connected_at, last_seen_at, info, cost_baseline_usd)
    values (?, ?, ?, ?, ?, ?, ?, ?, ?)`)

  interface Cursor {
    index: number
    id: string
    remaining: number
    seq: number
    session: number
    turnPos: number
    turns: number
    lines: number
    sessionStart: { seq: number, at: string, results: number } | null
  }
  const cursors: Cursor[] = agents.map((a, index) => ({
    index, id: a.id, remaining: a.events, seq: 0, session: 0, turnPos: 0, turns: 0, lines: 0, sessionStart: null
  }))
  const total = agents.reduce((s, a) => s + a.events, 0)
  let written = 0
  let clock = 0

  const endSession = (c: Cursor, lastSeq: number, at: string): void => {
    if (c.sessionStart === null) return
    const results = c.sessionStart.results
    insSession.run(c.index + 1, c.session, c.sessionStart.seq, lastSeq, c.sessionStart.at, at,
      round(results * 0.0021, 6), results * 1203, results * 412, results * 14320, 0)
    c.sessionStart = null
  }

  const step = (c: Cursor): void => {
    const at = new Date(BASE_TIME + (clock++) * 10).toISOString()
    c.seq++
    if (c.sessionStart === null) c.sessionStart = { seq: c.seq, at, results: 0 }
    if (c.turnPos === 0 && c.turns > 0 && c.turns % SESSION_TURNS === 0 && c.seq > 1) {
      // a clear-context: the barrier event opens the next session
      endSession(c, c.seq - 1, at)
      c.session++
      c.sessionStart = { seq: c.seq, at, results: 0 }
      insEvent.run(c.index + 1, c.session, c.seq, 'context_cleared', null,
        `{"previous_session":${c.session - 1},"session_number":${c.session},"agent_context":"cleared"}`, at, null)
      c.turns++
      return
    }
    const e = TURN[c.turnPos]
    c.lines++
    const uuid = randomUUID()
    const meta = e.meta === '@COMMON@' ? COMMON : e.meta
    const metadata = meta === 'null'
      ? null
      : meta.replace('@MSG@', `msg_${c.turns}`).replace('@UUID@', uuid).replace('@N@', String(c.turns)).replace('@N@', String(c.turns))
    // a line's uuid sits on its first event (the dedupe window is rebuilt from these)
    insEvent.run(c.index + 1, c.session, c.seq, e.type, e.content, metadata, at, e.line ? uuid : null)
    if (e.type === 'result') c.sessionStart.results++
    c.turnPos = (c.turnPos + 1) % TURN.length
    if (c.turnPos === 0) c.turns++
  }

  // the full-text index catches up after each transaction, as the writer thread does
  const indexPending = (): void => { indexAll(db) }
  let live = cursors.filter(c => c.remaining > 0)
  let nextReport = 1_000_000
  db.exec('begin')
  while (live.length > 0) {
    for (const c of live) {
      const n = Math.min(INTERLEAVE, c.remaining)
      for (let i = 0; i < n; i++) step(c)
      c.remaining -= n
      written += n
    }
    live = live.filter(c => c.remaining > 0)
    if (written >= nextReport) {
      indexPending()
      db.exec('commit')
      log(`  seeded ${(written / 1e6).toFixed(1)}M of ${(total / 1e6).toFixed(1)}M events (${round((Date.now() - started) / 1000, 1)} s)`)
      nextReport += 1_000_000
      db.exec('begin')
    }
  }
  const createdAt = new Date(BASE_TIME - 60000).toISOString()
  for (const c of cursors) {
    const at = new Date(BASE_TIME + clock * 10).toISOString()
    endSession(c, c.seq, at)
    const info = JSON.stringify({ model: 'claude-sonnet-4-6', cwd: '/home/dev/agentlog', claude_session_id: `bench-${c.index}`, tools: ['Bash', 'Read', 'Write'] })
    insAgent.run(c.index + 1, c.id, c.session, c.seq, createdAt, at, at, info, 0.0123)
  }
  indexPending()
  db.exec('commit')
  db.pragma('journal_mode = WAL')
  db.close()
  return {
    path,
    agents: cursors.map(c => ({ id: c.id, lastSeq: c.seq, sessions: c.session + 1 })),
    totalEvents: total,
    bytes: statSync(path).size,
    ms: Date.now() - started
  }
}

async function main (): Promise<void> {
  const path = resolve(envStr('BENCH_SEED_PATH', 'data/bench-10m.db'))
  const count = envInt('BENCH_SEED_AGENTS', 10)
  const perAgent = envInt('BENCH_SEED_EVENTS_PER_AGENT', 1_000_000)
  if (existsSync(path) && process.env.BENCH_SEED_FORCE !== '1') {
    console.log(`${path} exists; set BENCH_SEED_FORCE=1 to rebuild it`)
    return
  }
  const agents = Array.from({ length: count }, (_, i) => ({ id: `bench-agent-${String(i).padStart(2, '0')}`, events: perAgent }))
  console.log(`seeding ${count} agents x ${perAgent} events into ${path}`)
  const result = await seedDatabase(path, agents, console.log)
  console.log(`done: ${result.totalEvents} events, ${mb(result.bytes)} MB, ${round(result.ms / 1000, 1)} s`)
  console.log(`run the benchmark on it: BENCH_DB=${path} npm run bench`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
