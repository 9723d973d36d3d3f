// Where the history is read: keyset pages of an agent's log, its sessions, the agent listing.
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import type { Static } from '@sinclair/typebox'
import type { AgentList, SessionList } from '../src/schemas/agents.js'
import type { HistoryQueryType } from '../src/schemas/events.js'
import { EVENT_TYPES } from '../src/protocol/messages.js'
import type { EventStore } from '../src/store/event-store.js'
import { rowJson } from '../src/store/event-rows.js'
import type { Cluster } from '../src/cluster/cluster.js'
import type { AgentHub } from '../src/agent-hub.js'

declare module 'fastify' {
  interface FastifyInstance { history: History }
}

export class BadQueryError extends Error {
  statusCode = 400
  code = 'bad_parameter' as const
  constructor (message: string) {
    super(message)
    this.name = 'BadQueryError'
  }
}

export function parseTypes (raw: string | undefined): string[] | null {
  if (raw === undefined || raw.trim() === '') return null
  const types = [...new Set(raw.split(',').map(t => t.trim()).filter(t => t !== ''))]
  const unknown = types.filter(t => !(EVENT_TYPES as string[]).includes(t))
  if (unknown.length > 0) {
    throw new BadQueryError(`type: unknown event type ${JSON.stringify(unknown[0])}; expected a comma-separated list of ${EVENT_TYPES.join(', ')}`)
  }
  return types
}

export function createHistory (db: Kysely<Database>, events: EventStore, hub: AgentHub,
  { instanceId = null, cluster = null }: { instanceId?: string | null, cluster?: Cluster | null } = {}) {
  async function pageRows (agentId: string, q: HistoryQueryType) {
    const types = parseTypes(q.type)
    const state = await events.loadAgent(agentId, false)
    if (state === null) return null
    let query = db.selectFrom('conversation_events').selectAll().where('agent_key', '=', state.key)
    if (q.session !== undefined) {
      // a session is a contiguous seq range: its bounds come from the sessions table, not from an index
      const bounds = await db.selectFrom('sessions').select(['first_seq', 'last_seq'])
        .where('agent_key', '=', state.key).where('session_number', '=', q.session).executeTakeFirst()
      query = bounds === undefined
        ? query.where('seq', '<', 0)
        : query.where('seq', '>=', bounds.first_seq).where('seq', '<=', bounds.last_seq).where('session_number', '=', q.session)
    }
    if (types !== null) query = query.where('event_type', 'in', types)
    if (q.after !== undefined) query = query.where('seq', '>', q.after)
    if (q.before !== undefined) query = query.where('seq', '<', q.before)
    const rows = await query.orderBy('seq', q.order).limit(q.limit + 1).execute()
    const hasMore = rows.length > q.limit
    if (hasMore) rows.pop()
    // PostgreSQL makes a commit visible to readers a moment before the writer takes it in: a page can hold
    // events past what this instance has taken in, and a caller can hold a cursor from such a page
    let latest = rows.reduce((max, r) => Math.max(max, r.seq), state.committed.lastSeq)
    if (q.after !== undefined && q.after > latest) {
      const newest = await db.selectFrom('conversation_events').select(eb => eb.fn.max('seq').as('seq'))
        .where('agent_key', '=', state.key).executeTakeFirst()
      latest = Math.max(latest, Number(newest?.seq ?? 0))
    }
    return {
      rows,
      has_more: hasMore,
      next_cursor: hasMore ? rows[rows.length - 1].seq : null,
      latest_seq: latest,
      oldest_seq: state.committed.oldestSeq
    }
  }

  /** The same page as JSON text, written directly (src/store/event-rows.ts: metadata is copied in as stored). */
  async function pageJson (agentId: string, q: HistoryQueryType): Promise<string | null> {
    const found = await pageRows(agentId, q)
    if (found === null) return null
    const agent = JSON.stringify(agentId)
    const parts = found.rows.map(r => rowJson(r, agent, Number(r.id)))
    return `{"events":[${parts.join(',')}],"has_more":${found.has_more},"next_cursor":${found.next_cursor ?? 'null'},` +
      `"latest_seq":${found.latest_seq},"oldest_seq":${found.oldest_seq ?? 'null'}}`
  }

  async function sessions (agentId: string): Promise<Static<typeof SessionList> | null> {
    const state = await events.loadAgent(agentId, false)
    if (state === null) return null
    const rows = await db.selectFrom('sessions').selectAll().where('agent_key', '=', state.key)
      .orderBy('session_number', 'asc').execute()
    const oldest = state.committed.oldestSeq
    return {
      current_session: state.currentSession,
      sessions: rows.map(r => {
        const first = oldest === null ? null : Math.max(r.first_seq, oldest)
        const count = first === null || first > r.last_seq ? 0 : r.last_seq - first + 1
        return {
          session_number: r.session_number,
          first_seq: count === 0 ? null : first,
          last_seq: r.last_seq,
          event_count: count,
          started_at: r.started_at,
          ended_at: r.ended_at,
          cost_usd: r.cost_usd,
          input_tokens: Number(r.input_tokens),
          output_tokens: Number(r.output_tokens),
          cache_read_tokens: Number(r.cache_read_tokens),
          cache_creation_tokens: Number(r.cache_creation_tokens)
        }
      })
    }
  }

  async function listAgents (): Promise<Static<typeof AgentList>> {
    const rows = await db.selectFrom('agents')
      .select(eb => [
        'agents.agent_key', 'agents.agent_id', 'agents.current_session', 'agents.last_seq', 'agents.created_at',
        'agents.last_connected_at', 'agents.last_seen_at', 'agents.info', 'agents.connected_instance',
        eb.selectFrom('conversation_events as e').select('e.seq').whereRef('e.agent_key', '=', 'agents.agent_key')
          .orderBy('e.seq', 'asc').limit(1).as('oldest_seq')
      ])
      .orderBy('agents.agent_id', 'asc')
      .execute()
    const totals = await db.selectFrom('sessions')
      .select(eb => [
        'agent_key',
        eb.fn.sum<number>('cost_usd').as('cost_usd'),
        eb.fn.sum<number>('input_tokens').as('input_tokens'),
        eb.fn.sum<number>('output_tokens').as('output_tokens')
      ])
      .groupBy('agent_key')
      .execute()
    const byAgent = new Map(totals.map(t => [Number(t.agent_key), t]))
    // the agents runners run: which runner, and whether it still runs them (src/fleet/)
    const runs = new Map((await db.selectFrom('agent_runs').innerJoin('runners', 'runners.name', 'agent_runs.runner')
      .select(['agent_runs.agent_id', 'agent_runs.runner', 'agent_runs.state', 'runners.connected_instance']).execute()).map(r => [r.agent_id, r]))
    // several instances: the database says where each agent is, for as long as that instance lives
    const alive = cluster === null ? null : await cluster.liveInstances()
    return {
      agents: rows.map(r => {
        // memory is the newest word only for agents this instance writes
        const mem = cluster === null || cluster.owns(r.agent_id) ? events.getAgent(r.agent_id) : undefined
        const lastSeq = mem?.committed.lastSeq ?? r.last_seq
        const oldest = mem?.committed.oldestSeq ?? (r.oldest_seq === null ? null : Number(r.oldest_seq))
        const t = byAgent.get(Number(r.agent_key))
        const run = runs.get(r.agent_id)
        const runnerUp = run?.connected_instance != null && (run.connected_instance === instanceId || alive?.has(run.connected_instance) === true)
        // this instance's own sockets are known here first; the database speaks for the other instances
        const where = hub.isConnected(r.agent_id)
          ? instanceId
          : (alive !== null && r.connected_instance !== null && r.connected_instance !== instanceId && alive.has(r.connected_instance) ? r.connected_instance : null)
        return {
          agent_id: r.agent_id,
          connected: where !== null,
          instance: where,
          current_session: mem?.currentSession ?? r.current_session,
          last_seq: lastSeq,
          oldest_seq: oldest,
          event_count: oldest === null ? 0 : lastSeq - oldest + 1,
          created_at: r.created_at,
          last_connected_at: mem?.committed.lastConnectedAt ?? r.last_connected_at,
          last_seen_at: mem?.committed.lastSeenAt ?? r.last_seen_at,
          cost_usd: Number(t?.cost_usd ?? 0),
          input_tokens: Number(t?.input_tokens ?? 0),
          output_tokens: Number(t?.output_tokens ?? 0),
          info: mem?.committed.info ?? (r.info === null ? null : JSON.parse(r.info)),
          runner: run?.runner ?? null,
          state: run === undefined ? null : run.state === 'stopped' ? 'stopped' as const : runnerUp ? run.state : 'runner_offline' as const
        }
      })
    }
  }

  return { pageJson, sessions, listAgents }
}

export type History = ReturnType<typeof createHistory>

export default fp(async function history (fastify) {
  fastify.decorate('history', createHistory(fastify.db, fastify.events, fastify.agents, { instanceId: fastify.config.instanceId, cluster: fastify.cluster }))
}, { name: 'history', dependencies: ['db', 'event-store', 'agent-hub', 'cluster'] })
