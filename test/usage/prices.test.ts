// The price table (pure): names with dates and prefixes, the rates past 200k tokens, PRICING_FILE.
import { test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BUNDLED_PRICES, computeCost, loadPriceTable, priceOf } from '../../src/usage/prices.js'

const c = (over: Partial<Record<string, number>>) => ({
  input_tokens: 0, output_tokens: 0, cache_creation_tokens: 0, cache_creation_1h_tokens: 0, cache_read_tokens: 0, web_search_requests: 0, cost_usd: null, ...over
})

test('a model is found by its name, without a date or a provider prefix; unknown ones have no price', async (t) => {
  t.equal(priceOf(BUNDLED_PRICES, 'claude-sonnet-4-5-20250929'), BUNDLED_PRICES.models['claude-sonnet-4-5'])
  t.equal(priceOf(BUNDLED_PRICES, 'anthropic/claude-opus-4-1'), BUNDLED_PRICES.models['claude-opus-4-1'])
  t.equal(priceOf(BUNDLED_PRICES, 'claude-opus-4-6'), BUNDLED_PRICES.models['claude-opus-4-6'])
  t.equal(priceOf(BUNDLED_PRICES, 'gpt-5'), null)
  t.equal(computeCost(BUNDLED_PRICES, 'gpt-5', c({ input_tokens: 1 })), null)
  t.match(BUNDLED_PRICES, { date: /^\d{4}-\d{2}-\d{2}$/, source: /ccusage/ })
})

test('each kind of token at its rate; 5-minute and 1-hour cache writes apart; past 200k at the long-context rate', async (t) => {
  t.equal(computeCost(BUNDLED_PRICES, 'claude-haiku-4-5', c({ input_tokens: 1e6, output_tokens: 1e6, cache_read_tokens: 1e6 })), 1 + 5 + 0.1)
  t.equal(computeCost(BUNDLED_PRICES, 'claude-opus-4-1', c({ cache_creation_tokens: 3e6, cache_creation_1h_tokens: 1e6 })), 2 * 18.75 + 30)
  // ccusage's rule, per kind of token: the first 200k at the base rate, the rest at the higher one
  t.equal(computeCost(BUNDLED_PRICES, 'claude-sonnet-4-5-20250929', c({ input_tokens: 240_000 })), (200_000 * 3 + 40_000 * 6) / 1e6)
  t.equal(computeCost(BUNDLED_PRICES, 'claude-sonnet-4-6', c({ input_tokens: 240_000 })), 240_000 * 3 / 1e6, 'no long-context rate')
})

test('PRICING_FILE adds and replaces models; a broken one is refused with the model named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prices-'))
  const good = join(dir, 'good.json')
  writeFileSync(good, JSON.stringify({ date: '2027-01-01', source: 'our contract', models: { 'claude-opus-4-1': { input: 1, output: 2, cache_write_5m: 3, cache_write_1h: 4, cache_read: 5 }, 'my-model': { input: 10, output: 10, cache_write_5m: 0, cache_write_1h: 0, cache_read: 0 } } }))
  const table = loadPriceTable(good)
  t.equal(table.source, 'our contract')
  t.equal(computeCost(table, 'claude-opus-4-1-20250805', c({ output_tokens: 1e6 })), 2)
  t.equal(computeCost(table, 'my-model', c({ input_tokens: 1e6 })), 10)
  t.equal(computeCost(table, 'claude-haiku-4-5', c({ input_tokens: 1e6 })), 1, 'the bundled ones stay')
  const bad = join(dir, 'bad.json')
  writeFileSync(bad, JSON.stringify({ models: { 'my-model': { input: 1 } } }))
  t.throws(() => loadPriceTable(bad), /my-model/)
  t.equal(loadPriceTable(null), BUNDLED_PRICES)
})
