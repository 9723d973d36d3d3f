// Runs the server as shipped (dist/bundle/server.js, made by npm run build) as a real child process for fault tests
// (kill -9, restarts, storage faults) and talks to it like agents do.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { setTimeout as delay } from 'node:timers/promises'
import WebSocket from 'ws'
import type { TestContext } from '../helper.js'
import { databaseEnv } from './database.js'

/** The server as `npm start` and the Docker image run it. */
export const SERVER_BUNDLE = fileURLToPath(new URL('../../dist/bundle/server.js', import.meta.url))

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface LogLine {
  level: number
  msg: string
  time: number
  [key: string]: unknown
}

export interface ServerProcess {
  child: ChildProcess
  pid: number
  /** http://127.0.0.1:PORT */
  url: string
  /** ws://127.0.0.1:PORT */
  wsUrl: string
  /** Every pino line the server wrote, parsed. */
  logs: LogLine[]
  /** null while the process runs. */
  exitCode: () => number | null | 'signal'
  /** Resolves when the process has exited (code, or the signal that ended it). */
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** SIGKILL, no goodbye: what a crash or the OOM killer does. */
  kill: () => Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** SIGTERM and wait for the graceful shutdown (SIGKILL after timeoutMs). */
  stop: (timeoutMs?: number) => Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export interface StartOptions {
  databasePath: string
  env?: Record<string, string>
  readyTimeoutMs?: number
  /** Stay on SQLite even in the PostgreSQL run (tests of the embedded file itself). */
  sqlite?: boolean
}

/** Polls `check` until it returns a value other than undefined; fails with `what` after the deadline. */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 15000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown = null
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (err) {
      lastError = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError === null ? '' : `: ${String(lastError)}`}`)
    }
    await delay(everyMs)
  }
}

/**
 * Starts the server on its own free port (PORT=0; the address comes from the "Server listening" log line),
 * waits until GET /health/ready answers 200, and kills it on teardown.
 */
export async function startServer (t: TestContext, opts: StartOptions): Promise<ServerProcess> {
  const level = opts.env?.LOG_LEVEL ?? 'info'
  if (!['info', 'debug', 'trace'].includes(level)) throw new Error('startServer needs LOG_LEVEL info or lower: the port comes from the "Server listening" line')
  // a clean environment: nothing from the test run (tap's own variables) leaks into the server
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    // the run's database: the same PostgreSQL schema for the same path, so a restart finds its data
    ...databaseEnv(opts.databasePath, opts.sqlite),
    ...opts.env,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: level,
    DATABASE_PATH: opts.databasePath
  }
  const child = spawn(process.execPath, [SERVER_BUNDLE], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe']
  })
  const logs: LogLine[] = []
  let stderr = ''
  let code: number | null | 'signal' = null
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (c, signal) => {
      code = c ?? 'signal'
      resolve({ code: c, signal })
    })
  })
  t.teardown(async () => {
    if (code === null) child.kill('SIGKILL')
    await exited
  })
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-8000) })

  let onListening: (url: string) => void = () => {}
  const listening = new Promise<string>((resolve) => { onListening = resolve })
  // the pipe is read to the end, or a chatty server would block on a full stdout
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let entry: LogLine
    try {
      entry = JSON.parse(text) as LogLine
    } catch {
      stderr = (stderr + text + '\n').slice(-8000)
      return
    }
    logs.push(entry)
    const match = /^Server listening at (http:\/\/127\.0\.0\.1:\d+)$/.exec(entry.msg ?? '')
    if (match !== null) onListening(match[1])
  })

  const timeoutMs = opts.readyTimeoutMs ?? 30000
  let timer: NodeJS.Timeout | undefined
  const url = await Promise.race([
    listening,
    exited.then(({ code, signal }) => { throw new Error(`server exited before listening (code ${code}, signal ${signal}): ${stderr}`) }),
    new Promise<never>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`server did not log "Server listening" within ${timeoutMs} ms: ${stderr}`)), timeoutMs)
    })
  ]).finally(() => clearTimeout(timer))
  await waitFor('GET /health/ready to answer 200', async () => {
    if (code !== null) throw new Error(`server exited (${String(code)}): ${stderr}`)
    const res = await fetch(`${url}/health/ready`)
    await res.arrayBuffer()
    return res.status === 200 ? true : undefined
  }, timeoutMs)

  return {
    child,
    pid: child.pid as number,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    logs,
    exitCode: () => code,
    exited,
    async kill () {
      if (code === null) child.kill('SIGKILL')
      return await exited
    },
    async stop (stopTimeoutMs = 15000) {
      if (code === null) child.kill('SIGTERM')
      const killer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs)
      try {
        return await exited
      } finally {
        clearTimeout(killer)
      }
    }
  }
}

// ---- talking to it over real sockets and HTTP ----

export async function getJson (url: string, init?: RequestInit): Promise<{ status: number, body: any }> {
  const res = await fetch(url, init)
  const text = await res.text()
  return { status: res.status, body: text === '' ? null : JSON.parse(text) }
}

/** The committed seq of an agent's newest event (0 before any), as the history endpoint reports it. */
export async function latestSeq (baseUrl: string, agentId: string): Promise<number> {
  const { status, body } = await getJson(`${baseUrl}/agents/${agentId}/events?order=desc&limit=1`)
  if (status !== 200) throw new Error(`GET events for ${agentId}: ${status} ${JSON.stringify(body)}`)
  return body.latest_seq as number
}

/** An agent's whole stored history, walked page by page with the keyset cursor. */
export async function allEvents (baseUrl: string, agentId: string): Promise<any[]> {
  const events: any[] = []
  let after = 0
  for (let pages = 0; pages < 100000; pages++) {
    const { status, body } = await getJson(`${baseUrl}/agents/${agentId}/events?limit=1000&after=${after}`)
    if (status !== 200) throw new Error(`GET events for ${agentId}: ${status} ${JSON.stringify(body)}`)
    events.push(...body.events)
    if (!(body.has_more as boolean)) return events
    after = body.next_cursor
  }
  throw new Error('history did not end')
}

/**
 * An agent's socket, not yet open: a listener attached now sees every line, including those the server sends as it
 * accepts the connection (they can arrive with the upgrade, before an 'open' handler's continuation runs).
 * `lastRequestId` makes it look like a reconnecting CLI (header x-last-request-id).
 */
export function agentSocket (wsUrl: string, agentId: string, lastRequestId?: string): WebSocket {
  const headers: Record<string, string> = {}
  if (lastRequestId !== undefined) headers['x-last-request-id'] = lastRequestId
  return new WebSocket(`${wsUrl}/ws/${agentId}`, { headers })
}

/** Resolves once the socket is open. */
export async function opened (ws: WebSocket): Promise<WebSocket> {
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => { ws.off('error', reject); resolve() })
    ws.once('error', reject)
  })
  return ws
}

/** Opens an agent socket (see agentSocket). */
export async function openAgent (wsUrl: string, agentId: string, lastRequestId?: string): Promise<WebSocket> {
  return await opened(agentSocket(wsUrl, agentId, lastRequestId))
}

/**
 * Round-trips a permission request: the server answers it only after every earlier frame on this socket
 * was taken in (queued, not yet committed).
 */
export async function roundTrip (ws: WebSocket, timeoutMs = 15000): Promise<void> {
  const requestId = `sync-${randomUUID()}`
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { done(); reject(new Error(`no control_response for ${requestId} within ${timeoutMs} ms`)) }, timeoutMs)
    const onMessage = (data: WebSocket.RawData): void => {
      for (const text of data.toString().split('\n')) {
        if (text.includes(requestId)) { done(); resolve(); return }
      }
    }
    const onClose = (): void => { done(); reject(new Error(`socket closed before the control_response for ${requestId}`)) }
    function done (): void {
      clearTimeout(timer)
      ws.off('message', onMessage)
      ws.off('close', onClose)
    }
    ws.on('message', onMessage)
    ws.on('close', onClose)
    ws.send(JSON.stringify({ type: 'control_request', request_id: requestId, request: { subtype: 'can_use_tool', tool_name: 'Sync', input: {} } }) + '\n')
  })
}

/** Resolves once `ws.send` has handed the frame to the kernel. */
export function sendFrame (ws: WebSocket, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.send(text, (err) => { if (err === undefined || err === null) resolve(); else reject(err) })
  })
}

/** A stream-json assistant text line with its own uuid (one `output` event each). */
export function textLine (text: string, uuid: string = randomUUID()): { uuid: string, json: string } {
  return {
    uuid,
    json: JSON.stringify({
      type: 'assistant',
      message: { id: `msg_${uuid.slice(0, 8)}`, type: 'message', role: 'assistant', model: 'claude-sonnet-4-6', content: [{ type: 'text', text }] },
      parent_tool_use_id: null,
      session_id: 'sess-fault',
      uuid
    }) + '\n'
  }
}

/** Checks an agent's history is seq 1..n without a gap or a repeat; returns a message, or null when it is. */
export function seqProblem (events: Array<{ seq: number }>): string | null {
  for (let i = 0; i < events.length; i++) {
    if (events[i].seq !== i + 1) return `expected seq ${i + 1} at position ${i}, got ${events[i].seq}`
  }
  return null
}
