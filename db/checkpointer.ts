// Copies the SQLite write-ahead log back into the database file from a worker thread, so the writer's commits
// never pay for a checkpoint (the cause of its latency spikes) and the copying runs on another core.
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

// plain CommonJS, so the worker runs the same under the TypeScript loader and from dist/
const source = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.path)
db.pragma('busy_timeout = 0')
// a failure is said once per streak (it repeats every interval while the disk is full)
let failing = null
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)')
    failing = null
  } catch (err) {
    const message = String(err && err.message)
    if (message !== failing) parentPort.postMessage(message)
    failing = message
  }
}, workerData.intervalMs)
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close() })
`

export interface Checkpointer {
  stop: () => Promise<void>
}

export function startCheckpointer (path: string, intervalMs: number, onError: (message: string) => void): Checkpointer {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3')
  const worker = new Worker(source, { eval: true, workerData: { path, intervalMs, driver } })
  worker.on('message', (message: string) => onError(message))
  worker.on('error', (err) => onError(err.message))
  // never keeps the process alive on its own
  worker.unref()
  return {
    async stop () {
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
      worker.postMessage('stop')
      const timer = setTimeout(() => { worker.terminate().catch(() => {}) }, 2000)
      await exited
      clearTimeout(timer)
    }
  }
}
