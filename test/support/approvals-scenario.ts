// The approval scenario the real-CLI tests run (through `agentlog connect`, and over --sdk-url), offline against
// the model stand-in: a Bash call waits for a person; approved it runs, denied the model gets the
// message, approved after a server restart it runs once, and with no decision in time the fallback applies.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, listen, tempDatabasePath, walk } from '../helper.js'
import {
  CLAUDE_CLI, duplicates, offlineSetup, sendPrompt, startConnector, startSdkUrlClaude, untilHistory, untilResultAfter, waitConnected, waitFor,
  type Child, type OfflineSetup
} from './claude-cli.js'

const POLICY = JSON.stringify([{ tool: 'Bash', input: 'echo ran', decision: 'ask' }])

async function waitingRequest (app: FastifyInstance, agentId: string, after: Set<string>): Promise<any> {
  try {
    return await waitFor('a Bash call to wait for a person', async () => {
      const res = await app.inject({ method: 'GET', url: `/approvals?agent=${agentId}` })
      return res.json().approvals.find((a: any) => !after.has(a.request_id) && a.seq !== null)
    }, 30000)
  } catch (err) {
    const tail = (await walk(app, agentId)).slice(-8).map(e => `${e.seq as number} ${e.event_type as string} ${JSON.stringify(e.content ?? '').slice(0, 80)}`)
    throw new Error(`${(err as Error).message}\nlast events:\n${tail.join('\n')}`)
  }
}

async function decide (app: FastifyInstance, agentId: string, requestId: string, body: Record<string, unknown>): Promise<any> {
  const res = await app.inject({ method: 'POST', url: `/agents/${agentId}/approvals/${requestId}`, payload: body })
  if (res.statusCode !== 200) throw new Error(`decide ${res.statusCode}: ${res.body}`)
  return res.json()
}

/** The turn's events from its prompt to its result. */
function turnOf (events: any[], promptSeq: number): any[] {
  const end = events.find(e => e.seq > promptSeq && e.event_type === 'result')
  return events.filter(e => e.seq >= promptSeq && (end === undefined || e.seq <= end.seq))
}

/** `bin`: which Claude Code runs (the pinned 2.1.112 by default; the newest through `agentlog connect`). */
export async function approvalScenario (t: Test, how: 'connect' | 'sdk-url', bin: string = CLAUDE_CLI): Promise<void> {
  const setup: OfflineSetup = await offlineSetup(t)
  const databasePath = tempDatabasePath(t)
  const env = { TOOL_POLICY: POLICY }
  let app = await build(t, { env, databasePath })
  const base = await listen(app)
  const port = Number(new URL(base).port)
  const agentId = `approvals-${how}`
  const cli: Child = how === 'connect'
    ? startConnector(t, setup, { server: base, agentId, args: ['--verbose'], env: { CLAUDE_BIN: bin } })
    : startSdkUrlClaude(t, setup, `${base}/ws/${agentId}`, bin)
  // the CLI (13 MB of JavaScript) can take a while to start on a loaded machine
  await waitConnected(app, agentId, 60000)
  const seen = new Set<string>()
  const toolResultsFor = (toolUseId: string) => setup.api.requests.flatMap(r => r.toolResults).filter(r => r.tool_use_id === toolUseId)

  // 1. the call waits; approved, it runs and its output is stored
  const approve = await sendPrompt(app, agentId, 'RISKY_BASH approve me')
  const waiting = await waitingRequest(app, agentId, seen)
  seen.add(waiting.request_id)
  t.match(waiting, { agent_id: agentId, tool_name: 'Bash', input: { command: 'echo ran >> runs.log && echo ran-after-approval' }, rule: { id: 'TOOL_POLICY rule 1' } })
  let events = await walk(app, agentId)
  t.same(turnOf(events, approve.events[0].seq).map(e => e.event_type), ['prompt_sent', 'activity_changed', 'tool_use', 'permission_requested'], 'waiting: no tool_result')
  t.equal(events.find(e => e.event_type === 'tool_use' && e.seq > approve.events[0].seq).metadata.id, waiting.tool_use_id)
  const approved = await decide(app, agentId, waiting.request_id, { behavior: 'allow' })
  t.match(approved, { behavior: 'allow', delivered: true })
  events = await untilResultAfter(app, agentId, approve.events[0].seq, 30000)
  t.same(turnOf(events, approve.events[0].seq).map(e => e.event_type),
    ['prompt_sent', 'activity_changed', 'tool_use', 'permission_requested', 'permission_decided', 'tool_result', 'output', 'result'])
  const ran = events.find(e => e.event_type === 'tool_result' && e.metadata.tool_use_id === waiting.tool_use_id)
  t.match(ran, { content: 'ran-after-approval', metadata: { is_error: false } }, 'the tool ran; its output is stored')

  // 2. denied with a message: the model gets the message as the tool's error
  const deny = await sendPrompt(app, agentId, 'RISKY_BASH deny me')
  const denyReq = await waitingRequest(app, agentId, seen)
  seen.add(denyReq.request_id)
  await decide(app, agentId, denyReq.request_id, { behavior: 'deny', message: 'Not now: the build is frozen.' })
  events = await untilResultAfter(app, agentId, deny.events[0].seq, 30000)
  t.match(events.find(e => e.event_type === 'tool_result' && e.metadata.tool_use_id === denyReq.tool_use_id),
    { content: 'Not now: the build is frozen.', metadata: { is_error: true } })
  t.match(toolResultsFor(denyReq.tool_use_id), [{ is_error: true, content: 'Not now: the build is frozen.' }], 'the model saw the message')

  // 3. the server restarts while the call waits; approved afterwards, the tool runs once
  const across = await sendPrompt(app, agentId, 'RISKY_BASH across a restart')
  const acrossReq = await waitingRequest(app, agentId, seen)
  seen.add(acrossReq.request_id)
  const connectedBefore = (await waitConnected(app, agentId)).last_connected_at
  await app.close()
  app = await build(t, { env, databasePath })
  await app.listen({ host: '127.0.0.1', port })
  await waitFor('the agent to reconnect', async () => {
    const res = await app.inject({ method: 'GET', url: '/agents' })
    const a = res.json().agents.find((x: any) => x.agent_id === agentId)
    return a?.connected === true && a.last_connected_at !== connectedBefore ? true : undefined
  }, 30000)
  if (how === 'connect') await cli.waitStderr(/re-sent \d+ lines sent lately and 1 open permission requests/)
  const still = (await app.inject({ method: 'GET', url: '/approvals' })).json().approvals
  t.same(still.map((a: any) => a.request_id), [acrossReq.request_id], 'still waiting after the restart, once')
  await decide(app, agentId, acrossReq.request_id, { behavior: 'allow' })
  events = await untilResultAfter(app, agentId, across.events[0].seq, 30000)
  const results = events.filter(e => e.event_type === 'tool_result' && e.metadata.tool_use_id === acrossReq.tool_use_id)
  t.match(results, [{ content: 'ran-after-approval', metadata: { is_error: false } }], 'ran once')
  t.equal(toolResultsFor(acrossReq.tool_use_id).length, 1, 'the model got one result for it')
  t.equal(readFileSync(join(setup.claude.cwd, 'runs.log'), 'utf8'), 'ran\nran\n', 'two approved runs, each once; the denied one did not run')
  t.equal(events.filter(e => e.event_type === 'permission_requested' && e.metadata.request_id === acrossReq.request_id).length, 1)

  // 4. nobody decides: after APPROVAL_TIMEOUT_MS the fallback (deny, with a message) goes to the model
  await app.close()
  const timeoutMs = 1500
  app = await build(t, { env: { ...env, APPROVAL_TIMEOUT_MS: String(timeoutMs) }, databasePath })
  await app.listen({ host: '127.0.0.1', port })
  await waitConnected(app, agentId, 30000)
  const late = await sendPrompt(app, agentId, 'RISKY_BASH nobody answers')
  events = await untilResultAfter(app, agentId, late.events[0].seq, 30000)
  const lateTurn = turnOf(events, late.events[0].seq)
  const decided = lateTurn.find(e => e.event_type === 'permission_decided')
  t.match(decided.metadata, { decision: 'deny', decided_by: 'timeout' })
  t.ok(decided.metadata.waited_ms >= timeoutMs && decided.metadata.waited_ms < timeoutMs + 10000, `decided after ${decided.metadata.waited_ms as number} ms`)
  const fallback = lateTurn.find(e => e.event_type === 'tool_result')
  t.match(fallback, { content: "Tool 'Bash': no one decided within 1500 ms, so it was denied", metadata: { is_error: true } })
  t.match(toolResultsFor(fallback.metadata.tool_use_id), [{ is_error: true }])

  const all = await untilHistory(app, agentId, 'the last turn', evs => evs.some(e => e.seq > late.events[0].seq && e.event_type === 'activity_changed'))
  t.same(duplicates(all), [], 'no gaps, nothing stored twice')
  t.equal(cli.exit(), null, 'the agent is still running')
  t.same(setup.api.outbound, [], 'the CLI reached nothing but the stand-in and agentlog')
}
