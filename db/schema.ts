// The database as Kysely sees it: one interface per table, shared by every dialect.
import type { Generated, Selectable } from 'kysely'

export interface AgentsTable {
  /** The agent's integer key: every event and session row carries it instead of the text id. */
  agent_key: Generated<number>
  agent_id: string
  /** The single source of truth for the agent's current session. */
  current_session: number
  /** Highest seq ever assigned to the agent; seq numbers are never reused. */
  last_seq: number
  created_at: string
  last_connected_at: string | null
  last_seen_at: string | null
  /** What the agent told us at system/init (model, cwd, claude_session_id, tools...), as JSON text. */
  info: string | null
  /** Last `total_cost_usd` seen from the agent's current CLI process; cost_usd is the growth from it. */
  cost_baseline_usd: number | null
  /** The per-model counters (`modelUsage`) of the same process, as JSON text: usage deltas are taken from them. */
  usage_baseline: Generated<string | null>
  /** Several instances: the instance that owns the agent's writes, and its fencing epoch (bumped by each new owner). */
  owner_instance: Generated<string | null>
  owner_epoch: Generated<number>
  /** Several instances: where the agent's socket is, while that instance lives. */
  connected_instance: Generated<string | null>
}

/**
 * The append-only log, keyed by (agent_key, seq). A session is a seq range (see sessions), so there is no
 * session index; event_type has one so a filter on a rare type does not walk the whole log.
 */
export interface ConversationEventsTable {
  id: Generated<number>
  agent_key: number
  session_number: number
  seq: number
  event_type: string
  content: string | null
  metadata: string | null
  created_at: string
  /** The stream-json line's uuid, on the first event the line produced (null on the others): the dedupe record. */
  line_uuid: string | null
}

export interface SessionsTable {
  agent_key: number
  session_number: number
  first_seq: number
  last_seq: number
  started_at: string
  ended_at: string
  cost_usd: number
  input_tokens: number
  output_tokens: number
  cache_read_tokens: number
  cache_creation_tokens: number
}

/** Lines whose write failed on their own (the rest of their batch committed): kept for an operator to look at. */
export interface SetAsideLinesTable {
  id: Generated<number>
  agent_key: number
  /** The agent's last seq when the line was set aside: the line belongs right after it. */
  after_seq: number
  session_number: number
  line: string
  error: string
  created_at: string
}

/** An operator command carried to the instance that owns the agent, and that instance's answer. */
export interface InstanceCommandsTable {
  id: string
  target_instance: string
  agent_id: string
  /** JSON: the command. */
  request: string
  /** JSON: the owner's answer (status and body), null until it has answered. */
  reply: string | null
  created_at: string
}

/** A can_use_tool request a person decides (or decided); see src/approvals/. */
export interface ApprovalsTable {
  agent_id: string
  request_id: string
  /** JSON of the CLI's request_id as sent (string or number). */
  raw_request_id: string
  tool_name: string
  /** JSON text. */
  input: string
  tool_use_id: string | null
  /** JSON of the policy rule that asked, or null (the default asked). */
  rule: string | null
  session_number: number
  /** The permission_requested event; null until it is committed. */
  seq: number | null
  requested_at: string
  status: 'pending' | 'decided' | 'cancelled'
  behavior: 'allow' | 'deny' | null
  message: string | null
  updated_input: string | null
  decided_by: string | null
  decided_at: string | null
  waited_ms: number | null
  /** 1 once the answer was handed to the agent's socket. */
  delivered: number
}

/** An allow/deny rule an operator asked to remember while deciding. */
export interface ApprovalRulesTable {
  id: string
  agent_id: string
  scope: 'session' | 'agent'
  /** scope session: the agent session it holds for. */
  session_number: number | null
  tool: string
  input: string | null
  decision: 'allow' | 'deny'
  created_at: string
  created_by: string | null
  request_id: string | null
}

/** Where an imported transcript file stands (db/migrations/0004_transcript_files.ts). */
export interface TranscriptFilesTable {
  agent_id: string
  /** The file's name as the importer sent it (`<claude session id>.jsonl`). */
  file: string
  claude_session_id: string | null
  /** The directory its session ran in (the records' `cwd`, the last one read); null before 0011 or when none says. */
  cwd: string | null
  /** The session its records went to; null while everything in it was already stored (seen live). */
  session_number: number | null
  /** Bytes of whole lines read so far; a partly written last line is not counted. */
  byte_offset: number
  lines: number
  /** The file's cumulative cost so far (its last cost-state record): the baseline for the next one. */
  cost_usd: number
  input_tokens: number
  output_tokens: number
  cache_read_tokens: number
  cache_creation_tokens: number
  updated_at: string
}

/** The first answer to an Idempotency-Key (db/migrations/0010_idempotency_keys.ts). */
export interface IdempotencyKeysTable {
  principal: string
  key: string
  fingerprint: string
  status: number | null
  content_type: string | null
  body: string | null
  created_at: string
}

/** Usage per agent, session, model and UTC hour, added to as the writer commits (db/migrations/0012_usage.ts). */
export interface UsageHoursTable {
  agent_key: number
  session_number: number
  model: string
  /** 'YYYY-MM-DDTHH', UTC. */
  hour: string
  input_tokens: number
  output_tokens: number
  /** All cache writes; the 1-hour ones also in cache_creation_1h_tokens (the rest are 5-minute writes). */
  cache_creation_tokens: number
  cache_creation_1h_tokens: number
  cache_read_tokens: number
  web_search_requests: number
  reported_cost_usd: number
  computed_cost_usd: number
  reported_count: number
  computed_count: number
  unpriced_count: number
}

/** usage_hours summed over agents and sessions: fleet-wide queries read these. */
export type UsageFleetHoursTable = Omit<UsageHoursTable, 'agent_key' | 'session_number'>

/** usage_hours summed per agent, model and UTC day ('YYYY-MM-DD'): the whole days of per-agent queries. */
export type UsageAgentDaysTable = Omit<UsageHoursTable, 'session_number' | 'hour'> & { day: string }

/** The imported messages already counted (message.id + requestId). */
export interface UsageMessagesTable {
  message_key: string
  agent_key: number
}

/** Budgets already told as crossed, per budget, agent ('' for the fleet) and period. */
export interface UsageBudgetAlertsTable {
  budget: string
  scope_agent: string
  period: string
  created_at: string
}

export interface Database {
  usage_budget_alerts: UsageBudgetAlertsTable
  usage_hours: UsageHoursTable
  usage_fleet_hours: UsageFleetHoursTable
  usage_agent_days: UsageAgentDaysTable
  usage_messages: UsageMessagesTable
  transcript_files: TranscriptFilesTable
  agents: AgentsTable
  conversation_events: ConversationEventsTable
  sessions: SessionsTable
  set_aside_lines: SetAsideLinesTable
  instance_commands: InstanceCommandsTable
  approvals: ApprovalsTable
  approval_rules: ApprovalRulesTable
  idempotency_keys: IdempotencyKeysTable
  runners: RunnersTable
  agent_runs: AgentRunsTable
}

/** A runner (`agentlog runner`) as it last said hello (db/migrations/0011_runners.ts). */
export interface RunnersTable {
  name: string
  host: string
  /** JSON array of its roots. */
  roots: string
  claude_version: string | null
  agentlog_version: string | null
  /** The instance holding its socket; null while it is not connected. */
  connected_instance: string | null
  connected_at: string | null
  last_seen_at: string
  created_at: string
}

/** An agent started by a runner: where, how, and whether it still runs. */
export interface AgentRunsTable {
  agent_id: string
  runner: string
  state: 'starting' | 'running' | 'stopped'
  cwd: string
  /** JSON of the worktree, or null. */
  worktree: string | null
  model: string | null
  permission_mode: string | null
  started_at: string
  stopped_at: string | null
  stop_reason: string | null
  updated_at: string
}

export type EventRow = Selectable<ConversationEventsTable>
export type ApprovalRow = Selectable<ApprovalsTable>
export type ApprovalRuleRow = Selectable<ApprovalRulesTable>
