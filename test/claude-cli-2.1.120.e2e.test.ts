// The real Claude Code 2.1.120 (native binary, the last version that takes a loopback --sdk-url) connected with
// --sdk-url to the real app, offline against the mock model API: after a clear and a server restart, what it sends
// again on reconnecting (its recent lines, and its "(no content)" answer to /clear under a new uuid) adds nothing.
import { test } from 'tap'
import { build, listen, tempDatabasePath, walk } from './helper.js'
import {
  agentSummary, CLAUDE_2_1_120, clearContext, duplicates, nativeClaude, offlineSetup, startSdkUrlClaude, turn, untilHistory, waitConnected, waitFor
} from './support/claude-cli.js'

test('Claude Code 2.1.120 over --sdk-url: a clear, a server restart, the lines it sends again store nothing', async (t) => {
  const bin = await nativeClaude(CLAUDE_2_1_120)
  const setup = await offlineSetup(t)
  const databasePath = tempDatabasePath(t)
  let app = await build(t, { databasePath })
  const base = await listen(app)
  const port = Number(new URL(base).port)
  const agentId = 'e2e-2-1-120'
  const cli = startSdkUrlClaude(t, setup, `${base}/ws/${agentId}`, bin)
  await waitConnected(app, agentId)

  const hello = await turn(app, agentId, 'Say hello')
  t.equal(hello.find(e => e.event_type === 'output')?.content, 'Hello! This is the mock model answering: Say hello')
  // 2.1.120 clears: its answer is the "(no content)" placeholder and a result with num_turns 0
  const clear = await clearContext(app, agentId)
  t.same(clear, { agent_id: agentId, session_number: 1, previous_session: 0, agent_context: 'cleared' })
  const before = await untilHistory(app, agentId, 'the clear outcome', evs => evs.some(e => e.event_type === 'context_clear_outcome'))
  t.notOk(before.some(e => e.content === '(no content)'), 'the answer to /clear is not conversation')

  // a restart: the CLI reconnects to the new server on the same port and sends its buffer of recent lines again
  const connectedBefore = (await waitConnected(app, agentId)).last_connected_at
  await app.close()
  app = await build(t, { databasePath })
  await app.listen({ host: '127.0.0.1', port })
  await waitFor(`agent ${agentId} connected again`, async () => {
    const agent = await agentSummary(app, agentId)
    return agent?.connected === true && agent.last_connected_at !== connectedBefore ? agent : undefined
  }, 60000)

  // a turn after the replay: the CLI may drop a prompt sent while it replays, so it is asked again if need be
  let again: any[] | null = null
  for (let attempt = 0; again === null && attempt < 3; attempt++) {
    again = await turn(app, agentId, 'After restart', 20000).catch(() => null)
  }
  t.ok(again !== null, 'a turn after the restart')
  const all = await walk(app, agentId)
  t.same(all.slice(0, before.length), before, 'the history before the restart is intact')
  const added = all.slice(before.length)
  t.same(added.filter(e => e.event_type !== 'prompt_sent' && e.event_type !== 'activity_changed').map(e => [e.event_type, e.content]), [
    ['output', 'Hello! This is the mock model answering: After restart'],
    ['result', 'Hello! This is the mock model answering: After restart']
  ], 'only the new turn was stored: nothing the CLI sent again, no "(no content)"')
  t.notOk(all.some(e => e.content === '(no content)'), 'no "(no content)" anywhere')
  t.same(duplicates(all), [], 'seq gapless, no line stored twice')
  t.equal(cli.exit(), null, 'the CLI is still running')
})
