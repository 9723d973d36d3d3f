// When the CLI exits, whether `agentlog connect` starts it again (with --resume) and after how long. Pure.

export interface RestartPolicy {
  /** Restarts allowed within windowMs; 0: never restart. */
  maxRestarts: number
  windowMs: number
  /** The first restart waits this long; each further one in the window twice as long, up to maxDelayMs. */
  delayMs: number
  maxDelayMs: number
}

export interface CliExit {
  /** We asked it to stop (a signal passed on, the server refused the agent, a /clear replacement). */
  asked: boolean
  code: number | null
  signal: string | null
  /** It wrote at least one line: it got as far as running (a CLI that fails on its arguments writes none). */
  ranOnce: boolean
}

export type ExitDecision =
  | { restart: true, delayMs: number, attempt: number }
  | { restart: false, why: 'asked' | 'finished' | 'failed_to_start' | 'too_many_restarts' }

/**
 * Decides on one exit, given the times (ms) of the restarts already made; returns the decision and the times
 * to keep (those still inside the window, plus this restart's).
 */
export function decideOnExit (exit: CliExit, restarts: number[], now: number, policy: RestartPolicy): { decision: ExitDecision, restarts: number[] } {
  const recent = restarts.filter(at => now - at < policy.windowMs)
  if (exit.asked) return { decision: { restart: false, why: 'asked' }, restarts: recent }
  // exit 0 is the CLI ending its session by itself (standard input closed, end_session): nothing died
  if (exit.code === 0 && exit.signal === null) return { decision: { restart: false, why: 'finished' }, restarts: recent }
  if (!exit.ranOnce) return { decision: { restart: false, why: 'failed_to_start' }, restarts: recent }
  if (recent.length >= policy.maxRestarts) return { decision: { restart: false, why: 'too_many_restarts' }, restarts: recent }
  const delayMs = Math.min(policy.maxDelayMs, policy.delayMs * 2 ** recent.length)
  return { decision: { restart: true, delayMs, attempt: recent.length + 1 }, restarts: [...recent, now] }
}

/** Arguments for the restarted CLI: the user's, without any session choice of theirs, resuming the last session. */
export function resumeArgs (args: string[], sessionId: string | null, withoutResume: (args: string[]) => string[]): string[] {
  const base = withoutResume(args)
  return sessionId === null ? base : [...base, '--resume', sessionId]
}
