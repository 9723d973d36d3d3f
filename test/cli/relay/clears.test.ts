// The relay's /clear rules, given / when / then: prompts and CLI lines in, the clears pending and a verdict out.
import { test } from 'tap'
import { cliSaid, NO_CLEARS, promptWritten, type Clears } from '../../../src/cli/relay/clears.js'
import { clearedLines } from '../../../src/protocol/relay.js'

const prompt = (content: string) => ({ type: 'user', message: { role: 'user', content }, parent_tool_use_id: null, session_id: 's1' })
const line = (message: Record<string, unknown>) => JSON.stringify(message)
// what 2.1.112 says to /clear (test/fixtures/recordings/claude-code-2.1.112-stdio): a synthetic answer, then its result
const REFUSAL_TEXT = "/clear isn't available in this environment."
const refusalAnswer = { type: 'assistant', message: { model: '<synthetic>', content: [{ type: 'text', text: REFUSAL_TEXT }] } }
const refusalResult = { type: 'result', subtype: 'success', num_turns: 27, result: REFUSAL_TEXT }
// what a version that clears says
const noContent = { type: 'assistant', message: { model: '<synthetic>', content: [{ type: 'text', text: '(no content)' }] } }
const clearedResult = { type: 'result', subtype: 'success', num_turns: 0, result: '' }
const answer = { type: 'assistant', message: { model: 'claude-sonnet-4-6', content: [{ type: 'text', text: 'Hello!' }] } }

/** The clears after writing these prompts to the CLI. */
function written (...prompts: Array<Record<string, unknown>>): Clears {
  return prompts.reduce<Clears>((state, p) => promptWritten(state, p, line(p)), NO_CLEARS)
}

test('given no /clear pending, when prompts are written and the CLI answers, then everything is relayed and nothing kept', async (t) => {
  const given = written(prompt('Say hello'))
  t.same(given, NO_CLEARS)
  t.same(cliSaid(given, answer), { state: NO_CLEARS, verdict: 'relay' })
  t.same(cliSaid(given, refusalAnswer), { state: NO_CLEARS, verdict: 'relay' }, 'a synthetic line with no clear pending is the CLI\'s business')
  t.same(cliSaid(given, null), { state: NO_CLEARS, verdict: 'relay' }, 'a line that is not JSON is relayed')
})

test('given a /clear written, when prompts follow it, then they are kept for a fresh process', async (t) => {
  const then = written(prompt('before'), prompt('/clear'), prompt('after one'), prompt('after two'))
  t.equal(then.pending, 1)
  t.same(then.afterClear, [line(prompt('after one')), line(prompt('after two'))])
  t.same(promptWritten(then, { type: 'control_response', response: {} }, '{}'), then, 'only prompts are kept')
})

test('given a /clear pending, when the CLI refuses it, then its answer is swallowed and the CLI is to be replaced', async (t) => {
  const given = written(prompt('/clear'), prompt('after'))
  const swallowed = cliSaid(given, refusalAnswer)
  t.same(swallowed, { state: given, verdict: 'swallow' }, 'the refusal text never reaches the server')
  const then = cliSaid(swallowed.state, refusalResult)
  t.equal(then.verdict, 'replace_cli')
  t.equal(then.state.pending, 0)
  t.same(then.state.afterClear, [line(prompt('after'))], 'the fresh process gets the prompt queued behind the /clear')
})

test('given a /clear pending, when the CLI clears by itself, then its result is relayed and the queued prompts forgotten', async (t) => {
  const given = written(prompt('/clear'), prompt('after'))
  t.equal(cliSaid(given, noContent).verdict, 'swallow', 'the "(no content)" placeholder is not conversation')
  t.same(cliSaid(given, answer), { state: given, verdict: 'relay' }, 'other lines meanwhile are relayed')
  t.same(cliSaid(given, clearedResult), { state: NO_CLEARS, verdict: 'relay' }, 'the CLI answers the queued prompts itself')
})

test('given two /clears pending, when the first is cleared, then the prompts queued are kept until the second is', async (t) => {
  const given = written(prompt('/clear'), prompt('between'), prompt('/clear'), prompt('last'))
  t.equal(given.pending, 2)
  const first = cliSaid(given, clearedResult)
  t.same(first, { state: { pending: 1, afterClear: given.afterClear }, verdict: 'relay' })
  t.same(cliSaid(first.state, clearedResult).state, NO_CLEARS)
})

test('when the relay replaces a CLI that cannot clear, then the server gets what a CLI that clears sends', async (t) => {
  let n = 0
  const [reset, result] = clearedLines(() => `uuid-${++n}`)
  t.same(reset, { type: 'conversation_reset', trigger: 'clear', new_conversation_id: null, uuid: 'uuid-1', source: 'agentlog-connect' })
  t.match(result, { type: 'result', subtype: 'success', is_error: false, num_turns: 0, result: '', total_cost_usd: 0, uuid: 'uuid-2', source: 'agentlog-connect' })
  t.same(cliSaid(written(prompt('/clear')), result).state, NO_CLEARS, 'the empty result reads as a cleared reply')
})
