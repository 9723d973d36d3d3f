// Usage per agent, model and UTC day (src/usage/): what queries by agent, project and runner read for the whole
// days of their range, a row a day where usage_hours has one per hour and session. Filled from usage_hours here,
// then kept by the writers in the same transaction as usage_hours.
import { type Kysely, sql } from 'kysely'

const NUMBERS = [
  'input_tokens', 'output_tokens', 'cache_creation_tokens', 'cache_creation_1h_tokens', 'cache_read_tokens', 'web_search_requests',
  'reported_cost_usd', 'computed_cost_usd', 'reported_count', 'computed_count', 'unpriced_count'
]

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('usage_agent_days')
    // 'YYYY-MM-DD' in UTC; first in the key: a range of days is one stretch of the table
    .addColumn('day', 'text', col => col.notNull())
    .addColumn('agent_key', 'integer', col => col.notNull())
    .addColumn('model', 'text', col => col.notNull())
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
    .addPrimaryKeyConstraint('usage_agent_days_pk', ['day', 'agent_key', 'model'])
    .execute()
  // one agent's days
  await db.schema.createIndex('usage_agent_days_agent').on('usage_agent_days').columns(['agent_key', 'day']).execute()
  // one agent's hours (usage_hours' key starts with the session)
  await db.schema.createIndex('usage_hours_agent').on('usage_hours').columns(['agent_key', 'hour']).execute()
  await sql`insert into usage_agent_days (day, agent_key, model, ${sql.raw(NUMBERS.join(', '))})
    select substr(hour, 1, 10), agent_key, model, ${sql.raw(NUMBERS.map(n => `sum(${n})`).join(', '))}
    from usage_hours group by substr(hour, 1, 10), agent_key, model`.execute(db)
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('usage_hours_agent').execute()
  await db.schema.dropTable('usage_agent_days').execute()
}
