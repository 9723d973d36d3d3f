// The agents' live sockets: one per agent, newest wins; how prompts and /clear reach an agent.
import fp from 'fastify-plugin'
import type { WebSocket } from 'ws'
import type { AgentConnection, AgentHub, ConnectionState } from '../src/agent-hub.js'

declare module 'fastify' {
  interface FastifyInstance { agents: AgentHub }
}

/** Close codes, as the Claude Code CLI reacts to them (see README). */
export const CloseCodes = {
  /** Nothing received for AGENT_IDLE_TIMEOUT_MS: the CLI reconnects (about a second later) if it is still there. */
  IDLE: 1000,
  /** Server shutting down: the CLI reconnects when the server is back. */
  GOING_AWAY: 1001,
  /** A frame over MAX_FRAME_BYTES. */
  TOO_BIG: 1009,
  /** The server failed to handle what the agent sent: the CLI reconnects. */
  INTERNAL_ERROR: 1011,
  /** Replaced by a newer connection for the same agent: the CLI exits instead of dueling. */
  REPLACED: 4001,
  /** Refused for a reason retrying cannot fix (bad agent id, bad token): the CLI exits. */
  REFUSED: 4003
} as const

export function createAgentHub (): AgentHub {
  const connections = new Map<string, AgentConnection>()
  const listeners = new Set<(agentId: string, state: ConnectionState) => void>()

  function notify (agentId: string, state: ConnectionState): void {
    for (const l of listeners) l(agentId, state)
  }

  return {
    rejectedLines: { invalid_json: 0, missing_type: 0, too_deep: 0, binary: 0, frame_too_big: 0, invalid_utf8: 0 },
    attach (agentId: string, socket: WebSocket): AgentConnection {
      const previous = connections.get(agentId)
      const conn: AgentConnection = { agentId, socket, connectedAt: new Date().toISOString(), claudeSessionId: null, malformedLines: 0 }
      connections.set(agentId, conn)
      if (previous !== undefined) {
        conn.claudeSessionId = previous.claudeSessionId
        previous.socket.close(CloseCodes.REPLACED, 'replaced by a newer connection')
      }
      notify(agentId, 'connected')
      return conn
    },
    detach (conn: AgentConnection): boolean {
      if (connections.get(conn.agentId) !== conn) return false
      connections.delete(conn.agentId)
      notify(conn.agentId, 'disconnected')
      return true
    },
    get (agentId: string): AgentConnection | undefined {
      return connections.get(agentId)
    },
    isConnected (agentId: string): boolean {
      const c = connections.get(agentId)
      return c !== undefined && c.socket.readyState === c.socket.OPEN
    },
    sendLine (agentId: string, message: unknown): boolean {
      const c = connections.get(agentId)
      if (c === undefined || c.socket.readyState !== c.socket.OPEN) return false
      c.socket.send(JSON.stringify(message) + '\n')
      return true
    },
    sendUserMessage (agentId: string, content: string): boolean {
      const c = connections.get(agentId)
      return this.sendLine(agentId, {
        type: 'user',
        message: { role: 'user', content },
        parent_tool_use_id: null,
        session_id: c?.claudeSessionId ?? ''
      })
    },
    async closeAll (code: number, reason: string, waitMs = 2000): Promise<void> {
      const open = [...connections.values()].map(c => c.socket)
      await Promise.all(open.map(socket => new Promise<void>((resolve) => {
        if (socket.readyState === socket.CLOSED) { resolve(); return }
        const timer = setTimeout(() => { socket.terminate(); resolve() }, waitMs)
        socket.once('close', () => { clearTimeout(timer); resolve() })
        socket.close(code, reason)
      })))
    },
    onChange (listener: (agentId: string, state: ConnectionState) => void): () => void {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    get size () { return connections.size },
    ids (): string[] { return [...connections.keys()] }
  }
}

export default fp(async function agentHub (fastify) {
  fastify.decorate('agents', createAgentHub())
}, { name: 'agent-hub' })
