// The shapes the viewer reads from the API (see README: REST API, Live streams, Search, Approvals).

export interface StoredEvent {
  id: number
  agent_id: string
  session_number: number
  seq: number
  event_type: string
  content: string | null
  metadata: Record<string, unknown> | null
  created_at: string
}

export interface EventPage {
  events: StoredEvent[]
  has_more: boolean
  next_cursor: number | null
  latest_seq: number
  oldest_seq: number | null
}

export interface AgentSummary {
  agent_id: string
  connected: boolean
  current_session: number
  last_seq: number
  event_count: number
  created_at: string
  last_connected_at: string | null
  last_seen_at: string | null
  cost_usd: number
  input_tokens: number
  output_tokens: number
}

export interface Session {
  session_number: number
  first_seq: number | null
  last_seq: number
  event_count: number
  started_at: string
  ended_at: string
  cost_usd: number
  input_tokens: number
  output_tokens: number
}

export interface SessionList {
  current_session: number
  sessions: Session[]
}

export type Role = 'reader' | 'operator' | 'agent'

export interface WhoAmI {
  access_control: boolean
  role: Role | null
}

export interface SearchHit {
  agent_id: string
  session_number: number
  seq: number
  event_type: string
  created_at: string
  snippet: string
  highlights: Array<[number, number]>
  score: number
}

export interface SearchPage {
  hits: SearchHit[]
  next_cursor: string | null
}

export interface Approval {
  agent_id: string
  request_id: string
  tool_name: string
  input: unknown
  tool_use_id: string | null
  /** The policy rule that asked; null when the policy's default asked. */
  rule: { id: string, tool: string, input: string | null, agent: string | null, decision: string } | null
  session_number: number
  /** The permission_requested event. */
  seq: number | null
  requested_at: string
}
