// The benchmark's agents: N real WebSocket clients streaming assistant lines, flat out or at a fixed total rate.
import { WebSocket } from 'ws'
import { eventsOf, lineSource, sleep } from './common.js'

export interface StreamOptions {
  /** ws://127.0.0.1:PORT (the agents connect to /ws/<id>) */
  url: string
  agents: number
  agentPrefix: string
  /** Lines per second over all agents; flat out (bounded only by the server and TCP flow control) when absent. */
  ratePerSec?: number
}

export interface Stream {
  /** Lines handed to the sockets so far. */
  sent: () => number
  /** Lines sent by each agent (how evenly the server's flow control shared the throughput). */
  perAgent: () => number[]
  /**
   * Stops sending; once every line was written to its socket, resolves with the number of events the lines sent
   * make (a result line makes two).
   */
  stop: () => Promise<number>
  /** Closes the sockets (after the server has taken everything in). */
  close: () => Promise<void>
}

// a few frames in flight per socket: enough to keep the pipe full, few enough that a paused server stops us
const CHUNK = 32
const WINDOW = 4
const TICK_MS = 5
const YIELD_MS = 2

export async function startAgents (opts: StreamOptions): Promise<Stream> {
  const sockets = await Promise.all(Array.from({ length: opts.agents }, (_, i) => {
    const ws = new WebSocket(`${opts.url}/ws/${opts.agentPrefix}-${i}`, { perMessageDeflate: false })
    return new Promise<WebSocket>((resolve, reject) => {
      ws.once('open', () => resolve(ws))
      ws.once('error', reject)
    })
  }))
  let stopped = false
  let total = 0
  let events = 0
  const counts = sockets.map(() => 0)
  const perAgentRate = opts.ratePerSec === undefined ? null : opts.ratePerSec / opts.agents

  async function run (ws: WebSocket, index: number): Promise<void> {
    const next = lineSource()
    const start = Date.now()
    let sent = 0
    let inflight = 0
    let lastYield = performance.now()
    let wake: (() => void) | null = null
    const written = (): void => {
      inflight--
      if (wake !== null) { const w = wake; wake = null; w() }
    }
    // a flag and a counter changed by callbacks, not in the loop body
    for (;;) {
      if (stopped || ws.readyState !== ws.OPEN) break
      if (inflight >= WINDOW) {
        await new Promise<void>(resolve => { wake = resolve })
        continue
      }
      let n = CHUNK
      if (perAgentRate !== null) {
        const due = Math.floor(perAgentRate * (Date.now() - start) / 1000) - sent
        if (due <= 0) { await sleep(TICK_MS); continue }
        n = Math.min(CHUNK, due)
      }
      for (let i = 1; i < n; i++) {
        const line = next()
        events += eventsOf(line)
        ws.send(line)
      }
      inflight++
      const last = next()
      events += eventsOf(last)
      ws.send(last, written)
      sent += n
      total += n
      counts[index] += n
      // a write the kernel takes at once calls back on nextTick: without a turn of the event loop now and then,
      // timers and IPC would starve while the server keeps up
      if (performance.now() - lastYield > YIELD_MS) {
        await new Promise(resolve => setImmediate(resolve))
        lastYield = performance.now()
      }
    }
    for (;;) {
      if (inflight === 0) break
      await new Promise<void>(resolve => { wake = resolve })
    }
  }

  const runs = sockets.map((ws, i) => run(ws, i))
  return {
    sent: () => total,
    perAgent: () => counts.slice(),
    async stop () {
      stopped = true
      await Promise.all(runs)
      return events
    },
    async close () {
      await Promise.all(sockets.map(ws => new Promise<void>((resolve) => {
        if (ws.readyState === ws.CLOSED) { resolve(); return }
        ws.once('close', () => resolve())
        ws.close(1000)
      })))
    }
  }
}
