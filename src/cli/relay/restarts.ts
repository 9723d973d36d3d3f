// When the CLI exits, whether `agentlog connect` starts it again (with --resume) and after how long, and with which
// arguments a new process starts. Pure.
import { constants as osConstants } from 'node:os'

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

/** The status a process exits with: its code, or 128 + the signal's number (as a shell reports it). */
export function exitStatus (code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal !== null ? osConstants.signals[signal] ?? 0 : 0)
}

/** How it exited, for the log: "code 1", "signal SIGKILL". */
export function describeExit (code: number | null, signal: NodeJS.Signals | null): string {
  return code !== null ? `code ${code}` : `signal ${signal ?? '?'}`
}

/** Arguments that would bring the old conversation back into a fresh process. */
export function withoutResume (args: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--continue' || a === '-c' || a === '--fork-session') continue
    if (a === '--resume' || a === '-r' || a === '--session-id') {
      // --resume takes an optional value; a following flag is not one
      if (i + 1 < args.length && !args[i + 1].startsWith('-')) i++
      continue
    }
    if (a.startsWith('--resume=') || a.startsWith('--session-id=')) continue
    out.push(a)
  }
  return out
}

/** Arguments for the restarted CLI: the user's, without any session choice of theirs, resuming the last session. */
export function resumeArgs (args: string[], sessionId: string | null): string[] {
  const base = withoutResume(args)
  return sessionId === null ? base : [...base, '--resume', sessionId]
}
