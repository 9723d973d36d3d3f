// Human approval with the real Claude Code CLI (2.1.112) through `agentlog connect` (see support/approvals-scenario.ts).
import { test } from 'tap'
import { approvalScenario } from './support/approvals-scenario.js'

test('approvals with the real CLI through agentlog connect', async (t) => { await approvalScenario(t, 'connect') })
