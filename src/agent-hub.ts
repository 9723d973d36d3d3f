// The agents' live sockets, as the engines see them: one per agent, newest wins; how prompts and /clear reach an
// agent. Implemented by plugins/agent-hub.ts (which moves here with the close codes, src/protocol/close-codes.ts).
import type { WebSocket } from 'ws'

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
