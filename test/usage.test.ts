// GET /usage through the real app: live results' per-model deltas, imported transcripts counted once per message,
// prices, time zones, CSV, retention. Runs on PostgreSQL too when DATABASE_URL is set.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { build, collect, line, resultLine, sync, tempDatabasePath } from './helper.js'

const near = (a: number | null, b: number): boolean => a !== null && Math.abs(a - b) < 1e-9

async function usage (app: FastifyInstance, query: string): Promise<any> {
  const res = await app.inject({ method: 'GET', url: `/usage?${query}` })
  if (res.statusCode !== 200) throw new Error(`usage ${res.statusCode}: ${res.body}`)
  return res.json()
}

async function connect (app: FastifyInstance, id: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket, inbox: ReturnType<typeof collect> }> {
  const ws = await app.injectWS(`/ws/${id}`, { headers })
  return { ws, inbox: collect(ws) }
}

interface Counts { in: number, out: number, cr: number, cc: number, usd: number }
/** A result line whose modelUsage holds these cumulative counters (the CLI's, for the process so far). */
function result (total: number, models: Record<string, Counts>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const modelUsage: Record<string, unknown> = {}
  for (const [m, c] of Object.entries(models)) {
    modelUsage[m] = { inputTokens: c.in, outputTokens: c.out, cacheReadInputTokens: c.cr, cacheCreationInputTokens: c.cc, webSearchRequests: 0, costUSD: c.usd, contextWindow: 200000 }
  }
  return { ...resultLine(total, extra), modelUsage }
}

const SONNET = 'claude-sonnet-4-5-20250929'
const HAIKU = 'claude-haiku-4-5-20251001'

test('live: per-model usage is the growth of modelUsage within a process, across reconnects, new processes and restarts', async (t) => {
  const databasePath = tempDatabasePath(t)
  let app = await build(t, { databasePath })
  let { ws, inbox } = await connect(app, 'live-1')
  ws.send(line(result(0.01, { [SONNET]: { in: 100, out: 10, cr: 5, cc: 7, usd: 0.01 } })) +
    line(result(0.03, { [SONNET]: { in: 250, out: 30, cr: 5, cc: 7, usd: 0.025 }, [HAIKU]: { in: 40, out: 4, cr: 0, cc: 0, usd: 0.005 } })))
  await sync(app, ws, inbox)
  ws.terminate()
  // the same process reconnects (x-last-request-id): its counters go on
  ;({ ws, inbox } = await connect(app, 'live-1', { 'x-last-request-id': 'r' }))
  ws.send(line(result(0.04, { [SONNET]: { in: 300, out: 40, cr: 5, cc: 7, usd: 0.035 }, [HAIKU]: { in: 40, out: 4, cr: 0, cc: 0, usd: 0.005 } })))
  await sync(app, ws, inbox)
  ws.terminate()
  await app.close()

  // after a restart, the process's per-model baseline is still known
  app = await build(t, { databasePath })
  ;({ ws, inbox } = await connect(app, 'live-1', { 'x-last-request-id': 'r2' }))
  ws.send(line(result(0.05, { [SONNET]: { in: 310, out: 41, cr: 5, cc: 7, usd: 0.036 }, [HAIKU]: { in: 50, out: 5, cr: 0, cc: 0, usd: 0.014 } })))
  await sync(app, ws, inbox)
  ws.terminate()
  // a new process with another conversation counts from zero
  ;({ ws, inbox } = await connect(app, 'live-1'))
  t.teardown(() => ws.terminate())
  ws.send(line(result(0.002, { [HAIKU]: { in: 20, out: 2, cr: 0, cc: 0, usd: 0.002 } }, { session_id: 'sess-2' })))
  await sync(app, ws, inbox)

  const byModel = await usage(app, 'group_by=model')
  t.same(byModel.usage.map((r: any) => r.model), [HAIKU, SONNET])
  const [haiku, sonnet] = byModel.usage
  t.match(sonnet, { input_tokens: 310, output_tokens: 41, cache_read_tokens: 5, cache_creation_tokens: 7, cost_source: 'reported' })
  t.ok(near(sonnet.cost_usd, 0.036), `sonnet cost ${sonnet.cost_usd as number}`)
  t.match(haiku, { input_tokens: 70, output_tokens: 7, cost_source: 'reported' })
  t.ok(near(haiku.cost_usd, 0.016), `haiku cost ${haiku.cost_usd as number}`)
  t.ok(near(byModel.totals.cost_usd, 0.052), 'totals')
  t.same(byModel.unpriced_models, [])

  // the same figures as the sessions' cost (the result's total_cost_usd growth)
  const agents = (await app.inject({ method: 'GET', url: '/agents' })).json().agents
  t.ok(near(agents[0].cost_usd, byModel.totals.cost_usd), 'agrees with the session totals')

  const bySession = await usage(app, 'group_by=session,model&agent=live-1')
  t.same(bySession.usage.map((r: any) => [r.agent_id, r.session_number, r.model]), [['live-1', 0, HAIKU], ['live-1', 0, SONNET]])
  t.same((await usage(app, 'group_by=model&agent=other')).usage, [])
  t.equal((await usage(app, 'group_by=agent&agent=live-*')).usage[0].agent_id, 'live-1')
})

/** One assistant record of a Claude Code transcript. */
function assistant (at: string, model: string, id: string, requestId: string, usage: Record<string, unknown>, text = 'ok', extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    type: 'assistant',
    uuid: `u-${id}-${Math.random()}`,
    timestamp: at,
    sessionId: 's-1',
    requestId,
    message: { id, type: 'message', role: 'assistant', model, content: [{ type: 'text', text }], usage },
    ...extra
  }) + '\n'
}

async function importFile (app: FastifyInstance, agent: string, file: string, body: string): Promise<any> {
  const res = await app.inject({ method: 'POST', url: `/agents/${agent}/import?file=${encodeURIComponent(file)}`, headers: { 'content-type': 'application/x-ndjson' }, payload: body })
  if (res.statusCode !== 200) throw new Error(`import ${res.statusCode}: ${res.body}`)
  return res.json()
}

test('imports: each message counted once (split over lines, repeated by a resumed session), priced, unpriced flagged', async (t) => {
  const app = await build(t, { env: { EVENTS_MAX_PER_AGENT: '3' } })
  const u1 = { input_tokens: 1000, output_tokens: 200, cache_read_input_tokens: 5000, cache_creation_input_tokens: 3000, cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 } }
  const file1 =
    assistant('2026-03-01T23:30:00.000Z', SONNET, 'msg_1', 'req_1', u1, 'first block') +
    assistant('2026-03-01T23:30:01.000Z', SONNET, 'msg_1', 'req_1', u1, 'second block of the same message') +
    assistant('2026-03-02T00:30:00.000Z', HAIKU, 'msg_2', 'req_2', { input_tokens: 10, output_tokens: 1 }, 'a sidechain', { isSidechain: true }) +
    assistant('2026-03-02T01:00:00.000Z', 'some-new-model', 'msg_3', 'req_3', { input_tokens: 7, output_tokens: 3 })
  await importFile(app, 'imp-1', 'a.jsonl', file1)
  // a resumed session's file repeats msg_1 and adds msg_4
  await importFile(app, 'imp-1', 'b.jsonl',
    assistant('2026-03-01T23:30:00.000Z', SONNET, 'msg_1', 'req_1', u1, 'first block') +
    assistant('2026-03-02T02:00:00.000Z', SONNET, 'msg_4', 'req_4', { input_tokens: 100, output_tokens: 100 }, 'ok', { cwd: '/home/me/src/shop' }))

  const byDayModel = await usage(app, 'group_by=day,model')
  t.same(byDayModel.usage.map((r: any) => [r.day, r.model]), [
    ['2026-03-01', SONNET], ['2026-03-02', HAIKU], ['2026-03-02', SONNET], ['2026-03-02', 'some-new-model']
  ])
  const [first, haiku, sonnet2, unknown] = byDayModel.usage
  t.match(first, { input_tokens: 1000, output_tokens: 200, cache_read_tokens: 5000, cache_creation_tokens: 3000, cache_creation_1h_tokens: 2000, cost_source: 'computed' })
  // $3/M in, $15/M out, $0.30/M cache read, $3.75/M 5-minute and $6/M 1-hour cache writes
  t.ok(near(first.cost_usd, (1000 * 3 + 200 * 15 + 5000 * 0.3 + 1000 * 3.75 + 2000 * 6) / 1e6), `priced: ${first.cost_usd as number}`)
  t.ok(near(haiku.cost_usd, (10 * 1 + 1 * 5) / 1e6), 'the sidechain counts in its own right')
  t.match(sonnet2, { input_tokens: 100, output_tokens: 100 })
  t.match(unknown, { input_tokens: 7, output_tokens: 3, cost_usd: null, cost_source: 'none' })
  t.same(byDayModel.unpriced_models, ['some-new-model'])

  // days in another time zone: 23:30 UTC on the 1st is the 2nd in Paris
  const paris = await usage(app, 'group_by=day&tz=Europe/Paris')
  t.same(paris.usage.map((r: any) => [r.day, r.input_tokens]), [['2026-03-02', 1117]])
  const ny = await usage(app, 'group_by=day&tz=America/New_York&from=2026-03-01&to=2026-03-01')
  t.same(ny.usage.map((r: any) => [r.day, r.input_tokens]), [['2026-03-01', 1117]], 'from and to are days in tz')
  t.equal((await usage(app, 'group_by=month&from=2026-03-02T00:00:00Z')).totals.input_tokens, 117, 'a timestamp bound')
  // the database groups by local day when the zone's offset holds over the range, the server otherwise (DST on 8 March)
  const parisRange = await usage(app, 'group_by=day,model&tz=Europe/Paris&from=2026-03-01&to=2026-03-03')
  t.same(parisRange.usage.map((r: any) => [r.day, r.model, r.input_tokens]), [
    ['2026-03-02', HAIKU, 10], ['2026-03-02', SONNET, 1100], ['2026-03-02', 'some-new-model', 7]
  ])
  const acrossDst = await usage(app, 'group_by=week,model&tz=America/New_York&from=2026-02-20&to=2026-03-20')
  // all of it falls on Sunday 1 March in New York: the week of Monday 23 February
  t.same(acrossDst.usage.map((r: any) => [r.week, r.model, r.input_tokens]), [
    ['2026-02-23', HAIKU, 10], ['2026-02-23', SONNET, 1100], ['2026-02-23', 'some-new-model', 7]
  ])

  // an agent known only from its transcripts: its project is the folder they ran in
  t.same((await usage(app, 'group_by=project')).usage.map((r: any) => [r.project, r.input_tokens]), [['shop', 1117]])

  // retention kept 3 events of the agent; usage is kept whole
  const events = (await app.inject({ method: 'GET', url: '/agents/imp-1/events?limit=100' })).json().events
  t.ok(events.length <= 3, `retention pruned the log (${events.length as number} events left)`)
  t.equal((await usage(app, 'group_by=agent')).totals.input_tokens, 1117, 'usage survives retention')

  const csv = await app.inject({ method: 'GET', url: '/usage?group_by=day,model', headers: { accept: 'text/csv' } })
  t.equal(csv.statusCode, 200)
  t.match(csv.headers['content-type'], /^text\/csv/)
  const lines = csv.body.trim().split('\n')
  t.equal(lines[0].split(',').slice(0, 4).join(','), 'day,model,input_tokens,output_tokens')
  t.equal(lines.length, 5)
  t.match(lines[4], /^2026-03-02,some-new-model,7,3,/)

  for (const bad of ['tz=Mars/Olympus', 'from=yesterday', 'group_by=year', 'from=2026-03-02&to=2026-03-01']) {
    const res = await app.inject({ method: 'GET', url: `/usage?${bad}` })
    t.equal(res.statusCode, 400, bad)
  }
})
