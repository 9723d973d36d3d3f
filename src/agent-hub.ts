// The agents' live sockets: one per agent, newest wins; how prompts and /clear reach an agent.
// plugins/agent-hub.ts decorates the app with one.
import type { WebSocket } from 'ws'
import { CloseCodes } from './protocol/close-codes.js'

export type ConnectionState = 'connected' | 'disconnected'

export interface AgentConnection {
  agentId: string
  socket: WebSocket
  connectedAt: string
  /** The CLI's session id as last reported, used as session_id on prompts we send. */
  claudeSessionId: string | null
  malformedLines: number
}

/** Why an agent's line was skipped. */
export type RejectedLine = 'invalid_json' | 'missing_type' | 'too_deep' | 'binary' | 'frame_too_big' | 'invalid_utf8'

export interface AgentHub {
  /** Lines skipped because they could not be used, by reason. */
  rejectedLines: Record<RejectedLine, number>
  /** Makes the socket the agent's connection; a previous one is closed (replaced). */
  attach: (agentId: string, socket: WebSocket) => AgentConnection
  /** Forgets the connection if it is still the agent's current one; true when it was. */
  detach: (conn: AgentConnection) => boolean
  get: (agentId: string) => AgentConnection | undefined
  isConnected: (agentId: string) => boolean
  /** Sends one stream-json line; every line must end with a newline or the CLI waits forever. */
  sendLine: (agentId: string, message: unknown) => boolean
  sendUserMessage: (agentId: string, content: string) => boolean
  /** Closes every agent socket and waits (a bounded time) until each has closed, so their last lines are in. */
  closeAll: (code: number, reason: string, waitMs?: number) => Promise<void>
  onChange: (listener: (agentId: string, state: ConnectionState) => void) => () => void
  readonly size: number
  ids: () => string[]
}

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
