// Claude Code's permission protocol: the can_use_tool request it sends (and blocks on), the control_response
// that answers it, and the control_cancel_request it sends when it stops waiting (an interrupted turn).
import type { AgentMessage } from './ndjson.js'

export interface PermissionRequest {
  /** The CLI's request_id as a string (the key); rawRequestId as it was sent, to answer with. */
  requestId: string
  rawRequestId: string | number
  toolName: string
  input: unknown
  toolUseId: string | null
}

export type PermissionAnswer =
  | { behavior: 'allow', updatedInput: unknown }
  | { behavior: 'deny', message: string }

function isObj (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

export function permissionRequest (message: AgentMessage): PermissionRequest | null {
  if (message.type !== 'control_request') return null
  const request = message.request
  const rawRequestId = message.request_id
  if (!isObj(request) || request.subtype !== 'can_use_tool') return null
  if (typeof rawRequestId !== 'string' && typeof rawRequestId !== 'number') return null
  return {
    requestId: String(rawRequestId),
    rawRequestId,
    toolName: typeof request.tool_name === 'string' ? request.tool_name : 'unknown',
    input: request.input ?? {},
    toolUseId: typeof request.tool_use_id === 'string' ? request.tool_use_id : null
  }
}

/** The request_id of a control_cancel_request, or null for any other line. */
export function cancelledRequestId (message: AgentMessage): string | null {
  if (message.type !== 'control_cancel_request') return null
  const id = message.request_id
  return typeof id === 'string' || typeof id === 'number' ? String(id) : null
}

/** The control_response line for a can_use_tool request (the CLI matches it by request_id, as sent). */
export function permissionResponse (rawRequestId: string | number, answer: PermissionAnswer): Record<string, unknown> {
  return { type: 'control_response', response: { subtype: 'success', request_id: rawRequestId, response: answer } }
}
