// Benchmark child: the real app (src/app.ts, with the server's own Fastify options) on a free loopback port, answering
// the bench's questions (committed events, queue, RSS, commit latency) over IPC. Configured by the usual env vars.
import { PerformanceObserver, type EventLoopUtilization } from 'node:perf_hooks'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { sql } from 'kysely'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import app, { serverOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import type { StoredEvent } from '../src/schemas/events.js'
import { serveRequests, summarize } from './common.js'

const config = loadConfig()
const server = Fastify(serverOptions(config)).withTypeProvider<TypeBoxTypeProvider>()
// fastify-plugin lifts the app's decorators (events, db) to this instance, as test/helper.ts does
const withoutIndex = process.env.BENCH_SEARCH_INDEX === '0'
// the search bench's baseline: the same app with the index no longer kept in step (SQLite: the writer thread
// never catches it up; PostgreSQL: the indexer's watermark put out of reach)
await server.register(fp(app), { config, seams: withoutIndex ? { writer: { searchIndex: false } } : {} })
if (withoutIndex && server.dbDialect === 'postgres') {
  // the indexer finds nothing to do past an unreachable watermark
  await sql`update search_state set indexed_through = 9007199254740991`.execute(server.db)
  await sql`drop trigger search_documents_delete on conversation_events`.execute(server.db)
}
await server.listen({ host: '127.0.0.1', port: 0 })

const { events } = server
let pauses = 0
let resumes = 0
let maxQueue = 0
let maxRss = 0
events.onPressure((full) => { if (full) pauses++; else resumes++ })
// batches since the last latencyStart: how the writer groups commits at this rate
let batchCount = 0
let batchItems = 0
let batchMaxMs = 0
events.onBatch((items, seconds) => {
  batchCount++
  batchItems += items
  if (seconds * 1000 > batchMaxMs) batchMaxMs = seconds * 1000
})

// commit latency: receipt time is the event's created_at (stamped when the line was read, ms resolution)
let latencies: number[] = []
// main-thread GC pauses during the latency window: a long one holds every commit acknowledgement back
let gcPauses: number[] = []
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcPauses.push(e.duration) }).observe({ entryTypes: ['gc'] })
let stopLatency: (() => void) | null = null
let lastStamp = ''
let lastParsed = 0
function onCommit (stored: StoredEvent[]): void {
  const now = Date.now()
  for (const e of stored) {
    if (e.created_at !== lastStamp) { lastStamp = e.created_at; lastParsed = Date.parse(e.created_at) }
    latencies.push(now - lastParsed)
  }
}

// per thread, how busy its event loop was between threadsStart and threads (the bench's per-stage profile)
const writerElu = (): EventLoopUtilization | null => server.sqliteWriter?.eventLoopUtilization() ?? null
let mark = { main: performance.eventLoopUtilization(), writer: writerElu(), cpu: process.cpuUsage() }

serveRequests({
  async threadsStart () {
    mark = { main: performance.eventLoopUtilization(), writer: writerElu(), cpu: process.cpuUsage() }
    return { writer_stats: await server.sqliteWriter?.stats() ?? null }
  },
  async threads () {
    const main = performance.eventLoopUtilization(mark.main)
    const now = writerElu()
    const writer = now === null || mark.writer === null ? null : performance.eventLoopUtilization(now, mark.writer)
    const cpu = process.cpuUsage(mark.cpu)
    return {
      main_busy: main.utilization,
      writer_busy: writer?.utilization ?? null,
      /** CPU seconds of the whole process (every thread) per second of wall time. */
      process_cpu: (cpu.user + cpu.system) / 1000 / Math.max(1, main.idle + main.active),
      writer_stats: await server.sqliteWriter?.stats() ?? null
    }
  },
  stats () {
    const rss = process.memoryUsage.rss()
    if (rss > maxRss) maxRss = rss
    if (events.queueDepth > maxQueue) maxQueue = events.queueDepth
    return {
      t: Date.now(),
      committed: events.stats.eventsWritten,
      batches: events.stats.batches,
      queue: events.queueDepth,
      full: events.isFull,
      rss,
      maxRss,
      maxQueue,
      pauses,
      resumes,
      writeErrors: events.stats.writeErrors
    }
  },
  async storedEvents () {
    await events.flush()
    const row = await sql<{ n: number }>`select count(*) as n from conversation_events`.execute(server.db)
    return Number(row.rows[0].n)
  },
  async latencyStart () {
    latencies = []
    gcPauses = []
    await server.sqliteWriter?.stats()
    batchCount = 0
    batchItems = 0
    batchMaxMs = 0
    stopLatency = events.onCommit(onCommit)
    return true
  },
  async latencyStop () {
    const writer = await server.sqliteWriter?.stats()
    stopLatency?.()
    stopLatency = null
    const gc = gcPauses.slice().sort((a, b) => b - a)
    return {
      ...summarize(latencies),
      batches: batchCount,
      meanBatch: Math.round(batchItems / Math.max(1, batchCount)),
      maxBatchMs: Math.round(batchMaxMs),
      writer_slowest_ms: writer?.slowestMs ?? null,
      gc: { pauses: gc.length, max_ms: Math.round(gc[0] ?? 0), over_10ms: gc.filter(x => x > 10).length, total_ms: Math.round(gc.reduce((a, b) => a + b, 0)) }
    }
  }
}, async () => { await server.close() })

process.send?.({ type: 'ready', port: (server.server.address() as { port: number }).port })
