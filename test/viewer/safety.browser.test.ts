// The viewer in a real Chromium: content from agents (output, tool calls, ids, search snippets) never runs, and the
// page's Content-Security-Policy forbids inline script.
import t from 'tap'
import { assistantText, connect, line, resultLine, sync } from '../helper.js'
import { countAtLeast, launchBrowser, openPage, texts } from '../support/browser.js'
import { serve, thinking, toolResult, toolUse, unexpected } from '../support/viewer.js'
import { waitFor } from '../support/server-process.js'

const browser = await launchBrowser(t)

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
