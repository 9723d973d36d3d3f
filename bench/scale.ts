// Scale-out on one PostgreSQL: 1, 2 and 3 instances on this machine, agents spread over them. Aggregate ingest
// (flat out), commit latency at a fixed total rate (receipt to commit, worst instance), and the hand-over time
// when the owner of an agent is killed (-9) until the agent's next line is committed by another instance.
import { randomUUID } from 'node:crypto'
import { WebSocket } from 'ws'
import pg from 'pg'
import { startAgents } from './agents.js'
import { lineSource, round, sleep, startChild, type Child } from './common.js'
import { bareAppendPostgres } from './bare-append.js'

export interface ScaleOptions {
  databaseUrl: string
  instances: number[]
  agents: number
  seconds: number
  /** Lines per second over all agents for the latency runs; 0: half of what one instance ingests flat out. */
  rate: number
  log: (msg: string) => void
}

interface Stats { committed: number, writeErrors: number }
interface Latency { p50: number, p99: number, n: number }

async function withClient<T> (url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try { return await fn(c) } finally { await c.end() }
}

async function startInstances (url: string, schema: string, n: number): Promise<Child[]> {
  const env = (i: number): Record<string, string> => ({
    DATABASE_URL: url, DATABASE_SCHEMA: schema, INSTANCE_ID: `bench-${i}`, LOG_LEVEL: 'warn', EVENTS_MAX_PER_AGENT: '0'
  })
  // the first migrates the schema; the others start together
  const first = await startChild('server.js', env(0))
  const rest = await Promise.all(Array.from({ length: n - 1 }, async (_, i) => await startChild('server.js', env(i + 1))))
  return [first, ...rest]
}

async function committed (children: Child[]): Promise<number> {
  const stats = await Promise.all(children.map(async c => await c.request<Stats>('stats')))
  return stats.reduce((sum, s) => sum + s.committed, 0)
}

function openAgent (port: number, agentId: string, lastRequestId?: string): Promise<WebSocket> {
  const headers: Record<string, string> = lastRequestId === undefined ? {} : { 'x-last-request-id': lastRequestId }
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${agentId}`, { headers })
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

async function latestSeq (port: number, agentId: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/agents/${agentId}/events?order=desc&limit=1`)
  const body = await res.json() as { latest_seq?: number }
  return body.latest_seq ?? 0
}

/** kill -9 of the agent's owner while it streams; the agent reconnects to the next instance at once. */
async function handover (children: Child[]): Promise<{ reconnect_ms: number, first_commit_ms: number }> {
  const next = lineSource()
  const ws = await openAgent(children[0].port, 'handover')
  for (let i = 0; i < 200; i++) ws.send(next())
  while (await latestSeq(children[1].port, 'handover') < 200) await sleep(20)
  const streaming = setInterval(() => { if (ws.readyState === ws.OPEN) ws.send(next()) }, 2)
  await sleep(200)
  const killed = Date.now()
  children[0].process.kill('SIGKILL')
  await new Promise<void>(resolve => ws.once('close', () => resolve()))
  clearInterval(streaming)
  let again: WebSocket | null = null
  while (again === null) {
    again = await openAgent(children[1].port, 'handover', 'bench').catch(async () => { await sleep(10); return null })
  }
  const reconnected = Date.now()
  const before = await latestSeq(children[1].port, 'handover')
  again.send(next())
  while (await latestSeq(children[1].port, 'handover') <= before) await sleep(5)
  const done = Date.now()
  again.terminate()
  return { reconnect_ms: reconnected - killed, first_commit_ms: done - killed }
}

export async function runScaleBench (opts: ScaleOptions): Promise<Record<string, unknown>> {
  const runs: Array<Record<string, unknown>> = []
  let rate = opts.rate
  for (const n of opts.instances) {
    const schema = `agentlog_bench_${randomUUID().replace(/-/g, '').slice(0, 12)}`
    const children = await startInstances(opts.databaseUrl, schema, n)
    try {
      // flat out, the agents spread evenly
      const per = Math.max(1, Math.round(opts.agents / n))
      let streams = await Promise.all(children.map(async (c, i) =>
        await startAgents({ url: `ws://127.0.0.1:${c.port}`, agents: per, agentPrefix: `ingest-${n}-${i}` })))
      await sleep(1000)
      const a = await committed(children)
      const t0 = Date.now()
      await sleep(opts.seconds * 1000)
      const b = await committed(children)
      const eventsPerSec = Math.round((b - a) * 1000 / (Date.now() - t0))
      await Promise.all(streams.map(async s => await s.stop()))
      const stoppedAt = Date.now()
      await Promise.all(streams.map(async s => await s.close()))
      // what flat out left queued is committed before the latency run, or its samples would measure that backlog
      for (let last = -1, now = await committed(children); now !== last; last = now, now = await committed(children)) await sleep(250)
      // the full-text index follows the commits: how long after the burst it covers everything
      const indexCaughtUpMs = await withClient(opts.databaseUrl, async (c) => {
        for (;;) {
          const r = await c.query(`select (select indexed_through from ${schema}.search_state) >= coalesce((select max(id) from ${schema}.conversation_events), 0) as done`)
          if (r.rows[0].done === true) return Date.now() - stoppedAt
          if (Date.now() - stoppedAt > 300000) return -1
          await sleep(100)
        }
      })
      // the same rate for every run, one a single instance sustains: latency, not a queue growing without bound
      if (rate === 0) rate = Math.max(100, Math.round(eventsPerSec / 2))

      // a fixed total rate: receipt-to-commit latency on each instance
      await Promise.all(children.map(async c => await c.request('latencyStart')))
      streams = await Promise.all(children.map(async (c, i) =>
        await startAgents({ url: `ws://127.0.0.1:${c.port}`, agents: per, agentPrefix: `latency-${n}-${i}`, ratePerSec: rate / n })))
      await sleep(opts.seconds * 1000)
      await Promise.all(streams.map(async s => await s.stop()))
      const lat = await Promise.all(children.map(async c => await c.request<Latency>('latencyStop')))
      await Promise.all(streams.map(async s => await s.close()))

      const run: Record<string, unknown> = {
        instances: n,
        agents: per * n,
        ingest_events_per_sec: eventsPerSec,
        latency_rate: rate,
        commit_p50_ms: Math.max(...lat.map(l => l.p50)),
        commit_p99_ms: Math.max(...lat.map(l => l.p99)),
        index_caught_up_ms_after_burst: indexCaughtUpMs
      }
      if (n >= 2) run.handover = await handover(children)
      runs.push(run)
      opts.log(`scale: ${n} instance(s): ${eventsPerSec} events/s (index caught up ${indexCaughtUpMs} ms after), commit p99 ${String(run.commit_p99_ms)} ms at ${rate}/s` +
        (run.handover === undefined ? '' : `, hand-over after kill -9 ${JSON.stringify(run.handover)}`))
    } finally {
      await Promise.all(children.map(async c => { if (c.process.exitCode === null && c.process.signalCode === null) await c.stop() }))
      await withClient(opts.databaseUrl, async c => { await c.query(`drop schema if exists ${schema} cascade`) })
    }
  }
  const one = runs[0]?.ingest_events_per_sec as number | undefined
  for (const r of runs) if (one !== undefined && one > 0) r.ingest_vs_one = round((r.ingest_events_per_sec as number) / one, 2)
  // the yardstick: PostgreSQL alone appending the same kind of rows, same keys, same batch size, in this run
  const bare = Math.round(await bareAppendPostgres(opts.databaseUrl, 200000, opts.agents))
  opts.log(`scale: bare PostgreSQL append (pg alone, UNNEST, batches of 2000): ${bare} rows/s`)
  return { runs, bare_append_rows_per_sec: bare, one_vs_bare: one === undefined ? null : round(one / bare, 3) }
}
