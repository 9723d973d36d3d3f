// The viewer in a real Chromium: the agents list, a log followed live across a dropped stream, older pages on scroll,
// a log opened at an event.
import t from 'tap'
import { assistantText, connect, line, sync } from '../helper.js'
import { countAtLeast, launchBrowser, openPage, texts } from '../support/browser.js'
import { serve, unexpected } from '../support/viewer.js'
import { waitFor } from '../support/server-process.js'

const browser = await launchBrowser(t)

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
  }, 30000, 100)
  agent.send(line(assistantText('message 151')))
  all.push('message 151')
  await page.locator('.ev.output .md', { hasText: 'message 151' }).waitFor()
  const shown = await texts(page, '.ev.output .md')
  t.same(shown, all.slice(all.length - shown.length), 'a contiguous run up to the newest, once each')
  t.ok(shown.includes('message 020'))
  t.same(errors, [])
  t.same(unexpected(failed), [])
})
