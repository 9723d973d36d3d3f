import { test } from 'tap'
import { costByModel, lastDays, tokensByType, top, usd } from '../../web/src/usage-data.js'
import type { UsageRow } from '../../src/client/index.js'

function row (fields: Partial<UsageRow>): UsageRow {
  const zero: UsageRow = { input_tokens: 0, output_tokens: 0, cache_creation_tokens: 0, cache_creation_1h_tokens: 0, cache_read_tokens: 0, web_search_requests: 0, total_tokens: 0, cost_usd: 0, reported_cost_usd: 0, computed_cost_usd: 0, cost_source: 'computed' }
  return { ...zero, ...fields }
}

test('the last n local days end with today, across a month end', async (t) => {
  t.same(lastDays(3, new Date(2026, 2, 1, 12)), ['2026-02-27', '2026-02-28', '2026-03-01'])
  t.same(lastDays(1, new Date(2026, 11, 7, 0, 5)), ['2026-12-07'])
})

test('cost per day and model: most expensive model first, an unpriced model null on its days, 0 elsewhere', async (t) => {
  const days = ['2026-03-01', '2026-03-02']
  const series = costByModel([
    row({ day: '2026-03-01', model: 'a', cost_usd: 0.5 }),
    row({ day: '2026-03-02', model: 'b', cost_usd: 2 }),
    row({ day: '2026-03-02', model: 'x', cost_usd: null, cost_source: 'none' }),
    row({ day: '2026-02-01', model: 'a', cost_usd: 9 })
  ], days)
  t.same(series, [{ label: 'b', values: [0, 2] }, { label: 'a', values: [0.5, 0] }, { label: 'x', values: [0, null] }])
})

test('tokens per day by type', async (t) => {
  const series = tokensByType([row({ day: 'd1', input_tokens: 1, output_tokens: 2, cache_creation_tokens: 3, cache_read_tokens: 4 }), row({ day: 'd1', input_tokens: 10 })], ['d0', 'd1'])
  t.same(series.map(s => [s.label, s.values]), [['Input', [0, 11]], ['Output', [0, 2]], ['Cache write', [0, 3]], ['Cache read', [0, 4]]])
})

test('top: by cost, unpriced after the priced by tokens; a cost never reads $0 when unknown', async (t) => {
  const rows = [row({ agent_id: 'cheap', cost_usd: 0.1 }), row({ agent_id: 'none', cost_usd: null, total_tokens: 9 }), row({ agent_id: 'dear', cost_usd: 3 })]
  t.same(top(rows, 2).map(r => r.agent_id), ['dear', 'cheap'])
  t.same(top(rows, 5).map(r => r.agent_id), ['dear', 'cheap', 'none'])
  t.equal(usd(null), 'no price')
  t.equal(usd(0.0125), '$0.0125')
  t.equal(usd(12.5), '$12.50')
})
