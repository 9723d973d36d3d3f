// The agent socket: Claude Code (--sdk-url) or `agentlog connect` streams stream-json lines here.
import type { FastifyPluginAsync } from 'fastify'
import type { RawData } from 'ws'
import { frameText, parseFrame, type AgentMessage } from '../src/protocol/ndjson.js'
import { LOGGED_TYPES, messageSessionId } from '../src/protocol/messages.js'
import { cancelledRequestId, permissionRequest, permissionResponse } from '../src/protocol/permissions.js'
import { agentRestartedEvent } from '../src/protocol/relay.js'
import { isValidAgentId } from '../src/schemas/common.js'
import { CloseCodes } from '../src/protocol/close-codes.js'
import { Type } from '@sinclair/typebox'
import { webSocketResponse } from '../src/schemas/docs.js'

interface Params { agentId: string }

const AgentSocketFromServer = webSocketResponse('NDJSON both ways; the server sends user messages and control responses',
  Type.Union([
    Type.Object({
      type: Type.Literal('user'),
      message: Type.Object({ role: Type.Literal('user'), content: Type.String() })
    }, { additionalProperties: true, description: 'a prompt or `/clear` for the agent' }),
    Type.Object({
      type: Type.Literal('control_response'),
      response: Type.Object({ subtype: Type.Literal('success'), request_id: Type.String(), response: Type.Object({ behavior: Type.Union([Type.Literal('allow'), Type.Literal('deny')]) }, { additionalProperties: true }) })
    }, { description: 'the answer to a `can_use_tool` permission request, per TOOL_POLICY' }),
    Type.Object({ type: Type.String() }, { additionalProperties: true, description: 'other stream-json control messages' })
  ]), 'application/x-ndjson')
const AgentSocketFromAgent = Type.Object({ type: Type.String({ description: 'assistant, user, result, system, control_request, keep_alive, …' }) }, {
  additionalProperties: true,
  description: 'stream-json lines from Claude Code, one JSON message a line'
})

const SEEN_EVERY_MS = 5000

/** ws closes on these protocol errors with a bare code; they are counted, and the agent is told why. */
const FRAME_ERRORS: Record<string, { reason: 'frame_too_big' | 'invalid_utf8', text: string }> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: { reason: 'frame_too_big', text: 'frame larger than MAX_FRAME_BYTES' },
  WS_ERR_INVALID_UTF8: { reason: 'invalid_utf8', text: 'text frame is not valid UTF-8' }
}
const CLOSE_REASONS: Record<number, string> = {
  [CloseCodes.INVALID_UTF8]: FRAME_ERRORS.WS_ERR_INVALID_UTF8.text,
  [CloseCodes.TOO_BIG]: FRAME_ERRORS.WS_ERR_UNSUPPORTED_MESSAGE_LENGTH.text
}

const plugin: FastifyPluginAsync = async (fastify) => {
  const { events, agents, agentControl, config, approvals } = fastify
  const rejected = agents.rejectedLines

  // pause every agent socket while the write queue is over its bound; TCP flow control does the rest
  events.onPressure((full) => {
    for (const id of agents.ids()) {
      const conn = agents.get(id)
      if (conn === undefined) continue
      if (full) conn.socket.pause()
      else conn.socket.resume()
    }
    fastify.log.warn({ queue: events.queueDepth, full }, full ? 'write queue full: pausing agent sockets' : 'write queue drained: resuming agent sockets')
  })

  fastify.get<{ Params: Params }>('/ws/:agentId', {
    websocket: true,
    schema: {
      summary: 'The agent socket (stream-json)',
      description: 'Claude Code (`--sdk-url`, up to 2.1.120) or `agentlog connect` streams stream-json here: NDJSON, one ' +
        'JSON message a line, a frame may hold several lines. The server sends user messages (prompts, `/clear`) and ' +
        'answers permission requests (`control_response`). A bad agent id or a refused token is closed with 4003 after ' +
        'the upgrade (the CLI stops instead of retrying); see the README for every close code.',
      tags: ['agent socket'],
      response: { 101: AgentSocketFromServer },
      'x-client-messages': AgentSocketFromAgent
    },
    // the agent's state is loaded before the upgrade completes, so no line can arrive before it is known
    preValidation: async (request) => {
      if (request.agentRefusal !== null || !isValidAgentId(request.params.agentId)) return
      const principal = request.principal
      if (principal?.role === 'runner') {
        // a runner's token opens only the sockets of the agents that runner runs
        const runner = await fastify.fleet.runnerOf(request.params.agentId)
        if (runner === null || (principal.agentPattern !== null && !principal.agentPattern.test(runner))) {
          request.agentRefusal = `this runner token may not connect as agent ${JSON.stringify(request.params.agentId)}: no runner it may be runs it`
          return
        }
      }
      // several instances: the previous owner commits what it received and lets go before this one writes
      if (fastify.cluster !== null) await fastify.cluster.acquire(request.params.agentId)
      await events.loadAgent(request.params.agentId, true)
    }
  }, function (socket, request) {
    const { agentId } = request.params
    if (request.agentRefusal !== null) {
      // a bad token (see plugins/auth.ts): 4003, so the CLI stops instead of retrying
      socket.close(CloseCodes.REFUSED, request.agentRefusal)
      return
    }
    if (!isValidAgentId(agentId)) {
      // 4003: the CLI gives up instead of retrying something that cannot work
      socket.close(CloseCodes.REFUSED, 'invalid agent id')
      return
    }
    const log = request.log.child({ agentId })

    /**
     * Whether this instance still holds the agent's state. The cluster drops it (events.forget in lose,
     * src/cluster/ownership.ts) when another instance has taken the agent, possibly before this socket has closed;
     * what arrives meanwhile is neither written nor answered here, and 1001 sends the agent to whoever serves it
     * now (it re-sends and asks again there).
     */
    function served (): boolean {
      if (events.getAgent(agentId) !== undefined) return true
      if (socket.readyState === socket.OPEN) {
        log.warn('agent state gone from this instance (handed over): closing (1001)')
        socket.close(CloseCodes.GOING_AWAY, 'the agent is served by another instance now; reconnect')
      }
      return false
    }

    // lost between the upgrade and now
    if (!served()) return
    const newProcess = request.headers['x-last-request-id'] === undefined
    const conn = agents.attach(agentId, socket)
    if (events.isFull) socket.pause()
    events.connected(agentId, newProcess)
    log.info({ newProcess }, 'agent connected')
    let lastSeen = Date.now()
    let warned = false

    // ws closes on an oversize frame or invalid UTF-8 with a bare code; the agent gets the reason too
    const closeSocket = socket.close.bind(socket)
    socket.close = (code?: number, reason?: string | Buffer) => { closeSocket(code, reason ?? (code === undefined ? undefined : CLOSE_REASONS[code])) }

    // an agent that sends nothing, not even keep_alive or a ping, is presumed gone; a paused socket is ours to read
    const idleMs = config.agentIdleTimeoutMs
    const idle = idleMs === 0
      ? null
      : setTimeout(function onIdle () {
        if (socket.isPaused) { idle?.refresh(); return }
        log.info({ idleMs }, 'agent idle: closing')
        socket.close(CloseCodes.IDLE, `idle: nothing received for ${idleMs} ms`)
      }, idleMs)
    socket.on('ping', () => idle?.refresh())

    function touch (): void {
      const now = Date.now()
      if (now - lastSeen >= SEEN_EVERY_MS) {
        lastSeen = now
        events.seen(agentId)
      }
    }

    function handle (message: AgentMessage): void {
      const type = message.type
      if (LOGGED_TYPES.has(type)) {
        if (!served()) return
        const sessionId = messageSessionId(message)
        if (sessionId !== null) conn.claudeSessionId = sessionId
        events.ingest(agentId, message)
        lastSeen = Date.now()
        return
      }
      if (type === 'control_request') {
        const permission = permissionRequest(message)
        if (permission !== null) {
          // the decision may be logged (a remembered rule), and an asked request is stored with the agent's session
          if (!served()) return
          // allowed or denied by policy: answered at once, in order (the CLI blocks until it is, and asks again after
          // a reconnect); null: a person decides (src/approvals/desk.ts sends the answer)
          const answer = approvals.request(agentId, permission)
          if (answer !== null) {
            socket.send(JSON.stringify(permissionResponse(permission.rawRequestId, answer)) + '\n')
            log.info({ tool: permission.toolName, requestId: permission.requestId, allow: answer.behavior === 'allow' }, 'tool permission decided')
          }
        } else {
          log.debug({ request: (message.request as { subtype?: unknown } | undefined)?.subtype }, 'control request ignored')
        }
        return
      }
      if (type === 'control_cancel_request') {
        const requestId = cancelledRequestId(message)
        if (requestId !== null) approvals.cancel(agentId, requestId, 'cancelled by the agent')
        return
      }
      const restarted = agentRestartedEvent(message)
      if (restarted !== null) {
        if (!served()) return
        // a new CLI process behind the same relay socket: its cost counter is its own (or a resumed session's)
        events.connected(agentId, true)
        events.record(agentId, [restarted]).catch((err: Error) => { log.warn({ err }, 'agent_restarted notice not stored') })
        log.warn({ exitCode: restarted.metadata?.exit_code, signal: restarted.metadata?.signal }, 'agent CLI restarted by its relay')
        return
      }
      // an answer to a control request we sent (interrupt, permission mode, model); others' answers are ignored
      if (type === 'control_response') agentControl.settle(agentId, message)
      touch()
    }

    // a throw in a socket listener is uncaught and would end the process (close-with-grace): one agent's bad moment
    // is logged and the agent told to reconnect (1011); nothing it sends on this socket after that is taken
    let failed = false
    socket.on('message', (data: RawData, isBinary: boolean) => {
      if (failed) return
      try {
        receive(data, isBinary)
      } catch (err) {
        failed = true
        log.error({ err }, 'agent frame not handled: closing (1011)')
        socket.close(CloseCodes.INTERNAL_ERROR, 'internal error; reconnect')
      }
    })

    function receive (data: RawData, isBinary: boolean): void {
      idle?.refresh()
      if (isBinary) {
        rejected.binary++
        conn.malformedLines++
        if (!warned) { warned = true; log.warn('binary frame from agent skipped') }
        return
      }
      for (const parsed of parseFrame(frameText(data))) {
        if (parsed.ok) {
          handle(parsed.message)
          continue
        }
        rejected[parsed.reason]++
        conn.malformedLines++
        if (!warned) {
          warned = true
          log.warn({ reason: parsed.reason, preview: parsed.line.slice(0, 200) }, 'unparseable line from agent skipped (logged once per connection)')
        }
      }
    }
    socket.on('error', (err) => {
      const frame = FRAME_ERRORS[(err as { code?: string }).code ?? '']
      if (frame !== undefined) {
        rejected[frame.reason]++
        conn.malformedLines++
      }
      log.warn({ err }, 'agent socket error')
    })
    socket.on('close', (code, reason) => {
      if (idle !== null) clearTimeout(idle)
      if (agents.detach(conn)) events.seen(agentId)
      log.info({ code, reason: reason.toString(), malformedLines: conn.malformedLines }, 'agent disconnected')
    })
  })
}

export default plugin
