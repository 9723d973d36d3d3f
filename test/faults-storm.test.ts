// Fault: a reconnect storm. Many agents drop and re-open their sockets at random while streaming, and re-send
// their recent lines on every reconnect (as Claude Code 2.1.120 does); the log must hold each line exactly once.
// FAULTS_STORM_SECONDS=60 runs the full minute (default 12 s); FAULTS_STORM_AGENTS changes the 200 agents.
import { test } from 'tap'
import SQLite from 'better-sqlite3'
import { setTimeout as delay } from 'node:timers/promises'
import type WebSocket from 'ws'
import { tempDatabasePath, sqlitePassOnly } from './helper.js'
import { latestSeq, openAgent, roundTrip, sendFrame, startServer, textLine, waitFor } from './support/server-process.js'

const SECONDS = Number(process.env.FAULTS_STORM_SECONDS ?? 12)
const AGENT_COUNT = Number(process.env.FAULTS_STORM_AGENTS ?? 200)
/** Lines re-sent on each reconnect. */
const REPLAY = 40
/** New lines per connection at most: with REPLAY >= 2 * this, a line lost with one dropped socket is re-sent twice over. */
const MAX_NEW = 15

interface Sent { uuid: string, json: string, text: string }

function randomInt (max: number): number {
  return Math.floor(Math.random() * max)
}

async function connect (wsUrl: string, agentId: string, lastUuid: string | undefined): Promise<WebSocket> {
  // under the storm an upgrade can fail like any network call; the agent tries again, as the CLI does
  let lastError: unknown
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      return await openAgent(wsUrl, agentId, lastUuid)
    } catch (err) {
      lastError = err
      await delay(50)
    }
  }
  throw new Error(`${agentId} could not reconnect: ${String(lastError)}`)
}

test(`reconnect storm: ${AGENT_COUNT} agents reconnecting at random for ${SECONDS} s store each line exactly once`, { skip: sqlitePassOnly, timeout: (SECONDS + 120) * 1000 }, async (t) => {
  const databasePath = tempDatabasePath(t)
  const server = await startServer(t, { databasePath, sqlite: true })
  const open = new Set<WebSocket>()
  t.teardown(() => { for (const ws of open) ws.terminate() })
  const stats = { connections: 0, closed: 0, terminated: 0, replaced: 0, linesSent: 0, linesResent: 0 }
  const sent = new Map<string, Sent[]>()
  const deadline = Date.now() + SECONDS * 1000

  async function agent (agentId: string): Promise<void> {
    const lines: Sent[] = []
    sent.set(agentId, lines)
    // agents join over the first second, not all in one instant
    await delay(randomInt(1000))
    while (Date.now() < deadline) {
      const ws = await connect(server.wsUrl, agentId, lines.at(-1)?.uuid)
      open.add(ws)
      ws.once('close', () => open.delete(ws))
      stats.connections++
      try {
        const replay = lines.slice(-REPLAY)
        if (replay.length > 0) {
          stats.linesResent += replay.length
          await sendFrame(ws, replay.map(l => l.json).join(''))
        }
        const target = 1 + randomInt(MAX_NEW)
        for (let n = 0; n < target && Date.now() < deadline;) {
          const frame: Sent[] = []
          for (let k = 1 + randomInt(4); k > 0 && n < target; k--, n++) {
            const text = `${agentId} line ${lines.length}`
            lines.push({ ...textLine(text), text })
            frame.push(lines[lines.length - 1])
          }
          stats.linesSent += frame.length
          await sendFrame(ws, frame.map(l => l.json).join(''))
          await delay(20 + randomInt(130))
        }
      } catch {
        // the socket died under us; the lines are re-sent on the next connection
      }
      const how = Math.random()
      if (how < 0.45) {
        stats.closed++
        ws.close(1000)
      } else if (how < 0.9) {
        stats.terminated++
        ws.terminate()
      } else {
        // left open: the next connection replaces it (the server closes this one with 4001)
        stats.replaced++
      }
      await delay(randomInt(200))
    }
    // the last connection re-sends its recent lines, and a round trip proves the server took them all in
    const ws = await connect(server.wsUrl, agentId, lines.at(-1)?.uuid)
    open.add(ws)
    await sendFrame(ws, lines.slice(-REPLAY).map(l => l.json).join(''))
    await roundTrip(ws, 30000)
    ws.close(1000)
  }

  const ids = Array.from({ length: AGENT_COUNT }, (_, i) => `storm-${String(i).padStart(3, '0')}`)
  await Promise.all(ids.map(agent))

  // the writer catches up: each agent's latest_seq reaches its number of distinct lines
  const lagging = new Set(ids)
  const overshoot: string[] = []
  await waitFor('every agent\'s lines to be committed', async () => {
    for (const agentId of [...lagging]) {
      const expected = (sent.get(agentId) as Sent[]).length
      const latest = await latestSeq(server.url, agentId)
      // more events than distinct lines can only be copies: stop waiting, the checks below say which
      if (latest > expected) overshoot.push(`${agentId}: latest_seq ${latest} > ${expected} distinct lines sent`)
      if (latest >= expected) lagging.delete(agentId)
    }
    return lagging.size === 0 ? true : undefined
  }, 60000, 50)
  t.same(overshoot, [], 'no agent has more events than distinct lines')
  t.comment(`${stats.connections} connections (${stats.closed} closed, ${stats.terminated} dropped, ${stats.replaced} replaced), ` +
    `${stats.linesSent} lines sent, ${stats.linesResent} re-sent`)

  const db = new SQLite(databasePath, { readonly: true })
  t.teardown(() => db.close())
  const rows = db.prepare(`select a.agent_id, count(*) as n, count(distinct seq) as seqs, min(seq) as lo, max(seq) as hi,
    count(distinct content) as contents from conversation_events e join agents a on a.agent_key = e.agent_key group by a.agent_id`).all() as any[]
  const byAgent = new Map(rows.map(r => [r.agent_id as string, r]))
  const contentsOf = db.prepare('select content from conversation_events e join agents a on a.agent_key = e.agent_key where a.agent_id = ? order by seq')
  const wrong: string[] = []
  for (const agentId of ids) {
    const lines = sent.get(agentId) as Sent[]
    const r = byAgent.get(agentId) ?? { n: 0, seqs: 0, lo: null, hi: null, contents: 0 }
    if (r.n !== lines.length || r.seqs !== r.n || r.contents !== r.n || (r.n > 0 && (r.lo !== 1 || r.hi !== r.n))) {
      wrong.push(`${agentId}: ${lines.length} distinct lines sent, stored ${JSON.stringify(r)}`)
      continue
    }
    const stored = new Set((contentsOf.all(agentId) as Array<{ content: string }>).map(x => x.content))
    const missing = lines.filter(l => !stored.has(l.text))
    if (missing.length > 0) wrong.push(`${agentId}: ${missing.length} lines missing, e.g. ${missing[0].text}`)
  }
  t.same(wrong, [], 'per agent: events == distinct lines sent, seq 1..n, no duplicate seq or line')
  t.equal(stats.linesResent > 0 && stats.connections > AGENT_COUNT * 2, true, 'the storm really reconnected and re-sent')
  t.notOk(server.logs.some(l => l.level >= 50), 'no error logged')
  t.equal(server.exitCode(), null, 'the server is still running')
})
