// What the service is doing, for Prometheus (prom-client, one registry per app) and for readiness
// (@fastify/under-pressure samples the event-loop delay that /health/ready checks).
import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { countSetAside } from '../src/store/set-aside.js'

declare module 'fastify' {
  interface FastifyInstance { metrics: Registry }
}

interface LiveCounts {
  counts?: () => { followers: number }
  size?: number
}

export default fp(async function metrics (fastify) {
  const { events, agents, config } = fastify
  const registry = new Registry()
  const registers = [registry]
  collectDefaultMetrics({ register: registry })

  // never sheds load (an agent's lines and an operator's commands matter more than latency): readiness reports it
  await fastify.register(underPressure, {
    maxEventLoopDelay: config.readyMaxEventLoopDelayMs,
    pressureHandler: () => undefined
  })

  const ingested = new Counter({
    name: 'agentlog_events_ingested_total',
    help: 'Events committed to the log, by event type',
    labelNames: ['type'],
    registers
  })
  const offCommit = events.onCommit((stored) => {
    const byType = new Map<string, number>()
    for (const e of stored) byType.set(e.event_type, (byType.get(e.event_type) ?? 0) + 1)
    for (const [type, n] of byType) ingested.inc({ type }, n)
  })

  const batchSize = new Histogram({
    name: 'agentlog_commit_batch_size',
    help: 'Queue items (lines, prompts, clears) committed per transaction',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
    registers
  })
  const commitSeconds = new Histogram({
    name: 'agentlog_commit_duration_seconds',
    help: 'Time to write and commit one batch',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers
  })
  const offBatch = events.onBatch((items, seconds) => {
    batchSize.observe(items)
    commitSeconds.observe(seconds)
  })

  new Counter({ // eslint-disable-line no-new
    name: 'agentlog_lines_rejected_total',
    help: 'Agent lines and frames that could not be used, by reason',
    labelNames: ['reason'],
    registers,
    collect () {
      this.reset()
      for (const [reason, n] of Object.entries(agents.rejectedLines)) this.inc({ reason }, n)
    }
  })
  new Counter({ // eslint-disable-line no-new
    name: 'agentlog_duplicate_lines_total',
    help: 'Re-sent lines (a uuid already stored for the agent) that produced no events',
    registers,
    collect () { this.reset(); this.inc(events.stats.duplicateLines) }
  })
  new Counter({ // eslint-disable-line no-new
    name: 'agentlog_write_errors_total',
    help: 'Writes that failed to commit (retried, or narrowed down to the item the database refuses)',
    registers,
    collect () { this.reset(); this.inc(events.stats.writeErrors) }
  })
  new Counter({ // eslint-disable-line no-new
    name: 'agentlog_lines_set_aside_total',
    help: 'Agent lines the database refused on their own while it took other writes, set aside (GET /set-aside)',
    registers,
    collect () { this.reset(); this.inc(events.stats.linesSetAside) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'agentlog_set_aside_lines',
    help: 'Lines in the set_aside_lines table now (every instance\'s, until an operator removes them)',
    registers,
    async collect () { this.set(await countSetAside(fastify.db)) }
  })
  new Counter({ // eslint-disable-line no-new
    name: 'agentlog_writes_refused_total',
    help: 'Prompts, server events and clears the database refused on their own; their callers got 500 event_refused',
    registers,
    collect () { this.reset(); this.inc(events.stats.itemsRefused) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'agentlog_writer_healthy',
    help: '1 while the last commit succeeded, 0 while the writer is retrying a failed batch',
    registers,
    collect () { this.set(events.stats.healthy ? 1 : 0) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'agentlog_write_queue_depth',
    help: 'Items waiting for the writer',
    registers,
    collect () { this.set(events.queueDepth) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'agentlog_write_queue_max',
    help: 'QUEUE_MAX: above it agent sockets are paused and /health/ready answers 503',
    registers,
    collect () { this.set(config.queueMax) }
  })
  // SQLite: the full-text index follows the commits (src/store/sqlite-writer/); PostgreSQL indexes with them
  const writer = fastify.sqliteWriter
  new Gauge({ // eslint-disable-line no-new
    name: 'agentlog_search_index_lag_events',
    help: 'Committed events full-text search does not cover yet (SQLite indexes them within about a second)',
    registers,
    async collect () { this.set(writer === null ? 0 : (await writer.stats()).indexLag.events) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'agentlog_search_index_lag_seconds',
    help: 'How long ago the oldest event search does not cover yet was committed (0: search covers everything)',
    registers,
    async collect () { this.set(writer === null ? 0 : (await writer.stats()).indexLag.ms / 1000) }
  })
  new Counter({ // eslint-disable-line no-new
    name: 'agentlog_writer_thread_restarts_total',
    help: 'Times the SQLite writer thread died and was started again (its batch in flight written once)',
    registers,
    collect () { this.reset(); this.inc(writer?.restarts ?? 0) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'agentlog_connected_agents',
    help: 'Agent sockets open now',
    registers,
    collect () { this.set(agents.size) }
  })
  new Gauge({ // eslint-disable-line no-new
    name: 'agentlog_stream_subscribers',
    help: 'Live stream followers (SSE and WebSocket) open now',
    registers,
    collect () {
      // the live hub is another plugin and may be absent
      const live = (fastify as { live?: LiveCounts }).live
      this.set(live?.counts?.().followers ?? live?.size ?? 0)
    }
  })

  const httpSeconds = new Histogram({
    name: 'agentlog_http_request_duration_seconds',
    help: 'HTTP request durations (live streams excluded: they last as long as the client stays)',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers
  })
  fastify.addHook('onResponse', async function (request, reply) {
    if (String(reply.getHeader('content-type') ?? '').startsWith('text/event-stream')) return
    // the route's pattern, not the URL: one series per route however many agents there are
    const route = request.routeOptions.url ?? 'unmatched'
    httpSeconds.observe({ method: request.method, route, status_code: reply.statusCode }, reply.elapsedTime / 1000)
  })

  fastify.decorate('metrics', registry)
  fastify.addHook('onClose', async () => {
    offCommit()
    offBatch()
    registry.clear()
  })
}, { name: 'metrics', dependencies: ['config', 'event-store', 'agent-hub'] })
