// Runners: the list, starting an agent on one, and the runner socket (`agentlog runner`).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { RawData } from 'ws'
import { errorResponse, webSocketResponse } from '../src/schemas/docs.js'
import { AgentRunResult, RunnerList, RunnerParams, StartAgentBody } from '../src/schemas/runners.js'
import { FromRunner, parseFromRunner, RUNNER_PROTOCOL, ToRunner } from '../src/protocol/runner.js'
import { RunnerCloseCodes } from '../src/protocol/close-codes.js'
import type { By } from '../src/fleet/events.js'

/** A runner that does not say hello within this is closed. */
const HELLO_WITHIN_MS = 10000

export function byOf (request: FastifyRequest): By {
  const p = request.principal
  return p === null ? null : { role: p.role, token_number: p.tokenNumber, name: p.name }
}

export const startErrors = {
  400: errorResponse('The directory is outside the runner\'s roots or missing, is not in a git repository (worktree), or the base ref does not exist', ['cwd_not_allowed', 'not_a_repository', 'base_not_found', 'bad_request']),
  404: errorResponse('No such runner (or agent)', ['runner_not_found', 'agent_not_found']),
  409: errorResponse('The runner is not connected, the agent already runs, or the worktree exists', ['runner_not_connected', 'agent_running', 'worktree_exists', 'no_session']),
  502: errorResponse('The CLI did not come up (its last stderr lines are in the message), or git failed', ['cli_failed', 'worktree_failed']),
  504: errorResponse('The runner did not answer within RUNNER_START_TIMEOUT_MS', ['runner_timeout'])
}

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { fleet } = fastify

  fastify.get('/runners', {
    schema: {
      summary: 'List the runners',
      description: 'Every runner (`agentlog runner`) that ever connected: its host, roots, Claude Code version, whether it is connected now, and the agents it runs.',
      tags: ['runners'],
      response: { 200: RunnerList }
    }
  }, async function () {
    return await fleet.list()
  })

  fastify.post('/runners/:name/agents', {
    schema: {
      summary: 'Start an agent on a runner',
      description: 'The runner starts Claude Code in `cwd` (or in a new git worktree of its repository) through the same relay as ' +
        '`agentlog connect`; answers 201 once the agent\'s CLI is up and connected. An agent id is made up when none is given. ' +
        'The first prompt, when given, is sent as POST /agents/:id/messages sends one (`prompt_sent`). The agent\'s log gets an `agent_started` event.',
      tags: ['runners'],
      params: RunnerParams,
      body: StartAgentBody,
      response: { 201: { ...AgentRunResult, description: 'The agent\'s CLI is up and connected; the first prompt\'s answer is included' }, ...startErrors }
    }
  }, async function (request, reply) {
    const result = await fleet.start(request.params.name, request.body, byOf(request))
    reply.code(201)
    return result
  })

  fastify.get('/runners/ws/:name', {
    websocket: true,
    schema: {
      summary: 'The runner socket (`agentlog runner`)',
      description: `One JSON message a text frame. The runner says \`hello\` first (within ${HELLO_WITHIN_MS / 1000} s), then answers the ` +
        'server\'s `start` and `stop` with `started`, `failed` or `stopped`, and reports each agent whose CLI ended by itself (`exited`). ' +
        'Close codes: 4001 replaced by a newer runner of the same name, 4002 a bad message, 4003 refused. Needs a runner token.',
      tags: ['runners'],
      params: RunnerParams,
      response: { 101: webSocketResponse('the server\'s requests', ToRunner) },
      'x-client-messages': FromRunner
    }
  }, function (socket, request) {
    const { name } = request.params as { name: string }
    const log = request.log.child({ runner: name })
    let conn: Awaited<ReturnType<typeof fleet.attach>> | null = null
    let closed = false
    const helloTimer = setTimeout(() => socket.close(RunnerCloseCodes.BAD_MESSAGE, `no hello within ${HELLO_WITHIN_MS} ms`), HELLO_WITHIN_MS)
    const runnerSocket = {
      send: (text: string) => { if (socket.readyState === socket.OPEN) socket.send(text) },
      close: (code: number, reason: string) => socket.close(code, reason)
    }
    // one message at a time, in order
    let chain: Promise<void> = Promise.resolve()
    socket.on('message', (data: RawData, isBinary: boolean) => {
      const message = isBinary ? null : parseFromRunner(data.toString())
      if (message === null) {
        log.warn('runner sent a message that is not one of the protocol\'s: closing (4002)')
        socket.close(RunnerCloseCodes.BAD_MESSAGE, 'not a runner protocol message')
        return
      }
      chain = chain.then(async () => {
        if (closed) return
        if (message.type === 'hello') {
          if (message.protocol !== RUNNER_PROTOCOL) {
            socket.close(RunnerCloseCodes.REFUSED, `runner protocol ${RUNNER_PROTOCOL} only`)
            return
          }
          clearTimeout(helloTimer)
          if (conn === null) conn = await fleet.attach(name, runnerSocket, message)
          return
        }
        if (conn === null) {
          socket.close(RunnerCloseCodes.BAD_MESSAGE, 'hello first')
          return
        }
        await fleet.received(conn, message)
      }).catch((err: Error) => log.error({ err }, 'runner message not handled'))
    })
    socket.on('close', () => {
      closed = true
      clearTimeout(helloTimer)
      chain = chain.then(async () => { if (conn !== null) await fleet.detach(conn) })
        .catch((err: Error) => log.error({ err }, 'runner disconnect not recorded'))
    })
  })
}

export default plugin
