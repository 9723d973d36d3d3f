// Which line a close blames for being too big for the server: pure.
import { CloseCodes } from '../../protocol/close-codes.js'

/** A line sent on the current connection, and when (ms). */
export interface Sent { line: string, at: number }

/** How recently (ms) a line must have been sent for a broken connection (1006) to be laid at its door. */
export const SUSPECT_WITHIN_MS = 2000

/**
 * A frame over the server's limit closes the socket with 1009, or, when the server resets the connection before
 * that close frame gets through, with 1006. Either way the culprit must not go out again, or every reconnect's
 * replay would close the socket again, forever. With 1009 it is the longest line sent on that connection; with
 * 1006 only when the same line was the longest sent just before two closes in a row (the first makes it the
 * suspect). Any other close clears the suspicion.
 */
export function blameTooBig (sent: Sent[], code: number, now: number, suspect: string | null): { culprit: string | null, suspect: string | null } {
  if (code !== CloseCodes.TOO_BIG && code !== CloseCodes.ABNORMAL) return { culprit: null, suspect: null }
  const since = now - SUSPECT_WITHIN_MS
  let longest: string | null = null
  for (const s of sent) {
    if ((code === CloseCodes.TOO_BIG || s.at >= since) && (longest === null || s.line.length > longest.length)) longest = s.line
  }
  if (longest === null) return { culprit: null, suspect }
  if (code === CloseCodes.ABNORMAL && longest !== suspect) return { culprit: null, suspect: longest }
  return { culprit: longest, suspect: null }
}
