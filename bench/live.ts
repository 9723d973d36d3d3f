// Live-stream benchmark: latency from an agent's frame to 100 SSE followers (p50/p99), and the ingest rate with
// 0 and with 100 followers attached. The clients run in a worker thread, so they do not share the server's loop.
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { pathToFileURL } from 'node:url'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { WebSocket } from 'ws'

export interface LiveBenchOptions {
  /** http://127.0.0.1:PORT of a running agentlog. */
  baseUrl: string
  /** Where agents connect; default: baseUrl as ws://, then /ws/:agentId. */
  agentWsUrl?: (agentId: string) => string
  /** Followers attached for the latency and the second ingest run (default 100). */
  subscribers?: number
  /** Frames timed one at a time, each waiting until every follower has the previous one (default 300). */
  latencyFrames?: number
  /** Events written in each ingest run (default 20000). */
  ingestEvents?: number
  /** Lines per agent frame in the ingest runs (default 50). */
  frameLines?: number
  /** Run the clients in a worker thread (default true); false runs them on the caller's event loop. */
  worker?: boolean
}

export interface LiveBenchResult {
  subscribers: number
  latency_samples: number
  latency_p50_ms: number
  latency_p99_ms: number
  latency_max_ms: number
  ingest_events: number
  /** Events committed per second with no follower attached. */
  ingest_events_per_s_0: number
  /** Events committed per second while `subscribers` followers receive them. */
  ingest_events_per_s_100: number
  /** ingest_events_per_s_100 / ingest_events_per_s_0 (1 = followers cost the writer nothing). */
  ingest_ratio: number
  /** Events delivered per second across all followers in the second ingest run, until the last one had all. */
  fanout_deliveries_per_s: number
}

interface ClientParams {
  baseUrl: string
  agentWsBase: string | null
  subscribers: number
  latencyFrames: number
  ingestEvents: number
  frameLines: number
  runId: string
}

const now = (): number => performance.now()

function round (x: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
}

function assistantLine (text: string): string {
  return JSON.stringify({
    type: 'assistant',
    message: { id: `msg_${randomUUID()}`, type: 'message', role: 'assistant', model: 'bench', content: [{ type: 'text', text }] },
    parent_tool_use_id: null,
    session_id: 'bench',
    uuid: randomUUID()
  }) + '\n'
}

interface Agent {
  send: (frame: string) => Promise<void>
  close: () => void
}

async function openAgent (url: string): Promise<Agent> {
  const ws = new WebSocket(url)
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
  // permission requests would block a real CLI; this agent never asks, and ignores what it is sent
  ws.on('message', () => {})
  return {
    send (frame) {
      // the server pauses agents when its write queue is full: wait for the socket rather than buffer without end
      if (ws.bufferedAmount < 1024 * 1024) { ws.send(frame); return Promise.resolve() }
      return new Promise((resolve, reject) => ws.send(frame, err => err == null ? resolve() : reject(err)))
    },
    close () { ws.close() }
  }
}

async function getJson (url: string): Promise<any> {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`)
  return res.json()
}

/** Resolves once the agent's committed log reaches `seq` (history's latest_seq is the committed head). */
async function committed (baseUrl: string, agentId: string, seq: number): Promise<void> {
  for (;;) {
    const page = await getJson(`${baseUrl}/agents/${agentId}/events?order=desc&limit=1`)
    if (page.latest_seq >= seq) return
    await new Promise(resolve => setTimeout(resolve, 2))
  }
}

interface Follower {
  lastSeq: number
  /** Called with the event's seq (its SSE id) as each arrives. */
  onEvent: ((seq: number, at: number) => void) | null
  caughtUp: Promise<void>
  close: () => void
}

/** A minimal SSE reader: parses every event's data, records the head it has reached. */
function follow (url: string): Promise<Follower> {
  return new Promise((resolve, reject) => {
    let markCaughtUp: () => void = () => {}
    const follower: Follower = {
      lastSeq: 0,
      onEvent: null,
      caughtUp: new Promise(resolve => { markCaughtUp = resolve }),
      close: () => req.destroy()
    }
    const req = http.get(url, { agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) { reject(new Error(`${url}: ${res.statusCode}`)); return }
      res.setEncoding('utf8')
      let text = ''
      res.on('data', (chunk: string) => {
        const at = now()
        text += chunk
        // walks the messages in place (no copy of the rest per message): a client should cost little beside the server
        let from = 0
        let cut = text.indexOf('\n\n', from)
        while (cut !== -1) {
          // the id of an agent stream's message is the event's seq: no need to parse the JSON
          if (text.startsWith('id: ', from)) {
            const seq = Number(text.slice(from + 4, text.indexOf('\n', from)))
            follower.lastSeq = seq
            if (follower.onEvent !== null) follower.onEvent(seq, at)
          } else if (text.startsWith('event: caught_up', from)) {
            markCaughtUp()
          }
          from = cut + 2
          cut = text.indexOf('\n\n', from)
        }
        text = from === 0 ? text : text.slice(from)
      })
      resolve(follower)
    })
    req.once('error', reject)
  })
}

async function ingest (p: ClientParams, agentId: string, agentUrl: string): Promise<{ rate: number, agent: Agent, start: number }> {
  const agent = await openAgent(agentUrl)
  const start = now()
  for (let sent = 0; sent < p.ingestEvents; sent += p.frameLines) {
    const n = Math.min(p.frameLines, p.ingestEvents - sent)
    let frame = ''
    for (let i = 0; i < n; i++) frame += assistantLine(`ingest ${sent + i}`)
    await agent.send(frame)
  }
  await committed(p.baseUrl, agentId, p.ingestEvents)
  return { rate: p.ingestEvents / ((now() - start) / 1000), agent, start }
}

/** The client side of the benchmark: agents and followers talking to the server over loopback. */
async function runClients (p: ClientParams): Promise<LiveBenchResult> {
  const wsBase = p.agentWsBase ?? p.baseUrl.replace(/^http/, 'ws') + '/ws/'
  const quiet = `bench-live-${p.runId}-0`
  const busy = `bench-live-${p.runId}-n`

  const alone = await ingest(p, quiet, wsBase + quiet)
  alone.agent.close()

  // the followed agent must exist before anyone can follow it
  const first = await openAgent(wsBase + busy)
  first.close()
  await committed(p.baseUrl, busy, 0)
  const followers = await Promise.all(Array.from({ length: p.subscribers }, () => follow(`${p.baseUrl}/agents/${busy}/events/stream?after=latest`)))
  await Promise.all(followers.map(f => f.caughtUp))

  let allHad: () => void = () => {}
  const delivered = new Promise<void>(resolve => { allHad = resolve })
  let complete = 0
  for (const f of followers) {
    f.onEvent = (seq) => {
      if (seq === p.ingestEvents) {
        complete++
        if (complete === followers.length) allHad()
      }
    }
  }
  const crowded = await ingest(p, busy, wsBase + busy)
  await delivered
  const fanoutSeconds = (now() - crowded.start) / 1000

  // latency: one frame at a time, the next once every follower has the previous one
  const samples: number[] = []
  let sentAt = 0
  let expected = 0
  let got = 0
  let frameDone: () => void = () => {}
  for (const f of followers) {
    f.onEvent = (seq, at) => {
      if (seq !== expected) return
      samples.push(at - sentAt)
      got++
      if (got === followers.length) frameDone()
    }
  }
  for (let i = 1; i <= p.latencyFrames; i++) {
    expected = p.ingestEvents + i
    got = 0
    const done = new Promise<void>(resolve => { frameDone = resolve })
    sentAt = now()
    await crowded.agent.send(assistantLine(`latency ${i}`))
    await done
  }
  crowded.agent.close()
  for (const f of followers) f.close()

  samples.sort((a, b) => a - b)
  return {
    subscribers: p.subscribers,
    latency_samples: samples.length,
    latency_p50_ms: round(percentile(samples, 0.5)),
    latency_p99_ms: round(percentile(samples, 0.99)),
    latency_max_ms: round(samples.at(-1) ?? 0),
    ingest_events: p.ingestEvents,
    ingest_events_per_s_0: Math.round(alone.rate),
    ingest_events_per_s_100: Math.round(crowded.rate),
    ingest_ratio: round(crowded.rate / alone.rate),
    fanout_deliveries_per_s: Math.round(p.ingestEvents * p.subscribers / fanoutSeconds)
  }
}

export async function runLiveBench (opts: LiveBenchOptions): Promise<LiveBenchResult> {
  const runId = randomUUID().slice(0, 8)
  const params: ClientParams = {
    baseUrl: opts.baseUrl.replace(/\/$/, ''),
    agentWsBase: null,
    subscribers: opts.subscribers ?? 100,
    latencyFrames: opts.latencyFrames ?? 300,
    ingestEvents: opts.ingestEvents ?? 20000,
    frameLines: opts.frameLines ?? 50,
    runId
  }
  if (opts.agentWsUrl !== undefined) {
    // a function cannot cross into the worker: derive the base it builds URLs on
    const marker = '__agent__'
    const url = opts.agentWsUrl(marker)
    if (!url.endsWith(marker)) throw new Error('agentWsUrl must put the agent id at the end of the URL')
    params.agentWsBase = url.slice(0, -marker.length)
  }
  if (opts.worker === false) return runClients(params)
  const worker = new Worker(new URL(import.meta.url), { workerData: params })
  try {
    return await new Promise<LiveBenchResult>((resolve, reject) => {
      worker.once('message', (m: { result?: LiveBenchResult, error?: string }) => {
        if (m.result !== undefined) resolve(m.result)
        else reject(new Error(m.error))
      })
      worker.once('error', reject)
      worker.once('exit', code => reject(new Error(`bench worker exited with code ${code}`)))
    })
  } finally {
    await worker.terminate()
  }
}

if (!isMainThread && parentPort !== null && (workerData as ClientParams | null)?.runId !== undefined) {
  const port = parentPort
  runClients(workerData as ClientParams).then(
    result => port.postMessage({ result }),
    (err: unknown) => port.postMessage({ error: err instanceof Error ? err.stack ?? err.message : String(err) })
  )
}

/** Starts agentlog on a temporary database, runs the benchmark against it, prints the result as JSON. */
async function main (): Promise<void> {
  const [{ default: Fastify }, { default: fp }, { default: app }, { loadConfig }] = await Promise.all([
    import('fastify'), import('fastify-plugin'), import('../src/app.js'), import('../src/config.js')
  ])
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-bench-live-'))
  try {
    const config = loadConfig({ LOG_LEVEL: 'warn', ...process.env, DATABASE_PATH: join(dir, 'agentlog.db') })
    const server = Fastify({ logger: { level: config.logLevel } })
    await server.register(fp(app), { config })
    await server.listen({ host: '127.0.0.1', port: 0 })
    const address = server.server.address()
    if (address === null || typeof address === 'string') throw new Error('no TCP address')
    try {
      const result = await runLiveBench({ baseUrl: `http://127.0.0.1:${address.port}` })
      console.log(JSON.stringify(result, null, 2))
    } finally {
      await server.close()
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (isMainThread && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main()
}
