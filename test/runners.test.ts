// The fleet through the real app, with a stand-in runner on a real socket: the runner socket, GET /runners,
// starting (first prompt), refusals, stopping, resuming, a restarted runner, and the runner token's reach.
import { test } from 'tap'
import { WebSocket } from 'ws'
import type { FastifyInstance } from 'fastify'
import { build, closed, collect, connect, listen, sync } from './helper.js'

const RUNNER = 'runner-tok-1'
const OP = 'op-tok-1'
const READER = 'read-tok-1'
const TOKENS = `runner:${RUNNER}:box-*,operator:${OP},reader:${READER}`
const op = { authorization: `Bearer ${OP}` }

/** A stand-in for `agentlog runner`: says hello, and answers start/stop as the script says. */
async function fakeRunner (t: Parameters<typeof build>[0], base: string, name: string, opts: {
  roots?: string[]
  agents?: Array<{ agent_id: string, cwd: string }>
  /** How a start is answered: 'up' opens the agent socket and says started; else failed with this code. */
  answer?: (m: any) => 'up' | { code: string, message: string, stderr?: string[] } | 'silent'
} = {}) {
  const ws = await connect(t, `${base}/runners/ws/${name}`, { authorization: `Bearer ${RUNNER}` })
  const received: any[] = []
  const agentSockets = new Map<string, { ws: WebSocket, inbox: ReturnType<typeof collect> }>()
  const waiters: Array<{ pred: (m: any) => boolean, resolve: (m: any) => void }> = []
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString())
    received.push(m)
    for (const w of waiters.slice()) if (w.pred(m)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(m) }
    handle(m).catch(() => {})
  })
  async function handle (m: any): Promise<void> {
    if (m.type === 'start') {
      const how = opts.answer?.(m) ?? 'up'
      if (how === 'silent') return
      if (how !== 'up') {
        ws.send(JSON.stringify({ type: 'failed', request_id: m.request_id, agent_id: m.agent_id, stderr: [], ...how }))
        return
      }
      const agent = await connect(t, `${base.replace(/^http/, 'ws')}/ws/${m.agent_id}`, { authorization: `Bearer ${RUNNER}` })
      agentSockets.set(m.agent_id, { ws: agent, inbox: collect(agent) })
      ws.send(JSON.stringify({ type: 'started', request_id: m.request_id, agent_id: m.agent_id, cwd: m.cwd, worktree: null, pid: 4242 }))
    } else if (m.type === 'stop') {
      const agent = agentSockets.get(m.agent_id)
      if (agent !== undefined) {
        const gone = closed(agent.ws)
        agent.ws.close(1000)
        await gone
        agentSockets.delete(m.agent_id)
      }
      ws.send(JSON.stringify({ type: 'stopped', request_id: m.request_id, agent_id: m.agent_id, exit_code: 143, signal: null, worktree_removed: false }))
    }
  }
  ws.send(JSON.stringify({
    type: 'hello',
    protocol: 1,
    host: 'box',
    roots: opts.roots ?? ['/work/repos'],
    claude_version: '2.1.112 (Claude Code)',
    agentlog_version: '0.1.0',
    agents: (opts.agents ?? []).map(a => ({ ...a, worktree: null, pid: 1 }))
  }))
  return {
    ws,
    received,
    agentSockets,
    next (pred: (m: any) => boolean): Promise<any> {
      const found = received.find(pred)
      if (found !== undefined) return Promise.resolve(found)
      return new Promise(resolve => waiters.push({ pred, resolve }))
    }
  }
}

async function until<T> (what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setImmediate(resolve))
  }
}

/** An agent's events (of a type), oldest first. */
async function walk (app: FastifyInstance, agentId: string, query = ''): Promise<any[]> {
  const res = await app.inject({ method: 'GET', url: `/agents/${agentId}/events?limit=1000&${query}`, headers: op })
  return res.json().events
}

async function runners (app: FastifyInstance): Promise<any[]> {
  const res = await app.inject({ method: 'GET', url: '/runners', headers: op })
  return res.json().runners
}

test('a runner says hello and is listed; a start sends the first prompt once its agent is connected; stop ends it', async (t) => {
  const app = await build(t, { env: { AUTH_TOKENS: TOKENS } })
  const base = await listen(app)
  const runner = await fakeRunner(t, base, 'box-1')
  const listed = await until('the runner listed', async () => (await runners(app)).find(r => r.connected))
  t.match(listed, { name: 'box-1', host: 'box', roots: ['/work/repos'], connected: true, claude_version: '2.1.112 (Claude Code)', agents: [] })

  const started = await app.inject({ method: 'POST', url: '/runners/box-1/agents', headers: op, payload: { agent_id: 'a1', cwd: '/work/repos/x', prompt: 'hello there', model: 'opus' } })
  t.equal(started.statusCode, 201, started.body)
  t.match(started.json(), { agent_id: 'a1', runner: 'box-1', cwd: '/work/repos/x', state: 'running', worktree: null })
  t.match(runner.received.find(m => m.type === 'start'), { agent_id: 'a1', cwd: '/work/repos/x', model: 'opus', resume: null, fork: false })
  const prompt = await runner.agentSockets.get('a1')?.inbox.next(m => m.type === 'user')
  t.equal(prompt.message.content, 'hello there', 'the first prompt reached the agent')
  const types = (await walk(app, 'a1')).map(e => e.event_type)
  t.same(types.slice(0, 2), ['agent_started', 'prompt_sent'])
  t.same((await runners(app))[0].agents, ['a1'])

  const again = await app.inject({ method: 'POST', url: '/runners/box-1/agents', headers: op, payload: { agent_id: 'a1', cwd: '/work/repos/x' } })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'agent_running')

  const generated = await app.inject({ method: 'POST', url: '/runners/box-1/agents', headers: op, payload: { cwd: '/work/repos/y' } })
  t.equal(generated.statusCode, 201)
  t.match(generated.json().agent_id, /^box-1-[0-9a-f]{8}$/, 'an id is made up when none is given')

  const stop = await app.inject({ method: 'POST', url: '/agents/a1/stop', headers: op, payload: {} })
  t.equal(stop.statusCode, 200, stop.body)
  t.match(stop.json(), { agent_id: 'a1', state: 'stopped', worktree_removed: false })
  const stopped = (await walk(app, 'a1')).filter(e => e.event_type === 'agent_stopped')
  t.equal(stopped.length, 1)
  t.match(stopped[0].metadata, { runner: 'box-1', reason: 'stopped', by: { role: 'operator', token_number: 2 } })
  const list = await app.inject({ method: 'GET', url: '/agents', headers: op })
  t.match(list.json().agents.find((a: any) => a.agent_id === 'a1'), { connected: false, runner: 'box-1', state: 'stopped' })
  t.match(list.json().agents.find((a: any) => a.agent_id === generated.json().agent_id), { connected: true, runner: 'box-1', state: 'running' })
  t.notOk((await runners(app))[0].agents.includes('a1'))

  const gone = closed(runner.ws)
  runner.ws.close()
  await gone
  await until('the runner marked disconnected', async () => (await runners(app))[0].connected === false ? true : undefined)
  const away = await app.inject({ method: 'GET', url: '/agents', headers: op })
  t.match(away.json().agents.find((a: any) => a.agent_id === generated.json().agent_id), { runner: 'box-1', state: 'runner_offline' })
  const offline = await app.inject({ method: 'POST', url: '/runners/box-1/agents', headers: op, payload: { cwd: '/work/repos/x' } })
  t.equal(offline.statusCode, 409)
  t.equal(offline.json().code, 'runner_not_connected')
})

test('refusals: unknown runner, the runner\'s failures with their codes, a silent runner, an agent not run by a runner', async (t) => {
  const app = await build(t, { env: { AUTH_TOKENS: TOKENS, RUNNER_START_TIMEOUT_MS: '300' } })
  const base = await listen(app)
  await fakeRunner(t, base, 'box-2', {
    answer: (m) => m.cwd === '/etc'
      ? { code: 'cwd_not_allowed', message: '/etc is outside the runner\'s roots' }
      : m.cwd === '/work/repos/bad'
        ? { code: 'cli_failed', message: 'the CLI exited', stderr: ['No conversation found with session ID: x'] }
        : m.cwd === '/work/repos/slow' ? 'silent' : 'up'
  })
  await until('the runner', async () => (await runners(app)).find(r => r.connected))

  const unknown = await app.inject({ method: 'POST', url: '/runners/nope/agents', headers: op, payload: { cwd: '/x' } })
  t.equal(unknown.statusCode, 404)
  t.equal(unknown.json().code, 'runner_not_found')

  const outside = await app.inject({ method: 'POST', url: '/runners/box-2/agents', headers: op, payload: { agent_id: 'o1', cwd: '/etc' } })
  t.equal(outside.statusCode, 400)
  t.equal(outside.json().code, 'cwd_not_allowed')

  const failed = await app.inject({ method: 'POST', url: '/runners/box-2/agents', headers: op, payload: { agent_id: 'f1', cwd: '/work/repos/bad' } })
  t.equal(failed.statusCode, 502)
  t.equal(failed.json().code, 'cli_failed')
  t.match(failed.json().message, /No conversation found/, 'the CLI\'s stderr tail is in the message')

  const began = Date.now()
  const slow = await app.inject({ method: 'POST', url: '/runners/box-2/agents', headers: op, payload: { agent_id: 's1', cwd: '/work/repos/slow' } })
  t.equal(slow.statusCode, 504)
  t.equal(slow.json().code, 'runner_timeout')
  t.ok(Date.now() - began < 300 + 4000, 'RUNNER_START_TIMEOUT_MS took effect')

  // an agent that connected by itself: not the fleet's to stop
  const self = await connect(t, `${base}/ws/solo`, {})
  t.ok(self)
  const agentTok = await app.inject({ method: 'POST', url: '/agents/solo/stop', headers: op, payload: {} })
  t.equal(agentTok.statusCode, 404, 'without a token the socket was refused; the agent is unknown')
  const none = await app.inject({ method: 'POST', url: '/agents/never/resume', headers: op, payload: {} })
  t.equal(none.statusCode, 404)
  t.equal(none.json().code, 'agent_not_found')
})

test('the runner token: only the runner socket (of names its glob allows) and the sockets of its own agents', async (t) => {
  const app = await build(t, { env: { AUTH_TOKENS: TOKENS } })
  const base = await listen(app)
  const asRunner = { authorization: `Bearer ${RUNNER}` }
  const read = await app.inject({ method: 'GET', url: '/agents', headers: asRunner })
  t.equal(read.statusCode, 403)
  const start = await app.inject({ method: 'POST', url: '/runners/box-3/agents', headers: asRunner, payload: { cwd: '/x' } })
  t.equal(start.statusCode, 403, 'only operators start agents')
  const readerStart = await app.inject({ method: 'POST', url: '/runners/box-3/agents', headers: { authorization: `Bearer ${READER}` }, payload: { cwd: '/x' } })
  t.equal(readerStart.statusCode, 403)
  const list = await app.inject({ method: 'GET', url: '/runners', headers: { authorization: `Bearer ${READER}` } })
  t.equal(list.statusCode, 200, 'readers list runners')

  const wrongName = new WebSocket(`${base}/runners/ws/other-1`, { headers: asRunner })
  const refused = await new Promise<number>(resolve => wrongName.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0)))
  t.equal(refused, 403, 'a runner token may only be the runners its glob names')
  const opRunner = new WebSocket(`${base}/runners/ws/box-3`, { headers: op })
  t.equal(await new Promise<number>(resolve => opRunner.on('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0))), 403, 'an operator token is not a runner')

  const notItsAgent = await connect(t, `${base}/ws/stranger`, asRunner)
  const close = await closed(notItsAgent)
  t.equal(close.code, 4003, 'a runner token opens only the sockets of agents a runner it may be runs')
})

test('resume continues the agent\'s Claude session; a restarted runner gets its agents back with --resume', async (t) => {
  const app = await build(t, { env: { AUTH_TOKENS: TOKENS } })
  const base = await listen(app)
  const runner = await fakeRunner(t, base, 'box-4', { roots: ['/work/repos'] })
  await until('the runner', async () => (await runners(app)).find(r => r.connected))
  const res = await app.inject({ method: 'POST', url: '/runners/box-4/agents', headers: op, payload: { agent_id: 'r1', cwd: '/work/repos/p' } })
  t.equal(res.statusCode, 201)
  // the CLI says which session it is in
  const agent = runner.agentSockets.get('r1')
  if (agent === undefined) throw new Error('no agent socket')
  agent.ws.send(JSON.stringify({ type: 'system', subtype: 'init', session_id: 'sess-123', cwd: '/work/repos/p', model: 'm', tools: [] }) + '\n')
  await sync(app, agent.ws, agent.inbox)

  const noSession = await app.inject({ method: 'POST', url: '/agents/r1/resume', headers: op, payload: {} })
  t.equal(noSession.statusCode, 409, 'a running agent is not resumed')
  t.equal(noSession.json().code, 'agent_running')

  t.equal((await app.inject({ method: 'POST', url: '/agents/r1/stop', headers: op })).statusCode, 200)
  const resumed = await app.inject({ method: 'POST', url: '/agents/r1/resume', headers: op, payload: {} })
  t.equal(resumed.statusCode, 201, resumed.body)
  t.match(resumed.json(), { agent_id: 'r1', runner: 'box-4', cwd: '/work/repos/p', claude_session_id: 'sess-123' })
  const starts = runner.received.filter(m => m.type === 'start')
  t.match(starts[1], { agent_id: 'r1', cwd: '/work/repos/p', resume: 'sess-123', fork: false })
  const log = await walk(app, 'r1', 'type=agent_started')
  t.same(log.map(e => e.metadata.reason), ['started', 'resumed'])

  // the runner restarts: its hello lists no agents, so the server starts r1 again with --resume
  runner.ws.terminate()
  for (const a of runner.agentSockets.values()) a.ws.terminate()
  await until('the runner gone', async () => (await runners(app))[0].connected === false ? true : undefined)
  await until('r1 disconnected', () => app.agents.isConnected('r1') ? undefined : true)
  const back = await fakeRunner(t, base, 'box-4', { roots: ['/work/repos'] })
  const restart = await back.next(m => m.type === 'start')
  t.match(restart, { agent_id: 'r1', resume: 'sess-123' })
  await until('the agent_started of the restart', async () => (await walk(app, 'r1', 'type=agent_started')).length === 3 ? true : undefined)
  t.equal((await walk(app, 'r1', 'type=agent_started'))[2].metadata.reason, 'runner_restarted')
})

test('an agent known only from an imported transcript resumes in the directory and session the transcript names', async (t) => {
  const app = await build(t, { env: { AUTH_TOKENS: TOKENS } })
  const base = await listen(app)
  const runner = await fakeRunner(t, base, 'box-5', { roots: ['/home/me/src'] })
  await until('the runner', async () => (await runners(app)).find(r => r.connected))
  const records = [
    { type: 'user', sessionId: 'sess-imp', cwd: '/home/me/src/app', uuid: '11111111-1111-4111-8111-111111111111', timestamp: '2026-01-01T00:00:00.000Z', message: { role: 'user', content: 'from the terminal' } },
    { type: 'assistant', sessionId: 'sess-imp', cwd: '/home/me/src/app', uuid: '22222222-2222-4222-8222-222222222222', timestamp: '2026-01-01T00:00:01.000Z', message: { id: 'msg_1', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'hi' }] } }
  ]
  const imported = await app.inject({
    method: 'POST',
    url: '/agents/imp/import?file=sess-imp.jsonl',
    headers: { ...op, 'content-type': 'application/x-ndjson' },
    payload: records.map(r => JSON.stringify(r)).join('\n') + '\n'
  })
  t.equal(imported.statusCode, 200, imported.body)
  const resumed = await app.inject({ method: 'POST', url: '/agents/imp/resume', headers: op, payload: {} })
  t.equal(resumed.statusCode, 201, resumed.body)
  t.match(resumed.json(), { agent_id: 'imp', runner: 'box-5', cwd: '/home/me/src/app', claude_session_id: 'sess-imp' })
  t.match(runner.received.find(m => m.type === 'start'), { agent_id: 'imp', cwd: '/home/me/src/app', resume: 'sess-imp', fork: false })
  const forked = await app.inject({ method: 'POST', url: '/agents/imp/resume', headers: op, payload: { fork: true } })
  t.equal(forked.statusCode, 409, 'it runs already')
  t.equal(forked.json().code, 'agent_running')
})
