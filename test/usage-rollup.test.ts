// GET /usage by agent, project, runner and host through the real app: queries by agent read whole UTC days from the
// daily roll-up (usage_agent_days) and the rest by the hour; every grouping, zone and range must give what the hours
// give. The reference here works from the imported records themselves, with Intl. Runs on PostgreSQL too.
import { test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { WebSocket } from 'ws'
import { build, collect, connect, line, listen, resultLine, sync } from './helper.js'

const SONNET = 'claude-sonnet-4-5-20250929'
const HAIKU = 'claude-haiku-4-5-20251001'

async function usage (app: FastifyInstance, query: string, headers: Record<string, string> = {}): Promise<any> {
  const res = await app.inject({ method: 'GET', url: `/usage?${query}`, headers })
  if (res.statusCode !== 200) throw new Error(`usage ${res.statusCode}: ${res.body}`)
  return res.json()
}

interface Rec { agent: string, at: string, model: string, input: number, output: number }

/** Records every 5 hours (at minute 10) from 2026-03-25 to 2026-04-06, over three agents and two models. */
function records (): Rec[] {
  const out: Rec[] = []
  const agents = ['a-1', 'a-2', 'b-1']
  for (let i = 0, at = Date.parse('2026-03-25T00:10:00Z'); at < Date.parse('2026-04-06T00:00:00Z'); i++, at += 5 * 3600000) {
    out.push({ agent: agents[i % 3], at: new Date(at).toISOString(), model: i % 2 === 0 ? SONNET : HAIKU, input: 100 + i, output: 10 + (i % 7) })
  }
  return out
}

function transcript (recs: Rec[]): string {
  return recs.map((r, i) => JSON.stringify({
    type: 'assistant',
    uuid: `u-${r.agent}-${i}`,
    timestamp: r.at,
    sessionId: `s-${r.agent}`,
    requestId: `req-${r.agent}-${i}`,
    message: { id: `msg-${r.agent}-${i}`, type: 'message', role: 'assistant', model: r.model, content: [{ type: 'text', text: 'ok' }], usage: { input_tokens: r.input, output_tokens: r.output } }
  }) + '\n').join('')
}

/** The reference: a record's hour is in when it starts in [floor(from), to); its local buckets are those of the hour's start. */
function expected (recs: Rec[], opts: { from: number | null, to: number, tz: string, groups: string[], agent?: RegExp }): Map<string, { input: number, output: number }> {
  const f = new Intl.DateTimeFormat('en-CA', { timeZone: opts.tz, year: 'numeric', month: '2-digit', day: '2-digit' })
  const localDay = (ms: number): string => f.format(new Date(ms))
  const out = new Map<string, { input: number, output: number }>()
  for (const r of recs) {
    const hour = Math.floor(Date.parse(r.at) / 3600000) * 3600000
    if (opts.from !== null && hour < Math.floor(opts.from / 3600000) * 3600000) continue
    if (hour >= opts.to) continue
    if (opts.agent !== undefined && !opts.agent.test(r.agent)) continue
    const day = localDay(hour)
    const [y, m, d] = day.split('-').map(Number)
    const weekday = new Date(Date.UTC(y, m - 1, d)).getUTCDay()
    const keys: Record<string, string> = {
      day,
      week: new Date(Date.UTC(y, m - 1, d - ((weekday + 6) % 7))).toISOString().slice(0, 10),
      month: day.slice(0, 7),
      agent: r.agent,
      model: r.model
    }
    const id = opts.groups.map(g => keys[g]).join('|')
    const sum = out.get(id) ?? { input: 0, output: 0 }
    sum.input += r.input
    sum.output += r.output
    out.set(id, sum)
  }
  return out
}

function answered (body: any, groups: string[]): Map<string, { input: number, output: number }> {
  const out = new Map<string, { input: number, output: number }>()
  for (const row of body.usage) out.set(groups.map(g => row[g === 'agent' ? 'agent_id' : g]).join('|'), { input: row.input_tokens, output: row.output_tokens })
  return out
}

test('by agent: the daily roll-up and the hours at the edges give what the hours give, in every zone and range', async (t) => {
  const app = await build(t)
  const recs = records()
  for (const agent of ['a-1', 'a-2', 'b-1']) {
    const res = await app.inject({ method: 'POST', url: `/agents/${agent}/import?file=${agent}.jsonl`, headers: { 'content-type': 'application/x-ndjson' }, payload: transcript(recs.filter(r => r.agent === agent)) })
    t.equal(res.statusCode, 200, res.body)
  }
  const cases: Array<{ query: string, from: number | null, to: number, tz: string, groups: string[], agent?: RegExp }> = [
    { query: 'group_by=agent&from=2026-03-27&to=2026-04-02&tz=Europe/Paris', from: Date.parse('2026-03-26T23:00:00Z'), to: Date.parse('2026-04-02T22:00:00Z'), tz: 'Europe/Paris', groups: ['agent'] },
    { query: 'group_by=agent,day&from=2026-03-27&to=2026-04-02&tz=Europe/Paris', from: Date.parse('2026-03-26T23:00:00Z'), to: Date.parse('2026-04-02T22:00:00Z'), tz: 'Europe/Paris', groups: ['agent', 'day'] },
    { query: 'group_by=agent,day&from=2026-03-27T05:00:00Z&to=2026-04-01T07:30:00Z', from: Date.parse('2026-03-27T05:00:00Z'), to: Date.parse('2026-04-01T08:00:00Z'), tz: 'UTC', groups: ['agent', 'day'] },
    { query: 'group_by=month,agent,model&to=2026-04-04&tz=Asia/Kolkata', from: null, to: Date.parse('2026-04-04T19:00:00Z'), tz: 'Asia/Kolkata', groups: ['month', 'agent', 'model'] },
    { query: 'group_by=week,agent&from=2026-03-26&to=2026-04-05&tz=America/New_York', from: Date.parse('2026-03-26T04:00:00Z'), to: Date.parse('2026-04-06T04:00:00Z'), tz: 'America/New_York', groups: ['week', 'agent'] },
    { query: 'group_by=day,model&agent=a-2&from=2026-03-26&to=2026-04-03', from: Date.parse('2026-03-26T00:00:00Z'), to: Date.parse('2026-04-04T00:00:00Z'), tz: 'UTC', groups: ['day', 'model'], agent: /^a-2$/ },
    { query: 'group_by=model&agent=a-*&from=2026-03-26T13:20:00Z&to=2026-04-03', from: Date.parse('2026-03-26T13:20:00Z'), to: Date.parse('2026-04-04T00:00:00Z'), tz: 'UTC', groups: ['model'], agent: /^a-/ }
  ]
  for (const c of cases) {
    const want = expected(recs, c)
    t.ok(want.size > 0, `${c.query}: the case has usage`)
    t.same(answered(await usage(app, c.query), c.groups), want, c.query)
  }
  // the same range by agent alone and by agent and hour (always the hours): equal totals
  const byAgent = await usage(app, 'group_by=agent&from=2026-03-27&to=2026-04-02&tz=Asia/Kolkata')
  const byHour = await usage(app, 'group_by=agent,hour&from=2026-03-27&to=2026-04-02&tz=Asia/Kolkata')
  t.same(byAgent.totals, byHour.totals, 'the roll-up and the hours agree on the totals (cost included)')
  t.ok(byAgent.totals.computed_cost_usd > 0, 'the imported messages are priced')
})

test('group_by runner and host: the runner that started each agent (agent_runs), null for the others', async (t) => {
  const RUNNER = 'runner-tok-1'
  const OP = 'op-tok-1'
  const op = { authorization: `Bearer ${OP}` }
  const app = await build(t, { env: { AUTH_TOKENS: `runner:${RUNNER}:box-*,operator:${OP},agent:agent-tok-1` } })
  const base = await listen(app)
  // a stand-in for `agentlog runner`: says hello, opens the agent's socket when told to start it
  const runner = await connect(t, `${base}/runners/ws/box-1`, { authorization: `Bearer ${RUNNER}` })
  const agentSockets = new Map<string, { ws: WebSocket, inbox: ReturnType<typeof collect> }>()
  runner.on('message', (data) => {
    const m = JSON.parse(data.toString())
    if (m.type !== 'start') return
    connect(t, `${base.replace(/^http/, 'ws')}/ws/${m.agent_id}`, { authorization: `Bearer ${RUNNER}` }).then((ws) => {
      agentSockets.set(m.agent_id, { ws, inbox: collect(ws) })
      runner.send(JSON.stringify({ type: 'started', request_id: m.request_id, agent_id: m.agent_id, cwd: m.cwd, worktree: null, pid: 4242 }))
    }).catch(() => {})
  })
  runner.send(JSON.stringify({ type: 'hello', protocol: 1, host: 'box', roots: ['/work/repos'], claude_version: '2.1.112 (Claude Code)', agentlog_version: '0.1.0', agents: [] }))
  for (const end = Date.now() + 10000; ;) {
    const res = await app.inject({ method: 'GET', url: '/runners', headers: op })
    if (res.json().runners.some((r: any) => r.connected === true)) break
    if (Date.now() > end) throw new Error('the runner was never listed as connected')
    await new Promise(resolve => setImmediate(resolve))
  }
  const started = await app.inject({ method: 'POST', url: '/runners/box-1/agents', headers: op, payload: { agent_id: 'box-a', cwd: '/work/repos/x' } })
  t.equal(started.statusCode, 201, started.body)
  const onRunner = agentSockets.get('box-a')
  if (onRunner === undefined) throw new Error('the runner did not open the agent socket')
  const modelUsage = (input: number, usd: number) => ({ [SONNET]: { inputTokens: input, outputTokens: 5, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, webSearchRequests: 0, costUSD: usd, contextWindow: 200000 } })
  onRunner.ws.send(line({ ...resultLine(0.02), modelUsage: modelUsage(200, 0.02) }))
  await sync(app, onRunner.ws, onRunner.inbox)
  // an agent connected on its own
  const alone = await app.injectWS('/ws/solo', { headers: { authorization: 'Bearer agent-tok-1' } })
  const aloneInbox = collect(alone)
  t.teardown(() => alone.terminate())
  alone.send(line({ ...resultLine(0.01), modelUsage: modelUsage(70, 0.01) }))
  await sync(app, alone, aloneInbox)

  const body = await usage(app, 'group_by=runner,host,model', op)
  t.match(body.usage, [
    { runner: 'box-1', host: 'box', model: SONNET, input_tokens: 200, reported_cost_usd: 0.02, cost_source: 'reported' },
    { runner: null, host: null, model: SONNET, input_tokens: 70, reported_cost_usd: 0.01 }
  ].sort((a, b) => String(a.runner ?? '') < String(b.runner ?? '') ? -1 : 1))
  t.equal(body.usage.length, 2)
  const csv = await app.inject({ method: 'GET', url: '/usage?group_by=host', headers: { ...op, accept: 'text/csv' } })
  t.equal(csv.body.split('\n')[0].split(',')[0], 'host', 'CSV: the host column first')
  t.match(csv.body, /\nbox,200,/)
  runner.close()
  for (const s of agentSockets.values()) s.ws.terminate()
})
