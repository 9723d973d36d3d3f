// The agents the store has loaded: their committed log state and dedupe window, loaded once from the database.
import type { StoreBackend, WriteHooks } from './backend.js'
import { RecentLines } from './recent-lines.js'
import type { AgentLog } from './types.js'

export interface AgentState {
  agentId: string
  key: number
  createdAt: string
  /** Receipt side: the session stamped on every line as it arrives; clear-context bumps it at once. */
  currentSession: number
  /** What is committed; replaced after each commit that touched the agent. */
  committed: AgentLog
  /** The uuids of the agent's recent lines (see recent-lines.ts). */
  recent: RecentLines
}

export function createAgents (backend: StoreBackend, window: number, hooks: WriteHooks | null = null) {
  const agents = new Map<string, AgentState>()
  const loading = new Map<string, Promise<AgentState | null>>()

  async function load (agentId: string, create: boolean): Promise<AgentState | null> {
    // several instances: memory is the newest word only for agents this instance writes
    const current = hooks === null || hooks.owns(agentId)
    const known = agents.get(agentId)
    if (known !== undefined && current) return known
    const inFlight = loading.get(agentId)
    if (inFlight !== undefined && current) {
      const state = await inFlight
      if (state !== null || !create) return state
    }
    const p = (async () => {
      const row = await backend.loadAgent(agentId, create, window, new Date().toISOString())
      if (row === null) return null
      const info = row.info === null ? null : JSON.parse(row.info) as Record<string, unknown>
      const state: AgentState = {
        agentId,
        key: row.key,
        createdAt: row.createdAt,
        currentSession: row.currentSession,
        committed: {
          key: row.key,
          lastSeq: row.lastSeq,
          oldestSeq: row.oldestSeq,
          costBaseline: row.costBaseline,
          usageBaseline: row.usageBaseline === null ? null : JSON.parse(row.usageBaseline),
          resumeFrom: null,
          claudeSessionId: typeof info?.claude_session_id === 'string' ? info.claude_session_id : null,
          info,
          pendingTurns: [],
          lastSeenAt: row.lastSeenAt,
          lastConnectedAt: row.lastConnectedAt,
          currentSession: row.currentSession
        },
        recent: new RecentLines(window, row.recentUuids)
      }
      // another load may have finished first; the first one in memory wins (unless another instance writes it)
      const winner = (current ? agents.get(agentId) : undefined) ?? state
      agents.set(agentId, winner)
      return winner
    })()
    loading.set(agentId, p)
    try {
      return await p
    } finally {
      if (loading.get(agentId) === p) loading.delete(agentId)
    }
  }

  function get (agentId: string): AgentState | undefined {
    return agents.get(agentId)
  }

  function mustGet (agentId: string): AgentState {
    const state = agents.get(agentId)
    if (state === undefined) throw new Error(`agent ${agentId} is not loaded`)
    return state
  }

  /** Drops the agent from memory (another instance writes it now; the next load reads what it left). */
  function drop (agentId: string): void {
    agents.delete(agentId)
  }

  /** Resolves once a load of the agent in flight (if any) has finished. */
  async function settled (agentId: string): Promise<void> {
    await loading.get(agentId)?.catch(() => null)
  }

  return { load, get, mustGet, drop, settled }
}

export type Agents = ReturnType<typeof createAgents>
