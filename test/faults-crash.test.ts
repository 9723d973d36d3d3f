// Fault: the server is killed with SIGKILL in the middle of heavy ingest and restarted on the same database.
import { test } from 'tap'
import SQLite from 'better-sqlite3'
import { sql } from 'kysely'
import type WebSocket from 'ws'
import { build, tempDatabasePath, sqlitePassOnly } from './helper.js'
import {
  allEvents, getJson, latestSeq, openAgent, roundTrip, sendFrame, seqProblem, startServer, textLine, waitFor
} from './support/server-process.js'

const AGENTS = ['crash-a', 'crash-b', 'crash-c', 'crash-d']
const BEFORE_CLEAR = 10
/** Committed events (all agents) after which the kill lands; the senders are still going flat out then. */
const KILL_AFTER = 6000
/** How far back before the last line known committed the reconnecting agent starts its replay. */
const REPLAY_OVERLAP = 500
const AFTER_RESTART = 10

interface Sent { uuid: string, json: string, index: number }

function lineIndex (content: string): number {
  const match = /^line (\d+) /.exec(content)
  if (match === null) throw new Error(`not one of our lines: ${content.slice(0, 60)}`)
  return Number(match[1])
}

function makeLine (agentId: string, index: number): Sent {
  // ~300 bytes, like a short assistant reply
  return { ...textLine(`line ${index} of ${agentId} ${'x'.repeat(260)}`), index }
}

test('kill -9 during heavy ingest: committed events survive, seq continues, sessions unchanged, replay adds no copy', { skip: sqlitePassOnly }, async (t) => {
  const databasePath = tempDatabasePath(t)
  const env = { CLEAR_CONTEXT_WAIT_MS: '100' }
  const server = await startServer(t, { databasePath, env, sqlite: true })
  const sent = new Map<string, Sent[]>(AGENTS.map(a => [a, []]))
  const sockets = new Map<string, WebSocket>()

  // a first session, then a clear: session numbers must come back exactly as they were
  for (const agentId of AGENTS) {
    const ws = await openAgent(server.wsUrl, agentId)
    sockets.set(agentId, ws)
    const lines = sent.get(agentId) as Sent[]
    for (let i = 0; i < BEFORE_CLEAR; i++) lines.push(makeLine(agentId, i))
    await sendFrame(ws, lines.map(l => l.json).join(''))
    await roundTrip(ws)
    const clear = await getJson(`${server.url}/agents/${agentId}/clear-context`, { method: 'POST' })
    t.equal(clear.status, 200, `${agentId}: clear-context answered`)
    t.equal(clear.body.session_number, 1, `${agentId}: the clear started session 1`)
  }
  const sessionsBefore = new Map<string, any>()
  for (const agentId of AGENTS) {
    sessionsBefore.set(agentId, (await getJson(`${server.url}/agents/${agentId}/sessions`)).body)
  }

  // heavy ingest: every agent streams 20-line frames as fast as the kernel takes them, with a round trip
  // every 500 lines so it cannot run arbitrarily far ahead of what the server has read
  const run = { stopped: false }
  const pumps = AGENTS.map(async (agentId) => {
    const ws = sockets.get(agentId) as WebSocket
    const lines = sent.get(agentId) as Sent[]
    for (let frames = 1; !run.stopped; frames++) {
      const frame: Sent[] = []
      for (let i = 0; i < 20; i++) frame.push(makeLine(agentId, lines.length + i))
      lines.push(...frame)
      try {
        await sendFrame(ws, frame.map(l => l.json).join(''))
        if (frames % 25 === 0) await roundTrip(ws)
      } catch {
        return // the server is gone
      }
    }
  })
  t.teardown(() => {
    run.stopped = true
    for (const ws of sockets.values()) ws.terminate()
  })

  // the kill lands once enough is committed; the listing's last_seq (one snapshot of what is committed, for
  // every agent at once) taken just before is the lower bound
  const committedBefore = await waitFor('the server to commit enough events to kill it mid-ingest', async () => {
    const { body } = await getJson(`${server.url}/agents`)
    const latest = new Map<string, number>(body.agents.map((a: any) => [a.agent_id, a.last_seq]))
    const total = [...latest.values()].reduce((a, b) => a + b, 0)
    return total >= KILL_AFTER ? latest : undefined
  }, 60000, 5)
  const health = await getJson(`${server.url}/health/ready`)
  const killed = await server.kill()
  run.stopped = true
  await Promise.all(pumps)
  t.equal(killed.signal, 'SIGKILL', 'the server died of SIGKILL')
  t.comment(`killed with ${[...committedBefore.values()].reduce((a, b) => a + b, 0)} events known committed, ` +
    `queue depth just before: ${health.body.queue_depth}, lines sent: ${[...sent.values()].reduce((a, l) => a + l.length, 0)}`)

  // the database file opens cleanly and is consistent
  const check = new SQLite(databasePath)
  t.same(check.pragma('integrity_check'), [{ integrity_check: 'ok' }], 'integrity_check is ok after the kill')
  check.close()

  const restarted = await startServer(t, { databasePath, env, sqlite: true })
  t.notOk(restarted.logs.some(l => l.msg === 'database migrated'), 'the restart found the schema in place')

  const history = new Map<string, any[]>()
  let totalLost = 0
  for (const agentId of AGENTS) {
    const events = await allEvents(restarted.url, agentId)
    history.set(agentId, events)
    const lines = sent.get(agentId) as Sent[]
    t.equal(seqProblem(events), null, `${agentId}: seq 1..${events.length} without gap or repeat`)
    t.ok(events.length >= (committedBefore.get(agentId) as number),
      `${agentId}: ${events.length} events stored, at least the ${committedBefore.get(agentId)} committed before the kill`)
    t.equal(await latestSeq(restarted.url, agentId), events.length, `${agentId}: latest_seq is the last stored seq`)

    // what survived is a prefix of what was sent, in order: nothing missing in the middle
    const outputs = events.filter(e => e.event_type === 'output')
    const indexes = outputs.map(e => lineIndex(e.content))
    t.ok(indexes.every((x, i) => x === i), `${agentId}: the ${indexes.length} stored lines are lines 0..${indexes.length - 1} in order`)
    totalLost += lines.length - indexes.length

    // the session barrier and the numbers survived
    t.same(events.slice(BEFORE_CLEAR, BEFORE_CLEAR + 2).map(e => [e.event_type, e.session_number]),
      [['context_cleared', 1], ['context_clear_outcome', 1]], `${agentId}: the clear is where it was`)
    t.ok(outputs.every(e => e.session_number === (lineIndex(e.content) < BEFORE_CLEAR ? 0 : 1)),
      `${agentId}: lines before the clear are in session 0, after it in session 1`)
    t.same((await getJson(`${restarted.url}/agents/${agentId}/sessions`)).body.current_session,
      sessionsBefore.get(agentId).current_session, `${agentId}: current_session unchanged`)
  }
  t.ok(totalLost > 0, `the kill landed mid-ingest: ${totalLost} lines sent were not committed`)

  // each agent reconnects as Claude Code 2.1.120 does: it re-sends its recent lines (same uuids), then goes on;
  // its buffer reaches back past the last line known committed, so nothing is lost and some lines come twice
  for (const agentId of AGENTS) {
    const lines = sent.get(agentId) as Sent[]
    const before = history.get(agentId) as any[]
    const ws = await openAgent(restarted.wsUrl, agentId, lines[lines.length - 1].uuid)
    sockets.set(agentId, ws)
    const knownLines = (committedBefore.get(agentId) as number) - 2 // the clear's two events are not lines
    const replay = lines.slice(Math.max(0, knownLines - REPLAY_OVERLAP))
    const fresh: Sent[] = []
    for (let i = 0; i < AFTER_RESTART; i++) fresh.push(makeLine(agentId, lines.length + i))
    for (let i = 0; i < replay.length; i += 100) await sendFrame(ws, replay.slice(i, i + 100).map(l => l.json).join(''))
    await sendFrame(ws, fresh.map(l => l.json).join(''))
    await roundTrip(ws)

    const storedLines = before.filter(e => e.event_type === 'output').length
    const expectedNew = replay.filter(l => l.index >= storedLines).length + fresh.length
    const expectedLatest = before.length + expectedNew
    t.ok(replay.length > expectedNew - fresh.length, `${agentId}: the replay re-sent ${replay.length - expectedNew + fresh.length} lines already stored`)
    await waitFor(`${agentId} to commit the replay and the new lines (latest_seq ${expectedLatest})`,
      async () => (await latestSeq(restarted.url, agentId)) >= expectedLatest ? true : undefined)
    const after = await allEvents(restarted.url, agentId)
    t.equal(seqProblem(after), null, `${agentId}: still gapless after the replay`)
    t.equal(after.length, expectedLatest, `${agentId}: the replay of ${replay.length} lines added only the ${expectedNew - fresh.length} never stored, plus ${fresh.length} new`)
    t.same(after.slice(0, before.length), before, `${agentId}: events stored before the kill are unchanged; no seq reused`)
    const contents = after.filter(e => e.event_type === 'output').map(e => e.content as string)
    t.equal(new Set(contents).size, contents.length, `${agentId}: no line stored twice`)
    t.same(contents.map(lineIndex), [...lines, ...fresh].map(l => l.index), `${agentId}: every line sent is stored exactly once, in order`)
    t.ok(after.slice(before.length).every(e => e.session_number === 1), `${agentId}: new events are still in session 1`)
    ws.terminate()
  }
  t.equal(restarted.exitCode(), null, 'the restarted server is still running')
})

test('SQLITE_SYNCHRONOUS and SQLITE_BUSY_TIMEOUT_MS reach the SQLite connection', { skip: sqlitePassOnly }, async (t) => {
  for (const [mode, level] of [['NORMAL', 1], ['FULL', 2]] as const) {
    const app = await build(t, { sqlite: true, env: { SQLITE_SYNCHRONOUS: mode, SQLITE_BUSY_TIMEOUT_MS: '250' } })
    const { rows } = await sql<{ synchronous: number }>`pragma synchronous`.execute(app.db)
    t.equal(rows[0].synchronous, level, `synchronous = ${mode}`)
    const journal = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(app.db)
    t.equal(journal.rows[0].journal_mode, 'wal', 'journal_mode = WAL')
    const busy = await sql<{ timeout: number }>`pragma busy_timeout`.execute(app.db)
    t.equal(busy.rows[0].timeout, 250, 'busy_timeout follows SQLITE_BUSY_TIMEOUT_MS')
    await app.close()
  }
})
