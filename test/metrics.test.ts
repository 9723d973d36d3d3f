// GET /metrics (Prometheus text) and the health endpoints, as an operator's scraper and load balancer see them.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, collect, sync, line, assistantText, resultLine } from './helper.js'

/** Parses the text exposition into `name{labels}` → value (label order as written by prom-client). */
function parse (text: string): Map<string, number> {
  const samples = new Map<string, number>()
  for (const row of text.split('\n')) {
    if (row === '' || row.startsWith('#')) continue
    const at = row.lastIndexOf(' ')
    samples.set(row.slice(0, at), Number(row.slice(at + 1)))
  }
  return samples
}

async function scrape (app: FastifyInstance): Promise<Map<string, number>> {
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  if (res.statusCode !== 200) throw new Error(`metrics ${res.statusCode}: ${res.body}`)
  return parse(res.body)
}

test('the exposition is Prometheus text with help and type lines', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  for (const name of [
    'agentlog_events_ingested_total', 'agentlog_lines_rejected_total', 'agentlog_write_queue_depth',
    'agentlog_commit_batch_size', 'agentlog_commit_duration_seconds', 'agentlog_connected_agents',
    'agentlog_stream_subscribers', 'agentlog_http_request_duration_seconds', 'process_resident_memory_bytes'
  ]) {
    t.match(res.body, new RegExp(`^# TYPE ${name} `, 'm'), name)
  }
})

test('ingest shows up: events by type, rejected lines by reason, batches, agents, subscribers', async (t) => {
  const app = await build(t)
  const ws = await app.injectWS('/ws/metered')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(line(assistantText('one')) + line(assistantText('two')) + line(resultLine(0.01)))
  ws.send('not json\n{"no_type":1}\n{"also":"no type"}\n')
  ws.send(Buffer.from('binary'), { binary: true })
  await sync(app, ws, inbox)

  let feed: ReturnType<typeof collect> | undefined
  // collecting from the start: caught_up may come with the upgrade answer
  const follower = await app.injectWS('/stream/ws?after=latest', {}, { onInit: (ws) => { feed = collect(ws) } })
  t.teardown(() => follower.terminate())
  await feed?.next(m => m.type === 'caught_up')

  const m = await scrape(app)
  t.equal(m.get('agentlog_events_ingested_total{type="output"}'), 2)
  t.equal(m.get('agentlog_events_ingested_total{type="result"}'), 1)
  t.equal(m.get('agentlog_events_ingested_total{type="activity_changed"}'), 1)
  t.equal(m.get('agentlog_lines_rejected_total{reason="invalid_json"}'), 1)
  t.equal(m.get('agentlog_lines_rejected_total{reason="missing_type"}'), 2)
  t.equal(m.get('agentlog_lines_rejected_total{reason="binary"}'), 1)
  t.equal(m.get('agentlog_lines_rejected_total{reason="frame_too_big"}'), 0, 'every reason is listed, also at zero')
  t.equal(m.get('agentlog_connected_agents'), 1)
  t.equal(m.get('agentlog_stream_subscribers'), 1)
  t.equal(m.get('agentlog_write_queue_depth'), 0, 'flushed')
  t.equal(m.get('agentlog_write_queue_max'), app.config.queueMax)
  t.equal(m.get('agentlog_writer_healthy'), 1)
  t.equal(m.get('agentlog_write_errors_total'), 0)

  const batches = m.get('agentlog_commit_batch_size_count') ?? 0
  t.ok(batches >= 1, `batches observed (${batches})`)
  t.equal(m.get('agentlog_commit_duration_seconds_count'), batches, 'one latency per batch')
  t.ok((m.get('agentlog_commit_duration_seconds_sum') ?? -1) > 0)
  // queue items: the connect notice and three lines at least
  t.ok((m.get('agentlog_commit_batch_size_sum') ?? 0) >= 4)
  t.equal(m.get('agentlog_commit_batch_size_bucket{le="+Inf"}'), batches)

  // a re-sent line is counted as a duplicate, not as new events
  const again = assistantText('resent')
  ws.send(line(again))
  ws.send(line(again))
  await sync(app, ws, inbox)
  const after = await scrape(app)
  t.equal(after.get('agentlog_events_ingested_total{type="output"}'), 3)
  t.equal(after.get('agentlog_duplicate_lines_total'), 1)

  ws.terminate()
  follower.terminate()
  await app.events.flush()
})

test('agents and subscribers go back down when they leave', async (t) => {
  const app = await build(t)
  const ws = await app.injectWS('/ws/leaving')
  const closedOnServer = new Promise<void>(resolve => app.agents.onChange((id, state) => { if (id === 'leaving' && state === 'disconnected') resolve() }))
  t.equal((await scrape(app)).get('agentlog_connected_agents'), 1)
  ws.terminate()
  await closedOnServer
  t.equal((await scrape(app)).get('agentlog_connected_agents'), 0)
})

test('HTTP request durations are labelled by route pattern and status, not by URL', async (t) => {
  const app = await build(t)
  for (const id of ['a1', 'a2', 'a3']) await app.inject({ method: 'GET', url: `/agents/${id}/events` })
  await app.inject({ method: 'GET', url: '/agents/bad id/events' })
  await app.inject({ method: 'GET', url: '/nowhere' })
  const m = await scrape(app)
  t.equal(m.get('agentlog_http_request_duration_seconds_count{method="GET",route="/agents/:agentId/events",status_code="404"}'), 3)
  t.equal(m.get('agentlog_http_request_duration_seconds_count{method="GET",route="/agents/:agentId/events",status_code="400"}'), 1)
  t.equal(m.get('agentlog_http_request_duration_seconds_count{method="GET",route="unmatched",status_code="404"}'), 1)
  for (const key of m.keys()) t.notMatch(key, /a1|a2|a3/, 'no per-agent series')
})

test('/health/live and /health/ready', async (t) => {
  const app = await build(t)
  const live = await app.inject({ method: 'GET', url: '/health/live' })
  t.same(live.json(), { status: 'ok' })
  const ready = await app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.match(ready.json(), { status: 'ok', queue_depth: 0, connected_agents: 0, last_error: null })
})

test('/health/ready is 503 while the event loop is stalled past READY_MAX_EVENT_LOOP_DELAY_MS, 200 again after', async (t) => {
  const app = await build(t, { env: { READY_MAX_EVENT_LOOP_DELAY_MS: '15' } })
  const status = async () => (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode
  t.equal(await status(), 200)
  // a synchronous stall, like a runaway computation. under-pressure reports the mean delay over each 1 s sample
  // (10 ms ticks, less their 10 ms period): one 2 s tick among at most 100 idle ones is a mean of 20 ms or more
  const until = Date.now() + 2000
  while (Date.now() < until) { /* stall */ }
  const overloaded = await new Promise<any>((resolve) => {
    const poll = async (): Promise<void> => {
      const res = await app.inject({ method: 'GET', url: '/health/ready' })
      if (res.statusCode === 503) resolve(res.json())
      else setTimeout(() => { poll().catch(resolve) }, 20)
    }
    poll().catch(resolve)
  })
  t.match(overloaded, { status: 'unavailable', last_error: /event loop delay/ })
  await new Promise<void>((resolve) => {
    const poll = async (): Promise<void> => {
      if (await status() === 200) resolve()
      else setTimeout(() => { poll().catch(() => resolve()) }, 20)
    }
    poll().catch(() => resolve())
  })
  t.equal(await status(), 200, 'ready again once the loop runs freely')
  t.equal((await app.inject({ method: 'GET', url: '/agents' })).statusCode, 200, 'load is never shed: other routes answer throughout')
})
