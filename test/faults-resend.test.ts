// Fault: a graceful restart while an agent streams, then reconnects that re-send lines the server already stored.
import { test } from 'tap'
import { tempDatabasePath } from './helper.js'
import {
  allEvents, latestSeq, openAgent, roundTrip, sendFrame, seqProblem, startServer, textLine, waitFor
} from './support/server-process.js'

interface Sent { uuid: string, json: string, text: string }

function makeLine (index: number): Sent {
  const text = `resend line ${index}`
  return { ...textLine(text), text }
}

async function sendAll (ws: Parameters<typeof sendFrame>[0], lines: Sent[]): Promise<void> {
  for (let i = 0; i < lines.length; i += 50) await sendFrame(ws, lines.slice(i, i + 50).map(l => l.json).join(''))
}

test('SIGTERM mid-stream loses nothing received; replays after the restart add no second copy', async (t) => {
  const databasePath = tempDatabasePath(t)
  const agentId = 'resend-1'
  const server = await startServer(t, { databasePath })
  const lines = Array.from({ length: 2000 }, (_, i) => makeLine(i))

  let ws = await openAgent(server.wsUrl, agentId)
  t.teardown(() => ws.terminate())
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  // every frame is in the kernel before the signal; no round trip, so most are still on their way or queued
  await sendAll(ws, lines)
  const stopped = await server.stop()
  t.same(stopped, { code: 0, signal: null }, 'graceful shutdown exits 0')
  t.equal(await closed, 1001, 'the agent was told the server is going away (1001)')

  const restarted = await startServer(t, { databasePath })
  t.equal(await latestSeq(restarted.url, agentId), lines.length, 'every line received before SIGTERM was committed on the way out')

  // Claude Code 2.1.120 reconnects with x-last-request-id and re-sends its recent lines with the same uuids
  ws = await openAgent(restarted.wsUrl, agentId, lines[lines.length - 1].uuid)
  const fresh = Array.from({ length: 20 }, (_, i) => makeLine(lines.length + i))
  await sendAll(ws, [...lines.slice(-500), ...fresh])
  await roundTrip(ws)
  const expected = lines.length + fresh.length
  await waitFor(`latest_seq ${expected}`, async () => (await latestSeq(restarted.url, agentId)) >= expected ? true : undefined)

  // and once more, the whole buffer, over a second reconnect that replaces the first socket
  const again = await openAgent(restarted.wsUrl, agentId, fresh[fresh.length - 1].uuid)
  t.teardown(() => again.terminate())
  // one new line last: once it is committed, everything queued before it is too (one writer, queue order)
  const last = makeLine(expected)
  await sendAll(again, [...lines, ...fresh, last])
  await waitFor('the last new line to be committed', async () => {
    const events = await allEvents(restarted.url, agentId)
    return events.some(e => e.content === last.text) ? true : undefined
  })

  const events = await allEvents(restarted.url, agentId)
  t.equal(seqProblem(events), null, 'seq 1..n without gap or repeat')
  t.equal(events.length, expected + 1, `${expected + 1} events: one per distinct line, none from the ${500 + lines.length + fresh.length} re-sent`)
  t.same(events.map(e => e.content), [...lines, ...fresh, last].map(l => l.text), 'each line once, in the order first sent')
})
