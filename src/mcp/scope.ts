// Who is asking the MCP endpoint, and what it may see: pure rules over the token's holder and the request's header.
import type { Role } from '../config.js'
import { isValidAgentId } from '../schemas/common.js'

/** The header `agentlog connect` sets in the CLI's MCP configuration: the agent the CLI runs as. */
export const AGENT_HEADER = 'x-agentlog-agent'

export interface Caller {
  /** The agents an agent token may read (its glob); null: every agent (reader, operator, or no access control). */
  pattern: RegExp | null
  /** The agent asking, whose current session search leaves out by default; null when unknown. */
  agentId: string | null
}

export interface TokenHolder {
  role: Role
  agentPattern: RegExp | null
}

/** Whether the caller may read this agent's log. */
export function visible (caller: Caller, agentId: string): boolean {
  return caller.pattern === null || caller.pattern.test(agentId)
}

/**
 * The caller: readers and operators (or anyone, without access control) see every agent; an agent token, the agents
 * its glob allows; a runner token (the agents `agentlog runner` starts call with it; its glob names runners, not
 * agents) every agent, as an agent token with no glob does. The calling agent is the header's, when it names one the token may read; else an agent token whose
 * glob names exactly one agent is that agent.
 */
export function callerOf (holder: TokenHolder | null, header: string | string[] | undefined, literalAgent: string | null): Caller {
  const pattern = holder !== null && holder.role === 'agent' ? holder.agentPattern : null
  const named = typeof header === 'string' && isValidAgentId(header.trim()) ? header.trim() : null
  const caller: Caller = { pattern, agentId: null }
  if (named !== null && visible(caller, named)) caller.agentId = named
  else if (holder?.role === 'agent' && literalAgent !== null) caller.agentId = literalAgent
  return caller
}

/** The one agent a glob names, when it has no wildcard; else null. */
export function literalOf (glob: string | null): string | null {
  return glob !== null && !/[*?]/.test(glob) && isValidAgentId(glob) ? glob : null
}
