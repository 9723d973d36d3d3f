// The fleet's memory through a real Claude Code CLI run by `agentlog connect`, offline: the model stand-in calls
// mcp__agentlog__search for a phrase another agent wrote earlier; the CLI calls /mcp with the agent's token, and
// the tool result stored in the agent's history holds that agent's event. Run with the pinned CLI and the newest.
import type { FastifyInstance } from 'fastify'
import { build, collect, line, listen, searchable, sync, assistantText, resultLine, type TestContext } from '../helper.js'
import { offlineSetup, startConnector, waitFor } from './claude-cli.js'

export const AGENT_TOKEN = 'mcp-agent-token-4b1e'
export const OPERATOR_TOKEN = 'mcp-operator-token-9c2d'
const TOKENS = `agent:${AGENT_TOKEN}:fleet-*,operator:${OPERATOR_TOKEN}`
const asOperator = { authorization: `Bearer ${OPERATOR_TOKEN}` }
const CLI_WAIT_MS = 60000

async function events (app: FastifyInstance, agentId: string): Promise<any[]> {
  const res = await app.inject({ method: 'GET', url: `/agents/${agentId}/events?limit=1000`, headers: asOperator })
  if (res.statusCode !== 200) throw new Error(`GET events ${res.statusCode}: ${res.body}`)
  return res.json().events
}

/** A prompt through the REST API (as the operator), then the agent's events once its turn has a result. */
export async function operatorTurn (app: FastifyInstance, agentId: string, content: string): Promise<any[]> {
  const res = await app.inject({ method: 'POST', url: `/agents/${agentId}/messages`, headers: asOperator, payload: { content } })
  if (res.statusCode !== 202) throw new Error(`POST messages ${res.statusCode}: ${res.body}`)
  const promptSeq = res.json().events[0].seq as number
  return await waitFor(`the result of "${content}"`, async () => {
    const all = await events(app, agentId)
    return all.some(e => e.seq > promptSeq && e.event_type === 'result') ? all.filter(e => e.seq > promptSeq) : undefined
  }, CLI_WAIT_MS, 100)
}

export async function mcpScenario (t: TestContext & { equal: Function, match: Function, ok: Function, same: Function, notMatch: Function }, claudeBin: string | null, env: Record<string, string> = {}): Promise<void> {
  const setup = await offlineSetup(t)
  const app = await build(t, { env: { AUTH_TOKENS: TOKENS, ...env } })
  const base = await listen(app)

  // earlier, another agent of the fleet met the problem
  const ws = await app.injectWS('/ws/fleet-old', { headers: { authorization: `Bearer ${AGENT_TOKEN}` } })
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send([assistantText('The flaky zebrafish queue test: fixed by awaiting the drain before close'), resultLine(0.1)].map(line).join(''))
  await sync(app, ws, inbox)
  ws.terminate()
  await searchable(app)

  const conn = startConnector(t, setup, {
    server: base,
    agentId: 'fleet-new',
    args: ['--token', AGENT_TOKEN],
    env: claudeBin === null ? {} : { CLAUDE_BIN: claudeBin }
  })
  await waitFor('fleet-new to connect', () => app.agents.isConnected('fleet-new') ? true : undefined, CLI_WAIT_MS)

  const turn = await operatorTurn(app, 'fleet-new', 'MCP_SEARCH "zebrafish queue test"')
  const call = turn.find(e => e.event_type === 'tool_use')
  t.equal(call?.content, 'mcp__agentlog__search', 'the model called agentlog\'s search')
  const result = turn.find(e => e.event_type === 'tool_result')
  t.ok(result !== undefined, 'the tool result is in the history')
  t.equal(result.metadata.is_error, false, 'allowed without asking (--allowedTools), and answered')
  const answer = JSON.parse(result.content)
  t.equal(answer.hits.length, 1)
  t.match(answer.hits[0], { agent: 'fleet-old', session: 0, seq: 1, type: 'output', snippet: /flaky zebrafish queue test/ })
  // the CLI offered the tool to the model, and nothing asked a person
  const request = setup.api.requests.find(r => r.prompt?.startsWith('MCP_SEARCH') === true)
  // (2.1.112 sends it with the tools; newer CLIs may defer MCP tools and only name them to the model)
  t.match(JSON.stringify(request?.body ?? {}), 'mcp__agentlog__search', 'the CLI offers mcp__agentlog__search to the model')
  t.same(turn.filter(e => e.event_type === 'permission_requested'), [])
  t.notMatch(conn.stderr(), AGENT_TOKEN, 'the token is never logged')
}
