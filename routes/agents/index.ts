// Agents: listing, history pages, sessions, and the operator commands (prompt, clear-context).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import { AgentParams, ErrorBody } from '../../src/schemas/common.js'
import { EventPage, HistoryQuery } from '../../src/schemas/events.js'
import { AgentList, ClearContextResult, PromptAccepted, PromptBody, SessionList } from '../../src/schemas/agents.js'
import type { ClearOutcome } from '../../plugins/event-store.js'
import { agentNotConnected, agentNotFound } from '../../src/errors.js'
import { FORWARD_MARGIN_MS, forwarded } from '../../src/cluster/forward.js'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { events, agents, history, config, cluster } = fastify

  fastify.get('/agents', {
    schema: { response: { 200: AgentList } }
  }, async function () {
    return history.listAgents()
  })

  fastify.get('/agents/:agentId/events', {
    schema: {
      params: AgentParams,
      querystring: HistoryQuery,
      response: { 200: EventPage, 400: ErrorBody, 404: ErrorBody }
    }
  }, async function (request, reply) {
    const page = await history.pageJson(request.params.agentId, request.query)
    if (page === null) throw agentNotFound(request.params.agentId)
    // already JSON of the EventPage shape (the schema above documents it); a string is sent as it is
    reply.type('application/json; charset=utf-8')
    return page as unknown as Static<typeof EventPage>
  })

  fastify.get('/agents/:agentId/sessions', {
    schema: { params: AgentParams, response: { 200: SessionList, 400: ErrorBody, 404: ErrorBody } }
  }, async function (request) {
    const sessions = await history.sessions(request.params.agentId)
    if (sessions === null) throw agentNotFound(request.params.agentId)
    return sessions
  })

  /** Sends a prompt to the agent's socket here; resolves once its prompt_sent event is committed. */
  async function prompt (agentId: string, content: string) {
    if (!agents.isConnected(agentId)) {
      throw agentNotConnected(agentId)
    }
    const state = await events.loadAgent(agentId, true)
    if (state === null || !agents.isConnected(agentId)) {
      throw agentNotConnected(agentId)
    }
    // queued before it is sent, so the prompt_sent event precedes anything the agent answers
    const stored = events.promptSent(agentId, content)
    agents.sendUserMessage(agentId, content)
    const evs = await stored
    return { agent_id: agentId, session_number: evs[0].session_number, events: evs }
  }

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
      params: AgentParams,
      body: PromptBody,
      response: { 202: PromptAccepted, 400: ErrorBody, 409: ErrorBody, 503: ErrorBody }
    }
  }, async function (request, reply) {
    const { agentId } = request.params
    reply.code(202)
    const remote = await forwarded(cluster, agentId, 'prompt', request.body, FORWARD_MARGIN_MS)
    if (remote !== null) return remote.body as Static<typeof PromptAccepted>
    return await prompt(agentId, request.body.content)
  })

  fastify.post('/agents/:agentId/clear-context', {
    schema: {
      params: AgentParams,
      body: Type.Optional(Type.Unknown()),
      response: { 200: ClearContextResult, 400: ErrorBody, 404: ErrorBody, 503: ErrorBody }
    }
  }, async function (request) {
    const { agentId } = request.params
    const remote = await forwarded(cluster, agentId, 'clear-context', null, config.clearContextWaitMs + FORWARD_MARGIN_MS)
    if (remote !== null) return remote.body as Static<typeof ClearContextResult>
    return await clearContext(agentId)
  })
}

export default plugin
