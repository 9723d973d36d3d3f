// How the writer gets past a batch that fails to commit, as pure decisions over sizes and outcomes.
//
// A failed batch is followed by a probe: the same write with its text replaced by filler of the same size,
// leaving nothing behind. A probe that fails too means the storage itself refuses writes (locked, full, read-only, gone):
// the writer backs off and tries the same batch again, nothing is set aside. A probe that passes means something
// in the batch is refused for what it holds: the writer halves the batch from the head until the good items
// commit, and an item that fails alone twice, each time with the probe passing, is poison: set aside (lines) or
// refused (prompts, server events), and the queue moves on.

export interface Isolation {
  /** How many items from the head the next write takes. */
  size: number
  /** Items from the head that belong to a batch which failed: the full size returns once they are past. */
  narrowed: number
  /** Times the head item failed alone with the probe passing. */
  failures: number
}

/** What the writer does after a failed write and its probe. */
export type AfterFailure = 'retry' | 'back_off' | 'set_aside'

/** Failures alone (each with a passing probe) that make an item poison. */
export const POISON_FAILURES = 2

export function fresh (batchMax: number): Isolation {
  return { size: batchMax, narrowed: 0, failures: 0 }
}

/** How many of the `available` items at the head the next write takes. */
export function nextSize (state: Isolation, available: number): number {
  return Math.max(1, Math.min(state.size, available))
}

/** `count` items from the head were committed, or set aside. */
export function passed (state: Isolation, count: number, batchMax: number): Isolation {
  const narrowed = Math.max(0, state.narrowed - count)
  return { size: narrowed === 0 ? batchMax : state.size, narrowed, failures: 0 }
}

/** A write of `tried` items from the head failed; `probePassed`: the same write without its text went through. */
export function failed (state: Isolation, tried: number, probePassed: boolean, batchMax: number): { state: Isolation, then: AfterFailure } {
  // the storage refuses everything: try the same batch again later; what was learnt before still holds, and
  // nothing is learnt from this failure
  if (!probePassed) return { state, then: 'back_off' }
  if (tried > 1) {
    return { state: { size: Math.ceil(tried / 2), narrowed: Math.max(state.narrowed, tried), failures: 0 }, then: 'retry' }
  }
  const failures = state.failures + 1
  const next = { size: 1, narrowed: Math.max(state.narrowed, 1), failures }
  return { state: next, then: failures >= POISON_FAILURES ? 'set_aside' : 'retry' }
}

/** A write as the backend takes it, reduced to what a probe copies. */
export interface ProbeShape {
  rows: Array<{ content: string | null, metadata: Record<string, unknown> | null, line_uuid: string | null }>
  agents: Array<{ update: { info: string | null } }>
}

const filler = (text: string): string => 'x'.repeat(Buffer.byteLength(text))

/**
 * The same write with every text replaced by filler of the same byte length (and no line uuids): it needs the
 * same locks, pages and statements, so it fails when the storage does, not when one item's content is refused.
 */
export function probeOf<B extends ProbeShape> (batch: B): B {
  return {
    ...batch,
    rows: batch.rows.map(r => ({
      ...r,
      content: r.content === null ? null : filler(r.content),
      metadata: r.metadata === null ? null : { filler: filler(JSON.stringify(r.metadata)) },
      line_uuid: null
    })),
    agents: batch.agents.map(a => ({ ...a, update: { ...a.update, info: a.update.info === null ? null : JSON.stringify({ filler: filler(a.update.info) }) } }))
  }
}
