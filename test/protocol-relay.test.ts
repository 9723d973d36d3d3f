// The relay's own notices: what an agent_restarted line is stored as.
import { test } from 'tap'
import { agentRestartedEvent, agentRestartedLine } from '../src/protocol/relay.js'

test('an agent_restarted notice becomes an agent_restarted event; other lines are not one', async (t) => {
  const line = agentRestartedLine({ exit_code: null, signal: 'SIGKILL', resumed_session_id: 's-1', attempt: 1, max_restarts: 5 })
  t.same(agentRestartedEvent(line as any), {
    event_type: 'agent_restarted',
    content: 'the CLI died (signal SIGKILL); restarted with --resume s-1',
    metadata: { exit_code: null, signal: 'SIGKILL', resumed_session_id: 's-1', attempt: 1, max_restarts: 5 }
  })
  t.match(agentRestartedEvent({ type: 'agent_restarted', exit_code: 137, resumed_session_id: 7 }), {
    content: 'the CLI died (exit code 137); restarted in a new session', metadata: { exit_code: 137, resumed_session_id: null }
  })
  t.equal(agentRestartedEvent({ type: 'assistant' }), null)
})

test('a result counts earlier turns when its cumulative modelUsage holds more than its own usage', async (t) => {
  const { countsEarlierTurns } = await import('../src/protocol/messages.js')
  const fresh = { type: 'result', usage: { input_tokens: 101, output_tokens: 21 }, modelUsage: { m: { inputTokens: 101, outputTokens: 21 } } }
  const resumed = { type: 'result', usage: { input_tokens: 120, output_tokens: 40 }, modelUsage: { m: { inputTokens: 473, outputTokens: 153 } } }
  t.equal(countsEarlierTurns(fresh), false, 'a process\'s first turn')
  t.equal(countsEarlierTurns(resumed), true, '2.1.331 --resume continues its session\'s counter')
  t.equal(countsEarlierTurns({ type: 'result', usage: {} }), null, 'not said')
})
