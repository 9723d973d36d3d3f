// Schemas of the usage endpoint (GET /usage) and the `usage` rows it answers with.
import { Type, type Static } from '@sinclair/typebox'

export const USAGE_GROUPS = ['day', 'week', 'month', 'hour', 'agent', 'session', 'model', 'project', 'runner', 'host'] as const
export type UsageGroup = typeof USAGE_GROUPS[number]

export const UsageQuery = Type.Object({
  group_by: Type.String({
    maxLength: 200,
    default: 'day',
    pattern: `^(${USAGE_GROUPS.join('|')})(,(${USAGE_GROUPS.join('|')}))*$`,
    description: `comma-separated, one or more of ${USAGE_GROUPS.join(', ')} (session implies agent)`
  }),
  from: Type.Optional(Type.String({ maxLength: 40, description: 'a date (YYYY-MM-DD, from the start of that day in tz) or an ISO-8601 time; default: everything' })),
  to: Type.Optional(Type.String({ maxLength: 40, description: 'a date (through the end of that day in tz) or an ISO-8601 time (exclusive); default: now' })),
  tz: Type.String({ maxLength: 64, default: 'UTC', description: 'IANA time zone the days, weeks and months are counted in (e.g. Europe/Paris)' }),
  agent: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'an agent id, or a glob (`*` any run of characters)' }))
}, { additionalProperties: false })
export type UsageQueryType = Static<typeof UsageQuery>

const Tokens = {
  input_tokens: Type.Integer(),
  output_tokens: Type.Integer(),
  cache_creation_tokens: Type.Integer({ description: 'all cache writes (5-minute and 1-hour)' }),
  cache_creation_1h_tokens: Type.Integer({ description: 'the 1-hour cache writes among them, when the source says so' }),
  cache_read_tokens: Type.Integer(),
  web_search_requests: Type.Integer(),
  total_tokens: Type.Integer({ description: 'input + output + cache creation + cache read' }),
  cost_usd: Type.Union([Type.Number(), Type.Null()], { description: 'reported + computed; null when no model of the row has a price' }),
  reported_cost_usd: Type.Number({ description: 'as the CLI reported it (live sessions: the growth of modelUsage costUSD)' }),
  computed_cost_usd: Type.Number({ description: 'from the price table (imported transcripts)' }),
  cost_source: Type.Union([Type.Literal('reported'), Type.Literal('computed'), Type.Literal('mixed'), Type.Literal('none')], {
    description: 'where cost_usd comes from; none: only unpriced models'
  })
}

export const UsageRow = Type.Object({
  day: Type.Optional(Type.String({ description: 'YYYY-MM-DD in tz' })),
  week: Type.Optional(Type.String({ description: 'the Monday the week starts on, YYYY-MM-DD in tz' })),
  month: Type.Optional(Type.String({ description: 'YYYY-MM in tz' })),
  hour: Type.Optional(Type.String({ description: 'YYYY-MM-DDTHH in tz' })),
  agent_id: Type.Optional(Type.String()),
  session_number: Type.Optional(Type.Integer()),
  model: Type.Optional(Type.String()),
  project: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'the last folder of the agent\'s working directory (null: not known)' })),
  runner: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'the runner that started the agent (`agentlog runner`; null: not started by one)' })),
  host: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'the host of that runner (null: not known)' })),
  ...Tokens
})
export type UsageRowType = Static<typeof UsageRow>

export const UsageTotals = Type.Object(Tokens)

export const UsageResult = Type.Object({
  usage: Type.Array(UsageRow),
  totals: UsageTotals,
  unpriced_models: Type.Array(Type.String(), { description: 'models whose tokens are counted but have no price (their cost is not in cost_usd)' }),
  from: Type.Union([Type.String(), Type.Null()], { description: 'the start of the range, ISO-8601 UTC (null: from the first usage)' }),
  to: Type.String({ description: 'the end of the range (exclusive), ISO-8601 UTC' }),
  tz: Type.String(),
  budgets: Type.Optional(Type.Array(Type.Object({
    budget: Type.String({ description: 'as written in BUDGETS' }),
    scope: Type.String({ description: 'fleet, or an agent id or glob' }),
    period: Type.Union([Type.Literal('day'), Type.Literal('month')]),
    period_start: Type.String({ description: 'the current period\'s first day (UTC)' }),
    amount_usd: Type.Number(),
    spend: Type.Array(Type.Object({
      agent_id: Type.Union([Type.String(), Type.Null()], { description: 'null for the fleet' }),
      spend_usd: Type.Number(),
      exceeded: Type.Boolean()
    }))
  }), { description: 'each budget of BUDGETS with its spend in the current period (when budgets are set)' }))
})
export type UsageResultType = Static<typeof UsageResult>
