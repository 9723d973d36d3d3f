// The agent socket's close codes: every one the server sends and every one `agentlog connect` reacts to, chosen
// from recordings of what Claude Code does with each (docs/connect.md has the table).

export const CloseCodes = {
  /** A normal close: `agentlog connect` saying goodbye once its CLI has exited. */
  NORMAL: 1000,
  /** A normal close, sent when nothing was received for AGENT_IDLE_TIMEOUT_MS: the CLI reconnects if it is still there. */
  IDLE: 1000,
  /** The server is shutting down, or another instance serves the agent now: the CLI reconnects (there, or later). */
  GOING_AWAY: 1001,
  /** A WebSocket protocol error: the CLI, and `agentlog connect`, stop for good. */
  PROTOCOL_ERROR: 1002,
  /** Never sent: what a peer sees when the connection broke without a close frame (a reset, a crash). */
  ABNORMAL: 1006,
  /** A text frame that is not valid UTF-8 (ws closes with it): the CLI reconnects. */
  INVALID_UTF8: 1007,
  /** A frame over MAX_FRAME_BYTES (ws closes with it; the frame is lost): the CLI reconnects. */
  TOO_BIG: 1009,
  /** The server failed to handle what the agent sent: the CLI reconnects. */
  INTERNAL_ERROR: 1011,
  /** Replaced by a newer connection for the same agent: the CLI exits instead of dueling. */
  REPLACED: 4001,
  /** Refused for a reason retrying cannot fix (bad agent id, bad token): the CLI exits. */
  REFUSED: 4003
} as const

/** The runner socket's own close codes (`agentlog runner` stops on each: retrying cannot fix them). */
export const RunnerCloseCodes = {
  /** Another runner connected with the same name. */
  REPLACED: 4001,
  /** A bad name, a refused token, or another protocol version. */
  REFUSED: 4003,
  /** A message that is not one of the protocol's, or no hello in time. */
  BAD_MESSAGE: 4002
} as const
