// PostgreSQL behind the write path: a batch is one transaction of set-based statements (each table written once,
// from arrays: UNNEST), whatever its size, plus the fence and the commit notice of several instances (src/cluster/).
import { type Kysely, sql, type Transaction } from 'kysely'
import type { Database } from '../../db/schema.js'
import { agentDayRows, fleetRows } from '../usage/counters.js'
import { type CommitBatch, createKyselyBackend, inTransaction, type StoreBackend, toStored, type WriteHooks } from './backend.js'

/** Thrown inside a probe's transaction to roll it back once every statement has run. */
const ROLL_BACK = new Error('probe rolled back')

/** The batch's rows, sessions and agents, each column an array: one statement writes them all. */
async function write (trx: Transaction<Database>, batch: CommitBatch): Promise<number[]> {
  const { rows, sessions, agents, usage } = batch
  const col = <T>(pick: (r: typeof rows[number]) => T): T[] => rows.map(pick)
  const ses = <T>(pick: (s: typeof sessions[number]) => T): T[] => sessions.map(pick)
  const agt = <T>(pick: (a: typeof agents[number]) => T): T[] => agents.map(pick)
  const use = <T>(pick: (u: typeof usage[number]) => T): T[] => usage.map(pick)
  const fleet = fleetRows(usage)
  const flt = <T>(pick: (u: typeof fleet[number]) => T): T[] => fleet.map(pick)
  const days = agentDayRows(usage)
  const day = <T>(pick: (u: typeof days[number]) => T): T[] => days.map(pick)
  // data-modifying CTEs all run, referenced or not; they touch three different tables
  const result = await sql<{ id: string | number, agent_key: number, seq: number }>`
    with sessions_added as (
      insert into sessions (agent_key, session_number, first_seq, last_seq, started_at, ended_at, cost_usd,
        input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens)
      select * from unnest(${ses(s => s.agent_key)}::int[], ${ses(s => s.session_number)}::int[], ${ses(s => s.first_seq)}::int[],
        ${ses(s => s.last_seq)}::int[], ${ses(s => s.started_at)}::text[], ${ses(s => s.ended_at)}::text[],
        ${ses(s => s.cost_usd)}::float8[], ${ses(s => s.input_tokens)}::bigint[], ${ses(s => s.output_tokens)}::bigint[],
        ${ses(s => s.cache_read_tokens)}::bigint[], ${ses(s => s.cache_creation_tokens)}::bigint[])
      on conflict (agent_key, session_number) do update set last_seq = excluded.last_seq, ended_at = excluded.ended_at,
        cost_usd = sessions.cost_usd + excluded.cost_usd,
        input_tokens = sessions.input_tokens + excluded.input_tokens,
        output_tokens = sessions.output_tokens + excluded.output_tokens,
        cache_read_tokens = sessions.cache_read_tokens + excluded.cache_read_tokens,
        cache_creation_tokens = sessions.cache_creation_tokens + excluded.cache_creation_tokens
    ), usage_added as (
      insert into usage_hours (agent_key, session_number, model, hour, input_tokens, output_tokens, cache_creation_tokens,
        cache_creation_1h_tokens, cache_read_tokens, web_search_requests, reported_cost_usd, computed_cost_usd,
        reported_count, computed_count, unpriced_count)
      select * from unnest(${use(u => u.agent_key)}::int[], ${use(u => u.session_number)}::int[], ${use(u => u.model)}::text[],
        ${use(u => u.hour)}::text[], ${use(u => u.input_tokens)}::bigint[], ${use(u => u.output_tokens)}::bigint[],
        ${use(u => u.cache_creation_tokens)}::bigint[], ${use(u => u.cache_creation_1h_tokens)}::bigint[],
        ${use(u => u.cache_read_tokens)}::bigint[], ${use(u => u.web_search_requests)}::bigint[],
        ${use(u => u.reported_cost_usd)}::float8[], ${use(u => u.computed_cost_usd)}::float8[],
        ${use(u => u.reported_count)}::int[], ${use(u => u.computed_count)}::int[], ${use(u => u.unpriced_count)}::int[])
      on conflict (agent_key, session_number, model, hour) do update set
        input_tokens = usage_hours.input_tokens + excluded.input_tokens,
        output_tokens = usage_hours.output_tokens + excluded.output_tokens,
        cache_creation_tokens = usage_hours.cache_creation_tokens + excluded.cache_creation_tokens,
        cache_creation_1h_tokens = usage_hours.cache_creation_1h_tokens + excluded.cache_creation_1h_tokens,
        cache_read_tokens = usage_hours.cache_read_tokens + excluded.cache_read_tokens,
        web_search_requests = usage_hours.web_search_requests + excluded.web_search_requests,
        reported_cost_usd = usage_hours.reported_cost_usd + excluded.reported_cost_usd,
        computed_cost_usd = usage_hours.computed_cost_usd + excluded.computed_cost_usd,
        reported_count = usage_hours.reported_count + excluded.reported_count,
        computed_count = usage_hours.computed_count + excluded.computed_count,
        unpriced_count = usage_hours.unpriced_count + excluded.unpriced_count
    ), fleet_usage_added as (
      insert into usage_fleet_hours (model, hour, input_tokens, output_tokens, cache_creation_tokens,
        cache_creation_1h_tokens, cache_read_tokens, web_search_requests, reported_cost_usd, computed_cost_usd,
        reported_count, computed_count, unpriced_count)
      select * from unnest(${flt(u => u.model)}::text[], ${flt(u => u.hour)}::text[], ${flt(u => u.input_tokens)}::bigint[],
        ${flt(u => u.output_tokens)}::bigint[], ${flt(u => u.cache_creation_tokens)}::bigint[],
        ${flt(u => u.cache_creation_1h_tokens)}::bigint[], ${flt(u => u.cache_read_tokens)}::bigint[],
        ${flt(u => u.web_search_requests)}::bigint[], ${flt(u => u.reported_cost_usd)}::float8[],
        ${flt(u => u.computed_cost_usd)}::float8[], ${flt(u => u.reported_count)}::int[], ${flt(u => u.computed_count)}::int[],
        ${flt(u => u.unpriced_count)}::int[])
      on conflict (hour, model) do update set
        input_tokens = usage_fleet_hours.input_tokens + excluded.input_tokens,
        output_tokens = usage_fleet_hours.output_tokens + excluded.output_tokens,
        cache_creation_tokens = usage_fleet_hours.cache_creation_tokens + excluded.cache_creation_tokens,
        cache_creation_1h_tokens = usage_fleet_hours.cache_creation_1h_tokens + excluded.cache_creation_1h_tokens,
        cache_read_tokens = usage_fleet_hours.cache_read_tokens + excluded.cache_read_tokens,
        web_search_requests = usage_fleet_hours.web_search_requests + excluded.web_search_requests,
        reported_cost_usd = usage_fleet_hours.reported_cost_usd + excluded.reported_cost_usd,
        computed_cost_usd = usage_fleet_hours.computed_cost_usd + excluded.computed_cost_usd,
        reported_count = usage_fleet_hours.reported_count + excluded.reported_count,
        computed_count = usage_fleet_hours.computed_count + excluded.computed_count,
        unpriced_count = usage_fleet_hours.unpriced_count + excluded.unpriced_count
    ), agent_days_added as (
      insert into usage_agent_days (day, agent_key, model, input_tokens, output_tokens, cache_creation_tokens,
        cache_creation_1h_tokens, cache_read_tokens, web_search_requests, reported_cost_usd, computed_cost_usd,
        reported_count, computed_count, unpriced_count)
      select * from unnest(${day(u => u.day)}::text[], ${day(u => u.agent_key)}::int[], ${day(u => u.model)}::text[],
        ${day(u => u.input_tokens)}::bigint[], ${day(u => u.output_tokens)}::bigint[], ${day(u => u.cache_creation_tokens)}::bigint[],
        ${day(u => u.cache_creation_1h_tokens)}::bigint[], ${day(u => u.cache_read_tokens)}::bigint[],
        ${day(u => u.web_search_requests)}::bigint[], ${day(u => u.reported_cost_usd)}::float8[],
        ${day(u => u.computed_cost_usd)}::float8[], ${day(u => u.reported_count)}::int[], ${day(u => u.computed_count)}::int[],
        ${day(u => u.unpriced_count)}::int[])
      on conflict (day, agent_key, model) do update set
        input_tokens = usage_agent_days.input_tokens + excluded.input_tokens,
        output_tokens = usage_agent_days.output_tokens + excluded.output_tokens,
        cache_creation_tokens = usage_agent_days.cache_creation_tokens + excluded.cache_creation_tokens,
        cache_creation_1h_tokens = usage_agent_days.cache_creation_1h_tokens + excluded.cache_creation_1h_tokens,
        cache_read_tokens = usage_agent_days.cache_read_tokens + excluded.cache_read_tokens,
        web_search_requests = usage_agent_days.web_search_requests + excluded.web_search_requests,
        reported_cost_usd = usage_agent_days.reported_cost_usd + excluded.reported_cost_usd,
        computed_cost_usd = usage_agent_days.computed_cost_usd + excluded.computed_cost_usd,
        reported_count = usage_agent_days.reported_count + excluded.reported_count,
        computed_count = usage_agent_days.computed_count + excluded.computed_count,
        unpriced_count = usage_agent_days.unpriced_count + excluded.unpriced_count
    ), agents_moved as (
      update agents set last_seq = u.last_seq, current_session = u.current_session, cost_baseline_usd = u.baseline,
        info = u.info, last_seen_at = u.seen, last_connected_at = u.connected, usage_baseline = u.usage_baseline
      from unnest(${agt(a => a.key)}::int[], ${agt(a => a.update.last_seq)}::int[], ${agt(a => a.update.current_session)}::int[],
        ${agt(a => a.update.cost_baseline_usd)}::float8[], ${agt(a => a.update.info)}::text[],
        ${agt(a => a.update.last_seen_at)}::text[], ${agt(a => a.update.last_connected_at)}::text[],
        ${agt(a => a.update.usage_baseline)}::text[])
        as u (key, last_seq, current_session, baseline, info, seen, connected, usage_baseline)
      where agents.agent_key = u.key
    )
    insert into conversation_events (agent_key, session_number, seq, event_type, content, metadata, created_at, line_uuid)
    select * from unnest(${col(r => r.agent_key)}::int[], ${col(r => r.session_number)}::int[], ${col(r => r.seq)}::int[],
      ${col(r => r.event_type)}::text[], ${col(r => r.content)}::text[],
      ${col(r => r.metadata === null ? null : JSON.stringify(r.metadata))}::text[], ${col(r => r.created_at)}::text[],
      ${col(r => r.line_uuid)}::text[])
    returning id, agent_key, seq`.execute(trx)
  const byKey = new Map(result.rows.map(r => [`${r.agent_key}:${r.seq}`, Number(r.id)]))
  return rows.map(r => byKey.get(`${r.agent_key}:${r.seq}`) as number)
}

export function createPostgresBackend (db: Kysely<Database>, hooks: WriteHooks | null = null): StoreBackend {
  return {
    ...createKyselyBackend(db),
    async commit (batch) {
      return await inTransaction(db, async (trx) => {
        if (hooks !== null) await hooks.begin(trx, batch.agentIds)
        const ids = await write(trx, batch)
        if (hooks !== null && batch.rows.length > 0) await hooks.beforeCommit(trx, batch.rows.map((r, i) => toStored(r, ids[i])))
        return ids
      })
    },
    async probe (batch) {
      try {
        await inTransaction(db, async (trx) => {
          // the same fence as a commit: a batch refused for an agent another instance owns now is not the items' fault
          if (hooks !== null) await hooks.begin(trx, batch.agentIds)
          await write(trx, batch)
          throw ROLL_BACK
        })
      } catch (err) {
        if (err !== ROLL_BACK) throw err
      }
    }
  }
}
