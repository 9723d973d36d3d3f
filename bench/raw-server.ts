// Benchmark child, the raw ceiling: a bare ws server that only splits frames into lines and JSON.parses them
// (its rate is in the events those lines make, to compare with the app's).
import { WebSocketServer, type RawData } from 'ws'
import { parseFrame } from '../src/protocol/ndjson.js'
import { serveRequests } from './common.js'

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 16 * 1024 * 1024 })
let parsed = 0
let maxRss = 0

wss.on('connection', (socket) => {
  socket.on('message', (data: RawData) => {
    // counted as the app would store them: a result line makes two events
    for (const line of parseFrame(data.toString())) if (line.ok) parsed += line.message.type === 'result' ? 2 : 1
  })
})
await new Promise<void>(resolve => wss.once('listening', () => resolve()))

serveRequests({
  stats () {
    const rss = process.memoryUsage.rss()
    if (rss > maxRss) maxRss = rss
    return { t: Date.now(), committed: parsed, rss, maxRss }
  },
  storedEvents: () => parsed
}, async () => {
  for (const c of wss.clients) c.terminate()
  await new Promise<void>(resolve => wss.close(() => resolve()))
})

process.send?.({ type: 'ready', port: (wss.address() as { port: number }).port })
