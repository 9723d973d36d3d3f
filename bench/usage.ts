// GET /usage latency on a large fleet: seeds the usage rows a fleet of BENCH_USAGE_AGENTS agents leaves over
// BENCH_USAGE_DAYS days (each agent busy every hour on two models, a new session every 8 hours; at about 17 events
// per row, the defaults stand for 10M events), then times the queries through the app.
// `npm run bench:usage`; BENCH_USAGE_PG=1 runs it on PostgreSQL at DATABASE_URL (a schema of its own, dropped after).
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import { migrateToLatest } from '../db/migrate.js'
import { openDatabase } from '../db/connect.js'
import type { Database } from '../db/schema.js'
import app, { serverOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { agentDayRows, fleetRows, USAGE_NUMBERS, type UsageDelta } from '../src/usage/counters.js'
import { envInt, envStr, round, summarize } from './common.js'

const MODELS = ['claude-sonnet-4-5-20250929', 'claude-haiku-4-5-20251001']
const EVENTS_PER_ROW = 17

export async function seed (db: Kysely<Database>, agents: number, days: number, end: number, log: (msg: string) => void): Promise<number> {
  const started = Date.now()
  await db.insertInto('agents').values(Array.from({ length: agents }, (_, a) => ({
    agent_id: `fleet-${String(a).padStart(4, '0')}`,
    current_session: 0,
    last_seq: 0,
    created_at: new Date(end - days * 86400000).toISOString(),
    info: JSON.stringify({ cwd: `/home/dev/project-${a % 12}` })
  }))).execute()
  const keys = (await db.selectFrom('agents').select('agent_key').orderBy('agent_key').execute()).map(r => Number(r.agent_key))
  // four runners (issue 23), each having started a quarter of the agents
  const at = new Date(end - days * 86400000).toISOString()
  await db.insertInto('runners').values(Array.from({ length: 4 }, (_, r) => ({
    name: `runner-${r}`,
    host: `host-${r}`,
    roots: '[]',
    claude_version: null,
    agentlog_version: null,
    connected_instance: null,
    connected_at: null,
    last_seen_at: at,
    created_at: at
  }))).execute()
  await db.insertInto('agent_runs').values(Array.from({ length: agents }, (_, a) => ({
    agent_id: `fleet-${String(a).padStart(4, '0')}`,
    runner: `runner-${a % 4}`,
    state: 'running' as const,
    cwd: `/home/dev/project-${a % 12}`,
    worktree: null,
    model: null,
    permission_mode: null,
    started_at: at,
    stopped_at: null,
    stop_reason: null,
    updated_at: at
  }))).execute()
  const hours = days * 24
  const first = end - hours * 3600000
  let rows = 0
  for (let h = 0; h < hours; h++) {
    const hour = new Date(first + h * 3600000).toISOString().slice(0, 13)
    const batch: UsageDelta[] = []
    for (const key of keys) {
      for (const [i, model] of MODELS.entries()) {
        const n = (key * 7 + h * 13 + i) % 97
        batch.push({
          agent_key: key,
          session_number: Math.floor(h / 8),
          model,
          hour,
          input_tokens: 1000 + n,
          output_tokens: 300 + n,
          cache_creation_tokens: 2000,
          cache_creation_1h_tokens: 0,
          cache_read_tokens: 20000 + n,
          web_search_requests: 0,
          reported_cost_usd: 0.05 + n / 10000,
          computed_cost_usd: 0,
          reported_count: 3,
          computed_count: 0,
          unpriced_count: 0
        })
      }
    }
    await db.transaction().execute(async (trx) => {
      for (let i = 0; i < batch.length; i += 1000) await trx.insertInto('usage_hours').values(batch.slice(i, i + 1000)).execute()
      await trx.insertInto('usage_fleet_hours').values(fleetRows(batch)).execute()
      await trx.insertInto('usage_agent_days').values(agentDayRows(batch))
        .onConflict(oc => oc.columns(['day', 'agent_key', 'model'])
          .doUpdateSet(eb => Object.fromEntries(USAGE_NUMBERS.map(k => [k, eb(`usage_agent_days.${k}`, '+', eb.ref(`excluded.${k}`))])) as any))
        .execute()
    })
    rows += batch.length
    if (h % (24 * 10) === 0) log(`  ${rows} rows`)
  }
  log(`usage: seeded ${rows} rows (about ${Math.round(rows * EVENTS_PER_ROW / 1e6)}M events) in ${round((Date.now() - started) / 1000, 1)} s`)
  return rows
}

export async function runUsageBench (log: (msg: string) => void = console.log) {
  const agents = envInt('BENCH_USAGE_AGENTS', 200)
  const days = envInt('BENCH_USAGE_DAYS', 60)
  const requests = envInt('BENCH_USAGE_REQUESTS', 300)
  const postgres = process.env.BENCH_USAGE_PG === '1'
  const end = Date.parse('2026-06-01T00:00:00Z')
  const url = envStr('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/test')
  const schema = `agentlog_bench_usage_${process.pid}`
  const path = join(tmpdir(), `agentlog-bench-usage-${process.pid}.db`)
  const env: Record<string, string> = postgres ? { DATABASE_URL: url, DATABASE_SCHEMA: schema } : { DATABASE_PATH: path }
  const { db } = openDatabase({ databasePath: path, databaseUrl: postgres ? url : null, databaseSchema: postgres ? schema : null })
  let rows: number
  try {
    await migrateToLatest(db as unknown as Kysely<any>, postgres ? schema : null)
    rows = await seed(db, agents, days, end, log)
  } finally {
    await db.destroy()
  }
  const config = loadConfig({ LOG_LEVEL: 'warn', ...env })
  const server = Fastify(serverOptions(config))
  await server.register(fp(app), { config })
  await server.ready()
  const queries: Record<string, string> = {
    'month by day and model': '/usage?group_by=day,model&from=2026-05-01&to=2026-05-31&tz=Europe/Paris',
    'month by week': '/usage?group_by=week&from=2026-05-01&to=2026-05-31',
    'one agent, month by day and model': '/usage?group_by=day,model&from=2026-05-01&to=2026-05-31&agent=fleet-0042',
    'month by agent': '/usage?group_by=agent&from=2026-05-01&to=2026-05-31',
    'month by project and model': '/usage?group_by=project,model&from=2026-05-01&to=2026-05-31',
    'month by agent, tz=Europe/Paris': '/usage?group_by=agent&from=2026-05-01&to=2026-05-31&tz=Europe/Paris',
    'month by agent and day': '/usage?group_by=agent,day&from=2026-05-01&to=2026-05-31',
    'month by runner and host': '/usage?group_by=runner,host&from=2026-05-01&to=2026-05-31',
    'two months by month and agent, tz=America/New_York': '/usage?group_by=month,agent&from=2026-04-01&to=2026-05-31&tz=America/New_York',
    'one agent, month by session': '/usage?group_by=session&from=2026-05-01&to=2026-05-31&agent=fleet-0042'
  }
  const results: Record<string, ReturnType<typeof summarize> & { rows: number, cpu: ReturnType<typeof summarize> }> = {}
  try {
    for (const [name, q] of Object.entries(queries)) {
      const first = await server.inject({ method: 'GET', url: q })
      if (first.statusCode !== 200) throw new Error(`${q}: ${first.statusCode} ${first.body}`)
      const n = requests >> (process.env.BENCH_USAGE_BASELINE === '1' && (name.includes('agent') || name.includes('project') || name.includes('runner')) && !name.startsWith('one agent') ? 3 : 0)
      const times: number[] = []
      // CPU time of this process per request (PostgreSQL's own work not included): what a loaded machine does not inflate
      const cpu: number[] = []
      for (let i = 0; i < n; i++) {
        const t0 = performance.now()
        const c0 = process.cpuUsage()
        const res = await server.inject({ method: 'GET', url: q })
        const c = process.cpuUsage(c0)
        times.push(performance.now() - t0)
        cpu.push((c.user + c.system) / 1000)
        if (res.statusCode !== 200) throw new Error(`${q}: ${res.statusCode}`)
      }
      const s = summarize(times)
      const sc = summarize(cpu)
      results[name] = { ...s, rows: (first.json()).usage.length, cpu: sc }
      log(`  ${name}: p50 ${round(s.p50, 2)} ms, p99 ${round(s.p99, 2)} ms; CPU p50 ${round(sc.p50, 2)} ms, p99 ${round(sc.p99, 2)} ms (${results[name].rows} rows answered, ${n} requests)`)
    }
  } finally {
    await server.close()
    if (postgres) {
      const { default: pg } = await import('pg')
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      await client.query(`drop schema if exists ${schema} cascade`)
      await client.end()
    } else {
      for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
    }
  }
  return { database: postgres ? 'postgres' : 'sqlite', agents, days, usage_rows: rows, events_equivalent: rows * EVENTS_PER_ROW, queries: results }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runUsageBench().then((r) => { console.log(JSON.stringify(r, null, 2)) }).catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
}
