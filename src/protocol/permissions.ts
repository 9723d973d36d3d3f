// The answer to Claude Code's can_use_tool permission requests, from TOOL_POLICY.
import type { ToolPolicy } from '../config.js'
import type { AgentMessage } from './ndjson.js'

export interface PermissionDecision {
  allow: boolean
  toolName: string
  requestId: string
  /** The control_response line to send back. */
  response: Record<string, unknown>
}

export function decidePermission (policy: ToolPolicy, message: AgentMessage): PermissionDecision | null {
  const request = message.request as Record<string, unknown> | undefined
  const requestId = message.request_id
  if (request === undefined || request === null || typeof request !== 'object' || request.subtype !== 'can_use_tool') return null
  if (typeof requestId !== 'string' && typeof requestId !== 'number') return null
  const toolName = typeof request.tool_name === 'string' ? request.tool_name : 'unknown'
  let allow: boolean
  switch (policy.mode) {
    case 'allow_all': allow = true; break
    case 'deny_all': allow = false; break
    case 'allow': allow = policy.tools.has(toolName); break
    case 'deny': allow = !policy.tools.has(toolName); break
  }
  const inner = allow
    ? { behavior: 'allow', updatedInput: request.input ?? {} }
    : { behavior: 'deny', message: `Tool '${toolName}': denied by policy` }
  return {
    allow,
    toolName,
    requestId: String(requestId),
    response: { type: 'control_response', response: { subtype: 'success', request_id: requestId, response: inner } }
  }
}
