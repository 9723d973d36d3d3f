// Usage pre-aggregated as the writer commits (src/usage/): tokens and cost per agent, session, model and UTC hour,
// so GET /usage reads a few rows per hour instead of the log; the message keys imports counted once; each agent's
// per-model counters of its current CLI process (the baseline the next result's deltas are taken from).
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('usage_hours')
    .addColumn('agent_key', 'integer', col => col.notNull())
    .addColumn('session_number', 'integer', col => col.notNull())
    .addColumn('model', 'text', col => col.notNull())
    // 'YYYY-MM-DDTHH' in UTC: rolled up into the caller's days, weeks and months at read time
    .addColumn('hour', 'text', col => col.notNull())
    .addColumn('input_tokens', 'bigint', col => col.notNull())
    .addColumn('output_tokens', 'bigint', col => col.notNull())
    .addColumn('cache_creation_tokens', 'bigint', col => col.notNull())
    .addColumn('cache_creation_1h_tokens', 'bigint', col => col.notNull())
    .addColumn('cache_read_tokens', 'bigint', col => col.notNull())
    .addColumn('web_search_requests', 'bigint', col => col.notNull())
    .addColumn('reported_cost_usd', 'double precision', col => col.notNull())
    .addColumn('computed_cost_usd', 'double precision', col => col.notNull())
    // how many results or messages each kind of figure came from (cost_source; unpriced models)
    .addColumn('reported_count', 'integer', col => col.notNull())
    .addColumn('computed_count', 'integer', col => col.notNull())
    .addColumn('unpriced_count', 'integer', col => col.notNull())
    .addPrimaryKeyConstraint('usage_hours_pk', ['agent_key', 'session_number', 'model', 'hour'])
    .execute()
  await db.schema.createIndex('usage_hours_hour').on('usage_hours').columns(['hour', 'model']).execute()
  // the same sums for the whole fleet (per model and hour): what a fleet-wide query reads, a few rows per hour
  await db.schema.createTable('usage_fleet_hours')
    .addColumn('model', 'text', col => col.notNull())
    .addColumn('hour', 'text', col => col.notNull())
    .addColumn('input_tokens', 'bigint', col => col.notNull())
    .addColumn('output_tokens', 'bigint', col => col.notNull())
    .addColumn('cache_creation_tokens', 'bigint', col => col.notNull())
    .addColumn('cache_creation_1h_tokens', 'bigint', col => col.notNull())
    .addColumn('cache_read_tokens', 'bigint', col => col.notNull())
    .addColumn('web_search_requests', 'bigint', col => col.notNull())
    .addColumn('reported_cost_usd', 'double precision', col => col.notNull())
    .addColumn('computed_cost_usd', 'double precision', col => col.notNull())
    .addColumn('reported_count', 'integer', col => col.notNull())
    .addColumn('computed_count', 'integer', col => col.notNull())
    .addColumn('unpriced_count', 'integer', col => col.notNull())
    .addPrimaryKeyConstraint('usage_fleet_hours_pk', ['hour', 'model'])
    .execute()
  await db.schema.createTable('usage_messages')
    // message.id + requestId: a message is counted once, whichever file or agent it is imported with
    .addColumn('message_key', 'text', col => col.primaryKey())
    .addColumn('agent_key', 'integer', col => col.notNull())
    .execute()
  await db.schema.alterTable('agents').addColumn('usage_baseline', 'text').execute()
  // BUDGETS: each budget crossed is told once per agent ('' for the fleet) and period
  await db.schema.createTable('usage_budget_alerts')
    .addColumn('budget', 'text', col => col.notNull())
    .addColumn('scope_agent', 'text', col => col.notNull())
    .addColumn('period', 'text', col => col.notNull())
    .addColumn('created_at', 'text', col => col.notNull())
    .addPrimaryKeyConstraint('usage_budget_alerts_pk', ['budget', 'scope_agent', 'period'])
    .execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('usage_budget_alerts').execute()
  await db.schema.alterTable('agents').dropColumn('usage_baseline').execute()
  await db.schema.dropTable('usage_messages').execute()
  await db.schema.dropTable('usage_fleet_hours').execute()
  await db.schema.dropTable('usage_hours').execute()
}
