// The viewer's usage page in a real Chromium, on usage seeded through the real app (a live agent's results with
// modelUsage, an imported transcript with a message split over two lines and a model with no price): the totals,
// tables, top agents and projects and the current 5-hour block read from the DOM, the browser's time zone sent as
// tz, the charts drawn, no $0 for the unpriced model; screenshots at desktop and phone width, light and dark.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { collect, line, resultLine, sync } from '../helper.js'
import { accessibilityViolations, DESKTOP, launchBrowser, openPage, PHONE, SCREENSHOTS, texts } from '../support/browser.js'
import { serve, unexpected } from '../support/viewer.js'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'

const browser = await launchBrowser(t)

const SONNET = 'claude-sonnet-4-5-20250929'
const HAIKU = 'claude-haiku-4-5-20251001'
const ZONE = 'America/New_York'

async function usage (app: FastifyInstance, query: string): Promise<any> {
  const res = await app.inject({ method: 'GET', url: `/usage?${query}` })
  if (res.statusCode !== 200) throw new Error(`usage ${res.statusCode}: ${res.body}`)
  return res.json()
}

function assistant (at: string, model: string, id: string, usage: Record<string, unknown>): string {
  return JSON.stringify({
    type: 'assistant',
    uuid: `u-${id}-${Math.random()}`,
    timestamp: at,
    sessionId: 's-imp',
    requestId: `req-${id}`,
    cwd: '/home/dev/api',
    message: { id, type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'done' }], usage }
  }) + '\n'
}

async function seed (app: FastifyInstance): Promise<void> {
  // live: one result whose modelUsage names two models (the CLI's cumulative counters, a new process)
  const ws = await app.injectWS('/ws/web-1')
  const inbox = collect(ws)
  ws.send(line({ type: 'system', subtype: 'init', session_id: 'sess-live', cwd: '/srv/repos/shop', model: SONNET, tools: [] }))
  ws.send(line({
    ...resultLine(0.26),
    modelUsage: {
      [SONNET]: { inputTokens: 1200, outputTokens: 300, cacheReadInputTokens: 4000, cacheCreationInputTokens: 500, webSearchRequests: 0, costUSD: 0.25, contextWindow: 200000 },
      [HAIKU]: { inputTokens: 100, outputTokens: 50, cacheReadInputTokens: 0, cacheCreationInputTokens: 0, webSearchRequests: 0, costUSD: 0.01, contextWindow: 200000 }
    }
  }))
  await sync(app, ws, inbox)
  ws.terminate()
  // imported, two days ago: a message repeated on two lines (counted once) and a model with no price
  const at = new Date(Date.now() - 2 * 86400000).toISOString()
  const u1 = { input_tokens: 1000, output_tokens: 200, cache_read_input_tokens: 5000, cache_creation_input_tokens: 3000, cache_creation: { ephemeral_5m_input_tokens: 1000, ephemeral_1h_input_tokens: 2000 } }
  const body = assistant(at, SONNET, 'msg_1', u1) + assistant(at, SONNET, 'msg_1', u1) + assistant(at, 'some-new-model', 'msg_2', { input_tokens: 7, output_tokens: 3 })
  const res = await app.inject({ method: 'POST', url: '/agents/imp-1/import?file=a.jsonl', headers: { 'content-type': 'application/x-ndjson' }, payload: body })
  if (res.statusCode !== 200) throw new Error(`import ${res.statusCode}: ${res.body}`)
}

const localDay = (iso: number): string => new Intl.DateTimeFormat('en-CA', { timeZone: ZONE, year: 'numeric', month: '2-digit', day: '2-digit' }).format(iso)

t.test('the usage page: totals, cost per day and model, tokens by type, top agents and projects, the 5-hour block', async (t) => {
  const { app, http } = await serve(t)
  await seed(app)
  const { page, errors, failed, violations } = await openPage(t, browser, `${http}/`, DESKTOP, { timezoneId: ZONE })
  const asked: string[] = []
  page.on('request', r => { if (new URL(r.url()).pathname === '/usage') asked.push(new URL(r.url()).search) })
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Usage' }).click()
  await page.locator('#cost-table').waitFor()
  t.match(page.url(), /#\/usage$/)
  t.equal(await page.locator('nav a[aria-current="page"]').textContent(), 'Usage')

  // the browser's zone is the one the server counts days in; the period is the last 30 of its days
  const today = localDay(Date.now())
  const from = localDay(Date.now() - 29 * 86400000)
  t.ok(asked.some(q => q.includes(`tz=${encodeURIComponent(ZONE)}`) && q.includes(`from=${from}`) && q.includes('group_by=day%2Cmodel')), `asked with tz and from: ${asked.join(' ')}`)
  const api = await usage(app, `group_by=day,model&tz=${ZONE}&from=${from}`)

  // totals, read from the page, against what was seeded (and the server's answer for the cost)
  const field = async (name: string): Promise<string> => (await page.locator(`#usage-totals [data-field="${name}"]`).textContent()) ?? ''
  t.equal(await field('input'), (1200 + 100 + 1000 + 7).toLocaleString('en-US'), 'input: live + imported, the split message once')
  t.equal(await field('output'), (300 + 50 + 200 + 3).toLocaleString('en-US'))
  t.equal(await field('cache-write'), (500 + 3000).toLocaleString('en-US'))
  t.equal(await field('cache-read'), (4000 + 5000).toLocaleString('en-US'))
  const computed = (1000 * 3 + 200 * 15 + 5000 * 0.3 + 1000 * 3.75 + 2000 * 6) / 1e6
  t.ok(Math.abs(api.totals.cost_usd - (0.25 + 0.01 + computed)) < 1e-9, `the server's cost: ${api.totals.cost_usd as number}`)
  t.equal(await field('cost'), `$${(api.totals.cost_usd as number).toFixed(4)} (mixed)`, 'reported and computed cost, said so')

  // the unpriced model: named, its cost "no price", never $0
  t.match(await page.locator('#unpriced').textContent(), /No price for some-new-model/)
  const heads = await texts(page, '#cost-table thead th')
  t.same(heads.slice(1).sort(), [SONNET, HAIKU, 'some-new-model', 'Total'].sort())
  const column = heads.indexOf('some-new-model')
  const unpricedCells = await page.locator(`#cost-table tbody tr td:nth-child(${column + 1})`).evaluateAll(els => els.map(e => e.textContent))
  t.equal(unpricedCells.filter(c => c === 'no price').length, 1, 'its day says no price')
  t.notOk(unpricedCells.some(c => c?.startsWith('$') === true), 'never a dollar figure for it')
  const importedDay = localDay(Date.now() - 2 * 86400000)
  const row = (day: string): Promise<string[]> => texts(page, `#cost-table tbody tr:has(th:text-is("${day}")) > *`)
  const imported = await row(importedDay)
  t.equal(imported[heads.indexOf(SONNET)], `$${computed.toFixed(4)}`, 'the imported message priced from the table')
  t.equal(imported[heads.indexOf('Total')], `$${computed.toFixed(4)} + unpriced`)
  const live = await row(today)
  t.equal(live[heads.indexOf(SONNET)], '$0.2500')
  t.equal(live[heads.indexOf(HAIKU)], '$0.0100')
  t.equal(await page.locator('#cost-table tbody tr').count(), 30, 'a line per day of the period')

  // tokens per day by type
  t.same(await texts(page, '#tokens-table thead th'), ['Day', 'Input', 'Output', 'Cache write', 'Cache read', 'Total'])
  t.same((await texts(page, `#tokens-table tbody tr:has(th:text-is("${today}")) > *`)).slice(1), ['1,300', '350', '500', '4,000', '6,150'])
  t.same((await texts(page, `#tokens-table tbody tr:has(th:text-is("${importedDay}")) > *`)).slice(1), ['1,007', '203', '3,000', '5,000', '9,210'])

  // top agents and projects, the most expensive first
  t.same(await texts(page, '#agents-table tbody tr'), ['web-16,150$0.2600', `imp-19,210$${computed.toFixed(4)}`])
  t.equal(await page.locator('#agents-table a[href="#/agent/web-1"]').count(), 1, 'an agent links to its log')
  const projects = await usage(app, `group_by=project&tz=${ZONE}&from=${from}`)
  t.equal((await texts(page, '#projects-table tbody th'))[0], 'shop')
  t.same((await texts(page, '#projects-table tbody th')).sort(), projects.usage.map((r: any) => r.project ?? '(unknown)').sort(), 'the projects the server counts')

  // the current 5-hour block holds the live usage (the import is two days old)
  t.equal(await page.locator('#block [data-field="tokens"]').textContent(), '6,150')
  t.equal(await page.locator('#block [data-field="cost"]').textContent(), '$0.2600')
  t.equal(await page.locator('#budgets-table').count(), 0, 'no budgets table without BUDGETS')

  // two charts, drawn by uPlot into canvases sized to the page
  t.equal(await page.locator('.chart canvas').count(), 2)
  const drawn = (await page.locator('.chart canvas').first().boundingBox())?.width ?? 0
  t.ok(drawn > 600, `the chart fills the desktop width (${drawn})`)

  // the period selector asks again for fewer days
  await page.getByLabel('Period').selectOption('7')
  await page.waitForURL(/#\/usage\/7$/)
  await page.locator('#cost-table tbody tr').nth(6).waitFor()
  t.equal(await page.locator('#cost-table tbody tr').count(), 7)
  t.equal(await field('input'), (1200 + 100 + 1000 + 7).toLocaleString('en-US'))

  t.same(errors, [])
  t.same(unexpected(failed), [])
  t.same(violations, [], 'nothing blocked by the page\'s policy')
})

t.test('readable and accessible at desktop and phone width, light and dark; screenshots', async (t) => {
  const { app, http } = await serve(t)
  await seed(app)
  const dir = join(SCREENSHOTS, 'usage')
  mkdirSync(dir, { recursive: true })
  for (const [width, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
    for (const scheme of ['light', 'dark'] as const) {
      const { page, errors } = await openPage(t, browser, `${http}/#/usage`, viewport, { bypassCSP: true, timezoneId: ZONE })
      await page.emulateMedia({ colorScheme: scheme })
      await page.locator('.chart canvas').nth(1).waitFor()
      t.same(await accessibilityViolations(page), [], `${width} ${scheme}: no WCAG 2.1 AA violation`)
      const overflow = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).innerWidth)
      t.ok(overflow <= 0, `${width} ${scheme}: nothing wider than the screen (${overflow as number})`)
      const canvas = await page.locator('.chart canvas').first().boundingBox()
      t.ok(canvas !== null && canvas.width <= viewport.width, `${width}: the chart fits (${canvas?.width ?? 0})`)
      await page.screenshot({ path: join(dir, `usage-${width}-${scheme}.png`), fullPage: true })
      t.same(errors, [])
    }
  }
})

t.test('90 days of five models: the page is drawn within a bound', async (t) => {
  const { app, http } = await serve(t)
  const models = [SONNET, HAIKU, 'claude-opus-4-1-20250805', 'claude-opus-4-5-20251101', 'claude-3-5-haiku-20241022']
  let body = ''
  for (let d = 0; d < 90; d++) {
    for (const [i, model] of models.entries()) {
      body += assistant(new Date(Date.now() - d * 86400000 - i * 60000).toISOString(), model, `msg_${d}_${i}`, { input_tokens: 100 + d, output_tokens: 10 + i, cache_read_input_tokens: 1000, cache_creation_input_tokens: 50 })
    }
  }
  const res = await app.inject({ method: 'POST', url: '/agents/imp-90/import?file=big.jsonl', headers: { 'content-type': 'application/x-ndjson' }, payload: body })
  t.equal(res.statusCode, 200)
  const { page, errors } = await openPage(t, browser, `${http}/#/`, DESKTOP, { timezoneId: ZONE })
  await page.locator('main h1').waitFor()
  const started = Date.now()
  await page.goto(`${http}/#/usage/90`)
  await page.locator('.chart canvas').nth(1).waitFor()
  await page.locator('#cost-table tbody tr').nth(89).waitFor()
  const took = Date.now() - started
  t.ok(took < 5000, `90 days × 5 models asked and drawn in ${took} ms`)
  t.same(await texts(page, '#cost-table thead th'), ['Day', ...(await texts(page, '.legend li')).slice(0, 5).map(l => l.replace(' (no price)', '')), 'Total'])
  t.equal(await page.locator('#usage-totals [data-field="input"]').textContent(), (90 * 5 * 100 + 5 * (89 * 90 / 2)).toLocaleString('en-US'))
  t.same(errors, [])
})

t.test('budgets: each with its spend in the current period, the crossed one marked', async (t) => {
  const { app, http } = await serve(t, { BUDGETS: 'fleet:0.1/day,web-*:5/month' })
  await seed(app)
  const answer = await usage(app, 'group_by=day')
  const { page, errors } = await openPage(t, browser, `${http}/#/usage`, DESKTOP, { timezoneId: ZONE })
  await page.locator('#budgets-table').waitFor()
  const rows = await page.locator('#budgets-table tbody tr').evaluateAll(els => els.map(e => [...e.children].map(c => c.textContent)))
  const expected = (answer.budgets as any[]).flatMap(b => b.spend.map((s: any) => [b.budget, s.agent_id ?? 'fleet', `${b.period as string} from ${b.period_start as string}`,
    `$${(s.spend_usd as number).toFixed(4)}`, `$${(b.amount_usd as number) < 1 ? (b.amount_usd as number).toFixed(4) : (b.amount_usd as number).toFixed(2)}`, s.exceeded === true ? 'exceeded' : 'within']))
  t.same(rows, expected, 'as the server counts them')
  t.ok(rows.some(r => r[0] === 'fleet:0.1/day' && r[5] === 'exceeded'), `the fleet's day budget is crossed: ${JSON.stringify(rows)}`)
  t.ok(rows.some(r => r[1] === 'web-1' && r[5] === 'within'), 'the month budget of web-1 is not')
  t.same(errors, [])
})
