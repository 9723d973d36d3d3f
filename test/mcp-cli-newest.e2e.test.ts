// agentlog's MCP tools through `agentlog connect` and the newest Claude Code (native binary), offline.
import { test } from 'tap'
import { CLAUDE_NEWEST, nativeClaude } from './support/claude-cli.js'
import { mcpScenario } from './support/mcp-scenario.js'

test(`the newest Claude Code (${CLAUDE_NEWEST}) run by agentlog connect searches the fleet through /mcp`, async (t) => {
  await mcpScenario(t, await nativeClaude(CLAUDE_NEWEST))
})
