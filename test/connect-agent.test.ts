// `agentlog connect` as a user runs it, with the real Claude Code CLI (2.1.112) against the real app: tokens,
// the agent's working directory, the CLI's version, and a CLI that dies mid-turn.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { test } from 'tap'
import { build, listen, walk } from './helper.js'
import {
  CLAUDE_CLI, offlineSetup, sendPrompt, sessions, startConnector, turn, untilHistory, untilResultAfter, waitConnected, waitFor
} from './support/claude-cli.js'

const ROUND = 1e-9
const AGENT_TOKEN = 'agent-tok-5d1f0c'
const TOKENS = `agent:${AGENT_TOKEN}:tok-*,operator:op-tok-77`

function cliPids (stderr: string): number[] {
  return [...stderr.matchAll(/started .* \(pid (\d+)\)/g)].map(m => Number(m[1]))
}

function cmdline (pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
}

test('agentlog connect presents its token on every connection; a refused token ends it with a clear message', async (t) => {
  const setup = await offlineSetup(t)
  const app = await build(t, { env: { AUTH_TOKENS: TOKENS } })
  const base = await listen(app)
  const tokenFile = join(setup.claude.cwd, '..', 'agent.token')
  writeFileSync(tokenFile, AGENT_TOKEN + '\n', { mode: 0o600 })

  const fromFile = startConnector(t, setup, { server: base, agentId: 'tok-file', args: ['--verbose', '--token-file', tokenFile] })
  await waitFor('the agent to connect with the token from the file', () => app.agents.isConnected('tok-file') ? true : undefined)
  const firstAt = app.agents.get('tok-file')?.connectedAt
  // the server drops the socket: the relay comes back, with the token again
  app.agents.get('tok-file')?.socket.close(1001, 'test')
  await waitFor('a second connection', () => app.agents.isConnected('tok-file') && app.agents.get('tok-file')?.connectedAt !== firstAt ? true : undefined)
  t.pass('reconnected with the token')
  const res = await app.inject({ method: 'POST', url: '/agents/tok-file/messages', headers: { authorization: 'Bearer op-tok-77' }, payload: { content: 'Say hello' } })
  t.equal(res.statusCode, 202)
  await waitFor('the answer', async () => {
    const page = await app.inject({ method: 'GET', url: '/agents/tok-file/events?type=output', headers: { authorization: 'Bearer op-tok-77' } })
    return page.json().events.length === 1 ? true : undefined
  })

  const fromArgv = startConnector(t, setup, { server: base, agentId: 'tok-argv', args: ['--verbose', '--token', AGENT_TOKEN] })
  await waitFor('the agent to connect with --token', () => app.agents.isConnected('tok-argv') ? true : undefined)
  const title = cmdline(fromArgv.child.pid ?? 0)
  t.notMatch(title, AGENT_TOKEN, 'the token is not in the process list')
  t.match(title, /agentlog connect --agent tok-argv/)
  const cli = cliPids(fromArgv.stderr())[0]
  t.notMatch(readFileSync(`/proc/${cli}/environ`, 'utf8'), AGENT_TOKEN, 'nor in the CLI\'s environment')

  const wrong = startConnector(t, setup, { server: base, agentId: 'tok-wrong', args: ['--verbose'], env: { AGENTLOG_TOKEN: 'not-the-token' } })
  const started = Date.now()
  t.same(await wrong.waitExit(), { code: 1, signal: null })
  t.ok(Date.now() - started < 20000, 'no retry loop')
  t.match(wrong.stderr(), /closed the agent socket with 4003 \(refused by the server: check the agent id and the token .*: unknown token\); not reconnecting/)

  const none = startConnector(t, setup, { server: base, agentId: 'tok-none' })
  t.same(await none.waitExit(), { code: 1, signal: null })
  t.match(none.stderr(), /4003 .*this request needs a token/)

  const notThis = startConnector(t, setup, { server: base, agentId: 'other-agent', args: ['--token', AGENT_TOKEN] })
  t.same(await notThis.waitExit(), { code: 1, signal: null })
  t.match(notThis.stderr(), /may not connect as "other-agent"/)

  for (const c of [fromFile, fromArgv, wrong, none, notThis]) t.notMatch(c.stderr(), AGENT_TOKEN, 'the token is never logged')
})

test('a proxy or server that refuses the upgrade with 401 or 403 ends agentlog connect too', async (t) => {
  const setup = await offlineSetup(t)
  for (const status of [401, 403]) {
    let upgrades = 0
    const server = createServer()
    server.on('upgrade', (_req, socket) => {
      upgrades++
      socket.end(`HTTP/1.1 ${status} No\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`)
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
    t.teardown(() => new Promise<void>(resolve => server.close(() => resolve())))
    const port = (server.address() as { port: number }).port
    const conn = startConnector(t, setup, { server: `ws://127.0.0.1:${port}`, agentId: 'refused', args: ['--token', 'x-token'] })
    t.same(await conn.waitExit(), { code: 1, signal: null })
    t.match(conn.stderr(), new RegExp(`the server refused the agent's token \\(HTTP ${status}\\); not reconnecting`))
    t.equal(upgrades, 1, 'tried once')
  }
})

test('--cwd is where the agent works, said in the first log line; connect --version names both versions', async (t) => {
  const setup = await offlineSetup(t)
  const app = await build(t)
  const base = await listen(app)
  const project = join(setup.claude.cwd, '..', 'my project')
  mkdirSync(project)
  const conn = startConnector(t, setup, { server: base, agentId: 'cwd-agent', args: ['--cwd', project] })
  await waitConnected(app, 'cwd-agent')
  const firstLine = conn.stderr().split('\n')[0]
  t.match(firstLine, `agentlog connect: agent cwd-agent in ${project}: running ${CLAUDE_CLI}, relaying to ${base}/ws/cwd-agent`)
  await turn(app, 'cwd-agent', 'Say hello from the project')
  const request = setup.api.requests.find(r => r.prompt === 'Say hello from the project')
  const system = JSON.stringify(request?.body.system)
  t.match(system, `Primary working directory: ${project}`, 'the CLI runs in --cwd, not where the command was started')

  const version = startConnector(t, setup, { server: base, agentId: 'v', args: ['--version'] })
  t.same(await version.waitExit(), { code: 0, signal: null })
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  t.equal(version.stdout(), `agentlog ${pkg.version as string}\n${CLAUDE_CLI}: 2.1.112 (Claude Code)\n`)
})

test('the CLI killed mid-turn: restarted with --resume, the server told, prompts held meanwhile, cost right', async (t) => {
  const setup = await offlineSetup(t)
  const app = await build(t)
  const base = await listen(app)
  const agentId = 'phoenix'
  const conn = startConnector(t, setup, { server: base, agentId, args: ['--verbose', '--max-restarts', '1'] })
  await waitConnected(app, agentId)
  const hello = await turn(app, agentId, 'Say hello')
  const firstTotal = hello[3].metadata.total_cost_usd as number
  const sessionId = (await walk(app, agentId)).find(e => e.event_type === 'result')?.metadata.session_id ??
    JSON.parse(JSON.stringify(app.agents.get(agentId)?.claudeSessionId))
  t.type(sessionId, 'string')

  await sendPrompt(app, agentId, 'HOLD_ANSWER never answered')
  await waitFor('the CLI to ask the model', () => setup.api.requests.some(r => r.prompt?.startsWith('HOLD_ANSWER') === true) ? true : undefined)
  const [first] = cliPids(conn.stderr())
  process.kill(first, 'SIGKILL')
  await conn.waitStderr(/the CLI died \(signal SIGKILL\); restarting it with --resume/)
  t.match(conn.stderr(), `--resume ${sessionId as string} in 1000 ms (restart 1 of at most 1 within 10 minutes)`)
  // sent while no CLI runs: held for the new one
  const held = await sendPrompt(app, agentId, 'Say hello after the crash')
  const events = await untilResultAfter(app, agentId, held.events[0].seq, 30000)
  const restarted = events.filter(e => e.event_type === 'agent_restarted')
  t.equal(restarted.length, 1)
  t.match(restarted[0], {
    content: `the CLI died (signal SIGKILL); restarted with --resume ${sessionId as string}`,
    metadata: { exit_code: null, signal: 'SIGKILL', resumed_session_id: sessionId, attempt: 1, max_restarts: 1 }
  })
  const answer = events.filter(e => e.seq > held.events[0].seq)
  t.equal(answer.find(e => e.event_type === 'output')?.content, 'Hello! This is the mock model answering: Say hello after the crash')
  const resumedRequest = setup.api.requests.find(r => r.prompt === 'Say hello after the crash')
  t.ok(resumedRequest?.userTexts.includes('Say hello'), 'the new process resumed the conversation')
  t.equal(cliPids(conn.stderr()).length, 2)

  const result = answer.find(e => e.event_type === 'result')
  const total = result.metadata.total_cost_usd as number
  const { sessions: list } = await sessions(app, agentId)
  const sum = list.reduce((s: number, x: any) => s + x.cost_usd, 0)
  // 2.1.112's resumed process counts from zero (its modelUsage holds only its own turn), even though its total
  // is above the dead one's here: the whole total is the new turn's cost
  t.ok(total > firstTotal, 'a total above the old one, the ambiguous case')
  t.equal(result.metadata.cost_usd, total, 'the new turn costs what the new process counted')
  t.ok(Math.abs(sum - (firstTotal + total)) < ROUND, `cost ${sum} = ${firstTotal} + ${total}: nothing lost, nothing counted twice`)

  // a second death within the window is one too many for --max-restarts 1
  process.kill(cliPids(conn.stderr())[1], 'SIGKILL')
  t.same(await conn.waitExit(), { code: 137, signal: null }, 'the relay exits with the CLI\'s status')
  t.match(conn.stderr(), /the CLI died \(signal SIGKILL\) after 1 restarts within 10 minutes; giving up/)
  await untilHistory(app, agentId, 'the agent to be disconnected', () => !app.agents.isConnected(agentId))
})
