// Faults: the database locked by another process, the disk full, the files read-only. The server must say it is
// not ready, keep its unsaved queue bounded, log the failure, retry with backoff and lose nothing once it clears.
import { test } from 'tap'
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { sql } from 'kysely'
import type { FastifyInstance } from 'fastify'
import type WebSocket from 'ws'
import { build, tempDatabasePath, type TestContext, sqlitePassOnly } from './helper.js'
import {
  allEvents, getJson, latestSeq, openAgent, roundTrip, sendFrame, seqProblem, startServer, textLine, waitFor,
  type LogLine, type ServerProcess
} from './support/server-process.js'

const QUEUE_MAX = 100
const AGENTS = ['store-a', 'store-b', 'store-c']
const BASELINE = 20
/** Lines each agent pushes while the fault lasts: several times the queue bound. */
const DURING = 400
/** ~2 kB lines; a 64 kB socket read holds ~32 of them, which may still be parsed after the pause. */
const PAD = 'y'.repeat(2000)

/** The server under test: a real process, or (where the fault needs the writer's own connection) the app in-process. */
interface Target {
  url: string
  wsUrl: string
  /** Write failures so far (from the log, or the store's counter in-process). */
  failures: () => number
  process: ServerProcess | null
}

interface Fault {
  name: string
  /** What the server's last_error must say while the fault lasts. */
  error: RegExp
  apply: () => Promise<void> | void
  clear: () => Promise<void> | void
}

interface Sent { uuid: string, json: string, text: string }

const ENV = { QUEUE_MAX: String(QUEUE_MAX), SQLITE_BUSY_TIMEOUT_MS: '100' }

function failureLogs (server: ServerProcess): LogLine[] {
  return server.logs.filter(l => l.msg === 'event batch failed to commit; will retry')
}

async function processTarget (t: TestContext, databasePath: string): Promise<Target> {
  const server = await startServer(t, { databasePath, env: ENV, sqlite: true })
  return { url: server.url, wsUrl: server.wsUrl, failures: () => failureLogs(server).length, process: server }
}

/** The in-process fallbacks fault the writer thread's connection through its seam: [page limit, read-only]. */
async function inProcessTarget (t: TestContext, databasePath: string): Promise<{ target: Target, app: FastifyInstance, faults: Int32Array }> {
  const faults = new Int32Array(new SharedArrayBuffer(8))
  const app = await build(t, { databasePath, env: ENV, sqlite: true, seams: { writer: { faults } } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no TCP address')
  const url = `http://127.0.0.1:${address.port}`
  return { app, faults, target: { url, wsUrl: url.replace(/^http/, 'ws'), failures: () => app.events.stats.writeErrors, process: null } }
}

/** The test object tap passes to a test function. */
type Tap = Parameters<Parameters<typeof test>[0]>[0]

/** The whole fault drill against one server: apply, watch it degrade safely, clear, watch it recover. */
async function drill (t: Tap, target: Target, fault: Fault): Promise<void> {
  const sent = new Map<string, Sent[]>(AGENTS.map(a => [a, []]))
  const sockets = new Map<string, WebSocket>()
  t.teardown(() => { for (const ws of sockets.values()) ws.terminate() })
  const more = (agentId: string, n: number): Sent[] => {
    const lines = sent.get(agentId) as Sent[]
    const added: Sent[] = []
    for (let i = 0; i < n; i++) {
      const text = `${agentId} line ${lines.length} ${PAD}`
      lines.push({ ...textLine(text), text })
      added.push(lines[lines.length - 1])
    }
    return added
  }

  for (const agentId of AGENTS) {
    const ws = await openAgent(target.wsUrl, agentId)
    sockets.set(agentId, ws)
    await sendFrame(ws, more(agentId, BASELINE).map(l => l.json).join(''))
    await roundTrip(ws)
  }
  for (const agentId of AGENTS) {
    await waitFor(`${agentId}'s first lines to be committed`, async () => (await latestSeq(target.url, agentId)) === BASELINE ? true : undefined)
  }

  await fault.apply()
  t.teardown(fault.clear)
  const faultAt = Date.now()
  // the agents keep streaming; TCP flow control holds back what the paused sockets do not read
  let handed = 0
  const pumps = AGENTS.map(async (agentId) => {
    const ws = sockets.get(agentId) as WebSocket
    for (let i = 0; i < DURING; i += 10) {
      await sendFrame(ws, more(agentId, 10).map(l => l.json).join(''))
      handed += 10
    }
  })

  let maxDepth = 0
  const ready = async (): Promise<{ status: number, body: any }> => {
    const res = await getJson(`${target.url}/health/ready`)
    maxDepth = Math.max(maxDepth, res.body.queue_depth)
    return res
  }
  // the queue may fill (a 503 naming QUEUE_MAX) before the first commit has failed; the write error then takes over
  const down = await waitFor('GET /health/ready to answer 503 with the write error', async () => {
    const res = await ready()
    return res.status === 503 && typeof res.body.last_error === 'string' && fault.error.test(res.body.last_error) ? res.body : undefined
  })
  const downMs = Date.now() - faultAt
  t.match(down.last_error, fault.error, `503 names the cause: ${down.last_error}`)
  // the agents go on handing the server far more lines than the queue may hold, for several retries
  // once full, the sockets stay paused until the queue is below half (a batch may still commit in between: a full
  // disk can take a small write into space the WAL already holds)
  await waitFor('the queue to fill, the agents to send 3x more and the writer to fail 6 times', async () => {
    const res = await ready()
    return res.body.queue_depth >= QUEUE_MAX / 2 && handed >= 3 * QUEUE_MAX && target.failures() >= 6 ? true : undefined
  })
  for (let i = 0; i < 5; i++) t.equal((await ready()).status, 503, 'still not ready while the fault lasts')
  const slack = AGENTS.length * 40
  t.ok(maxDepth <= QUEUE_MAX + slack, `queue depth stayed bounded: max ${maxDepth} (QUEUE_MAX ${QUEUE_MAX} + ${slack} already read)`)
  t.ok(handed > maxDepth, `the agents had handed ${handed} lines to their sockets, more than the queue ever held`)
  const history = await getJson(`${target.url}/agents/${AGENTS[0]}/events?limit=5`)
  t.equal(history.status, 200, 'history stays readable during the fault')

  const failuresDuring = target.failures()
  await fault.clear()
  const clearedAt = Date.now()
  await waitFor('GET /health/ready to answer 200 again', async () => (await ready()).status === 200 ? true : undefined, 20000)
  const recoveredMs = Date.now() - clearedAt
  await Promise.all(pumps)
  for (const agentId of AGENTS) await roundTrip(sockets.get(agentId) as WebSocket, 30000)
  for (const agentId of AGENTS) {
    const lines = sent.get(agentId) as Sent[]
    await waitFor(`${agentId}: all ${lines.length} lines committed`, async () => (await latestSeq(target.url, agentId)) >= lines.length ? true : undefined, 30000)
    const events = await allEvents(target.url, agentId)
    t.equal(seqProblem(events), null, `${agentId}: seq 1..${events.length} without gap or repeat`)
    t.same(events.map(e => e.content), lines.map(l => l.text), `${agentId}: all ${lines.length} lines stored once, in order`)
  }

  if (target.process !== null) {
    const server = target.process
    t.equal(server.exitCode(), null, 'no crash: the same process ran throughout')
    const logs = failureLogs(server)
    t.ok(logs.every(l => fault.error.test(String((l.err as { message?: unknown } | undefined)?.message))), 'each failure is logged at error level with its cause')
    const delays = logs.map(l => l.retryInMs as number)
    t.same(delays.slice(0, 6), [50, 100, 200, 400, 800, 1600], 'the writer backs off: 50, 100, 200, 400, 800, 1600 ms ...')
    t.ok(delays.every(d => d <= 5000), 'backoff is capped at 5 s')
    t.ok(server.logs.some(l => l.msg === 'write queue full: pausing agent sockets'), 'logged: agent sockets paused')
    t.ok(server.logs.some(l => l.msg === 'write queue drained: resuming agent sockets'), 'logged: agent sockets resumed')
    t.ok(server.logs.some(l => l.msg === 'event batch committed: writes recovered'), 'logged: writes recovered')
  }
  t.comment(`${fault.name}: 503 ${downMs} ms after the fault, ${failuresDuring} failed commits in ${clearedAt - faultAt} ms, ` +
    `max queue depth ${maxDepth}, ready again ${recoveredMs} ms after the fault cleared, nothing lost`)
}

test('database locked by another connection (SQLITE_BUSY): 503, bounded queue, backoff, full recovery', { skip: sqlitePassOnly }, async (t) => {
  const databasePath = tempDatabasePath(t)
  const target = await processTarget(t, databasePath)
  let locker: SQLite.Database | null = null
  await drill(t, target, {
    name: 'locked',
    error: /database is locked/,
    apply () {
      // what a backup tool or a stray sqlite3 shell holding a write transaction does
      locker = new SQLite(databasePath)
      locker.exec('BEGIN EXCLUSIVE')
    },
    clear () {
      if (locker === null) return
      locker.exec('COMMIT')
      locker.close()
      locker = null
    }
  })
})

function mountTmpfs (dir: string, sizeMb: number): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m`, 'tmpfs', dir], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

test('disk full (SQLITE_FULL): 503, bounded queue, backoff, full recovery', { skip: sqlitePassOnly }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-full-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const filler = join(dir, 'filler')
  if (mountTmpfs(dir, 48)) {
    // a real full file system: a small tmpfs, filled up to the last byte
    t.teardown(() => { execFileSync('umount', ['-l', dir]) })
    const target = await processTarget(t, join(dir, 'agentlog.db'))
    await drill(t, target, {
      name: 'disk full (tmpfs)',
      error: /database or disk is full/,
      apply () {
        const fd = openSync(filler, 'w')
        const block = Buffer.alloc(1024 * 1024)
        try {
          for (let i = 0; i < 1000; i++) writeSync(fd, block)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
        } finally {
          closeSync(fd)
        }
      },
      clear () { rmSync(filler, { force: true }) }
    })
    return
  }
  // no mount privilege: cap the writer connection's database size instead (same SQLITE_FULL)
  t.comment('tmpfs cannot be mounted here: simulating a full disk with PRAGMA max_page_count')
  const { app, target, faults } = await inProcessTarget(t, join(dir, 'agentlog.db'))
  await drill(t, target, {
    name: 'disk full (max_page_count)',
    error: /database or disk is full/,
    async apply () {
      const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(app.db)
      Atomics.store(faults, 0, rows[0].page_count)
    },
    clear () { Atomics.store(faults, 0, 0) }
  })
})

/** chattr +i makes a file refuse writes even through descriptors already open, even for root (ext4, xfs, btrfs). */
function immutableWorks (dir: string): boolean {
  const probe = join(dir, 'probe')
  const fd = openSync(probe, 'w')
  try {
    execFileSync('chattr', ['+i', probe], { stdio: 'ignore' })
  } catch {
    closeSync(fd)
    return false
  }
  let refused = false
  try {
    writeSync(fd, 'x')
  } catch {
    refused = true
  }
  execFileSync('chattr', ['-i', probe], { stdio: 'ignore' })
  closeSync(fd)
  unlinkSync(probe)
  return refused
}

test('database files turned read-only: 503, bounded queue, backoff, full recovery', { skip: sqlitePassOnly }, async (t) => {
  const databasePath = tempDatabasePath(t)
  const dir = join(databasePath, '..')
  if (immutableWorks(dir)) {
    const files = [databasePath, `${databasePath}-wal`]
    const target = await processTarget(t, databasePath)
    let applied = false
    await drill(t, target, {
      name: 'read-only (chattr +i)',
      error: /disk I\/O error|readonly/,
      apply () {
        execFileSync('chattr', ['+i', ...files])
        applied = true
      },
      clear () {
        if (!applied) return
        execFileSync('chattr', ['-i', ...files])
        applied = false
      }
    })
    return
  }
  // no immutable flag on this file system: make the writer's connection read-only instead (SQLITE_READONLY)
  t.comment('chattr +i is not available here: simulating a read-only database with PRAGMA query_only')
  const { target, faults } = await inProcessTarget(t, databasePath)
  await drill(t, target, {
    name: 'read-only (query_only)',
    error: /readonly/,
    apply () { Atomics.store(faults, 1, 1) },
    clear () { Atomics.store(faults, 1, 0) }
  })
})
