// Human approval with the newest Claude Code (native binary, stdio) through `agentlog connect`: the same scenario
// as with the pinned 2.1.112 (see support/approvals-scenario.ts), a Bash call that writes a file waits, is approved,
// and runs once, also across a server restart.
import { test } from 'tap'
import { approvalScenario } from './support/approvals-scenario.js'
import { CLAUDE_NEWEST, nativeClaude } from './support/claude-cli.js'

test(`approvals with the newest Claude Code (${CLAUDE_NEWEST}) through agentlog connect`, async (t) => {
  await approvalScenario(t, 'connect', await nativeClaude(CLAUDE_NEWEST))
})
