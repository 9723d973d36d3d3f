// Human approval with the real Claude Code CLI (2.1.112) over --sdk-url (see support/approvals-scenario.ts).
import { test } from 'tap'
import { approvalScenario } from './support/approvals-scenario.js'

test('approvals with the real CLI over --sdk-url', async (t) => { await approvalScenario(t, 'sdk-url') })
