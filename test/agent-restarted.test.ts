// The relay's agent_restarted notice: stored as an event, and the new process's cost counted from its own counter
// (2.1.112's resumed process starts at zero) or from the resumed session's (2.1.331 continues it). SQLite and
// PostgreSQL.
import { test } from 'tap'
import { build, collect, sync, assistantText, resultLine, line, walk, postgresUrl, postgresSchema } from './helper.js'
import { agentRestartedLine } from '../src/protocol/relay.js'

const skip = postgresUrl === '' ? 'DATABASE_URL is not set' : false
const ROUND = 1e-9

/** A result whose cumulative modelUsage holds `cumulative` input tokens against the turn's 100. */
function result (total: number, cumulative: number) {
  return resultLine(total, { modelUsage: { 'claude-sonnet-4-6': { inputTokens: cumulative, outputTokens: 20, costUSD: total } } })
}

async function scenario (t: Tap, env: Record<string, string>, resumedCumulative: number) {
  const app = await build(t, { env })
  const ws = await app.injectWS('/ws/phoenix')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send([assistantText('one'), result(0.5, 100)].map(line).join(''))
  await sync(app, ws, inbox)
  ws.send(line(agentRestartedLine({ exit_code: null, signal: 'SIGKILL', resumed_session_id: 'sess-1', attempt: 1, max_restarts: 5 })))
  ws.send([assistantText('two'), result(0.6, resumedCumulative)].map(line).join(''))
  await sync(app, ws, inbox)
  const events = await walk(app, 'phoenix')
  t.same(events.map(e => e.event_type), ['output', 'result', 'activity_changed', 'agent_restarted', 'output', 'result', 'activity_changed'])
  t.match(events[3], {
    content: 'the CLI died (signal SIGKILL); restarted with --resume sess-1',
    metadata: { exit_code: null, signal: 'SIGKILL', resumed_session_id: 'sess-1', attempt: 1, max_restarts: 5 }
  })
  return events[5].metadata.cost_usd as number
}

type Tap = Parameters<Parameters<typeof test>[0]>[0]

for (const db of ['sqlite', 'postgres'] as const) {
  test(`${db}: a resumed process that counts from zero costs its whole counter; one that continues, only the growth`, { skip: db === 'postgres' ? skip : false }, async (t) => {
    const env = async (): Promise<Record<string, string>> => db === 'postgres' ? await postgresSchema(t) : {}
    // 2.1.112: modelUsage holds only the new turn (100 tokens, as its usage): a counter from zero
    t.ok(Math.abs(await scenario(t, await env(), 100) - 0.6) < ROUND, 'fresh counter: 0.6')
    // 2.1.331: modelUsage holds the resumed session's tokens too: the counter continued from 0.5
    t.ok(Math.abs(await scenario(t, await env(), 200) - 0.1) < ROUND, 'continued counter: 0.6 - 0.5')
  })
}
