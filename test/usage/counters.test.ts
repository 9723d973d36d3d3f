// The usage counted at the source (pure): modelUsage deltas, an imported message's usage and key, hours.
import { test } from 'tap'
import { hourOf, modelUsageDelta, resultModelUsage, transcriptMessageUsage, UsageRows } from '../../src/usage/counters.js'

const m = (input: number, output: number, cost: number | null) => ({
  input_tokens: input, output_tokens: output, cache_creation_tokens: 0, cache_creation_1h_tokens: 0, cache_read_tokens: 0, web_search_requests: 0, cost_usd: cost
})

test('a result\'s modelUsage becomes counters per model; broken entries are dropped', async (t) => {
  const got = resultModelUsage({
    'claude-sonnet-4-6': { inputTokens: 101, outputTokens: 21, cacheReadInputTokens: 3, cacheCreationInputTokens: 4, webSearchRequests: 1, costUSD: 0.000618 },
    '': { inputTokens: 5 },
    broken: 'no'
  })
  t.same(got, { 'claude-sonnet-4-6': { input_tokens: 101, output_tokens: 21, cache_creation_tokens: 4, cache_creation_1h_tokens: 0, cache_read_tokens: 3, web_search_requests: 1, cost_usd: 0.000618 } })
  t.equal(resultModelUsage(undefined), null)
})

test('the delta is the growth since the process\'s previous result; a counter that went down counts from zero', async (t) => {
  const before = { a: m(100, 10, 0.01), b: m(5, 5, 0.001) }
  t.same(modelUsageDelta({ a: m(150, 12, 0.015), b: m(5, 5, 0.001) }, before), { a: m(50, 2, 0.005) }, 'unchanged models add nothing')
  t.same(modelUsageDelta({ a: m(20, 1, 0.002) }, before), { a: m(20, 1, 0.002) }, 'a reset counter')
  t.same(modelUsageDelta({ c: m(1, 1, null) }, before), { c: m(1, 1, null) }, 'a new model')
  t.same(modelUsageDelta({ a: m(100, 10, 0.01) }, null), { a: m(100, 10, 0.01) }, 'no baseline')
})

test('an assistant record\'s usage: model, tokens with the 1-hour cache writes, key from message.id and requestId', async (t) => {
  const record = {
    type: 'assistant',
    requestId: 'req_1',
    message: {
      id: 'msg_1',
      model: 'claude-opus-4-1-20250805',
      usage: { input_tokens: 9, output_tokens: 3, cache_read_input_tokens: 7, cache_creation_input_tokens: 30, cache_creation: { ephemeral_5m_input_tokens: 10, ephemeral_1h_input_tokens: 20 }, server_tool_use: { web_search_requests: 2 } }
    }
  }
  t.same(transcriptMessageUsage(record), {
    key: 'msg_1:req_1',
    model: 'claude-opus-4-1-20250805',
    counters: { input_tokens: 9, output_tokens: 3, cache_creation_tokens: 30, cache_creation_1h_tokens: 20, cache_read_tokens: 7, web_search_requests: 2, cost_usd: null }
  })
  t.equal(transcriptMessageUsage({ ...record, requestId: undefined, requestRef: 'ref' })?.key, 'msg_1:ref', 'newer versions: requestRef')
  t.equal(transcriptMessageUsage({ ...record, costUSD: 0.5 })?.counters.cost_usd, 0.5, 'a cost older versions wrote')
  t.equal(transcriptMessageUsage({ ...record, type: 'user' }), null)
  t.equal(transcriptMessageUsage({ type: 'assistant', message: { model: 'x' } }), null, 'no usage')
})

test('rows are filed per agent, session, model and UTC hour, costs kept by kind', async (t) => {
  t.equal(hourOf('2026-03-01T23:59:59.999+01:00'), '2026-03-01T22')
  const rows = new UsageRows()
  rows.add(1, 0, '2026-03-01T10:05:00Z', 'a', m(1, 2, null), { kind: 'computed', usd: 0.1 })
  rows.add(1, 0, '2026-03-01T10:55:00Z', 'a', m(1, 2, 0.2), { kind: 'reported', usd: 0.2 })
  rows.add(1, 0, '2026-03-01T11:00:00Z', 'a', m(1, 2, null), { kind: 'unpriced', usd: 0 })
  const list = rows.list()
  t.equal(list.length, 2)
  t.match(list[0], { hour: '2026-03-01T10', input_tokens: 2, output_tokens: 4, reported_cost_usd: 0.2, computed_cost_usd: 0.1, reported_count: 1, computed_count: 1, unpriced_count: 0 })
  t.match(list[1], { hour: '2026-03-01T11', unpriced_count: 1 })
})
