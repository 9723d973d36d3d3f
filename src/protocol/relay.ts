// Notices `agentlog connect` adds to the stream it relays (never sent by Claude Code itself), and what they mean
// for the log. Shared by the relay (which writes them) and the agent socket (which reads them).
import type { AgentMessage } from './ndjson.js'
import type { EventDraft } from './messages.js'

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

/**
 * What a CLI that clears by itself sends for `/clear`, sent by the relay when it replaced a CLI that cannot clear
 * with a fresh process: the conversation was reset, and an empty result ends the /clear turn. Each line carries
 * its own uuid (newUuid is called once per line).
 */
export function clearedLines (newUuid: () => string): Array<Record<string, unknown>> {
  const reset = { type: 'conversation_reset', trigger: 'clear', new_conversation_id: null, uuid: newUuid(), source: 'agentlog-connect' }
  const result = {
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
    uuid: newUuid(),
    source: 'agentlog-connect'
  }
  return [reset, result]
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
