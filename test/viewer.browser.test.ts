// The web viewer in a real Chromium against a real server: the agents list, a log that follows live and pages
// back, a log opened at an event, what each token sees and may do, and content that must never run.
import t from 'tap'
import { assistantText, build, collect, connect, fixtureLines, line, listen, postgresSchema, postgresUrl, resultLine, sync, uuid, type TestContext } from './helper.js'
import { accessibilityViolations, countAtLeast, DESKTOP, launchBrowser, openPage, PHONE, screenshot, texts } from './support/browser.js'
import { waitFor } from './support/server-process.js'

const browser = await launchBrowser(t)

/** Failed requests but the 401s of a page asking for its token. */
function unexpected (failed: string[]): string[] {
  return failed.filter(f => f !== 'GET /auth/whoami 401')
}

async function serve (t: TestContext, env: Record<string, string> = {}) {
  const app = await build(t, { env })
  const ws = await listen(app)
  return { app, ws, http: ws.replace(/^ws:/, 'http:') }
}

function toolUse (id: string, name: string, input: unknown): Record<string, unknown> {
  return {
    type: 'assistant',
    message: { id: `msg_${id}`, type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', content: [{ type: 'tool_use', id, name, input }] },
    parent_tool_use_id: null,
    session_id: 'sess-1',
    uuid: uuid()
  }
}

function toolResult (id: string, content: string, isError = false): Record<string, unknown> {
  return {
    type: 'user',
    message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content, is_error: isError }] },
    parent_tool_use_id: null,
    session_id: 'sess-1',
    uuid: uuid()
  }
}

function thinking (text: string): Record<string, unknown> {
  return {
    type: 'assistant',
    message: { id: `msg_${uuid()}`, type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', content: [{ type: 'thinking', thinking: text, signature: 's' }] },
    parent_tool_use_id: null,
    session_id: 'sess-1',
    uuid: uuid()
  }
}

t.test('the agents list shows connected agents; an open log follows live, in order and once, across a dropped stream', async (t) => {
  const { app, ws, http } = await serve(t)
  const agent = await connect(t, `${ws}/ws/agent-live`)
  agent.send(line(assistantText('hello from before')))
  await sync(app, agent)

  const { page, errors, failed } = await openPage(t, browser, `${http}/`)
  const card = page.locator('.agent-card[data-agent="agent-live"]')
  await card.locator('.badge.on').waitFor()
  t.equal((await card.locator('.badge').textContent())?.trim(), 'connected')

  // an agent that connects while the list is open appears without a reload
  const late = await connect(t, `${ws}/ws/agent-late`)
  late.send(line(assistantText('hi')))
  await page.locator('.agent-card[data-agent="agent-late"] .badge.on').waitFor()

  const streams: string[] = []
  page.on('request', r => { if (r.url().includes('/agents/agent-live/events/stream')) streams.push(r.url()) })
  await card.click()
  await page.locator('.live-state.ok').waitFor()
  t.same(await texts(page, '.ev.output .md'), ['hello from before'])

  const expected = ['hello from before']
  for (let i = 1; i <= 5; i++) {
    agent.send(line(assistantText(`live message ${i}`)))
    expected.push(`live message ${i}`)
  }
  await countAtLeast(page, '.ev.output', expected.length)
  t.same(await texts(page, '.ev.output .md'), expected, 'live events appear in order, once')

  // cut every HTTP connection (the page's stream among them); events written meanwhile must still arrive once
  app.server.closeAllConnections()
  const writer = agent.readyState === agent.OPEN ? agent : await connect(t, `${ws}/ws/agent-live`)
  for (let i = 6; i <= 9; i++) {
    writer.send(line(assistantText(`live message ${i}`)))
    expected.push(`live message ${i}`)
  }
  await sync(app, writer)
  await countAtLeast(page, '.ev.output', expected.length)
  await waitFor('the page to reconnect', () => streams.length >= 2 ? true : undefined)
  t.same(await texts(page, '.ev.output .md'), expected, 'no gap and no double after the reconnect')
  t.match(streams[1], /after=\d+/, 'the reconnect resumes after the last event shown')
  t.same(errors, [], 'no page errors')
  t.same(unexpected(failed), [], 'no failed request but the cut stream')
})

t.test('scrolling up loads older pages until the start of the log', async (t) => {
  const { app, ws, http } = await serve(t)
  const agent = await connect(t, `${ws}/ws/agent-old`)
  const all: string[] = []
  for (let i = 1; i <= 130; i++) {
    const text = `old message ${String(i).padStart(3, '0')}`
    all.push(text)
    agent.send(line(assistantText(text)))
  }
  await sync(app, agent)

  const { page, errors, failed } = await openPage(t, browser, `${http}/#/agent/agent-old`)
  await page.locator('.live-state.ok').waitFor()
  const first = await texts(page, '.ev.output .md')
  t.ok(first.length < all.length, `the first page holds the newest events only (${first.length})`)
  t.same(first, all.slice(all.length - first.length))

  const scroller = page.locator('.scroller')
  t.ok(await scroller.evaluate(el => el.scrollHeight - el.scrollTop - el.clientHeight < 80), 'opened at the bottom')
  for (let round = 0; round < 10; round++) {
    const shown = await page.locator('.ev.output').count()
    if (shown === all.length) break
    await scroller.evaluate(el => { el.scrollTop = 0 })
    await countAtLeast(page, '.ev.output', shown + 1)
  }
  t.same(await texts(page, '.ev.output .md'), all, 'every event once, in order')
  await page.getByText('Start of the log').waitFor()
  t.same(errors, [])
  t.same(unexpected(failed), [])
})

t.test('a log opened at an event shows it, then loads newer pages down to the live end', async (t) => {
  const { app, ws, http } = await serve(t)
  const agent = await connect(t, `${ws}/ws/agent-at`)
  const all: string[] = []
  for (let i = 1; i <= 150; i++) {
    const text = `message ${String(i).padStart(3, '0')}`
    all.push(text)
    agent.send(line(assistantText(text)))
  }
  await sync(app, agent)

  const { page, errors, failed } = await openPage(t, browser, `${http}/#/agent/agent-at/20`)
  await page.locator('.ev.target').waitFor()
  t.equal((await page.locator('.ev.target .md').textContent())?.trim(), 'message 020')
  t.ok(await page.locator('.ev.target').isVisible(), 'scrolled to it')

  const scroller = page.locator('.scroller')
  // scrolling down loads the newer pages; at the newest the page starts following
  await waitFor('the log to reach the live end', async () => {
    await scroller.evaluate(el => { el.scrollTop = el.scrollHeight })
    return await page.locator('.live-state.ok').count() > 0 ? true : undefined
  }, 15000, 100)
  agent.send(line(assistantText('message 151')))
  all.push('message 151')
  await page.locator('.ev.output .md', { hasText: 'message 151' }).waitFor()
  const shown = await texts(page, '.ev.output .md')
  t.same(shown, all.slice(all.length - shown.length), 'a contiguous run up to the newest, once each')
  t.ok(shown.includes('message 020'))
  t.same(errors, [])
  t.same(unexpected(failed), [])
})

t.test('with access control: the token is asked once; a reader sees no operator controls, an operator uses them', async (t) => {
  const { app, ws, http } = await serve(t, { AUTH_TOKENS: 'reader:r-secret,operator:o-secret,agent:a-secret' })
  const agent = await connect(t, `${ws}/ws/agent-ops`, { authorization: 'Bearer a-secret' })
  const inbox = collect(agent)
  agent.send(line(assistantText('ready')))
  await sync(app, agent, inbox)

  const reader = await openPage(t, browser, `${http}/`)
  await reader.page.getByLabel('Access token').fill('wrong')
  await reader.page.getByRole('button', { name: 'Continue' }).click()
  await reader.page.getByText('That token was not accepted.').waitFor()
  await reader.page.getByLabel('Access token').fill('r-secret')
  await reader.page.getByRole('button', { name: 'Continue' }).click()
  await reader.page.locator('.agent-card[data-agent="agent-ops"]').click()
  await reader.page.locator('.live-state.ok').waitFor()
  t.same(await texts(reader.page, '.ev.output .md'), ['ready'], 'a reader reads the log (its stream included)')
  t.equal(await reader.page.locator('.composer, button.allow, button.deny').count(), 0, 'no operator control for a reader')
  t.equal(await reader.page.getByRole('button', { name: /Send|Interrupt|Clear context/ }).count(), 0)
  t.equal(await reader.page.locator('.role').textContent(), 'reader')
  // kept for the tab: a reload does not ask again
  await reader.page.reload()
  await reader.page.locator('.live-state.ok').waitFor()
  t.equal(await reader.page.getByLabel('Access token').count(), 0, 'not asked again after a reload')

  const operator = await openPage(t, browser, `${http}/#/agent/agent-ops`)
  await operator.page.getByLabel('Access token').fill('o-secret')
  await operator.page.getByRole('button', { name: 'Continue' }).click()
  await operator.page.locator('.live-state.ok').waitFor()
  await operator.page.getByLabel('Prompt for agent-ops').fill('Run the tests, please')
  await operator.page.getByRole('button', { name: 'Send' }).click()
  const sent = await inbox.next(m => m.type === 'user')
  t.equal(sent.message.content, 'Run the tests, please', 'the agent receives the prompt')
  await operator.page.locator('.ev.prompt', { hasText: 'Run the tests, please' }).waitFor()
  await reader.page.locator('.ev.prompt', { hasText: 'Run the tests, please' }).waitFor()

  // clear context (after the confirmation dialog, which the test accepts)
  await operator.page.getByRole('button', { name: 'Clear context' }).click()
  const clear = await inbox.next(m => m.type === 'user' && m.message?.content === '/clear')
  t.ok(clear, 'the agent is sent /clear')
  await operator.page.locator('.ev.divider', { hasText: 'Session 1' }).waitFor()
  t.match(operator.dialogs, [/^confirm: Clear the context of agent-ops/])

  await operator.page.getByRole('button', { name: 'Interrupt' }).click()
  const interrupt = await inbox.next(m => m.type === 'control_request' && m.request?.subtype === 'interrupt')
  agent.send(line({ type: 'control_response', response: { subtype: 'success', request_id: interrupt.request_id, response: {} } }))
  await operator.page.locator('#toast', { hasText: 'Interrupted' }).waitFor()
  await reader.page.locator('.ev.note', { hasText: 'Operator: interrupt (success)' }).waitFor()

  for (const p of [reader, operator]) {
    t.same(p.errors, [])
    // 401s: the first (no token) and the wrong token
    t.same(unexpected(p.failed), [])
  }
})

t.test('script-shaped content from agents is shown as text and never runs', async (t) => {
  const { app, ws, http } = await serve(t)
  const payloads = [
    '<img src=x onerror="window.__pwned=1">',
    '<script>window.__pwned=2</script>',
    '[click me](javascript:window.__pwned=3)',
    '<svg onload="window.__pwned=4"></svg>',
    '<iframe srcdoc="<script>parent.__pwned=5</script>"></iframe>',
    '<a href="javascript:window.__pwned=6">x</a><form action="javascript:window.__pwned=7"><button>go</button></form>',
    '"><img src=x onerror=window.__pwned=8>'
  ]
  // ids are restricted to [A-Za-z0-9._:-]: the nearest to a script an id gets is a javascript: look-alike
  const agent = await connect(t, `${ws}/ws/javascript:x`)
  for (const p of payloads) agent.send(line(assistantText(p)))
  agent.send(line(thinking(payloads[0])))
  agent.send(line(toolUse('tu-1', '<img src=x onerror=window.__pwned=10>', { command: payloads[0], html: payloads[1] })))
  agent.send(line(toolResult('tu-1', payloads.join('\n'))))
  agent.send(line(resultLine(0.5, { result: payloads[0], is_error: true, subtype: 'error_during_execution' })))
  await sync(app, agent)

  const { page, errors, failed, violations, dialogs } = await openPage(t, browser, `${http}/`)
  await page.locator('.agent-card[data-agent="javascript:x"]').click()
  await page.locator('.live-state.ok').waitFor()
  await countAtLeast(page, '.ev.output', payloads.length)
  // open every collapsed part, so nothing stays unrendered
  await page.locator('details').evaluateAll(els => { for (const d of els) (d as { open: boolean }).open = true })

  // a search snippet is rendered by the same page code, whether or not this server searches
  await page.evaluate(async (snippets) => {
    const mod = await import(new URL('ui/search.js', (globalThis as any).location.href).href)
    for (const s of snippets) {
      const node = mod.snippetNode({ snippet: s, highlights: [[0, 5], [3, 9999], [-4, 2]] })
      ;(globalThis as any).document.body.append(node)
    }
  }, payloads)

  t.same(violations, [], 'nothing even tried to run')
  t.same(errors, [])
  const state = await page.evaluate(() => {
    const doc = (globalThis as any).document
    const w = globalThis as any
    return {
      pwned: w.__pwned ?? null,
      scripts: doc.querySelectorAll('body script').length,
      handlers: [...doc.querySelectorAll('*')].filter((e: any) => [...e.attributes].some((a: any) => a.name.startsWith('on'))).length,
      markup: [...doc.querySelectorAll('.log a[href^="javascript"], .log form, .log iframe, .log svg, .log img, .log script, .log style, .snippet :not(mark)')].map((e: any) => e.outerHTML)
    }
  })
  t.same(state, { pwned: null, scripts: 0, handlers: 0, markup: [] }, 'nothing ran, no markup from the content got through')

  const log = await texts(page, '.ev.output .md')
  t.ok(log.includes('<img src=x onerror="window.__pwned=1">'), 'raw HTML in output shows as text')
  t.match(await page.locator('.tool-input').textContent(), 'onerror')
  t.match(await page.locator('.tool-result').textContent(), '<script>')
  t.equal(await page.locator('.tool-name').first().textContent(), '<img src=x onerror=window.__pwned=10>')
  // the same content found by search: snippets are text, only the matched words are marked
  await page.getByLabel("Search every agent's log").fill('pwned')
  await page.getByLabel("Search every agent's log").press('Enter')
  await page.locator('.hits a.hit').first().waitFor()
  const hits = await texts(page, '.hits .snippet')
  t.ok(hits.some(h => h.includes('onerror')), 'a snippet shows the script-shaped text as text')
  t.equal(await page.locator('.snippet :not(mark)').count(), 0, 'nothing but <mark> inside snippets')
  t.equal(await page.evaluate(() => (globalThis as any).__pwned ?? null), null)
  t.same(violations, [])
  t.same(unexpected(failed), [])
  t.same(dialogs, [])

  // and if the viewer ever did assign a string as HTML, the page's Trusted Types policy refuses it
  const innerHtml = await page.evaluate(() => {
    try {
      (globalThis as any).document.createElement('div').innerHTML = '<b>x</b>'
      return 'allowed'
    } catch {
      return 'refused'
    }
  })
  t.equal(innerHtml, 'refused')
})

t.test('the page is sent with a Content-Security-Policy that forbids inline script', async (t) => {
  const { http } = await serve(t)
  const res = await fetch(`${http}/`)
  const csp = res.headers.get('content-security-policy') ?? ''
  t.match(csp, /script-src 'self'(;|$)/)
  t.notMatch(csp, /unsafe-inline|unsafe-eval/)
  t.match(csp, /require-trusted-types-for 'script'/)

  // an inline script in a page served with that policy does not run
  const { page, violations } = await openPage(t, browser, `${http}/`)
  await page.locator('h1', { hasText: 'Agents' }).waitFor()
  t.same(violations, [], 'the page itself needs nothing the policy forbids')
  // a document sent with the same policy: its inline script and inline handler do not run
  const probe = await openPage(t, browser, 'about:blank')
  await probe.page.route(`${http}/csp-probe`, route => route.fulfill({
    status: 200,
    headers: { 'content-type': 'text/html', 'content-security-policy': csp },
    body: '<!doctype html><script>window.__inline = 1</script><img src="data:,x" onerror="window.__inline = 2">'
  }))
  await probe.page.goto(`${http}/csp-probe`)
  await waitFor('both violation reports', () => probe.violations.length >= 2 ? true : undefined)
  t.match(probe.violations, [/^script-src/, /^script-src/])
  t.equal(await probe.page.evaluate(() => (globalThis as any).__inline ?? null), null, 'neither ran')
})

t.test('screenshots of the main pages at desktop and phone widths', async (t) => {
  const { app, ws, http } = await serve(t, { TOOL_POLICY: JSON.stringify([{ tool: 'Bash', input: 'git push', decision: 'ask' }]) })
  const bot = await connect(t, `${ws}/ws/build-bot`)
  for (const l of fixtureLines('claude-code-2.1.112')) bot.send(l + '\n')
  bot.send(line(assistantText('I found the failing test. The fix:\n\n```ts\nexport function total (items: Item[]): number {\n  return items.reduce((sum, i) => sum + i.price * i.quantity, 0)\n}\n```\n\n- `total()` ignored **quantity**\n- added a regression test')))
  bot.send(line(thinking('The test expects 30 but gets 10: quantity is not multiplied.')))
  bot.send(line(toolUse('tu-s1', 'Bash', { command: 'npm test -- test/cart.test.ts', description: 'Run the cart tests' })))
  bot.send(line(toolResult('tu-s1', '# Subtest: cart total\nok 1 - sums prices times quantities\n1..1\n# { total: 1, pass: 1 }')))
  bot.send(line(resultLine(0.0412)))
  bot.send(line(toolUse('tu-s2', 'Bash', { command: 'git push origin fix/cart-total' })))
  bot.send(line({ type: 'control_request', request_id: 'req-s2', request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'git push origin fix/cart-total' }, tool_use_id: 'tu-s2' } }))
  await sync(app, bot)
  const reviewer = await connect(t, `${ws}/ws/reviewer-2`)
  reviewer.send(line(assistantText('Reviewing the pull request.')))
  reviewer.send(line(resultLine(0.0123)))
  await sync(app, reviewer)
  reviewer.close()
  const idle = await connect(t, `${ws}/ws/docs-writer`)
  idle.send(line(assistantText('Docs updated.')))
  await sync(app, idle)

  for (const [name, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
    const { page, errors, failed } = await openPage(t, browser, `${http}/`, viewport)
    await page.locator('.agent-card[data-agent="build-bot"] .badge.on').waitFor()
    await page.locator('.agent-card[data-agent="reviewer-2"] .badge.off').waitFor()
    t.ok(await screenshot(page, `agents-${name}`))
    await page.locator('.agent-card[data-agent="build-bot"]').click()
    await page.locator('.live-state.ok').waitFor()
    await page.locator('.approval').waitFor()
    t.ok(await screenshot(page, `agent-${name}`))
    t.same(errors, [])
    t.same(unexpected(failed), [])
    // nothing wider than the screen: the page never scrolls sideways
    t.ok(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth <= (globalThis as any).innerWidth), `${name}: no horizontal scroll`)
    const log = await page.locator('.scroller').evaluate(el => ({ scroll: el.scrollWidth, client: el.clientWidth }))
    t.ok(log.scroll <= log.client, `${name}: the log does not scroll sideways (${log.scroll} > ${log.client})`)
    await page.goto(`${http}/#/search/${encodeURIComponent('test OR review*')}`)
    await page.locator('.hits a.hit').first().waitFor()
    t.ok(await screenshot(page, `search-${name}`))
  }
})

t.test('a search finds a word written during the test and opens the log at it', async (t) => {
  const { app, ws, http } = await serve(t)
  const a = await connect(t, `${ws}/ws/agent-a`)
  for (let i = 1; i <= 120; i++) a.send(line(assistantText(`routine line ${i}`)))
  a.send(line(assistantText('The zebrafish migration finished cleanly.')))
  for (let i = 121; i <= 180; i++) a.send(line(assistantText(`routine line ${i}`)))
  await sync(app, a)
  const b = await connect(t, `${ws}/ws/agent-b`)
  b.send(line(assistantText('nothing to see here')))
  await sync(app, b)

  const { page, errors, failed } = await openPage(t, browser, `${http}/`)
  await page.getByLabel("Search every agent's log").fill('zebrafish')
  await page.getByLabel("Search every agent's log").press('Enter')
  const hit = page.locator('.hits a.hit')
  await hit.first().waitFor()
  t.equal(await hit.count(), 1, 'one hit')
  t.equal(await hit.locator('.agent-name').textContent(), 'agent-a')
  t.same(await texts(page, '.hits mark'), ['zebrafish'], 'the matched word is marked')
  t.equal((await hit.locator('.snippet').textContent())?.trim(), 'The zebrafish migration finished cleanly.')

  await hit.click()
  const target = page.locator('.ev.target')
  await target.waitFor()
  t.equal((await target.locator('.md').textContent())?.trim(), 'The zebrafish migration finished cleanly.')
  t.ok(await target.isVisible(), 'the log is scrolled to the hit')
  t.match(page.url(), /#\/agent\/agent-a\/121$/)
  // the back button returns to the results
  await page.goBack()
  await hit.first().waitFor()
  t.same(errors, [])
  t.same(unexpected(failed), [])
})

t.test('a tool request waiting for approval is decided in the page, and the agent is unblocked', async (t) => {
  const { ws, http } = await serve(t, {
    AUTH_TOKENS: 'reader:r-2,operator:o-2,agent:a-2',
    TOOL_POLICY: JSON.stringify([{ tool: 'Bash', input: 'git push', decision: 'ask' }])
  })
  const agent = await connect(t, `${ws}/ws/agent-ask`, { authorization: 'Bearer a-2' })
  const inbox = collect(agent)
  agent.send(line(toolUse('tu-push', 'Bash', { command: 'git push origin main' })))
  agent.send(line({ type: 'control_request', request_id: 'req-push', request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'git push origin main' }, tool_use_id: 'tu-push' } }))

  const reader = await openPage(t, browser, `${http}/`)
  await reader.page.getByLabel('Access token').fill('r-2')
  await reader.page.getByRole('button', { name: 'Continue' }).click()
  const card0 = reader.page.locator('.agent-card[data-agent="agent-ask"]')
  await card0.locator('.badge.ask', { hasText: '1 waiting for approval' }).waitFor()
  await card0.click()
  await reader.page.locator('.approval[data-request="req-push"]').waitFor()
  t.equal(await reader.page.locator('.approval button').count(), 0, 'a reader sees the request, without the buttons')

  const operator = await openPage(t, browser, `${http}/#/agent/agent-ask`)
  await operator.page.getByLabel('Access token').fill('o-2')
  await operator.page.getByRole('button', { name: 'Continue' }).click()
  const card = operator.page.locator('.approval[data-request="req-push"]')
  await card.waitFor()
  t.match(await card.locator('pre').textContent(), 'git push origin main')
  t.equal(inbox.lines.filter(m => m.type === 'control_response' && m.response?.request_id === 'req-push').length, 0, 'the agent is still waiting')
  await card.getByRole('button', { name: 'Allow' }).click()
  const answer = await inbox.next(m => m.type === 'control_response' && m.response?.request_id === 'req-push')
  t.equal(answer.response.response.behavior, 'allow', 'the agent is told to go ahead')
  await card.waitFor({ state: 'detached' })
  await reader.page.locator('.approval').waitFor({ state: 'detached' })
  await operator.page.locator('.ev.permission', { hasText: 'allowed by' }).waitFor()
  t.same(operator.errors, [])
  t.same(unexpected(operator.failed), [])
  t.same(unexpected(reader.failed), [])
})

t.test('on PostgreSQL: the list, a log paged back and followed live, a search opening the log at its hit',
  { skip: postgresUrl === '' ? 'DATABASE_URL is not set' : false }, async (t) => {
    const { app, ws, http } = await serve(t, await postgresSchema(t))
    const agent = await connect(t, `${ws}/ws/pg-viewer`)
    const all: string[] = []
    for (let i = 1; i <= 80; i++) {
      const text = i === 10 ? 'the quokka deployment is green' : `pg message ${i}`
      all.push(text)
      agent.send(line(assistantText(text)))
    }
    await sync(app, agent)

    const { page, errors, failed } = await openPage(t, browser, `${http}/`)
    await page.locator('.agent-card[data-agent="pg-viewer"] .badge.on').click()
    await page.locator('.live-state.ok').waitFor()
    agent.send(line(assistantText('pg live')))
    all.push('pg live')
    await page.locator('.ev.output .md', { hasText: 'pg live' }).waitFor()
    const scroller = page.locator('.scroller')
    while (await page.locator('.ev.output').count() < all.length) {
      const shown = await page.locator('.ev.output').count()
      await scroller.evaluate(el => { el.scrollTop = 0 })
      await countAtLeast(page, '.ev.output', shown + 1)
    }
    t.same(await texts(page, '.ev.output .md'), all, 'every event once, in order')

    await page.getByLabel("Search every agent's log").fill('quokka')
    await page.getByLabel("Search every agent's log").press('Enter')
    await page.locator('.hits a.hit').click()
    await page.locator('.ev.target', { hasText: 'the quokka deployment is green' }).waitFor()
    t.same(errors, [])
    t.same(unexpected(failed), [])
  })

t.test('accessible: no WCAG 2.1 AA violation on any view, in light and dark mode; the keyboard reaches everything', async (t) => {
  const { ws, http } = await serve(t, {
    AUTH_TOKENS: 'operator:o-3,agent:a-3',
    TOOL_POLICY: JSON.stringify([{ tool: 'Bash', input: 'rm', decision: 'ask' }])
  })
  const agent = await connect(t, `${ws}/ws/a11y-agent`, { authorization: 'Bearer a-3' })
  agent.send(line(assistantText('Here is **the plan**:\n\n1. read\n2. `write`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[docs](https://example.com)')))
  agent.send(line(thinking('Considering the options.')))
  agent.send(line(toolUse('tu-a', 'Bash', { command: 'rm -rf build' })))
  agent.send(line({ type: 'control_request', request_id: 'req-a', request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command: 'rm -rf build' }, tool_use_id: 'tu-a' } }))
  agent.send(line(resultLine(0.02, { is_error: true, subtype: 'error_max_turns' })))

  for (const scheme of ['light', 'dark'] as const) {
    const { page } = await openPage(t, browser, `${http}/`, DESKTOP, { bypassCSP: true })
    await page.emulateMedia({ colorScheme: scheme })
    await page.getByLabel('Access token').waitFor()
    t.same(await accessibilityViolations(page), [], `${scheme}: token form`)
    await page.getByLabel('Access token').fill('o-3')
    await page.getByRole('button', { name: 'Continue' }).click()
    await page.locator('.agent-card').waitFor()
    t.same(await accessibilityViolations(page), [], `${scheme}: agents list`)
    await page.locator('.agent-card').click()
    await page.locator('.approval').waitFor()
    await page.locator('.live-state.ok').waitFor()
    await page.locator('details').evaluateAll(els => { for (const d of els) (d as { open: boolean }).open = true })
    t.same(await accessibilityViolations(page), [], `${scheme}: agent page with an approval, open sessions and thinking`)
    await page.goto(`${http}/#/search/plan`)
    await page.locator('.hits a.hit').first().waitFor()
    t.same(await accessibilityViolations(page), [], `${scheme}: search results`)
  }

  // keyboard only: from the top of the page, Tab reaches the agent, Enter opens it, Tab reaches the prompt and Allow
  const { page } = await openPage(t, browser, `${http}/`)
  await page.getByLabel('Access token').fill('o-3')
  await page.keyboard.press('Enter')
  await page.locator('.agent-card').waitFor()
  const focusOf = () => page.evaluate(() => {
    const el = (globalThis as any).document.activeElement
    return el === null ? '' : `${el.tagName.toLowerCase()}${el.id !== '' ? '#' + el.id : ''}${el.className !== '' ? '.' + String(el.className).split(' ').join('.') : ''}`
  })
  const reached: string[] = []
  for (let i = 0; i < 10 && !reached.includes('a.agent-card'); i++) {
    await page.keyboard.press('Tab')
    reached.push(await focusOf())
  }
  t.ok(reached.includes('a.agent-card'), `Tab reaches the agent (${reached.join(' → ')})`)
  await page.keyboard.press('Enter')
  await page.locator('.approval').waitFor()
  const onPage: string[] = []
  for (let i = 0; i < 40 && !(onPage.includes('textarea#prompt') && onPage.includes('button.allow')); i++) {
    await page.keyboard.press('Tab')
    onPage.push(await focusOf())
  }
  t.ok(onPage.includes('div.scroller'), 'the log can be focused (and scrolled with the keys)')
  t.ok(onPage.includes('button.allow'), 'Allow is reachable')
  t.ok(onPage.includes('textarea#prompt'), 'the prompt is reachable')
  await page.locator('#prompt').focus()
  await page.keyboard.type('from the keyboard')
  await page.keyboard.press('Control+Enter')
  await page.locator('.ev.prompt', { hasText: 'from the keyboard' }).waitFor()
})
