// What a request carrying an Idempotency-Key does, given what is stored under that key: a pure decision.

/** How long a key is remembered. */
export const KEY_TTL_MS = 24 * 60 * 60 * 1000
/**
 * A key taken by a request that never answered (its process died) is given up after this long: every operator
 * request ends well within it (its waits are bounded by WRITE_TIMEOUT_MS, CONTROL_WAIT_MS, CLEAR_CONTEXT_WAIT_MS).
 */
export const PENDING_TTL_MS = 2 * 60 * 1000

export interface StoredKey {
  /** What the first request was: method, path and body, hashed. */
  fingerprint: string
  /** Its answer, once there is one (null while it is being carried out). */
  status: number | null
  createdAt: string
}

export type Decision =
  /** Nothing stored (or only an expired key): carry the request out and store its answer. */
  | { then: 'proceed' }
  /** The same request was answered: send that answer again, do nothing. */
  | { then: 'replay' }
  /** The same request is being carried out now (here or on another instance). */
  | { then: 'in_progress' }
  /** The key was used for another request. */
  | { then: 'mismatch' }

export function decide (stored: StoredKey | null, fingerprint: string, now: number): Decision {
  if (stored === null) return { then: 'proceed' }
  const age = now - Date.parse(stored.createdAt)
  if (age >= KEY_TTL_MS || (stored.status === null && age >= PENDING_TTL_MS)) return { then: 'proceed' }
  if (stored.fingerprint !== fingerprint) return { then: 'mismatch' }
  return stored.status === null ? { then: 'in_progress' } : { then: 'replay' }
}

/** A key as clients send it: 1 to 255 printable ASCII characters. */
export function validKey (key: string): boolean {
  return /^[\x21-\x7e]{1,255}$/.test(key)
}
