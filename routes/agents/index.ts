// Agents: listing, history pages, sessions, and the operator commands (prompt, clear-context).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import { AgentParams } from '../../src/schemas/common.js'
import { errorResponse } from '../../src/schemas/docs.js'
import { EventPage, HistoryQuery } from '../../src/schemas/events.js'
import { AgentList, ClearContextResult, PromptAccepted, PromptBody, SessionList } from '../../src/schemas/agents.js'
import { createPromptSender } from '../../src/prompt.js'
import type { ClearOutcome } from '../../src/store/types.js'
import { agentNotFound } from '../../src/errors.js'
import { FORWARD_MARGIN_MS, forwarded } from '../../src/cluster/forward.js'

const unknownAgent = errorResponse('No agent with this id', ['agent_not_found'])
const unreachable = errorResponse('The server is shutting down, the event log did not commit within WRITE_TIMEOUT_MS, or the instance that owns the agent did not answer', ['shutting_down', 'write_timeout', 'agent_busy', 'owner_unavailable'])
const NoBody = Type.Object({}, { additionalProperties: false, description: 'nothing: the command takes no options' })

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { events, agents, history, config, cluster } = fastify

  fastify.get('/agents', {
    schema: {
      summary: 'List the agents',
      description: 'Every agent the server has seen, by id: connected or not, current session, last seq, the oldest ' +
        'retained seq, event count, cost and token totals, and what the agent said about itself (model, cwd, tools).',
      tags: ['agents'],
      response: { 200: AgentList }
    }
  }, async function () {
    return history.listAgents()
  })

  fastify.get('/agents/:agentId/events', {
    schema: {
      summary: 'Read an agent\'s history',
      description: 'One page of the agent\'s log in seq order (`order=desc` for newest first), filtered by session and ' +
        'event types. Walk it with `next_cursor`: pass it as `after` (asc) or `before` (desc) until it is null. ' +
        '`latest_seq` and `oldest_seq` bound the retained log.',
      tags: ['agents'],
      params: AgentParams,
      querystring: HistoryQuery,
      response: { 200: EventPage, 404: unknownAgent }
    }
  }, async function (request, reply) {
    const page = await history.pageJson(request.params.agentId, request.query)
    if (page === null) throw agentNotFound(request.params.agentId)
    // already JSON of the EventPage shape (the schema above documents it); a string is sent as it is
    reply.type('application/json; charset=utf-8')
    return page as unknown as Static<typeof EventPage>
  })

  fastify.get('/agents/:agentId/sessions', {
    schema: {
      summary: 'List an agent\'s sessions',
      description: 'Each session (numbered from 0; clear-context starts the next) with its seq range, times, event count, ' +
        'cost and token totals, and the current session.',
      tags: ['agents'],
      params: AgentParams,
      response: { 200: SessionList, 404: unknownAgent }
    }
  }, async function (request) {
    const sessions = await history.sessions(request.params.agentId)
    if (sessions === null) throw agentNotFound(request.params.agentId)
    return sessions
  })

  const prompt = createPromptSender(events, agents)

  async function clearContext (agentId: string) {
    let state = await events.loadAgent(agentId, false)
    if (state === null) throw agentNotFound(agentId)
    if (cluster !== null && !cluster.owns(agentId)) {
      // nobody alive writes this agent (else the command was forwarded there): this instance takes it
      await cluster.acquire(agentId)
      state = await events.loadAgent(agentId, false)
      if (state === null) throw agentNotFound(agentId)
    }
    const connected = agents.isConnected(agentId)
    // the barrier: every line received from here on belongs to the new session
    const clear = events.clearContext(agentId, connected)
    if (connected) agents.sendUserMessage(agentId, '/clear')
    await clear.committed
    let outcome: ClearOutcome = 'not_connected'
    if (connected) {
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<ClearOutcome>((resolve) => {
        timer = setTimeout(() => resolve('no_answer'), config.clearContextWaitMs)
      })
      outcome = await Promise.race([clear.outcome, timeout])
      clearTimeout(timer)
      if (outcome === 'no_answer') {
        events.clearOutcome(agentId, clear.sessionNumber, clear.previousSession, 'no_answer')
      }
    }
    return {
      agent_id: agentId,
      session_number: clear.sessionNumber,
      previous_session: clear.previousSession,
      agent_context: outcome
    }
  }

  // several instances: a command for an agent another instance owns is carried out there
  cluster?.serveCommand('prompt', async (agentId, body) => ({ status: 202, body: await prompt(agentId, (body as { content: string }).content) }))
  cluster?.serveCommand('clear-context', async (agentId) => ({ status: 200, body: await clearContext(agentId) }))

  fastify.post('/agents/:agentId/messages', {
    schema: {
      summary: 'Send a prompt to an agent',
      description: 'Stores the text as a `prompt_sent` event (and `activity_changed` busy), then sends it to the connected ' +
        'agent as a user message: never before it is committed, so a 503 `write_timeout` means the agent did not get it ' +
        '(unless the message says the prompt was already being written: then it is sent once it is). Answers with the stored events.',
      tags: ['operator'],
      params: AgentParams,
      body: PromptBody,
      response: { 202: PromptAccepted, 409: errorResponse('The agent is not connected', ['agent_not_connected']), 503: unreachable }
    }
  }, async function (request, reply) {
    const { agentId } = request.params
    reply.code(202)
    const remote = await forwarded(cluster, agentId, 'prompt', request.body, FORWARD_MARGIN_MS)
    if (remote !== null) return remote.body as Static<typeof PromptAccepted>
    return await prompt(agentId, request.body.content, (final) => { request.idempotencySettle = final })
  })

  fastify.post('/agents/:agentId/clear-context', {
    schema: {
      summary: 'Clear an agent\'s context',
      description: 'Starts the agent\'s next session (every line received from now on belongs to it) and, when the agent ' +
        'is connected, sends it `/clear` and waits up to CLEAR_CONTEXT_WAIT_MS for its answer. Takes no body (or `{}`).',
      tags: ['operator'],
      params: AgentParams,
      body: Type.Optional(NoBody),
      response: { 200: ClearContextResult, 404: unknownAgent, 503: unreachable }
    }
  }, async function (request) {
    const { agentId } = request.params
    const remote = await forwarded(cluster, agentId, 'clear-context', null, config.clearContextWaitMs + FORWARD_MARGIN_MS)
    if (remote !== null) return remote.body as Static<typeof ClearContextResult>
    return await clearContext(agentId)
  })
}

export default plugin
