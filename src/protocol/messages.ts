// What each stream-json message from Claude Code means for the log: events to append, agent facts, cost and clear signals.

import type { AgentMessage } from './ndjson.js'

export type EventType =
  | 'output'
  | 'tool_use'
  | 'tool_result'
  | 'thinking'
  | 'result'
  | 'prompt_sent'
  | 'activity_changed'
  | 'context_cleared'
  | 'context_clear_outcome'
  | 'operator_command'
  | 'agent_restarted'
  | 'permission_requested'
  | 'permission_decided'
  | 'budget_exceeded'
  | 'agent_started'
  | 'agent_stopped'

export const EVENT_TYPES: EventType[] = [
  'output', 'tool_use', 'tool_result', 'thinking', 'result', 'prompt_sent',
  'activity_changed', 'context_cleared', 'context_clear_outcome',
  'operator_command', 'agent_restarted', 'permission_requested', 'permission_decided',
  'budget_exceeded', 'agent_started', 'agent_stopped'
]

export interface EventDraft {
  event_type: EventType
  content: string | null
  metadata: Record<string, unknown> | null
}

/** Message types the writer acts on; every other type is answered, counted or ignored at the socket. */
export const LOGGED_TYPES = new Set(['assistant', 'user', 'result', 'system', 'conversation_reset'])

type Obj = Record<string, unknown>

function isObj (value: unknown): value is Obj {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function str (value: unknown): string | null {
  return typeof value === 'string' ? value : null
}

function num (value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null
}

export function messageUuid (message: AgentMessage): string | null {
  const uuid = message.uuid
  return typeof uuid === 'string' && uuid.length > 0 && uuid.length <= 200 ? uuid : null
}

export function messageSessionId (message: AgentMessage): string | null {
  return str(message.session_id)
}

/** Cuts text to at most maxBytes of UTF-8 without splitting a character. */
export function truncateUtf8 (text: string, maxBytes: number): { text: string, originalBytes: number } | null {
  const bytes = Buffer.byteLength(text, 'utf8')
  if (bytes <= maxBytes) return null
  const buf = Buffer.from(text, 'utf8')
  let end = maxBytes
  // step back over continuation bytes so the cut lands on a character boundary
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--
  return { text: buf.subarray(0, end).toString('utf8'), originalBytes: bytes }
}

function limited (draft: EventDraft, maxBytes: number): EventDraft {
  if (draft.content === null) return draft
  const cut = truncateUtf8(draft.content, maxBytes)
  if (cut === null) return draft
  return { ...draft, content: cut.text, metadata: { ...(draft.metadata ?? {}), truncated: { original_bytes: cut.originalBytes } } }
}

function limitedInput (input: unknown, maxBytes: number): { input: unknown, truncated?: { original_bytes: number } } {
  const text = JSON.stringify(input ?? null)
  const cut = truncateUtf8(text, maxBytes)
  if (cut === null) return { input: input ?? null }
  return { input: cut.text, truncated: { original_bytes: cut.originalBytes } }
}

/** Events from an `assistant` line: one per content block (text, tool_use, thinking). */
export function assistantEvents (message: AgentMessage, maxBytes: number): EventDraft[] {
  const inner = isObj(message.message) ? message.message : {}
  const blocks = Array.isArray(inner.content) ? inner.content : []
  const common: Obj = {
    message_id: str(inner.id),
    uuid: messageUuid(message),
    parent_tool_use_id: str(message.parent_tool_use_id)
  }
  if (typeof inner.model === 'string') common.model = inner.model
  const out: EventDraft[] = []
  for (const block of blocks) {
    if (!isObj(block)) continue
    if (block.type === 'text') {
      const text = str(block.text)
      if (text === null || text.trim() === '') continue
      out.push(limited({ event_type: 'output', content: text, metadata: { ...common } }, maxBytes))
    } else if (block.type === 'tool_use') {
      const name = str(block.name) ?? 'unknown'
      const input = limitedInput(block.input, maxBytes)
      out.push({ event_type: 'tool_use', content: name, metadata: { ...common, id: str(block.id), name, ...input } })
    } else if (block.type === 'thinking') {
      const text = str(block.thinking)
      if (text === null || text.trim() === '') continue
      out.push(limited({ event_type: 'thinking', content: text, metadata: { ...common } }, maxBytes))
    }
  }
  return out
}

function toolResultText (content: unknown): { text: string, images: number } {
  if (typeof content === 'string') return { text: content, images: 0 }
  if (!Array.isArray(content)) return { text: '', images: 0 }
  const parts: string[] = []
  let images = 0
  for (const block of content) {
    if (!isObj(block)) continue
    if (block.type === 'text' && typeof block.text === 'string') parts.push(block.text)
    else if (block.type === 'image') { images++; parts.push('[image]') }
  }
  return { text: parts.join('\n'), images }
}

/** Events from a `user` line: each `tool_result` block becomes a tool_result event; prompts echoed back are not events. */
export function userEvents (message: AgentMessage, maxBytes: number): EventDraft[] {
  const inner = isObj(message.message) ? message.message : {}
  const blocks = Array.isArray(inner.content) ? inner.content : []
  const out: EventDraft[] = []
  for (const block of blocks) {
    if (!isObj(block) || block.type !== 'tool_result') continue
    const { text, images } = toolResultText(block.content)
    const metadata: Obj = {
      tool_use_id: str(block.tool_use_id),
      is_error: block.is_error === true,
      uuid: messageUuid(message),
      parent_tool_use_id: str(message.parent_tool_use_id)
    }
    if (images > 0) metadata.images = images
    out.push(limited({ event_type: 'tool_result', content: text, metadata }, maxBytes))
  }
  return out
}

export interface TurnUsage {
  input_tokens: number
  output_tokens: number
  cache_read_tokens: number
  cache_creation_tokens: number
}

/**
 * Hostile or broken numbers stop here: the totals are summed into bigint and double columns, where a negative
 * cost or a 1e300 token count would corrupt a session (or, on PostgreSQL, fail every batch that holds it).
 */
const MAX_TURN_TOKENS = 1e12
const MAX_TOTAL_COST_USD = 1e9

export function resultUsage (message: AgentMessage): TurnUsage {
  const usage = isObj(message.usage) ? message.usage : {}
  const n = (v: unknown): number => {
    const x = num(v)
    return x !== null && x > 0 && x <= MAX_TURN_TOKENS ? Math.floor(x) : 0
  }
  return {
    input_tokens: n(usage.input_tokens),
    output_tokens: n(usage.output_tokens),
    cache_read_tokens: n(usage.cache_read_input_tokens),
    cache_creation_tokens: n(usage.cache_creation_input_tokens)
  }
}

/**
 * Whether a result's counters include turns before its own: `modelUsage` (cumulative for the process) holds more
 * tokens than the turn's `usage`. A fresh process's first result does not; a process started with --resume that
 * continues its session's counter (2.1.331) does, while 2.1.112's resumed process starts from zero. null when the
 * line does not say (no modelUsage).
 */
export function countsEarlierTurns (message: AgentMessage): boolean | null {
  const models = message.modelUsage
  const usage = message.usage
  if (!isObj(models) || !isObj(usage)) return null
  let cumulative = 0
  for (const m of Object.values(models)) {
    if (isObj(m)) cumulative += (num(m.inputTokens) ?? 0) + (num(m.outputTokens) ?? 0)
  }
  const turn = (num(usage.input_tokens) ?? 0) + (num(usage.output_tokens) ?? 0)
  return cumulative > turn
}

export function resultTotalCost (message: AgentMessage): number | null {
  const x = num(message.total_cost_usd)
  return x !== null && x >= 0 && x <= MAX_TOTAL_COST_USD ? x : null
}

/** The `result` event itself (cost_usd is added by the writer, which knows the process's previous counter). */
export function resultEvent (message: AgentMessage, maxBytes: number): EventDraft {
  const metadata: Obj = {
    subtype: str(message.subtype),
    is_error: message.is_error === true,
    duration_ms: num(message.duration_ms),
    duration_api_ms: num(message.duration_api_ms),
    num_turns: num(message.num_turns),
    total_cost_usd: num(message.total_cost_usd),
    usage: isObj(message.usage) ? message.usage : null,
    uuid: messageUuid(message)
  }
  if (Array.isArray(message.permission_denials) && message.permission_denials.length > 0) {
    metadata.permission_denials = message.permission_denials
  }
  return limited({ event_type: 'result', content: str(message.result), metadata }, maxBytes)
}

/** What system/init tells us about the agent, kept on the agent row. */
export function initInfo (message: AgentMessage): Record<string, unknown> {
  const info: Obj = {}
  for (const key of ['model', 'cwd', 'session_id', 'tools', 'permissionMode', 'claude_code_version', 'apiKeySource', 'output_style']) {
    if (message[key] !== undefined) info[key === 'session_id' ? 'claude_session_id' : key] = message[key]
  }
  return info
}
