// Clients of the live streams for tests: an SSE reader over a real HTTP request and a WebSocket reader, both
// collecting messages in order and resolving waits on what actually arrives.
import http from 'node:http'
import type { FastifyInstance } from 'fastify'
import { WebSocket } from 'ws'
import { SseParser } from '../../src/client/sse.js'
import type { TestContext } from '../helper.js'

export interface LiveMessage {
  /** SSE `event:` (or the WebSocket message's `type`); 'event' for a stored event over WebSocket. */
  event: string
  /** SSE `id:`, when present. */
  id: string | undefined
  /** The raw SSE `data:` text (the WebSocket message text). */
  raw: string
  data: any
}

interface Waiter {
  pred: (all: LiveMessage[]) => boolean
  resolve: () => void
  reject: (err: Error) => void
}

/** Messages in arrival order, with waits that resolve when a condition over them holds. */
class Inbox {
  messages: LiveMessage[] = []
  comments: string[] = []
  ended = false
  private waiters: Waiter[] = []

  push (m: LiveMessage): void {
    this.messages.push(m)
    this.check()
  }

  comment (text: string): void {
    this.comments.push(text)
    this.check()
  }

  end (): void {
    this.ended = true
    this.check()
  }

  protected check (): void {
    for (const w of this.waiters.slice()) {
      if (w.pred(this.messages)) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve()
      } else if (this.ended) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.reject(new Error(`stream ended before the condition held (${this.messages.length} messages: ${this.messages.slice(-3).map(m => m.event).join(', ')})`))
      }
    }
  }

  /** Resolves when `pred` holds over everything received so far. */
  until (pred: (all: LiveMessage[]) => boolean): Promise<LiveMessage[]> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ pred, resolve: () => resolve(this.messages), reject })
      this.check()
    })
  }

  /** Resolves with the first message (from the start) of this kind. */
  async first (event: string): Promise<LiveMessage> {
    await this.until(all => all.some(m => m.event === event))
    return this.messages.find(m => m.event === event) as LiveMessage
  }

  /** Resolves once an event at or past this position has arrived: its seq, or its id for the global stream. */
  async through (cursor: number, by: 'seq' | 'id' = 'seq'): Promise<LiveMessage[]> {
    return this.until(all => all.some(m => m.data?.event_type !== undefined && m.data[by] >= cursor))
  }

  /** The stored events received, in order. */
  events (): any[] {
    return this.messages.filter(m => m.data?.event_type !== undefined).map(m => m.data)
  }

  /** Resolves once at least one heartbeat comment has arrived. */
  async heartbeat (): Promise<void> {
    await this.until(() => this.comments.some(c => c.startsWith('heartbeat')))
  }
}

export class SseClient extends Inbox {
  status = 0
  headers: http.IncomingHttpHeaders = {}
  body = ''
  request: http.ClientRequest
  response: http.IncomingMessage | null = null
  private readonly parser = new SseParser({ onComment: (text) => this.comment(text) })

  constructor (request: http.ClientRequest) {
    super()
    this.request = request
  }

  feed (chunk: string): void {
    for (const m of this.parser.push(chunk)) this.push({ event: m.event, id: m.id, raw: m.data, data: JSON.parse(m.data) })
  }

  /** Stops reading: the server's writes back up into the kernel's buffers and then into its own. */
  pause (): void {
    this.response?.pause()
  }

  resume (): void {
    this.response?.resume()
  }

  close (): void {
    this.request.destroy()
  }
}

/** The http:// base URL of an app that listens (see helper listen()). */
export function httpBase (app: FastifyInstance): string {
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('the app does not listen on TCP')
  return `http://127.0.0.1:${address.port}`
}

/**
 * Opens an SSE stream; resolves once the response headers are in. A non-200 answer resolves too, with
 * its body read in full (status and body set, ended true).
 */
export interface ReadOptions {
  /** Open without reading (resume() to start). */
  paused?: boolean
  /** Read one chunk per turn of the event loop: a slow reader the server's writes back up against. */
  slow?: boolean
}

export function sse (t: TestContext, url: string, headers: Record<string, string> = {}, opts: ReadOptions = {}): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false })
    const client = new SseClient(request)
    t.teardown(() => request.destroy())
    request.once('error', (err) => {
      if (client.status === 0) reject(err)
      else client.end()
    })
    request.once('response', (res) => {
      client.status = res.statusCode ?? 0
      client.headers = res.headers
      client.response = res
      res.setEncoding('utf8')
      if (client.status !== 200) {
        res.on('data', (chunk: string) => { client.body += chunk })
        res.once('end', () => { client.end(); resolve(client) })
        return
      }
      res.on('data', (chunk: string) => {
        client.feed(chunk)
        if (opts.slow === true) {
          res.pause()
          setImmediate(() => res.resume())
        }
      })
      res.once('end', () => client.end())
      res.once('close', () => client.end())
      if (opts.paused === true) res.pause()
      resolve(client)
    })
  })
}

export class WsClient extends Inbox {
  constructor (readonly socket: WebSocket, slow = false) {
    super()
    socket.on('message', (data) => {
      if (slow) {
        socket.pause()
        setImmediate(() => socket.resume())
      }
      const raw = data.toString()
      const parsed = JSON.parse(raw)
      this.push({ event: parsed.event_type !== undefined ? 'event' : parsed.type, id: undefined, raw, data: parsed })
    })
    socket.once('close', () => this.end())
  }

  close (): void {
    this.socket.terminate()
  }
}

/** Opens a follower WebSocket (ws://...); resolves once it is open. */
export function wsFollow (t: TestContext, url: string, headers: Record<string, string> = {}, opts: ReadOptions = {}): Promise<WsClient> {
  const socket = new WebSocket(url, { headers })
  t.teardown(() => socket.terminate())
  const client = new WsClient(socket, opts.slow === true)
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(client))
    socket.once('error', reject)
  })
}

/** The HTTP status a WebSocket upgrade was refused with, and the body. */
export function wsRefusal (url: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url)
    socket.once('open', () => { socket.terminate(); reject(new Error('the upgrade was accepted')) })
    socket.once('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.once('end', () => { socket.terminate(); resolve({ status: res.statusCode ?? 0, body }) })
    })
    socket.once('error', () => {})
  })
}
