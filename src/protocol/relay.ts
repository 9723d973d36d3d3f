// What `agentlog connect` needs to know about the lines it relays (a /clear and the CLI's answers to it), and the
// lines it adds itself (never sent by Claude Code): what they mean for the log. Shared by the relay (which writes
// them) and the agent socket (which reads them).
import { randomUUID } from 'node:crypto'
import type { AgentMessage } from './ndjson.js'
import type { EventDraft } from './messages.js'

type Obj = Record<string, any>

export const AGENT_RESTARTED = 'agent_restarted'

export interface AgentRestarted {
  exit_code: number | null
  signal: string | null
  /** The session the new process resumes (--resume), or null when it starts a new one. */
  resumed_session_id: string | null
  /** This restart's number within the restart window, and how many are allowed. */
  attempt: number
  max_restarts: number
}

/** The line the relay sends when it has started a new CLI process after the old one died. */
export function agentRestartedLine (notice: AgentRestarted): Record<string, unknown> {
  return { type: AGENT_RESTARTED, ...notice, source: 'agentlog-connect' }
}

function str (value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value.slice(0, 200) : null
}

function int (value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) ? value : null
}

/** The event an `agent_restarted` notice is stored as, or null when the line is not one. */
export function agentRestartedEvent (message: AgentMessage): EventDraft | null {
  if (message.type !== AGENT_RESTARTED) return null
  const exitCode = int(message.exit_code)
  const signal = str(message.signal)
  const resumed = str(message.resumed_session_id)
  const how = signal !== null ? `signal ${signal}` : `exit code ${exitCode ?? '?'}`
  return {
    event_type: 'agent_restarted',
    content: `the CLI died (${how}); restarted ${resumed !== null ? `with --resume ${resumed}` : 'in a new session'}`,
    metadata: { exit_code: exitCode, signal, resumed_session_id: resumed, attempt: int(message.attempt), max_restarts: int(message.max_restarts) }
  }
}

// ---- /clear through the relay: a CLI that cannot clear is replaced by a fresh process ----

/** A prompt that is exactly `/clear` (as a string, or as one text block). */
export function isClearPrompt (message: Obj | null): boolean {
  if (message?.type !== 'user') return false
  const content = message.message?.content
  if (typeof content === 'string') return content.trim() === '/clear'
  return Array.isArray(content) && content.length === 1 && content[0]?.type === 'text' &&
    typeof content[0].text === 'string' && content[0].text.trim() === '/clear'
}

/** The CLI's own answer to a slash command: a "<synthetic>" assistant message, no model call behind it. */
export function isSyntheticClearReply (message: Obj): boolean {
  const inner = message.message
  if (message.type !== 'assistant' || inner?.model !== '<synthetic>' || !Array.isArray(inner.content)) return false
  return inner.content.every((b: Obj) => b?.type === 'text' && typeof b.text === 'string' && /^\/clear\b/.test(b.text.trim()))
}

/** A version that cannot clear answers `/clear` with a turn whose result says so; one that can reports num_turns 0. */
export function isClearRefusal (message: Obj): boolean {
  return message.type === 'result' && message.num_turns !== 0 && typeof message.result === 'string' &&
    /^\/clear\b/.test(message.result.trim())
}

export function isClearDone (message: Obj): boolean {
  return message.type === 'result' && message.num_turns === 0
}

export function syntheticReset (): Obj {
  return { type: 'conversation_reset', trigger: 'clear', new_conversation_id: null, uuid: randomUUID(), source: 'agentlog-connect' }
}

export function syntheticClearResult (): Obj {
  return {
    type: 'result',
    subtype: 'success',
    is_error: false,
    duration_ms: 0,
    duration_api_ms: 0,
    num_turns: 0,
    result: '',
    // the fresh process's cost counter starts at zero: the server takes the drop as a new baseline
    total_cost_usd: 0,
    usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    uuid: randomUUID(),
    source: 'agentlog-connect'
  }
}
