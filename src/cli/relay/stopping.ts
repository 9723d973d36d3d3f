// How the relay ends once its CLI is gone or must go: pure.

export interface Ending {
  /** The server refused the agent for good, or the CLI could not be started: nothing more to deliver. */
  fatal: boolean
  cliRunning: boolean
  connected: boolean
  /** Lines held while disconnected, not delivered yet. */
  held: number
}

/**
 * 'stop_cli': a fatal end with the CLI still running: stop it, then finish. 'finish': nothing left to do.
 * 'goodbye': close the socket after what is queued on it, then finish. 'drain': lines are held and the socket is
 * down: wait a while for a reconnect to deliver them.
 */
export function howToStop (now: Ending): 'stop_cli' | 'finish' | 'goodbye' | 'drain' {
  if (now.fatal) return now.cliRunning ? 'stop_cli' : 'finish'
  if (now.connected) return 'goodbye'
  return now.held === 0 ? 'finish' : 'drain'
}
