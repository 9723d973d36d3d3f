// What the main thread and the SQLite writer thread say to each other: one message per request, small answers.

export interface WriterOptions {
  databasePath: string
  busyTimeoutMs: number
  synchronous: 'OFF' | 'NORMAL' | 'FULL' | 'EXTRA'
  /** better-sqlite3's entry point, resolved by the main thread (the thread may run under another loader). */
  driver: string
  seams: WriterSeams
}

/** Test and benchmark seams: parameters of the writer's factory, never configuration. */
export interface WriterSeams {
  /** Each commit waits this long inside its transaction, standing for a slow disk. */
  commitDelayMs?: number
  /** The thread ends itself at this point of its `batch`-th commit (counted from 1, per thread): a crash mid-batch. */
  crash?: { batch: number, at: 'in_transaction' | 'after_commit' }
  /** false: the full-text index is never caught up (benchmarks: what indexing costs). */
  searchIndex?: boolean
}

export type Request =
  /** `generation`: a commit after a failed one of the same generation is refused (it was planned on top of it). */
  | { op: 'commit', id: number, buffer: ArrayBuffer, generation: number }
  | { op: 'probe', id: number, buffer: ArrayBuffer }
  | { op: 'prune', id: number, agentKey: number, beforeSeq: number }
  | { op: 'hold', id: number }
  | { op: 'release', id: number }
  | { op: 'index', id: number }
  | { op: 'stats', id: number }
  | { op: 'stop', id: number }

export interface WriterStats {
  /** Milliseconds the thread spent on each kind of work since it started. */
  busyMs: { commit: number, index: number, merge: number, other: number }
  /** The longest single piece of each kind of work since the previous stats request. */
  slowestMs: { commit: number, index: number, merge: number, other: number }
  commits: number
  rowsCommitted: number
  rowsIndexed: number
}

export type Reply =
  | { op: 'ready' }
  | { op: 'done', id: number, ids?: Float64Array, buffer?: ArrayBuffer, stats?: WriterStats }
  | { op: 'failed', id: number, message: string, code: string | null, buffer?: ArrayBuffer }
  /** The full-text index now covers every event up to `through` (an event id). */
  | { op: 'indexed', through: number, newest: number }
  | { op: 'warn', message: string }
