// The viewer in a real Chromium with access control: what a reader and an operator see and may do, approvals decided
// in the page.
import t from 'tap'
import { assistantText, collect, connect, line, sync } from '../helper.js'
import { launchBrowser, openPage, texts } from '../support/browser.js'
import { serve, toolUse, unexpected } from '../support/viewer.js'

const browser = await launchBrowser(t)

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
