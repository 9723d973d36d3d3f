// `npm run bench`: ingest (vs the raw ceiling and a naive baseline), commit latency, memory under backpressure,
// start-up and history latency at depth; prints a summary and writes bench/results.json. Env knobs: see README.
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import net from 'node:net'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import SQLite from 'better-sqlite3'
import { startAgents } from './agents.js'
import { BENCH_DIR, ROOT, envInt, envStr, mb, round, sleep, startChild, summarize, type Child } from './common.js'
import { bareAppend } from './bare-append.js'
import { openProbe } from './http-probe.js'
import { printProfile, summarizeProfile, type ProfileSummary } from './profile.js'
import { seedDatabase } from './seed.js'
import { benchTranscripts } from './transcripts.js'

const cfg = {
  agents: envInt('BENCH_AGENTS', 16),
  seconds: envInt('BENCH_SECONDS', 8),
  warmupSeconds: envInt('BENCH_WARMUP_SECONDS', 2),
  rounds: Math.max(1, envInt('BENCH_ROUNDS', 1)),
  latencySeconds: envInt('BENCH_LATENCY_SECONDS', 6),
  memorySeconds: envInt('BENCH_MEMORY_SECONDS', 15),
  commitDelayMs: envInt('BENCH_COMMIT_DELAY_MS', 250),
  events: envInt('BENCH_EVENTS', 1_000_000),
  /** Events the ingest agents already hold between them in the long-history run (BENCH_INGEST_HISTORY=10000000 for 10M). */
  ingestHistory: envInt('BENCH_INGEST_HISTORY', 1_000_000),
  otherAgents: envInt('BENCH_OTHER_AGENTS', 3),
  otherEvents: envInt('BENCH_OTHER_EVENTS', 100_000),
  historyRequests: envInt('BENCH_HISTORY_REQUESTS', 2000),
  autocannonSeconds: envInt('BENCH_AUTOCANNON_SECONDS', 5),
  logLevel: envStr('BENCH_LOG_LEVEL', 'warn'),
  db: envStr('BENCH_DB', ''),
  cpuProf: process.env.BENCH_CPU_PROF === '1',
  only: new Set(envStr('BENCH_ONLY', 'ingest,latency,memory,history,live,transcripts,search,scale').split(',').map(s => s.trim())),
  /** Scale-out (several instances) needs PostgreSQL: BENCH_DATABASE_URL, else DATABASE_URL; skipped without. */
  scaleDatabaseUrl: envStr('BENCH_DATABASE_URL', process.env.DATABASE_URL ?? ''),
  scaleSeconds: envInt('BENCH_SCALE_SECONDS', 4),
  scaleRate: envInt('BENCH_SCALE_RATE', 0)
}

const work = mkdtempSync(join(tmpdir(), 'agentlog-bench-'))
const results: Record<string, any> = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  cpu_model: cpus()[0]?.model ?? 'unknown',
  memory_mb: mb(totalmem()),
  settings: { ...cfg, only: [...cfg.only] }
}

function log (msg: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`)
}

interface Stats { t: number, committed: number, rss: number, maxRss: number, queue?: number, maxQueue?: number, pauses?: number, resumes?: number }

async function waitCommitted (child: Child, target: number, timeoutMs = 180000): Promise<Stats> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const s = await child.request<Stats>('stats')
    if (s.committed >= target) return s
    if (Date.now() > deadline) throw new Error(`only ${s.committed} of ${target} events committed after ${timeoutMs} ms`)
    await sleep(50)
  }
}

function appEnv (databasePath: string, extra: Record<string, string> = {}): Record<string, string> {
  // no retention: every line sent must still be in the table when the run is checked
  // BENCH_APP_ENV (JSON) adds settings of the app's own, to try one without editing the bench
  const own = JSON.parse(envStr('BENCH_APP_ENV', '{}')) as Record<string, string>
  return { DATABASE_PATH: databasePath, LOG_LEVEL: cfg.logLevel, EVENTS_MAX_PER_AGENT: '0', ...own, ...extra }
}

// ---- ingest: events/s committed, flat out ----

/** How busy each thread was during the measured window (0..1), and the cores the load generator (this process) used. */
interface Threads { main_busy: number, writer_busy: number | null, process_cpu: number, generator_cpu: number, writer_ms_per_s?: Record<string, number> }

interface IngestRun { eventsPerSec: number, sent: number, stored: number, drainMs: number, maxRssMb: number, perAgentMinMax: [number, number], threads?: Threads }

async function ingestOnce (name: string, entry: string, env: Record<string, string>, execArgv: string[] = [], history = 0): Promise<IngestRun> {
  const child = await startChild(entry, env, execArgv)
  try {
    const agents = await startAgents({ url: `ws://127.0.0.1:${child.port}`, agents: cfg.agents, agentPrefix: `ingest-${name}` })
    const start = Date.now()
    await sleep(cfg.warmupSeconds * 1000)
    const a = await child.request<Stats>('stats')
    const startThreads = await child.request<{ writer_stats: any }>('threadsStart').catch(() => null)
    const genCpu = process.cpuUsage()
    await sleep(Math.max(1, cfg.seconds - cfg.warmupSeconds) * 1000)
    const b = await child.request<Stats>('stats')
    const threads = startThreads === null ? null : await child.request<any>('threads').catch(() => null)
    const gen = process.cpuUsage(genCpu)
    const sent = await agents.stop()
    const stopped = Date.now()
    const perAgent = agents.perAgent()
    const last = await waitCommitted(child, sent)
    const drainMs = Date.now() - stopped
    // the agents' long histories, seeded before the run, are in the table too
    const stored = Number(await child.request('storedEvents')) - history
    await agents.close()
    const eventsPerSec = (b.committed - a.committed) / ((b.t - a.t) / 1000)
    const windowS = (b.t - a.t) / 1000
    let t: Threads | undefined
    if (threads !== null) {
      t = {
        main_busy: round(threads.main_busy, 3),
        writer_busy: threads.writer_busy === null ? null : round(threads.writer_busy, 3),
        process_cpu: round(threads.process_cpu, 3),
        generator_cpu: round((gen.user + gen.system) / 1e6 / windowS, 3)
      }
      if (threads.writer_stats !== null && startThreads?.writer_stats != null) {
        const d = (k: string): number => round((threads.writer_stats.busyMs[k] - startThreads.writer_stats.busyMs[k]) / windowS, 0)
        t.writer_ms_per_s = { commit: d('commit'), index: d('index'), merge: d('merge'), other: d('other') }
      }
    }
    const busy = t === undefined ? '' : `; busy: main ${t.main_busy}, writer ${String(t.writer_busy)}${t.writer_ms_per_s === undefined ? '' : ` (ms/s commit ${t.writer_ms_per_s.commit}, index ${t.writer_ms_per_s.index}, merge ${t.writer_ms_per_s.merge})`}, process ${t.process_cpu} cores, load generator ${t.generator_cpu} cores`
    log(`  ${name}: ${round(eventsPerSec)} events/s (${sent} events sent in ${round((stopped - start) / 1000, 1)} s, stored ${stored}, drained in ${drainMs} ms, max RSS ${mb(last.maxRss)} MB${busy})`)
    if (stored !== sent) throw new Error(`${name}: the lines sent make ${sent} events but ${stored} are stored`)
    return { eventsPerSec: round(eventsPerSec), sent, stored, drainMs, maxRssMb: mb(last.maxRss), perAgentMinMax: [Math.min(...perAgent), Math.max(...perAgent)], ...(t === undefined ? {} : { threads: t }) }
  } finally {
    await child.stop()
  }
}

function median (xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function ingest (): Promise<void> {
  log(`ingest: ${cfg.agents} agents flat out for ${cfg.seconds} s (rate measured after ${cfg.warmupSeconds} s), ${cfg.rounds} round(s)`)
  const runs: Record<'raw' | 'naive' | 'agentlog', IngestRun[]> = { raw: [], naive: [], agentlog: [] }
  let profile: ProfileSummary | null = null
  for (let r = 0; r < cfg.rounds; r++) {
    runs.raw.push(await ingestOnce('raw', 'raw-server.js', {}))
    runs.naive.push(await ingestOnce('naive', 'naive-server.js', { DATABASE_PATH: join(work, `naive-${r}.db`) }))
    const profDir = join(work, `prof-${r}`)
    const execArgv = cfg.cpuProf && r === 0 ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []
    runs.agentlog.push(await ingestOnce('agentlog', 'server.js', appEnv(join(work, `ingest-${r}.db`)), execArgv))
    if (execArgv.length > 0) {
      const file = readdirSync(profDir).find(f => f.endsWith('.cpuprofile'))
      if (file !== undefined) {
        // kept outside the work directory, which is removed at the end
        const keep = join(tmpdir(), `agentlog-ingest-${Date.now()}.cpuprofile`)
        copyFileSync(join(profDir, file), keep)
        profile = summarizeProfile(keep, 30)
        log(`  CPU profile of the agentlog server: ${keep}`)
      }
    }
  }
  const raw = median(runs.raw.map(x => x.eventsPerSec))
  const naive = median(runs.naive.map(x => x.eventsPerSec))
  const app = median(runs.agentlog.map(x => x.eventsPerSec))

  // the same agents holding long histories (seeded once, reused), and the bare append at the same depth
  const seeded = await ingestHistory()
  const long: IngestRun[] = []
  for (let r = 0; r < cfg.rounds; r++) {
    const path = join(work, `ingest-long-${r}.db`)
    copyFileSync(seeded, path)
    long.push(await ingestOnce('agentlog-long', 'server.js', appEnv(path), [], cfg.ingestHistory))
  }
  const longRate = median(long.map(x => x.eventsPerSec))
  const bare = await bareAppend(work, Math.max(...long.map(x => x.stored)), cfg.ingestHistory, cfg.agents)
  log(`  bare append (better-sqlite3 alone, same rows, same depth): ${round(bare)} rows/s`)
  const limit = Math.min(raw, bare)
  results.ingest = {
    agents: cfg.agents,
    events_per_sec: round(app),
    raw_ceiling_lines_per_sec: round(raw),
    naive_events_per_sec: round(naive),
    ratio_vs_raw: round(app / raw, 3),
    ratio_vs_naive: round(app / naive, 2),
    history_events: cfg.ingestHistory,
    long_history_events_per_sec: round(longRate),
    bare_append_rows_per_sec: round(bare),
    limit: raw <= bare ? 'raw parse ceiling' : 'bare append',
    ratio_long_vs_limit: round(longRate / limit, 3),
    ratio_long_vs_new: round(longRate / app, 3),
    max_rss_mb: Math.max(...runs.agentlog.map(x => x.maxRssMb), ...long.map(x => x.maxRssMb)),
    runs: { ...runs, long }
  }
  if (profile !== null) {
    printProfile(profile)
    results.ingest.profile = { busy_ms: profile.busyMs, areas: profile.areas.slice(0, 12), functions: profile.functions.slice(0, 20) }
  }
}

/** A database whose ingest agents hold `ingestHistory` events between them: built once, kept in data/ and reused. */
async function ingestHistory (): Promise<string> {
  const path = resolve(ROOT, envStr('BENCH_INGEST_SEED_PATH', `data/bench-ingest-${cfg.agents}x${cfg.ingestHistory}.db`))
  if (existsSync(path)) {
    log(`  history: reusing ${path}`)
    return path
  }
  log(`  history: seeding ${cfg.ingestHistory} events among the ${cfg.agents} agents into ${path} (once)`)
  const per = Math.floor(cfg.ingestHistory / cfg.agents)
  const agents = Array.from({ length: cfg.agents }, (_, i) => ({ id: `ingest-agentlog-long-${i}`, events: per }))
  const seed = await seedDatabase(path + '.partial', agents, log)
  renameSync(path + '.partial', path)
  log(`  history: seeded in ${round(seed.ms / 1000, 1)} s`)
  return path
}

// ---- commit latency at half of the measured peak ----

async function latency (): Promise<void> {
  const peak = results.ingest?.events_per_sec as number | undefined
  const rate = envInt('BENCH_LATENCY_RATE', peak === undefined ? 10000 : Math.round(peak / 2))
  log(`commit latency: ${cfg.agents} agents at ${rate} lines/s in total for ${cfg.latencySeconds} s`)
  const child = await startChild('server.js', appEnv(join(work, 'latency.db')))
  try {
    const agents = await startAgents({ url: `ws://127.0.0.1:${child.port}`, agents: cfg.agents, agentPrefix: 'latency', ratePerSec: rate })
    await sleep(1000)
    await child.request('latencyStart')
    const a = await child.request<Stats>('stats')
    await sleep(cfg.latencySeconds * 1000)
    const b = await child.request<Stats>('stats')
    const lat = await child.request<ReturnType<typeof summarize> & { batches: number, meanBatch: number, maxBatchMs: number, writer_slowest_ms: Record<string, number> | null, gc: { pauses: number, max_ms: number, over_10ms: number, total_ms: number } }>('latencyStop')
    const sent = await agents.stop()
    await waitCommitted(child, sent)
    const stored = Number(await child.request('storedEvents'))
    await agents.close()
    const achieved = round((b.committed - a.committed) / ((b.t - a.t) / 1000))
    results.commit_latency = { target_rate: rate, achieved_events_per_sec: achieved, ms: lat, sent, stored }
    log(`  p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms over ${lat.n} events at ${achieved} events/s; ${lat.batches} batches of ${lat.meanBatch} items on average, slowest ${lat.maxBatchMs} ms; main-thread GC: ${lat.gc.pauses} pauses, ${lat.gc.over_10ms} over 10 ms, longest ${lat.gc.max_ms} ms, ${lat.gc.total_ms} ms in all; writer thread's slowest: ${JSON.stringify(lat.writer_slowest_ms)}`)
    if (stored !== sent) throw new Error(`latency: the lines sent make ${sent} events but ${stored} are stored`)
  } finally {
    await child.stop()
  }
}

// ---- memory: flat out against a slowed database; backpressure must bound RSS and drop nothing ----

async function memory (): Promise<void> {
  log(`memory: ${cfg.agents} agents flat out for ${cfg.memorySeconds} s, each batch commit delayed ${cfg.commitDelayMs} ms`)
  // no retention here: at 60 s one agent can pass EVENTS_MAX_PER_AGENT, and every line sent must still be in the table
  const child = await startChild('server.js', appEnv(join(work, 'memory.db'), { BENCH_COMMIT_DELAY_MS: String(cfg.commitDelayMs), EVENTS_MAX_PER_AGENT: '0' }))
  try {
    const agents = await startAgents({ url: `ws://127.0.0.1:${child.port}`, agents: cfg.agents, agentPrefix: 'memory' })
    const samples: Array<{ s: number, rssMb: number, queue: number, committed: number }> = []
    const start = Date.now()
    while (Date.now() - start < cfg.memorySeconds * 1000) {
      await sleep(250)
      const last = await child.request<Stats>('stats')
      samples.push({ s: round((Date.now() - start) / 1000, 2), rssMb: mb(last.rss), queue: last.queue ?? 0, committed: last.committed })
    }
    const sent = await agents.stop()
    const perAgent = agents.perAgent()
    const end = await waitCommitted(child, sent)
    const stored = Number(await child.request('storedEvents'))
    await agents.close()
    const half = samples.filter(x => x.s >= cfg.memorySeconds / 2).map(x => x.rssMb)
    results.memory = {
      seconds: cfg.memorySeconds,
      commit_delay_ms: cfg.commitDelayMs,
      max_rss_mb: mb(end.maxRss),
      rss_first_half_max_mb: Math.max(...samples.filter(x => x.s < cfg.memorySeconds / 2).map(x => x.rssMb)),
      rss_second_half_max_mb: Math.max(...half),
      max_queue: end.maxQueue,
      pauses: end.pauses,
      resumes: end.resumes,
      sent,
      stored,
      dropped: sent - stored,
      lines_per_agent_min_max: [Math.min(...perAgent), Math.max(...perAgent)],
      committed_per_sec_while_slowed: round(samples[samples.length - 1].committed / samples[samples.length - 1].s),
      // the largest RSS in each 5 s slice: flat once backpressure holds, climbing if something leaks
      rss_mb_per_5s: Array.from({ length: Math.ceil(cfg.memorySeconds / 5) }, (_, k) =>
        Math.max(0, ...samples.filter(x => x.s > k * 5 && x.s <= (k + 1) * 5).map(x => x.rssMb)))
    }
    log(`  max RSS ${mb(end.maxRss)} MB, max queue ${String(end.maxQueue)}, paused ${String(end.pauses)}x / resumed ${String(end.resumes)}x, sent ${sent} (${Math.min(...perAgent)} to ${Math.max(...perAgent)} per agent), stored ${stored}`)
    if (stored !== sent) throw new Error(`memory: sent ${sent} lines but ${stored} events are stored`)
  } finally {
    await child.stop()
  }
}

// ---- start-up and history latency on a seeded database, through the real entry point (dist/src/server.js) ----

function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })
}

function get (agent: http.Agent, port: number, path: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.on('error', reject)
  })
}

interface RealServer { port: number, startupMs: number, firstRequestMs: number, stop: () => Promise<void> }

/** Spawns the real server on the database and times spawn → first history page served. */
async function startRealServer (databasePath: string, firstPath: string): Promise<RealServer> {
  const port = await freePort()
  const t0 = performance.now()
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'bundle', 'server.js')], {
    env: { PATH: process.env.PATH ?? '', DATABASE_PATH: databasePath, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: cfg.logLevel, EVENTS_MAX_PER_AGENT: '0' },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  const agent = new http.Agent({ keepAlive: false })
  let firstRequestMs = 0
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    const t1 = performance.now()
    const res = await get(agent, port, firstPath).catch(() => null)
    if (res !== null) {
      if (res.status !== 200) throw new Error(`first request answered ${res.status}: ${res.body.slice(0, 200)}`)
      firstRequestMs = performance.now() - t1
      break
    }
    if (performance.now() - t0 > 30000) throw new Error('server did not answer within 30 s')
    await sleep(2)
  }
  const startupMs = performance.now() - t0
  agent.destroy()
  return {
    port,
    startupMs: round(startupMs, 1),
    firstRequestMs: round(firstRequestMs, 2),
    async stop () {
      child.kill('SIGTERM')
      await exited
    }
  }
}

interface Autocannon {
  (opts: Record<string, unknown>): Promise<{ requests: { average: number }, latency: { p50: number, p99: number }, non2xx: number, errors: number }>
}

async function history (): Promise<void> {
  let dbPath = cfg.db === '' ? '' : resolve(cfg.db)
  let seeded: Record<string, unknown> = { source: dbPath }
  if (dbPath === '') {
    dbPath = join(work, 'history.db')
    const agents = [{ id: 'bench-deep', events: cfg.events },
      ...Array.from({ length: cfg.otherAgents }, (_, i) => ({ id: `bench-other-${i}`, events: cfg.otherEvents }))]
    log(`history: seeding ${cfg.events} events for one agent and ${cfg.otherAgents} x ${cfg.otherEvents} for others`)
    const s = await seedDatabase(dbPath, agents, log)
    seeded = { source: 'seeded', total_events: s.totalEvents, db_mb: mb(s.bytes), seed_seconds: round(s.ms / 1000, 1) }
    log(`  seeded ${s.totalEvents} events (${mb(s.bytes)} MB) in ${round(s.ms / 1000, 1)} s`)
  } else {
    if (!existsSync(dbPath)) throw new Error(`BENCH_DB ${dbPath} does not exist (npm run bench:seed builds it)`)
    log(`history: using ${dbPath}`)
  }
  // the deepest agent, read before the server opens the file
  const ro = new SQLite(dbPath, { readonly: true })
  const deep = ro.prepare('select agent_id, last_seq, current_session from agents order by last_seq desc limit 1').get() as { agent_id: string, last_seq: number, current_session: number }
  const totals = ro.prepare('select count(*) as agents, sum(last_seq) as events from agents').get() as { agents: number, events: number }
  ro.close()
  results.history = { ...seeded, agents: totals.agents, total_events: totals.events, deep_agent_events: deep.last_seq }

  const base = `/agents/${encodeURIComponent(deep.agent_id)}/events`
  const L = deep.last_seq
  const runs: Array<{ startupMs: number, firstRequestMs: number }> = []
  let server: RealServer | null = null
  for (let i = 0; i < 3; i++) {
    if (server !== null) await server.stop()
    server = await startRealServer(dbPath, `${base}?order=desc&limit=100`)
    runs.push({ startupMs: server.startupMs, firstRequestMs: server.firstRequestMs })
  }
  results.startup = {
    total_events: totals.events,
    spawn_to_first_page_ms: runs.map(r => r.startupMs),
    first_request_ms: runs.map(r => r.firstRequestMs),
    median_ms: round(median(runs.map(r => r.startupMs)), 1)
  }
  log(`start-up (${totals.events} events): spawn → first page served ${runs.map(r => r.startupMs).join(', ')} ms (first request itself ${runs.map(r => r.firstRequestMs).join(', ')} ms)`)
  if (server === null) throw new Error('no server')
  try {
    const scenarios: Array<[string, string]> = [
      ['first page (asc)', `${base}?limit=100`],
      [`deep page (asc, after=${L - 150})`, `${base}?limit=100&after=${L - 150}`],
      ['latest page (desc)', `${base}?order=desc&limit=100`],
      [`middle page (desc, before=${Math.floor(L / 2)})`, `${base}?order=desc&limit=100&before=${Math.floor(L / 2)}`],
      [`session ${Math.floor(deep.current_session / 2)} page`, `${base}?session=${Math.floor(deep.current_session / 2)}&limit=100`],
      ['type=tool_use page (deep)', `${base}?type=tool_use&limit=100&after=${Math.floor(L * 0.9)}`],
      ['type=tool_use,result page (deep)', `${base}?type=tool_use,result&limit=100&after=${Math.floor(L * 0.9)}`]
    ]
    const probe = await openProbe(server.port)
    const pages: Record<string, ReturnType<typeof summarize> & { path: string, bytes: number }> = {}
    log(`history latency: ${cfg.historyRequests} requests per page, one keep-alive connection, back to back (a lean client; /health/live measured the same way is the floor)`)
    for (const [name, path] of [...scenarios, ['floor: GET /health/live', '/health/live'] as [string, string]]) {
      const check = await probe.get(path)
      const body = JSON.parse(check.body.toString()) as { events?: unknown[] }
      if (check.status !== 200 || (path !== '/health/live' && body.events?.length !== 100)) throw new Error(`${name}: ${check.status}, ${body.events?.length} events`)
      for (let i = 0; i < 200; i++) await probe.get(path)
      const times: number[] = []
      for (let i = 0; i < cfg.historyRequests; i++) {
        const t = performance.now()
        const res = await probe.get(path)
        times.push(performance.now() - t)
        if (res.status !== 200) throw new Error(`${name}: ${res.status}`)
      }
      pages[name] = { ...summarize(times), path, bytes: check.bytes }
      log(`  ${name.padEnd(44)} p50 ${pages[name].p50.toFixed(3)} ms  p99 ${pages[name].p99.toFixed(3)} ms`)
    }
    probe.close()
    const first = pages['first page (asc)']
    const deepPage = Object.entries(pages).find(([k]) => k.startsWith('deep page'))?.[1]
    const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon
    log(`history throughput: autocannon, 10 connections, ${cfg.autocannonSeconds} s, deep page`)
    const ac = await autocannon({ url: `http://127.0.0.1:${server.port}${scenarios[1][1]}`, connections: 10, duration: cfg.autocannonSeconds })
    if (ac.non2xx > 0 || ac.errors > 0) throw new Error(`autocannon: ${ac.non2xx} non-2xx, ${ac.errors} errors`)
    results.history = {
      ...results.history,
      pages,
      deep_vs_first_p99: deepPage === undefined ? null : round(deepPage.p99 / first.p99, 2),
      requests_per_sec_10_connections: round(ac.requests.average),
      autocannon_latency_ms: { p50: ac.latency.p50, p99: ac.latency.p99 }
    }
    log(`  ${round(ac.requests.average)} requests/s, p99 ${ac.latency.p99} ms`)
  } finally {
    await server.stop()
  }
}

// ---- the live-stream benchmark (bench/live.ts, when present) ----

async function live (): Promise<void> {
  if (!existsSync(join(BENCH_DIR, 'live.js'))) {
    log('live: bench/live.ts not present, skipped')
    return
  }
  log('live: bench/live.ts (runLiveBench) against the app in a child process')
  const spec = './live.js'
  const mod = await import(spec) as { runLiveBench?: (opts: { baseUrl: string }) => Promise<Record<string, unknown>> }
  if (typeof mod.runLiveBench !== 'function') throw new Error('bench/live.ts does not export runLiveBench')
  const child = await startChild('server.js', appEnv(join(work, 'live.db')), cfg.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${join(tmpdir(), 'agentlog-live-prof')}`] : [])
  try {
    results.live = await mod.runLiveBench({ baseUrl: `http://127.0.0.1:${child.port}` })
  } finally {
    await child.stop()
  }
}

async function scale (): Promise<void> {
  if (cfg.scaleDatabaseUrl === '') {
    log('scale: no BENCH_DATABASE_URL or DATABASE_URL (PostgreSQL), skipped')
    return
  }
  log('scale: 1, 2 and 3 instances on one PostgreSQL')
  const { runScaleBench } = await import('./scale.js')
  results.scale = await runScaleBench({
    databaseUrl: cfg.scaleDatabaseUrl, instances: [1, 2, 3], agents: cfg.agents, seconds: cfg.scaleSeconds, rate: cfg.scaleRate, log
  })
}

// ---- search: ingest with the index kept against without, and query latency on a large log (bench/search.ts) ----

async function search (): Promise<void> {
  const rounds = Math.max(2, cfg.rounds)
  log(`search ingest: ${cfg.agents} agents flat out, index on and off alternately, ${rounds} rounds`)
  const on: IngestRun[] = []
  const off: IngestRun[] = []
  for (let r = 0; r < rounds; r++) {
    // alternate which goes first: the machine's other load drifts
    const order = r % 2 === 0 ? ['on', 'off'] : ['off', 'on']
    for (const which of order) {
      const run = await ingestOnce(`search-${which}`, 'server.js', appEnv(join(work, `search-${which}-${r}.db`), which === 'off' ? { BENCH_SEARCH_INDEX: '0' } : {}))
      ;(which === 'on' ? on : off).push(run)
    }
  }
  const withIndex = median(on.map(x => x.eventsPerSec))
  const without = median(off.map(x => x.eventsPerSec))
  const { runSearchBench } = await import('./search.js')
  results.search = {
    ingest: { events_per_sec_index_on: round(withIndex), events_per_sec_index_off: round(without), ratio: round(withIndex / without, 3), on, off },
    ...await runSearchBench(log)
  }
}

// ---- summary ----

function row (name: string, value: string, target = '', ok: boolean | null = null): string {
  const mark = ok === null ? '' : ok ? 'ok' : 'MISS'
  return `| ${name.padEnd(52)} | ${value.padEnd(26)} | ${target.padEnd(22)} | ${mark.padEnd(4)} |`
}

function summary (): string[] {
  const out = [row('figure', 'measured', 'target'), `|${'-'.repeat(54)}|${'-'.repeat(28)}|${'-'.repeat(24)}|------|`]
  const i = results.ingest
  if (i !== undefined) {
    out.push(row(`ingest, ${String(i.agents)} agents (events/s committed)`, String(i.events_per_sec)))
    out.push(row('raw ceiling (events/s the parsed lines make)', String(i.raw_ceiling_lines_per_sec)))
    out.push(row('naive baseline (events/s, autocommit)', String(i.naive_events_per_sec)))
    out.push(row('ingest / raw ceiling', `${String(i.ratio_vs_raw)}x`))
    out.push(row('ingest / naive baseline', `${String(i.ratio_vs_naive)}x`, '>= 6x', i.ratio_vs_naive >= 6))
    out.push(row(`ingest into agents holding ${String(i.history_events)} events`, String(i.long_history_events_per_sec)))
    out.push(row('bare append, same depth (rows/s)', String(i.bare_append_rows_per_sec)))
    out.push(row(`long-history ingest / ${String(i.limit)}`, `${String(i.ratio_long_vs_limit)}x`, '>= 0.8x', i.ratio_long_vs_limit >= 0.8))
    out.push(row('long-history ingest / into new agents', `${String(i.ratio_long_vs_new)}x`, '>= 0.9x (10M)', i.ratio_long_vs_new >= 0.9))
    const th = (i.runs?.long?.[0] ?? i.runs?.agentlog?.[0])?.threads as Threads | undefined
    if (th !== undefined) {
      out.push(row('busy: main thread / writer thread (0-1)', `${String(th.main_busy)} / ${String(th.writer_busy)}`))
      if (th.writer_ms_per_s !== undefined) out.push(row('writer ms/s: commit / index / merge', `${th.writer_ms_per_s.commit} / ${th.writer_ms_per_s.index} / ${th.writer_ms_per_s.merge}`))
      out.push(row('cores: server process / load generator', `${String(th.process_cpu)} / ${String(th.generator_cpu)}`))
    }
  }
  const c = results.commit_latency
  if (c !== undefined) {
    out.push(row(`commit latency p50 / p99 at ${String(c.achieved_events_per_sec)} ev/s`, `${String(c.ms.p50)} / ${String(c.ms.p99)} ms`, 'p99 <= 20 ms', c.ms.p99 <= 20))
  }
  const m = results.memory
  if (m !== undefined) {
    out.push(row(`max RSS, ${String(m.seconds)} s flat out, commits +${String(m.commit_delay_ms)} ms`, `${String(m.max_rss_mb)} MB`, '< 300 MB', m.max_rss_mb < 300))
    out.push(row('backpressure: socket pauses / resumes', `${String(m.pauses)} / ${String(m.resumes)}`, '> 0', m.pauses > 0 && m.resumes > 0))
    out.push(row('events dropped (sent - stored)', `${String(m.dropped)} of ${String(m.sent)}`, '0', m.dropped === 0))
  }
  const s = results.startup
  if (s !== undefined) {
    out.push(row(`start-up to first page, ${String(s.total_events)} events`, `${String(s.median_ms)} ms (median of 3)`, '<= 500 ms', Math.max(...s.spawn_to_first_page_ms) <= 500))
  }
  const h = results.history
  if (h?.pages !== undefined) {
    for (const [name, p] of Object.entries(h.pages as Record<string, { p50: number, p99: number }>)) {
      const isCore = name.startsWith('first') || name.startsWith('deep')
      out.push(row(`history ${name}`, `p50 ${p.p50.toFixed(2)} / p99 ${p.p99.toFixed(2)} ms`, isCore ? 'p99 <= 2 ms' : '', isCore ? p.p99 <= 2 : null))
    }
    out.push(row(`deep p99 / first p99 (${String(h.deep_agent_events)} events deep)`, `${String(h.deep_vs_first_p99)}x`, '<= 1.5x', h.deep_vs_first_p99 <= 1.5))
    out.push(row('history requests/s, 10 connections', String(h.requests_per_sec_10_connections)))
  }
  const l = results.live
  if (l !== undefined) {
    out.push(row(`live: frame → ${String(l.subscribers)} SSE followers p50 / p99`, `${String(l.latency_p50_ms)} / ${String(l.latency_p99_ms)} ms`))
    out.push(row(`live: ingest with ${String(l.subscribers)} followers / with none`, `${String(l.ingest_ratio)}x`, '>= 0.8x', l.ingest_ratio >= 0.8))
  }
  const sc = results.scale
  if (sc !== undefined) {
    out.push(row('PostgreSQL: bare append (rows/s)', String(sc.bare_append_rows_per_sec)))
    out.push(row('PostgreSQL: one instance / bare append', `${String(sc.one_vs_bare)}x`, '>= 0.5x', sc.one_vs_bare >= 0.5))
  }
  for (const r of sc?.runs ?? []) {
    out.push(row(`scale: ${String(r.instances)} instance(s), ingest (events/s)`, `${String(r.ingest_events_per_sec)} (${String(r.ingest_vs_one)}x)`, r.instances > 1 ? '>= 1.0x' : '', r.instances > 1 ? r.ingest_vs_one >= 1 : null))
    out.push(row(`scale: ${String(r.instances)}, index caught up after the burst`, `${String(r.index_caught_up_ms_after_burst)} ms`))
    out.push(row(`scale: ${String(r.instances)} instance(s), commit p50 / p99 at ${String(r.latency_rate)}/s`, `${String(r.commit_p50_ms)} / ${String(r.commit_p99_ms)} ms`, 'p99 <= 100 ms', r.commit_p99_ms <= 100))
    if (r.handover !== undefined) out.push(row('scale: kill -9 of the owner → next line committed', `${String(r.handover.first_commit_ms)} ms`))
  }
  const q = results.search
  if (q !== undefined) {
    out.push(row('ingest with search index / without', `${String(q.ingest.ratio)}x`, '>= 0.9x', q.ingest.ratio >= 0.9))
    for (const [name, r] of Object.entries(q.queries as Record<string, { p50: number, p99: number }>)) {
      const core = ['common word', 'rare word', 'phrase'].includes(name)
      out.push(row(`search ${name}, ${String(q.events)} events (${String(q.database)})`, `p50 ${r.p50.toFixed(2)} / p99 ${r.p99.toFixed(2)} ms`, core ? 'p99 <= 50 ms (10M)' : '', core ? r.p99 <= 50 : null))
    }
  }
  const tr = results.transcripts
  if (tr !== undefined) {
    out.push(row(`import: ${String(tr.import_records)} transcript records (${String(tr.import_mb)} MB)`, `${String(tr.import_records_per_sec)} records/s (${String(tr.import_events_per_sec)} events/s)`))
    out.push(row(`export: ${String(tr.export_events)} events, plain / gzip`, `${String(tr.export_events_per_sec)} / ${String(tr.export_gzip_events_per_sec)} events/s`))
    out.push(row('export: server RSS before / at most', `${String(tr.export_server_rss_mb_before)} / ${String(tr.export_server_max_rss_mb)} MB`))
  }
  return out
}

try {
  if (cfg.only.has('ingest')) await ingest()
  if (cfg.only.has('latency')) await latency()
  if (cfg.only.has('memory')) await memory()
  if (cfg.only.has('history')) await history()
  if (cfg.only.has('live')) await live()
  if (cfg.only.has('transcripts')) results.transcripts = await benchTranscripts(work, log)
  if (cfg.only.has('search')) await search()
  if (cfg.only.has('scale')) await scale()
  const table = summary()
  console.log(`\nagentlog bench: ${results.cpus} x ${String(results.cpu_model)}, node ${process.version}, ${results.date}`)
  for (const l of table) console.log(l)
  if (results.live !== undefined) console.log('\nlive:', JSON.stringify(results.live, null, 2))
  // a full run is bench/results.json; a partial one (BENCH_ONLY) goes beside it and leaves the full run's figures alone
  const partial = process.env.BENCH_ONLY !== undefined
  const out = join(ROOT, 'bench', partial ? `results.${[...cfg.only].join('+')}.json` : 'results.json')
  writeFileSync(out, JSON.stringify(results, null, 2) + '\n')
  console.log(`\nwrote ${out}`)
} finally {
  if (process.env.BENCH_KEEP !== '1') rmSync(work, { recursive: true, force: true })
  else console.log(`kept ${work}`)
}
