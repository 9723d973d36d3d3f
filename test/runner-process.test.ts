// `agentlog runner` (the bundle) with stand-in CLIs, where the real one cannot be made to misbehave on purpose: a
// CLI that ignores SIGTERM is killed after RUNNER_STOP_GRACE_MS, one that exits at once is answered cli_failed
// with its stderr, one that never answers is killed after --start-timeout-ms.
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { boundFor, build, listen } from './helper.js'
import { CONNECT_MAIN, spawnChild, waitFor } from './support/claude-cli.js'

/** A CLI stand-in: answers initialize, then does what `mode` says. */
const FAKE_CLI = `
if (process.argv.includes('--version')) { process.stdout.write('9.9.9 (fake)\\n'); process.exit(0) }
const mode = process.env.FAKE_MODE
if (mode === 'fail') { process.stderr.write('No conversation found with session ID: nope\\n'); process.exit(1) }
if (mode === 'stubborn') process.on('SIGTERM', () => {})
let rest = ''
process.stdin.setEncoding('utf8').on('data', (c) => {
  rest += c
  let cut
  while ((cut = rest.indexOf('\\n')) !== -1) {
    const line = rest.slice(0, cut); rest = rest.slice(cut + 1)
    const m = JSON.parse(line)
    if (mode === 'hang') continue
    if (m.type === 'control_request' && m.request?.subtype === 'initialize') {
      process.stdout.write(JSON.stringify({ type: 'control_response', response: { subtype: 'success', request_id: m.request_id, response: {} } }) + '\\n')
    }
  }
})
setInterval(() => {}, 1000)
`

function setup (t: Parameters<typeof build>[0]) {
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-runner-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cli = join(dir, 'fake-claude.js')
  writeFileSync(cli, FAKE_CLI)
  const root = join(dir, 'root')
  mkdirSync(root)
  return { cli, root }
}

function runner (t: Parameters<typeof build>[0], base: string, cli: string, root: string, mode: string, extra: string[] = []) {
  return spawnChild(t, 'agentlog runner', process.execPath, [CONNECT_MAIN, 'runner', '--server', base, '--name', 'fake', '--root', root, ...extra], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, CLAUDE_BIN: cli, FAKE_MODE: mode }
  })
}

test('a CLI that ignores SIGTERM is killed once RUNNER_STOP_GRACE_MS has passed', async (t) => {
  const { cli, root } = setup(t)
  const app = await build(t, { env: { RUNNER_STOP_GRACE_MS: '500' } })
  const base = await listen(app)
  runner(t, base, cli, root, 'stubborn')
  await waitFor('the runner', () => app.fleet.isConnected('fake') ? true : undefined, 30000)
  const started = await app.inject({ method: 'POST', url: '/runners/fake/agents', payload: { agent_id: 's1', cwd: root } })
  t.equal(started.statusCode, 201, started.body)
  const began = Date.now()
  const stopped = await app.inject({ method: 'POST', url: '/agents/s1/stop', payload: {} })
  const took = Date.now() - began
  t.equal(stopped.statusCode, 200, stopped.body)
  t.ok(took >= 500, `not killed before the grace (${took} ms)`)
  t.ok(took < boundFor(500, 10000), `killed after the grace, not the default 10 s (${took} ms)`)
  const events = (await app.inject({ method: 'GET', url: '/agents/s1/events?type=agent_stopped' })).json().events
  t.equal(events[0].metadata.exit_code, 128 + 9, 'it took SIGKILL')
})

test('a CLI that exits at once: 502 cli_failed with its stderr; one that never answers: killed after --start-timeout-ms', async (t) => {
  const { cli, root } = setup(t)
  const app = await build(t)
  const base = await listen(app)
  const failing = runner(t, base, cli, root, 'fail')
  await waitFor('the runner', () => app.fleet.isConnected('fake') ? true : undefined, 30000)
  const failed = await app.inject({ method: 'POST', url: '/runners/fake/agents', payload: { agent_id: 'f1', cwd: root, resume: 'nope' } })
  t.equal(failed.statusCode, 502)
  t.equal(failed.json().code, 'cli_failed')
  t.match(failed.json().message, /No conversation found with session ID: nope/)
  failing.child.kill('SIGTERM')
  await failing.waitExit(10000)
  await waitFor('the runner gone', () => app.fleet.isConnected('fake') ? undefined : true, 10000)

  runner(t, base, cli, root, 'hang', ['--start-timeout-ms', '800'])
  await waitFor('the second runner', () => app.fleet.isConnected('fake') ? true : undefined, 30000)
  const began = Date.now()
  const hung = await app.inject({ method: 'POST', url: '/runners/fake/agents', payload: { agent_id: 'h1', cwd: root } })
  const took = Date.now() - began
  t.equal(hung.statusCode, 502)
  t.match(hung.json().message, /did not come up within 800 ms/)
  t.ok(took < boundFor(800, 50000), `--start-timeout-ms took effect (${took} ms)`)
  await waitFor('its relay to say goodbye', () => app.agents.isConnected('h1') ? undefined : true, 10000)
  const list = (await app.inject({ method: 'GET', url: '/agents' })).json().agents
  t.match(list.find((a: any) => a.agent_id === 'h1'), { connected: false, state: 'stopped' }, 'nothing left running')
})

test('a runner killed with -9: its reaper ends a CLI that ignores SIGTERM and its closed stdin', async (t) => {
  const { cli, root } = setup(t)
  const app = await build(t)
  const base = await listen(app)
  const r = runner(t, base, cli, root, 'stubborn')
  await waitFor('the runner', () => app.fleet.isConnected('fake') ? true : undefined, 30000)
  const started = await app.inject({ method: 'POST', url: '/runners/fake/agents', payload: { agent_id: 'k1', cwd: root } })
  t.equal(started.statusCode, 201, started.body)
  const pid = Number(/started k1 in .* \(pid (\d+)\)/.exec(r.stderr())?.[1])
  const alive = (): boolean => { try { process.kill(pid, 0); return true } catch { return false } }
  t.ok(alive(), `the CLI runs (pid ${pid})`)
  r.child.kill('SIGKILL')
  await r.exited
  const killedAt = Date.now()
  t.ok(alive(), 'the CLI outlives the runner at first (it ignores SIGTERM and its stdin closing)')
  await waitFor('the reaper to kill it', () => alive() ? undefined : true, 20000)
  const took = Date.now() - killedAt
  t.ok(took < 3000 + 4000, `gone ${took} ms after the runner died (SIGKILL 3 s after SIGTERM)`)
  await waitFor('the runner marked gone', () => app.fleet.isConnected('fake') ? undefined : true, 10000)
  const list = (await app.inject({ method: 'GET', url: '/runners' })).json().runners
  t.match(list, [{ name: 'fake', connected: false, agents: ['k1'] }], 'its agent is kept, to be resumed when it is back')
})
