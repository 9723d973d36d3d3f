// The write queue: everything to be written, in receive order, and its backpressure (full at QUEUE_MAX,
// drained again below half of it; the agent socket route pauses and resumes agents on these signals).
import type { Input, StoredEvent } from './types.js'

export interface Waiter {
  resolve: (events: StoredEvent[]) => void
  reject: (err: Error) => void
}

export interface Queued {
  input: Input
  /** Set for the inputs a caller waits on (prompts, server-made events, clears). */
  waiter: Waiter | null
}

export function createWriteQueue (max: number) {
  const items: Queued[] = []
  const pressureListeners = new Set<(full: boolean) => void>()
  let full = false

  function signal (value: boolean): void {
    full = value
    for (const l of pressureListeners) l(value)
  }

  return {
    push (item: Queued): void {
      items.push(item)
      if (!full && items.length >= max) signal(true)
    },
    /** The oldest `n` items, left in the queue until `remove` (a failed batch is tried again). */
    peek (n: number): Queued[] {
      return items.slice(0, n)
    },
    remove (n: number): void {
      items.splice(0, n)
      if (full && items.length < max / 2) signal(false)
    },
    /** Takes one item out from anywhere in the batch at the head (a line set aside). */
    removeItem (item: Queued): void {
      const i = items.indexOf(item)
      if (i !== -1) items.splice(i, 1)
    },
    get length (): number { return items.length },
    get isFull (): boolean { return full },
    onPressure (listener: (full: boolean) => void): () => void {
      pressureListeners.add(listener)
      return () => { pressureListeners.delete(listener) }
    }
  }
}

export type WriteQueue = ReturnType<typeof createWriteQueue>
