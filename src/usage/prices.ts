// What a model's tokens cost when the figure carries no reported cost (imported transcripts): a bundled price
// table, replaced by PRICING_FILE. Pure: the table is a value, cost a function of it.
import { readFileSync } from 'node:fs'
import type { ModelCounters } from './counters.js'
import { roundUsd } from '../usd.js'

/** USD per million tokens. `above_200k`: the rates for the part of each count past 200,000 tokens. */
export interface ModelPrice {
  input: number
  output: number
  cache_write_5m: number
  cache_write_1h: number
  cache_read: number
  above_200k?: Omit<ModelPrice, 'above_200k'>
}

export interface PriceTable {
  /** When the prices were taken, and from where. */
  date: string
  source: string
  models: Record<string, ModelPrice>
}

const OPUS_4 = { input: 15, output: 75, cache_write_5m: 18.75, cache_write_1h: 30, cache_read: 1.5 }
const OPUS_4_5 = { input: 5, output: 25, cache_write_5m: 6.25, cache_write_1h: 10, cache_read: 0.5 }
const SONNET = { input: 3, output: 15, cache_write_5m: 3.75, cache_write_1h: 6, cache_read: 0.3 }
const SONNET_LONG = { ...SONNET, above_200k: { input: 6, output: 22.5, cache_write_5m: 7.5, cache_write_1h: 12, cache_read: 0.6 } }

/**
 * The bundled table: the offline prices of ccusage 20.0.24 (its embedded LiteLLM price data), read back from
 * its reports on 2026-12-06, so that both tools price a transcript alike.
 */
export const BUNDLED_PRICES: PriceTable = {
  date: '2026-12-06',
  source: 'ccusage 20.0.24 offline price data (LiteLLM model_prices_and_context_window.json)',
  models: {
    'claude-opus-4-7': OPUS_4_5,
    'claude-opus-4-6': OPUS_4_5,
    'claude-opus-4-5': OPUS_4_5,
    'claude-opus-4-1': OPUS_4,
    'claude-opus-4': OPUS_4,
    'claude-sonnet-4-6': SONNET,
    'claude-sonnet-4-5': SONNET_LONG,
    'claude-sonnet-4': SONNET_LONG,
    'claude-3-7-sonnet': SONNET,
    'claude-haiku-4-5': { input: 1, output: 5, cache_write_5m: 1.25, cache_write_1h: 2, cache_read: 0.1 },
    'claude-3-5-haiku': { input: 0.8, output: 4, cache_write_5m: 1, cache_write_1h: 1.6, cache_read: 0.08 }
  }
}

/** A model's price: its own name, else without a provider prefix or a trailing date (claude-sonnet-4-5-20250929). */
export function priceOf (table: PriceTable, model: string): ModelPrice | null {
  const bare = model.replace(/^(anthropic[/.]|us\.anthropic\.)/, '')
  for (const name of [model, bare, bare.replace(/-\d{8}(-v\d+(:\d+)?)?$/, ''), bare.replace(/@\d{8}$/, '')]) {
    const p = table.models[name]
    if (p !== undefined) return p
  }
  return null
}

const TIER = 200_000

/** The cost of one message's tokens, or null for a model the table does not price. */
export function computeCost (table: PriceTable, model: string, c: ModelCounters): number | null {
  const price = priceOf(table, model)
  if (price === null) return null
  const part = (tokens: number, rate: keyof Omit<ModelPrice, 'above_200k'>): number => {
    if (price.above_200k === undefined || tokens <= TIER) return tokens * price[rate]
    return TIER * price[rate] + (tokens - TIER) * price.above_200k[rate]
  }
  const fiveMinutes = c.cache_creation_tokens - c.cache_creation_1h_tokens
  const perMillion = part(c.input_tokens, 'input') + part(c.output_tokens, 'output') +
    part(fiveMinutes, 'cache_write_5m') + part(c.cache_creation_1h_tokens, 'cache_write_1h') + part(c.cache_read_tokens, 'cache_read')
  return roundUsd(perMillion / 1e6)
}

function isPrice (value: unknown): value is ModelPrice {
  if (value === null || typeof value !== 'object') return false
  const v = value as Record<string, unknown>
  const ok = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x >= 0
  return ['input', 'output', 'cache_write_5m', 'cache_write_1h', 'cache_read'].every(k => ok(v[k])) &&
    (v.above_200k === undefined || isPrice({ ...(v.above_200k as object) }))
}

/** PRICING_FILE: a JSON table of the same shape; its models replace or add to the bundled ones. Throws if invalid. */
export function loadPriceTable (file: string | null): PriceTable {
  if (file === null) return BUNDLED_PRICES
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<PriceTable>
  if (parsed === null || typeof parsed !== 'object' || parsed.models === null || typeof parsed.models !== 'object') {
    throw new Error(`PRICING_FILE ${file}: expected { "models": { "<model>": { input, output, cache_write_5m, cache_write_1h, cache_read } } }`)
  }
  for (const [model, price] of Object.entries(parsed.models)) {
    if (!isPrice(price)) throw new Error(`PRICING_FILE ${file}: the price of ${model} needs input, output, cache_write_5m, cache_write_1h and cache_read (USD per million tokens)`)
  }
  return {
    date: typeof parsed.date === 'string' ? parsed.date : BUNDLED_PRICES.date,
    source: typeof parsed.source === 'string' ? parsed.source : file,
    models: { ...BUNDLED_PRICES.models, ...parsed.models }
  }
}
