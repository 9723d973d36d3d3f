// The viewer's runner controls in a real Chromium: the runners listed with their agents, the New agent form
// (runner, directory among its roots, first prompt, worktree), Stop and Resume on the agent's page.
import t from 'tap'
import type { WebSocket } from 'ws'
import { collect, connect, line, sync } from '../helper.js'
import { accessibilityViolations, launchBrowser, openPage } from '../support/browser.js'
import { serve, unexpected } from '../support/viewer.js'

const browser = await launchBrowser(t)

t.test('an operator starts an agent from the New agent form, then stops and resumes it from its page', async (t) => {
  const { app, ws, http } = await serve(t)
  const runner = await connect(t, `${ws}/runners/ws/box-v`)
  const requests: any[] = []
  let agent: { ws: WebSocket, inbox: ReturnType<typeof collect> } | null = null
  runner.on('message', (data) => {
    const m = JSON.parse(data.toString())
    requests.push(m)
    if (m.type === 'start') {
      connect(t, `${ws}/ws/${m.agent_id}`).then((socket) => {
        agent = { ws: socket, inbox: collect(socket) }
        runner.send(JSON.stringify({ type: 'started', request_id: m.request_id, agent_id: m.agent_id, cwd: m.cwd, worktree: null, pid: 7 }))
      }, (err: Error) => t.fail(err.message))
    } else if (m.type === 'stop') {
      agent?.ws.close(1000)
      runner.send(JSON.stringify({ type: 'stopped', request_id: m.request_id, agent_id: m.agent_id, exit_code: 0, signal: null, worktree_removed: false }))
    }
  })
  runner.send(JSON.stringify({ type: 'hello', protocol: 1, host: 'devbox', roots: ['/srv/repos', '/srv/other'], claude_version: '2.1.112 (Claude Code)', agentlog_version: '0.1.0', agents: [] }))

  const { page, errors, failed, dialogs } = await openPage(t, browser, `${http}/`)
  await page.locator('.runner[data-runner="box-v"] .badge.on').waitFor()
  t.match(await page.locator('.runner[data-runner="box-v"]').textContent(), /devbox.*\/srv\/repos, \/srv\/other/)
  t.same(await accessibilityViolations(page), [], 'the runners and the form pass the accessibility audit')

  await page.getByLabel('Directory', { exact: true }).selectOption('/srv/repos')
  await page.getByLabel('Subdirectory').fill('app')
  await page.getByLabel('First prompt').fill('Fix the build')
  await page.getByLabel('in a new git worktree').check()
  await page.getByRole('button', { name: 'Start agent' }).click()
  await page.waitForURL(/#\/agent\/box-v-[0-9a-f]{8}$/)
  const start = requests.find(m => m.type === 'start')
  t.match(start, { cwd: '/srv/repos/app', worktree: { name: start.agent_id, base: null }, resume: null })
  const id: string = start.agent_id
  const current = (): { ws: WebSocket, inbox: ReturnType<typeof collect> } => {
    if (agent === null) throw new Error('no agent socket')
    return agent
  }
  const prompt = await current().inbox.next(m => m.type === 'user')
  t.equal(prompt.message.content, 'Fix the build', 'the first prompt reached the agent')
  await page.locator('.ev.prompt', { hasText: 'Fix the build' }).waitFor()
  // the CLI says which Claude session it is in: what Resume continues
  current().ws.send(line({ type: 'system', subtype: 'init', session_id: 'sess-view', cwd: '/srv/repos/app', model: 'm', tools: [] }))
  await sync(app, current().ws, current().inbox)

  await page.getByRole('button', { name: 'Stop' }).click()
  await page.getByText(`Stopped ${id} on box-v`).waitFor()
  t.match(dialogs, [new RegExp(`^confirm: Stop ${id}\\?`)])
  t.ok(requests.some(m => m.type === 'stop' && m.agent_id === id), 'the runner was asked to stop it')

  await page.getByRole('button', { name: 'Resume' }).click()
  await page.getByText(`Resumed ${id} on box-v`).waitFor()
  t.match(requests.filter(m => m.type === 'start')[1], { agent_id: id, resume: 'sess-view', cwd: '/srv/repos/app' })

  await page.goto(`${http}/#/`)
  await page.locator(`.runner[data-runner="box-v"] a[href="#/agent/${id}"]`).waitFor()
  t.same(errors, [])
  t.same(unexpected(failed), [])
})
