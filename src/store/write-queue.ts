// The write queue: everything to be written, in receive order, and its backpressure (full at QUEUE_MAX,
// drained again below half of it; the agent socket route pauses and resumes agents on these signals).
import type { ExclusiveItem } from './exclusive.js'
import type { Input, StoredEvent } from './types.js'

export interface Waiter {
  resolve: (events: StoredEvent[]) => void
  reject: (err: Error) => void
}

export type Queued =
  | {
    kind: 'input'
    input: Input
    /** Set for the inputs a caller waits on (prompts, server-made events, clears). */
    waiter: Waiter | null
  }
  | { kind: 'exclusive', item: ExclusiveItem }

export function createWriteQueue (max: number) {
  const items: Queued[] = []
  /** When each item was queued (performance.now(), so a wall-clock step changes nothing), in step with `items`. */
  const queuedAt: number[] = []
  const pressureListeners = new Set<(full: boolean) => void>()
  let full = false

  function signal (value: boolean): void {
    full = value
    for (const l of pressureListeners) l(value)
  }

  return {
    push (item: Queued): void {
      items.push(item)
      queuedAt.push(performance.now())
      if (!full && items.length >= max) signal(true)
    },
    /**
     * The oldest inputs up to `n`, ending before the next exclusive write; left in the queue until `remove`
     * (a failed batch is tried again).
     */
    peek (n: number): Array<Extract<Queued, { kind: 'input' }>> {
      return this.peekFrom(0, n)
    },
    /** The inputs from position `from` up to `n` of them, ending before the next exclusive write. */
    peekFrom (from: number, n: number): Array<Extract<Queued, { kind: 'input' }>> {
      const out: Array<Extract<Queued, { kind: 'input' }>> = []
      for (let i = from; i < items.length && out.length < n; i++) {
        const q = items[i]
        if (q.kind !== 'input') break
        out.push(q)
      }
      return out
    },
    /** The item at a position (0: the head), if any. */
    at (i: number): Queued | undefined {
      return items[i]
    },
    /** The exclusive write at the head of the queue, if that is what comes next. */
    head (): Queued | undefined {
      return items[0]
    },
    remove (n: number): void {
      items.splice(0, n)
      queuedAt.splice(0, n)
      if (full && items.length < max / 2) signal(false)
    },
    /** Where an item is (0: the head), or -1. */
    indexOf (item: Queued): number {
      return items.indexOf(item)
    },
    /** Takes one item out if it is still queued (a wait on it ran out); whether it was. */
    cancel (item: Queued): boolean {
      const i = items.indexOf(item)
      if (i === -1) return false
      items.splice(i, 1)
      queuedAt.splice(i, 1)
      if (full && items.length < max / 2) signal(false)
      return true
    },
    /** Takes every queued item of these agents out (another instance writes them now) and returns them. */
    drop (agentIds: Set<string>): Queued[] {
      const gone: Queued[] = []
      let kept = 0
      for (let i = 0; i < items.length; i++) {
        const q = items[i]
        const agentId = q.kind === 'input' ? q.input.agentId : q.item.agentId
        if (agentIds.has(agentId)) gone.push(q)
        else {
          queuedAt[kept] = queuedAt[i]
          items[kept++] = q
        }
      }
      items.length = kept
      queuedAt.length = kept
      return gone
    },
    get length (): number { return items.length },
    get isFull (): boolean { return full },
    /** How long the oldest item (the head of the batch being written) has waited, in ms; 0 when empty. */
    get oldestWaitMs (): number { return items.length === 0 ? 0 : Math.round(performance.now() - queuedAt[0]) },
    onPressure (listener: (full: boolean) => void): () => void {
      pressureListeners.add(listener)
      return () => { pressureListeners.delete(listener) }
    }
  }
}

export type WriteQueue = ReturnType<typeof createWriteQueue>
