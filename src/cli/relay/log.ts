// What `agentlog connect` says on stderr: warnings and errors always, the rest with --verbose.
import { parseJsonObject } from '../../protocol/ndjson.js'

export interface RelayLog {
  /** Said with --verbose only: connections, restarts, counts. */
  info (text: string): void
  /** Always said: what the command is doing, once, at the start. */
  notice (text: string): void
  warn (text: string): void
  error (text: string): void
}

export function relayLog (write: (line: string) => void, verbose: boolean): RelayLog {
  return {
    info (text) { if (verbose) write(`agentlog connect: ${text}`) },
    notice (text) { write(`agentlog connect: ${text}`) },
    warn (text) { write(`agentlog connect: warning: ${text}`) },
    error (text) { write(`agentlog connect: error: ${text}`) }
  }
}

/** "1 line", "3 lines". */
export function lines (n: number): string {
  return n === 1 ? '1 line' : `${n} lines`
}

/** A line's type as the log names it: "assistant", or "unparsed". */
export function kindOf (line: string): string {
  return parseJsonObject(line)?.type ?? 'unparsed'
}

/** "a 300123-byte assistant line". */
export function sizedLine (line: string): string {
  return `a ${Buffer.byteLength(line)}-byte ${kindOf(line)} line`
}
