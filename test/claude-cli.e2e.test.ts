// The real Claude Code CLI (2.1.112, the pinned devDependency) connected with --sdk-url to the real app on a
// real port, offline against the mock model API, driven only through agentlog's REST API.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { build, listen, tempDatabasePath, walk } from './helper.js'
import {
  agentSummary, clearContext, duplicates, offlineSetup, sessions, startSdkUrlClaude, turn, untilHistory, waitConnected, waitFor
} from './support/claude-cli.js'

const ROUND = 1e-9

test('Claude Code over --sdk-url: prompts, tools, a denied tool, clear-context and a server restart', async (t) => {
  const setup = await offlineSetup(t)
  const databasePath = tempDatabasePath(t)
  const env = { TOOL_POLICY: 'deny:Write' }
  let app = await build(t, { env, databasePath })
  const base = await listen(app)
  const port = Number(new URL(base).port)
  const agentId = 'e2e-sdk-url'
  const cli = startSdkUrlClaude(t, setup, `${base}/ws/${agentId}`)
  await waitConnected(app, agentId)

  const hello = await turn(app, agentId, 'Say hello')
  t.same(hello.map(e => e.event_type), ['prompt_sent', 'activity_changed', 'output', 'result', 'activity_changed'])
  t.equal(hello[2].content, 'Hello! This is the mock model answering: Say hello')
  t.equal(hello[3].metadata.is_error, false)
  t.ok(hello[3].metadata.total_cost_usd > 0, 'the CLI priced the turn')
  t.equal(hello[3].metadata.cost_usd, hello[3].metadata.total_cost_usd, 'the first turn of a process costs its whole counter')

  const bash = await turn(app, agentId, 'RUN_BASH please')
  t.same(bash.map(e => e.event_type),
    ['prompt_sent', 'activity_changed', 'output', 'tool_use', 'tool_result', 'output', 'result', 'activity_changed'],
    'echo runs without a permission request')
  const bashUse = bash[3]
  const bashResult = bash[4]
  t.equal(bashUse.content, 'Bash')
  t.same(bashUse.metadata.input, { command: 'echo hello-from-bash', description: 'Print a greeting' })
  t.match(bashResult, { content: 'hello-from-bash', metadata: { tool_use_id: bashUse.metadata.id, is_error: false } })

  const write = await turn(app, agentId, 'WRITE_FILE please')
  t.same(write.map(e => e.event_type),
    ['prompt_sent', 'activity_changed', 'tool_use', 'tool_result', 'output', 'result', 'activity_changed'])
  t.equal(write[2].content, 'Write')
  t.match(write[3], { content: "Tool 'Write': denied by policy", metadata: { tool_use_id: write[2].metadata.id, is_error: true } })
  t.equal(write[5].metadata.permission_denials?.[0]?.tool_name, 'Write', 'the result lists the denial')
  t.notOk(existsSync(join(setup.claude.cwd, 'note.txt')), 'the denied Write did not happen')

  // 2.1.112 answers /clear with "isn't available" and keeps its conversation
  const clear = await clearContext(app, agentId)
  t.same(clear, { agent_id: agentId, session_number: 1, previous_session: 0, agent_context: 'not_supported' })
  const afterClear = await untilHistory(app, agentId, 'the clear outcome', evs => evs.some(e => e.event_type === 'context_clear_outcome'))
  const session1 = afterClear.filter(e => e.session_number === 1)
  t.same(session1.map(e => e.event_type), ['context_cleared', 'context_clear_outcome'], 'the refusal is not stored as conversation')
  t.equal(session1[1].metadata.agent_context, 'not_supported')

  // restart: the CLI is closed with 1001, comes back to the new server on the same port as the same process
  const before = await walk(app, agentId)
  const connectedBefore = (await waitConnected(app, agentId)).last_connected_at
  await app.close()
  app = await build(t, { env, databasePath })
  await app.listen({ host: '127.0.0.1', port })
  // the socket is counted as connected at once; the connection's time once its connect event is committed
  const back = await waitFor(`agent ${agentId} connected again`, async () => {
    const agent = await agentSummary(app, agentId)
    return agent?.connected === true && agent.last_connected_at !== connectedBefore ? agent : undefined
  }, 30000)
  t.ok(back.last_connected_at > connectedBefore, 'a new connection')

  const again = await turn(app, agentId, 'After restart')
  t.same(again.map(e => e.event_type), ['prompt_sent', 'activity_changed', 'output', 'result', 'activity_changed'])
  t.equal(again[0].session_number, 1)
  t.equal(again[2].content, 'Hello! This is the mock model answering: After restart')
  t.ok(Math.abs(again[3].metadata.cost_usd - (again[3].metadata.total_cost_usd - write[5].metadata.total_cost_usd)) < ROUND,
    'the reconnect kept the cost baseline (x-last-request-id: same process)')

  const all = await walk(app, agentId)
  t.same(duplicates(all), [], 'seq gapless, no line stored twice')
  t.same(all.slice(0, before.length), before, 'the history before the restart is intact')
  const outputs = all.filter(e => e.event_type === 'output').map(e => e.content)
  t.same(outputs, [
    'Hello! This is the mock model answering: Say hello',
    'I will run a command.',
    'The tool finished. All done.',
    'The tool finished. All done.',
    'Hello! This is the mock model answering: After restart'
  ])
  const { sessions: list } = await sessions(app, agentId)
  const total = list.reduce((sum: number, s: any) => sum + s.cost_usd, 0)
  t.ok(Math.abs(total - again[3].metadata.total_cost_usd) < ROUND, 'the sessions add up to what the counter grew by')

  t.equal(cli.exit(), null, 'the CLI is still running')
  t.same(setup.api.outbound, [], 'the CLI reached nothing but the mock API and agentlog')
})
