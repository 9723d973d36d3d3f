// The main thread's side of the SQLite writer thread: requests and their answers, the thread restarted when it
// dies (a commit it was running is looked for in the log, and sent again only when it is not there), and the
// hold/release pair other writers on the main connection take so that only one connection writes at a time.
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type SQLite from 'better-sqlite3'
import { encodeBatch } from '../batch-codec.js'
import type { CommitBatch } from '../backend.js'
import type { Reply, Request, WriterOptions, WriterSeams, WriterStats } from './protocol.js'

export interface WriterError extends Error {
  code?: string
}

export interface SqliteWriterOptions {
  databasePath: string
  busyTimeoutMs: number
  synchronous: WriterOptions['synchronous']
  /** The main thread's connection: after a crash, whether the commit in flight reached the log is read there. */
  reader: SQLite.Database
  onWarn: (message: string) => void
  seams?: WriterSeams
}

interface Pending {
  request: Request
  resolve: (reply: Extract<Reply, { op: 'done' }>) => void
  reject: (err: Error) => void
  /** A commit or probe, kept to be told apart (committed or not) and encoded again after a crash. */
  batch?: CommitBatch
  /** The thread it was posted to (a commit's buffer went with it). */
  sentTo: Worker | null
}

/** Restarts in a row (without an answer in between) after which requests fail instead of waiting for another. */
const MAX_RESTARTS = 5

// the thread's module sits next to this one: .ts under the test loader, .js when built
const THREAD_URL = new URL(`./thread${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

export function createSqliteWriter (opts: SqliteWriterOptions) {
  const workerData: WriterOptions = {
    databasePath: opts.databasePath,
    busyTimeoutMs: opts.busyTimeoutMs,
    synchronous: opts.synchronous,
    driver: createRequire(import.meta.url).resolve('better-sqlite3'),
    seams: opts.seams ?? {}
  }
  /** Requests not answered yet, in the order they were made (the order the thread runs them). */
  const pending = new Map<number, Pending>()
  const indexedListeners = new Set<(through: number) => void>()
  /** Buffers the thread handed back, reused for the next batches. */
  const spare: ArrayBuffer[] = []
  const findRow = opts.reader.prepare('select id from conversation_events where agent_key = ? and seq = ?').pluck()
  let nextId = 1
  let worker: Worker | null = null
  let ready: Promise<void> = Promise.resolve()
  /** Restarts since the thread last answered. */
  let restarts = 0
  let totalRestarts = 0
  let stopped = false
  /** The main thread holds the writer (see hold()): a new thread is held again before anything else. */
  let holding = false
  let indexedThrough = 0
  /** Commits of a generation after one of them failed are refused (see reset()); the thread checks it too. */
  let generation = 0
  let failedGeneration = -1

  function start (): void {
    const w = new Worker(THREAD_URL, { workerData })
    worker = w
    ready = new Promise<void>((resolve, reject) => {
      const onReady = (m: Reply): void => {
        if (m.op !== 'ready') return
        w.off('message', onReady)
        w.off('exit', onEarlyExit)
        resolve()
      }
      const onEarlyExit = (code: number): void => reject(new Error(`the SQLite writer thread exited with ${code} while starting`))
      w.on('message', onReady)
      w.once('exit', onEarlyExit)
    })
    ready.catch(() => {})
    w.on('message', (m: Reply) => {
      if (w !== worker) return
      switch (m.op) {
        case 'done':
        case 'failed': {
          const p = pending.get(m.id)
          if (p === undefined) return
          pending.delete(m.id)
          if (m.buffer !== undefined && spare.length < 4) spare.push(m.buffer)
          restarts = 0
          if (m.op === 'done') p.resolve(m)
          else {
            if (p.request.op === 'commit') failedGeneration = Math.max(failedGeneration, p.request.generation)
            p.reject(Object.assign(new Error(m.message), { code: m.code ?? undefined }) as WriterError)
          }
          return
        }
        case 'indexed':
          indexedThrough = m.through
          for (const l of indexedListeners) l(m.through)
          return
        case 'warn':
          opts.onWarn(m.message)
      }
    })
    // a thrown error ends the thread too: 'exit' follows and handles it
    w.on('error', (err) => opts.onWarn(`the SQLite writer thread failed: ${err.message}`))
    w.on('exit', (code) => {
      if (w !== worker || stopped) return
      recover(code).catch((err: unknown) => opts.onWarn(`could not restart the SQLite writer thread: ${String(err)}`))
    })
  }

  /**
   * The thread died with requests in flight. A commit whose first row is in the log committed (a batch's rows have
   * consecutive ids); one that is not there is sent again, as is everything else (a probe leaves nothing, a prune
   * and a hold can be repeated).
   */
  async function recover (code: number): Promise<void> {
    totalRestarts++
    restarts++
    worker = null
    opts.onWarn(`the SQLite writer thread exited with code ${code}; starting another (${pending.size} requests in flight)`)
    if (restarts > MAX_RESTARTS) {
      for (const p of pending.values()) p.reject(new Error(`the SQLite writer thread keeps dying (exit code ${code}); nothing more was written`))
      pending.clear()
    }
    // a thread that cannot even start is not started again and again at once
    if (restarts > 1) await new Promise(resolve => setTimeout(resolve, Math.min(5000, 50 * 2 ** restarts)))
    if (stopped) return
    start()
    try {
      await ready
    } catch {
      return
    }
    if (holding) (worker as Worker | null)?.postMessage({ op: 'hold', id: 0 } satisfies Request)
    for (const p of [...pending.values()]) {
      if (p.request.op === 'commit' && p.batch !== undefined && p.batch.rows.length > 0 && p.sentTo !== null) {
        const first = p.batch.rows[0]
        const id = findRow.get(first.agent_key, first.seq) as number | undefined
        if (id !== undefined) {
          pending.delete(p.request.id)
          p.resolve({ op: 'done', id: p.request.id, ids: Float64Array.from(p.batch.rows, (_, i) => id + i) })
          continue
        }
      }
      // its buffer went to the dead thread
      if ((p.request.op === 'commit' || p.request.op === 'probe') && p.sentTo !== null) {
        p.request = { ...p.request, buffer: encodeBatch(p.batch as CommitBatch).buffer }
      }
      post(p)
    }
  }

  function post (p: Pending): void {
    if (worker === null || p.sentTo === worker) return
    if (p.request.op === 'commit' && p.request.generation <= failedGeneration) {
      // a new thread does not know what failed before it: refused here
      pending.delete(p.request.id)
      p.reject(new Error('not written: an earlier batch it was planned on failed'))
      return
    }
    p.sentTo = worker
    const r = p.request
    worker.postMessage(r, r.op === 'commit' || r.op === 'probe' ? [r.buffer] : [])
  }

  function call (make: (id: number) => Request, batch?: CommitBatch): Promise<Extract<Reply, { op: 'done' }>> {
    if (stopped) return Promise.reject(new Error('the SQLite writer is stopped'))
    const request = make(nextId++)
    return new Promise((resolve, reject) => {
      const p: Pending = { request, resolve, reject, batch, sentTo: null }
      pending.set(request.id, p)
      // while a new thread starts, requests wait for it (recover() sends what was in flight first)
      ready.then(() => { if (pending.get(request.id) === p) post(p) }, () => {})
    })
  }

  function encoded (batch: CommitBatch): ArrayBuffer {
    return encodeBatch(batch, spare.pop() ?? null).buffer
  }

  start()

  return {
    /** Commits the batch in one transaction; resolves with the ids of its rows, in order. */
    async commit (batch: CommitBatch): Promise<number[]> {
      const reply = await call(id => ({ op: 'commit', id, buffer: encoded(batch), generation }), batch)
      return Array.from(reply.ids as Float64Array)
    },
    /** After a failed commit: the batches sent from now on are written again. */
    reset (): void {
      generation++
    },
    /** Runs the batch's statements leaving nothing behind: whether the storage takes this write at all. */
    async probe (batch: CommitBatch): Promise<void> {
      await call(id => ({ op: 'probe', id, buffer: encoded(batch) }), batch)
    },
    async prune (agentKey: number, beforeSeq: number): Promise<void> {
      await call(id => ({ op: 'prune', id, agentKey, beforeSeq }))
    },
    /** Waits until the thread has finished what it was doing; it writes nothing more until release(). */
    async hold (): Promise<void> {
      await call(id => ({ op: 'hold', id }))
      holding = true
    },
    release (): void {
      holding = false
      call(id => ({ op: 'release', id })).catch(() => {})
    },
    /** Brings the full-text index up to date now, in one go. */
    async indexNow (): Promise<void> {
      await call(id => ({ op: 'index', id }))
    },
    async stats (): Promise<WriterStats> {
      return (await call(id => ({ op: 'stats', id }))).stats as WriterStats
    },
    /** The newest event id the full-text index holds, as the thread last said (0 until it says). */
    get indexedThrough (): number { return indexedThrough },
    onIndexed (listener: (through: number) => void): () => void {
      indexedListeners.add(listener)
      return () => { indexedListeners.delete(listener) }
    },
    /** How busy the thread's event loop has been since it started (the bench reports it per thread). */
    eventLoopUtilization: () => worker?.performance.eventLoopUtilization() ?? null,
    get restarts (): number { return totalRestarts },
    /** Ends the thread (after what it is running), or terminates it after `deadlineMs`. */
    async stop (deadlineMs = 2000): Promise<void> {
      if (stopped) return
      const w = worker
      const stopping = call(id => ({ op: 'stop', id })).catch(() => {})
      stopped = true
      if (w !== null) {
        const exited = new Promise<void>(resolve => w.once('exit', () => resolve()))
        const timer = setTimeout(() => { w.terminate().catch(() => {}) }, deadlineMs)
        await Promise.race([stopping.then(() => exited), exited])
        clearTimeout(timer)
      }
      for (const p of pending.values()) p.reject(new Error('the SQLite writer is stopped'))
      pending.clear()
    }
  }
}

export type SqliteWriter = ReturnType<typeof createSqliteWriter>
