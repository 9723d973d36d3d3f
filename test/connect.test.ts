// `agentlog connect` with the real Claude Code CLI (2.1.112) in stdio mode, against the real app on a real port,
// offline against the mock model API, driven only through the REST API.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { build, listen, tempDatabasePath, walk } from './helper.js'
import {
  clearContext, duplicates, offlineSetup, sendPrompt, sessions, startConnector, turn, untilResultAfter,
  waitConnected, waitFor
} from './support/claude-cli.js'

const ROUND = 1e-9

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** The pids of the CLI processes a connector started (it logs them with --verbose). */
function cliPids (stderr: string): number[] {
  return [...stderr.matchAll(/started .* \(pid (\d+)\)/g)].map(m => Number(m[1]))
}

test('agentlog connect: prompts, a denied tool, clear-context that clears, and lines kept through a server restart', async (t) => {
  const setup = await offlineSetup(t)
  const databasePath = tempDatabasePath(t)
  const env = { TOOL_POLICY: 'deny:Write' }
  let app = await build(t, { env, databasePath })
  const base = await listen(app)
  const port = Number(new URL(base).port)
  const agentId = 'e2e-connect'
  const conn = startConnector(t, setup, { server: base, agentId, args: ['--verbose'] })
  const first = await waitConnected(app, agentId)
  t.equal(first.connected, true)

  const hello = await turn(app, agentId, 'Say hello')
  t.same(hello.map(e => e.event_type), ['prompt_sent', 'activity_changed', 'output', 'result', 'activity_changed'])
  t.equal(hello[2].content, 'Hello! This is the mock model answering: Say hello')
  t.equal(hello[3].metadata.cost_usd, hello[3].metadata.total_cost_usd)

  const write = await turn(app, agentId, 'WRITE_FILE please')
  t.same(write.map(e => e.event_type),
    ['prompt_sent', 'activity_changed', 'tool_use', 'tool_result', 'output', 'result', 'activity_changed'],
    'the permission request went through the connector and was answered by TOOL_POLICY')
  t.match(write[3], { content: "Tool 'Write': denied by policy", metadata: { tool_use_id: write[2].metadata.id, is_error: true } })
  t.notOk(existsSync(join(setup.claude.cwd, 'note.txt')))
  const oldCounter = write[5].metadata.total_cost_usd as number

  // 2.1.112 refuses /clear: the connector replaces it with a fresh process, so the context really is cleared
  const clear = await clearContext(app, agentId)
  t.same(clear, { agent_id: agentId, session_number: 1, previous_session: 0, agent_context: 'cleared' })
  const afterClear = await turn(app, agentId, 'Say hello again')
  const session1 = (await walk(app, agentId)).filter(e => e.session_number === 1)
  t.same(session1.map(e => e.event_type).slice(0, 2), ['context_cleared', 'context_clear_outcome'])
  t.match(session1[1].metadata, { agent_context: 'cleared', cost_usd: 0 })
  t.notOk(session1.some(e => typeof e.content === 'string' && e.content.includes("isn't available")), 'the refusal is not stored')
  t.equal(afterClear[2].content, 'Hello! This is the mock model answering: Say hello again')
  const fresh = setup.api.requests.filter(r => r.prompt === 'Say hello again')
  t.equal(fresh.length, 1)
  t.same(fresh[0].userTexts, ['Say hello again'], 'the model saw a fresh conversation')
  const newCounter = afterClear[3].metadata.total_cost_usd as number
  t.ok(newCounter < oldCounter, 'a new process: its cost counter started again')
  t.equal(afterClear[3].metadata.cost_usd, newCounter, 'the synthetic empty result reset the baseline to zero')
  const pids = cliPids(conn.stderr())
  t.equal(pids.length, 2, 'one restart')
  await waitFor('the old CLI to be gone', () => isAlive(pids[0]) ? undefined : true)

  // the server goes down while a turn runs: what the CLI writes meanwhile is held and delivered afterwards
  const slow = await sendPrompt(app, agentId, 'HOLD_ANSWER while the server is down')
  await waitFor('the CLI to ask the model', () => setup.api.requests.some(r => r.prompt?.startsWith('HOLD_ANSWER') === true) ? true : undefined)
  await app.close()
  await conn.waitStderr(/disconnected from/)
  t.equal(setup.api.release(), 1)
  await conn.waitStderr(/holding result line/)
  app = await build(t, { env, databasePath })
  await app.listen({ host: '127.0.0.1', port })
  const events = await untilResultAfter(app, agentId, slow.events[0].seq, 30000)
  const slowTurn = events.filter(e => e.seq > slow.events[0].seq)
  t.same(slowTurn.map(e => e.event_type), ['activity_changed', 'output', 'result', 'activity_changed'])
  t.equal(slowTurn[1].content, 'Held answer: HOLD_ANSWER while the server is down')
  t.match(conn.stderr(), /re-sent \d+ lines sent lately/, 'recent lines were re-sent after the reconnect')

  const again = await turn(app, agentId, 'After restart')
  t.equal(again[2].content, 'Hello! This is the mock model answering: After restart')
  const all = await walk(app, agentId)
  t.same(duplicates(all), [], 'the re-sent lines were stored once')
  t.same(all.filter(e => e.event_type === 'output').map(e => e.content), [
    'Hello! This is the mock model answering: Say hello',
    'The tool finished. All done.',
    'Hello! This is the mock model answering: Say hello again',
    'Held answer: HOLD_ANSWER while the server is down',
    'Hello! This is the mock model answering: After restart'
  ])
  const { sessions: list } = await sessions(app, agentId)
  const total = list.reduce((sum: number, s: any) => sum + s.cost_usd, 0)
  t.ok(Math.abs(total - (oldCounter + again[3].metadata.total_cost_usd)) < ROUND,
    'cost = what the old process counted + what the new one counted')

  // SIGTERM goes to the CLI; the connector exits with the CLI's own status
  conn.child.kill('SIGTERM')
  const exit = await conn.waitExit()
  t.same(exit, { code: 143, signal: null }, 'the CLI exits 143 on SIGTERM, and so does the connector')
  t.notOk(isAlive(cliPids(conn.stderr())[1]), 'the CLI is gone')
  await waitFor('the agent to be disconnected', async () => {
    const res = await app.inject({ method: 'GET', url: '/agents' })
    return res.json().agents.find((a: any) => a.agent_id === agentId)?.connected === false ? true : undefined
  })
  t.same(setup.api.outbound, [], 'the CLI reached nothing but the mock API and agentlog')
})

test('agentlog connect stops for good on 4001 (replaced) and 4003 (refused), and the CLI with it', async (t) => {
  const setup = await offlineSetup(t)
  const app = await build(t)
  const base = await listen(app)
  const agentId = 'e2e-replaced'
  const one = startConnector(t, setup, { server: base, agentId, args: ['--verbose'] })
  await waitConnected(app, agentId)
  await one.waitStderr(/connected to/)
  const two = startConnector(t, setup, { server: base, agentId })
  const exit = await one.waitExit()
  t.same(exit, { code: 1, signal: null })
  t.match(one.stderr(), /closed the agent socket with 4001 \(replaced by a newer connection/)
  t.notOk(isAlive(cliPids(one.stderr())[0]), 'its CLI was stopped')
  await waitConnected(app, agentId)
  t.equal(two.exit(), null, 'the newer one stays')

  const bad = startConnector(t, setup, { server: base, agentId: 'not a valid id' })
  t.same(await bad.waitExit(), { code: 1, signal: null })
  t.match(bad.stderr(), /closed the agent socket with 4003/)
})

test('agentlog connect exits with the CLI\'s status when the CLI fails to start', async (t) => {
  const setup = await offlineSetup(t)
  const app = await build(t)
  const base = await listen(app)
  const conn = startConnector(t, setup, { server: base, agentId: 'e2e-bad-flag', args: ['--', '--no-such-flag'] })
  const exit = await conn.waitExit()
  t.same(exit, { code: 1, signal: null })
  t.match(conn.stderr(), /unknown option '--no-such-flag'/, 'the CLI\'s own error reaches stderr')

  const missing = startConnector(t, setup, { server: base, agentId: 'e2e-no-cli', env: { CLAUDE_BIN: '/nonexistent/claude' } })
  t.same(await missing.waitExit(), { code: 127, signal: null })
  t.match(missing.stderr(), /could not start \/nonexistent\/claude/)
})

test('agentlog connect drops the oldest held lines when its buffer is full, and says so', async (t) => {
  const setup = await offlineSetup(t)
  const databasePath = tempDatabasePath(t)
  let app = await build(t, { databasePath })
  const base = await listen(app)
  const port = Number(new URL(base).port)
  const agentId = 'e2e-buffer'
  const conn = startConnector(t, setup, { server: base, agentId, args: ['--verbose', '--buffer-lines', '1'] })
  await waitConnected(app, agentId)
  const slow = await sendPrompt(app, agentId, 'HOLD_ANSWER with a tiny buffer')
  await waitFor('the CLI to ask the model', () => setup.api.requests.some(r => r.prompt?.startsWith('HOLD_ANSWER') === true) ? true : undefined)
  await app.close()
  await conn.waitStderr(/disconnected from/)
  t.equal(setup.api.release(), 1)
  await conn.waitStderr(/holding result line/)
  t.match(conn.stderr(), /warning: disconnected and the buffer is full \(1 line\): dropping the oldest/)
  app = await build(t, { databasePath })
  await app.listen({ host: '127.0.0.1', port })
  const events = await untilResultAfter(app, agentId, slow.events[0].seq, 30000)
  t.same(events.filter(e => e.seq > slow.events[0].seq).map(e => e.event_type), ['activity_changed', 'result', 'activity_changed'],
    'only the newest line (the result) was kept; the answer text was dropped')
  await conn.waitStderr(/warning: 1 line dropped while disconnected \(the buffer of 1 line was full\)/)
})

test('agentlog connect drops a line the server refuses as too big (1009) instead of re-sending it forever', async (t) => {
  const setup = await offlineSetup(t)
  const app = await build(t, { env: { MAX_FRAME_BYTES: '65536' } })
  const base = await listen(app)
  const agentId = 'e2e-too-big'
  const conn = startConnector(t, setup, { server: base, agentId, args: ['--verbose'] })
  await waitConnected(app, agentId)
  await sendPrompt(app, agentId, 'BIG_OUTPUT please')
  // the server closes with 1009, or resets the connection first (1006): either way both 300 kB lines are dropped
  await conn.waitStderr(/dropped a \d+-byte assistant line/)
  await conn.waitStderr(/dropped a \d+-byte result line/)
  await waitConnected(app, agentId)
  // lost (as with the CLI over --sdk-url), but the agent goes on
  const next = await turn(app, agentId, 'Say hello after the big one')
  t.equal(next[2].content, 'Hello! This is the mock model answering: Say hello after the big one')
  const reconnects = conn.stderr().match(/connected to/g)?.slice(1) ?? []
  t.ok(reconnects.length <= 4, `reconnected ${reconnects.length} times (at most two per big line), not in a loop`, { stderr: conn.stderr() })
  t.equal(conn.exit(), null)
})
