// BUDGETS: a budget crossed is recorded in the log (budget_exceeded) and sent through the approvals webhook, once
// per budget, agent and period; GET /usage shows each budget's spend. Runs on PostgreSQL too with DATABASE_URL.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'tap'
import { build, collect, line, resultLine, sync } from './helper.js'
import { waitFor } from './support/server-process.js'
import { budgetRequest, parseBudgets, periodOf } from '../src/usage/budgets.js'

async function receiver (t: { teardown: (fn: () => unknown) => void }) {
  const received: Array<{ at: number, body: any }> = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      received.push({ at: Date.now(), body: JSON.parse(Buffer.concat(chunks).toString('utf8')) })
      res.writeHead(200).end()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received }
}

function result (total: number, cost: number): Record<string, unknown> {
  return { ...resultLine(total), modelUsage: { 'claude-sonnet-4-6': { inputTokens: 100, outputTokens: 10, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, costUSD: cost } } }
}

test('BUDGETS: SCOPE:AMOUNT/PERIOD entries; a bad one is refused', async (t) => {
  t.same(parseBudgets('fleet:50/day, web-*:$10.5/month'), [
    { scope: 'fleet', amountUsd: 50, period: 'day' }, { scope: 'web-*', amountUsd: 10.5, period: 'month' }
  ])
  t.same(parseBudgets(''), [])
  t.throws(() => parseBudgets('fleet:50/week'), /SCOPE:AMOUNT/)
  t.same(periodOf('month', Date.parse('2026-03-31T23:00:00Z')), { key: '2026-03', from: '2026-03-01' })
  const slack = budgetRequest('https://hooks.slack.example/x', 'slack', { budget: 'fleet:1/day', scope: 'fleet', agent_id: null, period: '2026-03-01', amount_usd: 1, spend_usd: 1.5 })
  t.match(slack.body.text, /The fleet spent \$1\.50 in 2026-03-01, over its budget of \$1\.00/)
})

test('a crossed budget: a budget_exceeded event and one webhook notice per budget and period; GET /usage shows the spend', async (t) => {
  const hook = await receiver(t)
  const app = await build(t, {
    env: { BUDGETS: 'fleet:0.05/day,web-*:0.02/day', BUDGET_CHECK_MS: '50', APPROVAL_WEBHOOK_URL: hook.url }
  })
  const ws = await app.injectWS('/ws/web-1')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(line(result(0.01, 0.01)))
  await sync(app, ws, inbox)
  const before = (await app.inject({ url: '/usage?group_by=agent' })).json()
  t.same(before.budgets.map((b: any) => [b.budget, b.spend.map((s: any) => [s.agent_id, s.spend_usd, s.exceeded])]), [
    ['fleet:0.05/day', [[null, 0.01, false]]], ['web-*:0.02/day', [['web-1', 0.01, false]]]
  ])

  const sent = Date.now()
  ws.send(line(result(0.03, 0.03)))
  await sync(app, ws, inbox)
  const notice = await waitFor('the budget notice', () => hook.received[0], 5000)
  t.ok(notice.at - sent < 2000, `told within ${notice.at - sent} ms (checked every 50 ms)`)
  t.match(notice.body, { kind: 'budget_exceeded', budget: 'web-*:0.02/day', agent_id: 'web-1', spend_usd: 0.03, amount_usd: 0.02 })
  const events = (await app.inject({ url: '/agents/web-1/events?type=budget_exceeded' })).json().events
  t.equal(events.length, 1)
  t.match(events[0].content, /Agent web-1 spent \$0\.03/)

  // the fleet budget too, then nothing more however often it is checked
  ws.send(line(result(0.06, 0.06)))
  await sync(app, ws, inbox)
  await waitFor('the fleet notice', () => hook.received.find(r => r.body.budget === 'fleet:0.05/day'), 5000)
  await app.usageBudgets.check()
  await app.usageBudgets.check()
  t.equal(hook.received.length, 2, 'each budget told once')
  const all = (await app.inject({ url: '/agents/web-1/events?type=budget_exceeded' })).json().events
  t.same(all.map((e: any) => e.metadata.budget), ['web-*:0.02/day', 'fleet:0.05/day'])
  const after = (await app.inject({ url: '/usage?group_by=agent' })).json()
  t.same(after.budgets.map((b: any) => b.spend[0].exceeded), [true, true])
})
