// Operator control of a running agent: interrupt its turn, switch its permission mode or its model.
// Each sends a control_request, answers with the CLI's control_response and stores an operator_command event.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Static } from '@sinclair/typebox'
import { AgentParams } from '../../src/schemas/common.js'
import { errorResponse } from '../../src/schemas/docs.js'
import { ControlResult, InterruptBody, ModelBody, PermissionModeBody } from '../../src/schemas/control.js'
import type { ControlRequestBody } from '../../src/protocol/control.js'
import { agentNotConnected, httpError } from '../../src/errors.js'
import { FORWARD_MARGIN_MS, forwarded } from '../../src/cluster/forward.js'
import type { CommandResult } from '../../src/cluster/cluster.js'

const responses = {
  200: { ...ControlResult, description: 'The agent confirmed the command; the stored operator_command event is included' },
  202: { ...ControlResult, description: 'Sent, but the agent did not confirm within CONTROL_WAIT_MS: it may still act on it' },
  409: errorResponse('The agent is not connected', ['agent_not_connected']),
  422: errorResponse('The agent answered the command with an error', ['agent_refused']),
  503: errorResponse('The server is shutting down, the event log did not commit within WRITE_TIMEOUT_MS, or the instance that owns the agent did not answer', ['shutting_down', 'write_timeout', 'agent_busy', 'owner_unavailable'])
}
const how = 'Sends a control_request to the connected agent, waits for its control_response, and stores an ' +
  '`operator_command` event (who asked, the outcome) either way.'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { events, agents, agentControl, config, cluster } = fastify

  /** Sends the request, stores what happened, and answers with the CLI's verdict (here, or on the agent's owner). */
  async function command (request: FastifyRequest, reply: FastifyReply, agentId: string, body: ControlRequestBody) {
    const principal = request.principal
    const by = principal === null ? null : { role: principal.role, token_number: principal.tokenNumber, name: principal.name }
    const remote = await forwarded(cluster, agentId, 'control', { body, by }, config.controlWaitMs + FORWARD_MARGIN_MS)
    const result = remote ?? await run(agentId, body, by)
    reply.code(result.status)
    return result.body as Static<typeof ControlResult>
  }

  cluster?.serveCommand('control', async (agentId, forwardedBody) => {
    const { body, by } = forwardedBody as { body: ControlRequestBody, by: Record<string, unknown> | null }
    return await run(agentId, body, by)
  })

  async function run (agentId: string, body: ControlRequestBody, by: Record<string, unknown> | null): Promise<CommandResult> {
    if (!agents.isConnected(agentId)) throw agentNotConnected(agentId)
    await events.loadAgent(agentId, true)
    const { subtype: command, ...params } = body
    const answer = await agentControl.request(agentId, body, config.controlWaitMs)
    if (answer.outcome === 'not_connected') throw agentNotConnected(agentId)
    const metadata: Record<string, unknown> = {
      command,
      params,
      outcome: answer.outcome,
      request_id: answer.requestId,
      // which configured token asked, never the token itself
      by
    }
    if (answer.outcome === 'error') metadata.error = answer.error
    if (answer.outcome === 'success') metadata.response = answer.response
    const [event] = await events.record(agentId, [{ event_type: 'operator_command', content: command, metadata }])
    if (answer.outcome === 'error') throw httpError(422, `the agent refused ${command}: ${answer.error}`, 'agent_refused')
    if (answer.outcome === 'no_answer') {
      // sent, but not confirmed: the agent may still act on it
      return { status: 202, body: { agent_id: agentId, command, params, outcome: answer.outcome, response: null, event } }
    }
    return { status: 200, body: { agent_id: agentId, command, params, outcome: answer.outcome, response: answer.response, event } }
  }

  fastify.post('/agents/:agentId/interrupt', {
    schema: {
      summary: 'Interrupt the agent\'s running turn',
      description: `${how} The agent stops what it is doing and waits for the next prompt.`,
      tags: ['operator'],
      params: AgentParams,
      body: InterruptBody,
      response: responses
    }
  }, async function (request, reply) {
    return await command(request, reply, request.params.agentId, { subtype: 'interrupt' })
  })

  fastify.post('/agents/:agentId/permission-mode', {
    schema: {
      summary: 'Switch the agent\'s permission mode',
      description: `${how} The mode applies to the agent's next tool calls.`,
      tags: ['operator'],
      params: AgentParams,
      body: PermissionModeBody,
      response: responses
    }
  }, async function (request, reply) {
    return await command(request, reply, request.params.agentId, { subtype: 'set_permission_mode', mode: request.body.mode })
  })

  fastify.post('/agents/:agentId/model', {
    schema: {
      summary: 'Switch the agent\'s model',
      description: `${how} The model applies from the agent's next turn.`,
      tags: ['operator'],
      params: AgentParams,
      body: ModelBody,
      response: responses
    }
  }, async function (request, reply) {
    return await command(request, reply, request.params.agentId, { subtype: 'set_model', model: request.body.model })
  })
}

export default plugin
