// A row of conversation_events as the event the API shows: rows carry the agent's integer key and metadata as
// JSON text; the caller knows the agent's id.
import type { EventRow } from '../../db/schema.js'
import type { StoredEvent } from '../schemas/events.js'

/** The columns of an event row that the event is made of. */
export type EventColumns = Pick<EventRow, 'session_number' | 'seq' | 'event_type' | 'content' | 'metadata' | 'created_at'>

export function rowToEvent (row: EventColumns & Pick<EventRow, 'id'>, agentId: string): StoredEvent {
  return {
    id: Number(row.id),
    agent_id: agentId,
    session_number: row.session_number,
    seq: row.seq,
    event_type: row.event_type,
    content: row.content,
    metadata: row.metadata === null ? null : JSON.parse(row.metadata),
    created_at: row.created_at
  }
}

/**
 * The same event as JSON text, written directly: the stored metadata is copied in as it is instead of being parsed
 * and serialized again. `agentJson` is the agent id as JSON; without an id, the event as an export line has it
 * (an id is a position on one server).
 */
export function rowJson (row: EventColumns, agentJson: string, id: number | null): string {
  return `{${id === null ? '' : `"id":${id},`}"agent_id":${agentJson},"session_number":${row.session_number},` +
    `"seq":${row.seq},"event_type":${JSON.stringify(row.event_type)},` +
    `"content":${row.content === null ? 'null' : JSON.stringify(row.content)},"metadata":${row.metadata ?? 'null'},` +
    `"created_at":${JSON.stringify(row.created_at)}}`
}
