// The few reads the MCP tools need beyond the history and search engines: agents' activity, sessions' first prompts.
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'

/** What each agent last said of its activity ('busy' or 'idle'), by agent id; absent when it never said. */
export async function lastActivity (db: Kysely<Database>, agentIds: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>()
  if (agentIds.length === 0) return found
  const keys = await db.selectFrom('agents').select(['agent_key', 'agent_id']).where('agent_id', 'in', agentIds).execute()
  // one indexed read per agent: (agent_key, event_type, seq) gives the newest activity_changed at once
  await Promise.all(keys.map(async (k) => {
    const row = await db.selectFrom('conversation_events').select('metadata')
      .where('agent_key', '=', k.agent_key).where('event_type', '=', 'activity_changed')
      .orderBy('seq', 'desc').limit(1).executeTakeFirst()
    const state = row?.metadata == null ? null : (JSON.parse(row.metadata) as { state?: unknown }).state
    if (typeof state === 'string') found.set(k.agent_id, state)
  }))
  return found
}

/** The first prompt of each of these sessions of an agent (a prompt_sent event), by session number. */
export async function firstPrompts (db: Kysely<Database>, agentId: string, sessions: Array<{ session_number: number, first_seq: number | null, last_seq: number }>): Promise<Map<number, string>> {
  const found = new Map<number, string>()
  const agent = await db.selectFrom('agents').select('agent_key').where('agent_id', '=', agentId).executeTakeFirst()
  if (agent === undefined) return found
  await Promise.all(sessions.map(async (s) => {
    if (s.first_seq === null) return
    const row = await db.selectFrom('conversation_events').select('content')
      .where('agent_key', '=', agent.agent_key).where('event_type', '=', 'prompt_sent')
      .where('seq', '>=', s.first_seq).where('seq', '<=', s.last_seq)
      .orderBy('seq', 'asc').limit(1).executeTakeFirst()
    if (row?.content != null) found.set(s.session_number, row.content)
  }))
  return found
}
