// What a search may reach beyond its own filters: the MCP endpoint narrows it to the agents a token may read, and
// leaves out the calling agent's own current session.
export interface SearchScope {
  /** Only these agents; null: every agent. */
  agents: string[] | null
  /** Leave out this agent's session. */
  exclude: { agent: string, session: number } | null
}

export const UNSCOPED: SearchScope = { agents: null, exclude: null }
