// The viewer in a real Chromium: screenshots at desktop and phone widths, search opening the log at a hit, and an
// accessibility audit with keyboard-only use.
import t from 'tap'
import { assistantText, connect, fixtureLines, line, resultLine, sync } from '../helper.js'
import { accessibilityViolations, DESKTOP, launchBrowser, openPage, PHONE, screenshot, texts } from '../support/browser.js'
import { serve, thinking, toolResult, toolUse, unexpected } from '../support/viewer.js'

const browser = await launchBrowser(t)

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
    await page.goto(`${http}/#/usage`)
    await page.locator('#tokens-table').waitFor()
    await page.locator('.chart canvas').first().waitFor()
    t.same(await accessibilityViolations(page), [], `${scheme}: usage`)
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
  // the list is drawn anew when the agent's state changes: the card keeps the focus through it
  await page.locator('a.agent-card').evaluate(el => { el.setAttribute('data-drawn-before', '') })
  const prompted = await fetch(`${http}/agents/a11y-agent/messages`, {
    method: 'POST', headers: { authorization: 'Bearer o-3', 'content-type': 'application/json' }, body: JSON.stringify({ content: 'go on' })
  })
  t.equal(prompted.status, 202)
  await page.locator('a.agent-card:not([data-drawn-before])').waitFor()
  t.equal(await focusOf(), 'a.agent-card', 'the focus stays on the card when the list is drawn again')
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
