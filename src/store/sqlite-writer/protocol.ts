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
  /**
   * Storage faults set from the test's thread (shared memory, read before each write): [0] a page limit for the
   * writer's connection (0: none; SQLITE_FULL past it), [1] 1: the connection refuses writes (SQLITE_READONLY).
   */
  faults?: Int32Array
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
  /** Events committed that search does not cover yet, and how long ago the oldest of them was committed. */
  indexLag: { events: number, ms: number }
}

export type Reply =
  | { op: 'ready' }
  | { op: 'done', id: number, ids?: Float64Array, buffer?: ArrayBuffer, stats?: WriterStats }
  | { op: 'failed', id: number, message: string, code: string | null, buffer?: ArrayBuffer }
  /** The full-text index now covers every event up to `through` (an event id). */
  | { op: 'indexed', through: number, newest: number }
  | { op: 'warn', message: string }
