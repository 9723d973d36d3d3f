// The agents the store has loaded: their committed log state and dedupe window, loaded once from the database.
import type { StoreBackend } from './backend.js'
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

export function createAgents (backend: StoreBackend, window: number) {
  const agents = new Map<string, AgentState>()
  const loading = new Map<string, Promise<AgentState | null>>()

  async function load (agentId: string, create: boolean): Promise<AgentState | null> {
    const known = agents.get(agentId)
    if (known !== undefined) return known
    const inFlight = loading.get(agentId)
    if (inFlight !== undefined) {
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
      // another load may have finished first; the first one in memory wins
      const winner = agents.get(agentId) ?? state
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

  return { load, get, mustGet }
}

export type Agents = ReturnType<typeof createAgents>
