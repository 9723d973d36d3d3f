// Live streams over SSE and WebSocket: one agent's log, or every agent's with connect/disconnect notices.
import { Readable } from 'node:stream'
import type { FastifyReply } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { WebSocket } from 'ws'
import { AgentParams, isValidAgentId } from '../src/schemas/common.js'
import {
  AgentNotice, AgentStreamQuery, CaughtUpAgent, CaughtUpGlobal, GlobalStreamQuery, ResumeHeaders, Shutdown, Truncated,
  WsAgentNotice, WsCaughtUpAgent, WsCaughtUpGlobal, WsTruncated
} from '../src/schemas/stream.js'
import { Event } from '../src/schemas/events.js'
import { errorResponse, sseResponse, webSocketResponse } from '../src/schemas/docs.js'
import { EVENT_TYPES } from '../src/protocol/messages.js'
import { BadQueryError, parseTypes } from '../plugins/history.js'
import { CloseCodes } from '../src/protocol/close-codes.js'
import { ClosingError, type Follower } from '../src/live/hub.js'
import { eventJson, type LiveMessage, type LiveSink } from '../src/live/messages.js'
import type { StoredEvent } from '../src/schemas/events.js'
import { agentNotFound } from '../src/errors.js'

/** Bytes a WebSocket follower may have unsent before it counts as full. */
const WS_HIGH_WATER = 256 * 1024
/** SSE messages are gathered into chunks of about this size: one socket write each, not one per event. */
const SSE_CHUNK = 32 * 1024

const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  // proxies such as nginx would otherwise hold the stream back
  'x-accel-buffering': 'no'
}

const eventNames = [...EVENT_TYPES]
const shutdownMessage = { event: 'shutdown', description: 'last message on a clean server shutdown', data: Shutdown }

// the body is a stream, which Fastify sends as it is; these only document it
const AgentEventStream = sseResponse('The agent\'s events from the start position, then live, until either side closes', [
  { event: eventNames, id: true, description: 'an event (`id` is its seq); `data` is the event as history returns it', data: Event },
  { event: 'truncated', description: Truncated.description ?? '', data: Truncated },
  { event: 'caught_up', description: CaughtUpAgent.description ?? '', data: CaughtUpAgent },
  shutdownMessage
])
const GlobalEventStream = sseResponse('Every agent\'s events from the start position, then live, with connect and disconnect notices', [
  { event: eventNames, id: true, description: 'an event (`id` is its global id); `data` is the event as history returns it', data: Event },
  { event: 'agent', description: AgentNotice.description ?? '', data: AgentNotice },
  { event: 'caught_up', description: CaughtUpGlobal.description ?? '', data: CaughtUpGlobal },
  shutdownMessage
])
const AgentSocketMessages = webSocketResponse('one JSON message per event, and markers; the heartbeat is a WebSocket ping, shutdown closes with 1001',
  Type.Union([Event, WsCaughtUpAgent, WsTruncated]))
const GlobalSocketMessages = webSocketResponse('one JSON message per event, agent notices and markers; the heartbeat is a WebSocket ping, shutdown closes with 1001',
  Type.Union([Event, WsAgentNotice, WsCaughtUpGlobal]))
const unknownAgent = errorResponse('No agent with this id', ['agent_not_found'])

/** Where to start: the header EventSource sends on reconnect wins over `after`. */
function startAt (after: string | undefined, lastEventId: string | undefined): number | 'latest' | null {
  if (lastEventId !== undefined && lastEventId !== '') return Number(lastEventId)
  if (after === undefined) return null
  return after === 'latest' ? 'latest' : Number(after)
}

function parseAgents (raw: string | undefined): string[] | null {
  if (raw === undefined || raw.trim() === '') return null
  const ids = [...new Set(raw.split(',').map(a => a.trim()).filter(a => a !== ''))]
  const bad = ids.find(id => !isValidAgentId(id))
  if (bad !== undefined) throw new BadQueryError(`agents: invalid agent id ${JSON.stringify(bad)}`)
  return ids
}

// a live event goes to every follower in the same words: format it once per kind of cursor
const sseBySeq = new WeakMap<StoredEvent, string>()
const sseById = new WeakMap<StoredEvent, string>()

/** A run (one commit's events, shared by every follower without filters) as SSE text: formatted once. */
const sseRuns = new WeakMap<LiveMessage, string>()

function sseEvent (event: StoredEvent, cursor: number): string {
  const cache = cursor === event.seq ? sseBySeq : sseById
  let text = cache.get(event)
  if (text === undefined) {
    text = `id: ${cursor}\nevent: ${event.event_type}\ndata: ${eventJson(event)}\n\n`
    cache.set(event, text)
  }
  return text
}

function sseText (m: LiveMessage): string {
  if (m.kind === 'event') return sseEvent(m.event, m.cursor)
  if (m.kind === 'run') {
    let text = sseRuns.get(m)
    if (text === undefined) {
      text = ''
      for (const e of m.events) text += sseEvent(e, m.by === 'seq' ? e.seq : e.id)
      sseRuns.set(m, text)
    }
    return text
  }
  return `event: ${m.kind}\ndata: ${JSON.stringify(m.data)}\n\n`
}

/** One WebSocket message per event (a run is sent as its events). */
function wsTexts (m: LiveMessage): string[] {
  if (m.kind === 'event') return [eventJson(m.event)]
  if (m.kind === 'run') return m.events.map(eventJson)
  return [JSON.stringify({ type: m.kind, ...m.data })]
}

/** An SSE response body whose backpressure (the client's socket) reaches the follower. */
function sseSink (reply: FastifyReply): { sink: LiveSink, body: Readable } {
  let ready: (() => void) | null = null
  let ended = false
  const release = (): void => {
    const r = ready
    ready = null
    if (r !== null) r()
  }
  let pending = ''
  const body = new Readable({ read: release, highWaterMark: 2 * SSE_CHUNK })
  body.once('close', release)
  const response = reply.raw
  const responseClosed = new Promise<void>((resolve) => {
    if (response.destroyed || response.writableFinished) resolve()
    else response.once('close', () => resolve())
  })
  const open = () => !ended && !body.destroyed
  const sink: LiveSink = {
    write (m) {
      if (!open()) return true // gone: the follower is being closed
      pending += sseText(m)
      return pending.length < SSE_CHUNK || sink.flush()
    },
    flush () {
      if (!open()) return true
      if (pending === '') return body.readableLength < body.readableHighWaterMark
      const text = pending
      pending = ''
      // in pieces: the response takes the first at once, the rest waits in the body, where drained() sees it
      let ok = true
      for (let at = 0; at < text.length;) {
        let end = Math.min(text.length, at + SSE_CHUNK)
        // never between the two halves of a surrogate pair (each piece is encoded to UTF-8 on its own)
        const code = text.charCodeAt(end)
        if (end < text.length && code >= 0xdc00 && code <= 0xdfff) end++
        ok = body.push(at === 0 && end === text.length ? text : text.slice(at, end))
        at = end
      }
      return ok
    },
    drained () {
      if (!open() || body.readableLength < body.readableHighWaterMark) return Promise.resolve()
      return new Promise((resolve) => { ready = resolve })
    },
    heartbeat () {
      // a comment: EventSource ignores it, proxies and dead peers notice the traffic
      if (open() && body.readableLength < body.readableHighWaterMark) body.push(': heartbeat\n\n')
    },
    shutdown () {
      if (open()) {
        ended = true
        if (pending !== '') body.push(pending)
        body.push('event: shutdown\ndata: {"reason":"server shutting down"}\n\n')
        body.push(null)
      }
      return responseClosed
    },
    abort () {
      ended = true
      body.destroy()
      response.destroy()
    }
  }
  // sends the headers now, so the client knows the stream is open before the first event
  body.push(': agentlog\n\n')
  return { sink, body }
}

function wsSink (socket: WebSocket): LiveSink {
  let flushed: Promise<void> | null = null
  const closed = new Promise<void>((resolve) => {
    if (socket.readyState === socket.CLOSED) resolve()
    else socket.once('close', () => resolve())
  })
  return {
    write (m) {
      if (socket.readyState !== socket.OPEN) return true
      const texts = wsTexts(m)
      let size = 0
      for (const data of texts) size += data.length
      for (let i = 0; i < texts.length - 1; i++) socket.send(texts[i])
      const last = texts[texts.length - 1]
      if (socket.bufferedAmount + size >= WS_HIGH_WATER) {
        // the callback runs once this frame (and so every earlier one) is handed to the kernel
        flushed = new Promise(resolve => socket.send(last, () => resolve()))
        return false
      }
      socket.send(last)
      return true
    },
    flush () {
      // frames go out one per message (and write() already reported a full socket)
      return true
    },
    drained () {
      return flushed === null ? Promise.resolve() : Promise.race([flushed, closed])
    },
    heartbeat () {
      if (socket.readyState === socket.OPEN) socket.ping()
    },
    shutdown () {
      if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING) {
        socket.close(CloseCodes.GOING_AWAY, 'server shutting down')
      }
      return closed
    },
    abort () {
      socket.terminate()
    }
  }
}

/** Answers with an SSE body fed by a follower; either side closing ends both. */
function serveSse (reply: FastifyReply, follow: (sink: LiveSink) => Follower): Readable {
  const { sink, body } = sseSink(reply)
  const follower = follow(sink)
  const stop = () => { follower.close(); body.destroy() }
  body.once('close', stop)
  reply.raw.once('close', stop)
  reply.headers(SSE_HEADERS)
  return body
}

/** Hands a WebSocket to a follower; a socket that cannot be followed (server closing) is closed with 1001. */
function followOnSocket (socket: WebSocket, follow: (sink: LiveSink) => Follower): void {
  let follower: Follower
  try {
    follower = follow(wsSink(socket))
  } catch (err) {
    if (!(err instanceof ClosingError)) throw err
    socket.close(CloseCodes.GOING_AWAY, 'server shutting down')
    return
  }
  socket.on('close', () => follower.close())
  // a follower only sends; anything the client says is ignored
  socket.on('message', () => {})
}

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { events, live } = fastify

  fastify.get('/agents/:agentId/events/stream', {
    exposeHeadRoute: false,
    schema: {
      summary: 'Follow an agent\'s log (SSE)',
      description: 'Server-sent events: the agent\'s events from `after` (or `Last-Event-ID`, which wins, as EventSource sends ' +
        'it on reconnect), then live as they are committed. Each event\'s `id:` is its seq. A follower that falls behind is ' +
        'switched back to reading the log, so no event is ever skipped. A heartbeat comment comes every HEARTBEAT_MS.',
      tags: ['streams'],
      params: AgentParams,
      querystring: AgentStreamQuery,
      headers: ResumeHeaders,
      response: { 200: AgentEventStream, 404: unknownAgent }
    }
  }, async function (request, reply) {
    const { agentId } = request.params
    const types = parseTypes(request.query.type)
    if (await events.loadAgent(agentId, false) === null) throw agentNotFound(agentId)
    return serveSse(reply, sink => live.followAgent({
      agentId,
      after: startAt(request.query.after, request.headers['last-event-id']),
      types,
      session: request.query.session ?? null
    }, sink))
  })

  fastify.get('/agents/:agentId/events/ws', {
    websocket: true,
    schema: {
      summary: 'Follow an agent\'s log (WebSocket)',
      description: 'The same stream as the SSE route, over a WebSocket: one JSON text message per event, and ' +
        '`{"type":"caught_up"}` / `{"type":"truncated"}` markers. Resume with `?after=<last seq>`. Anything the client ' +
        'sends is ignored. Bad parameters, an unknown agent and a refused token are answered before the upgrade.',
      tags: ['streams'],
      params: AgentParams,
      querystring: AgentStreamQuery,
      headers: ResumeHeaders,
      response: { 101: AgentSocketMessages, 404: unknownAgent }
    },
    // refused before the upgrade, as a plain HTTP 400/404 with an error body
    preHandler: async (request) => {
      parseTypes(request.query.type)
      if (await events.loadAgent(request.params.agentId, false) === null) throw agentNotFound(request.params.agentId)
    }
  }, function (socket, request) {
    followOnSocket(socket, sink => live.followAgent({
      agentId: request.params.agentId,
      after: startAt(request.query.after, request.headers['last-event-id']),
      types: parseTypes(request.query.type),
      session: request.query.session ?? null
    }, sink))
  })

  fastify.get('/stream', {
    exposeHeadRoute: false,
    schema: {
      summary: 'Follow every agent (SSE)',
      description: 'Server-sent events: every agent\'s events together (`id:` is the global event id), with `agent` ' +
        'notices when an agent connects or disconnects, for dashboards. `agents=` and `type=` filter; `after` and ' +
        '`Last-Event-ID` are global ids.',
      tags: ['streams'],
      querystring: GlobalStreamQuery,
      headers: ResumeHeaders,
      response: { 200: GlobalEventStream }
    }
  }, async function (request, reply) {
    const types = parseTypes(request.query.type)
    const agents = parseAgents(request.query.agents)
    return serveSse(reply, sink => live.followAll({ after: startAt(request.query.after, request.headers['last-event-id']), agents, types }, sink))
  })

  fastify.get('/stream/ws', {
    websocket: true,
    schema: {
      summary: 'Follow every agent (WebSocket)',
      description: 'The same stream as `GET /stream`, over a WebSocket: one JSON text message per event, ' +
        '`{"type":"agent"}` notices and a `{"type":"caught_up"}` marker. Resume with `?after=<last id>`.',
      tags: ['streams'],
      querystring: GlobalStreamQuery,
      headers: ResumeHeaders,
      response: { 101: GlobalSocketMessages }
    },
    preHandler: async (request) => {
      parseTypes(request.query.type)
      parseAgents(request.query.agents)
    }
  }, function (socket, request) {
    followOnSocket(socket, sink => live.followAll({
      after: startAt(request.query.after, request.headers['last-event-id']),
      agents: parseAgents(request.query.agents),
      types: parseTypes(request.query.type)
    }, sink))
  })
}

export default plugin
