// agentlog's MCP tools through `agentlog connect` and the pinned Claude Code (2.1.112), offline (support/mcp-scenario.ts).
import { readFileSync } from 'node:fs'
import { test } from 'tap'
import { build, listen } from './helper.js'
import { offlineSetup, startConnector, waitFor } from './support/claude-cli.js'
import { AGENT_TOKEN, mcpScenario, operatorTurn, OPERATOR_TOKEN } from './support/mcp-scenario.js'

test('the CLI run by agentlog connect searches the fleet through /mcp with the agent\'s token', async (t) => {
  await mcpScenario(t, null)
})

test('--no-mcp: the CLI gets no agentlog tools', async (t) => {
  const setup = await offlineSetup(t)
  const app = await build(t, { env: { AUTH_TOKENS: `agent:${AGENT_TOKEN}:plain,operator:${OPERATOR_TOKEN}` } })
  const base = await listen(app)
  const conn = startConnector(t, setup, { server: base, agentId: 'plain', args: ['--no-mcp', '--verbose', '--token', AGENT_TOKEN] })
  await waitFor('plain to connect', () => app.agents.isConnected('plain') ? true : undefined, 60000)
  await operatorTurn(app, 'plain', 'Say hello')
  const request = setup.api.requests.find(r => r.prompt === 'Say hello')
  t.ok(request !== undefined)
  t.notMatch(JSON.stringify(request?.body ?? {}), 'mcp__agentlog__', 'no agentlog tool offered to the model')
  const pid = Number(/started .* \(pid (\d+)\)/.exec(conn.stderr())?.[1])
  t.notMatch(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), '--mcp-config')
})
