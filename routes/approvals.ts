// Approvals: the tool calls waiting for a person, deciding them, and the rules remembered from decisions.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import type { Static } from '@sinclair/typebox'
import { AgentParams } from '../src/schemas/common.js'
import { errorResponse } from '../src/schemas/docs.js'
import {
  AlreadyDecided, ApprovalList, ApprovalParams, ApprovalQuery, DecisionBody, DecisionResult, type PendingApproval, RuleList, RuleParams,
  RememberedRule
} from '../src/schemas/approvals.js'
import { createRedactor } from '../src/redact.js'
import { agentNotFound, errorCode, httpError } from '../src/errors.js'
import { FORWARD_MARGIN_MS, forwarded } from '../src/cluster/forward.js'
import type { CommandResult } from '../src/cluster/cluster.js'

/** Who decided: the token's name, its position when it has none, or "anonymous" without access control. */
export function decider (request: FastifyRequest): string {
  const p = request.principal
  if (p === null) return 'anonymous'
  return p.name ?? `token ${p.tokenNumber}`
}

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { approvals, events, cluster } = fastify
  const redact = createRedactor(fastify.config.redactPatterns)
  const redacted = (input: unknown): unknown => redact === null
    ? input
    : redact({ event_type: 'permission_requested', content: null, metadata: { input } }).metadata?.input

  fastify.get('/approvals', {
    schema: {
      summary: 'Tool calls waiting for a person',
      description: 'The can_use_tool requests the policy asked about and nobody has decided yet, oldest first, across agents or for one (`agent`); with several instances, those of agents on every instance.',
      tags: ['approvals'],
      querystring: ApprovalQuery,
      response: { 200: { ...ApprovalList, description: 'The pending requests' } }
    }
  }, async function (request) {
    return {
      approvals: (await approvals.pending(request.query.agent)).map((a): Static<typeof PendingApproval> => ({
        agent_id: a.agentId,
        request_id: a.requestId,
        tool_name: a.toolName,
        input: redacted(a.input),
        tool_use_id: a.toolUseId,
        rule: a.rule,
        session_number: a.sessionNumber,
        seq: a.seq,
        requested_at: a.requestedAt
      }))
    }
  })

  fastify.post('/agents/:agentId/approvals/:requestId', {
    schema: {
      summary: 'Decide a waiting tool call',
      description: 'Allows or denies the request (operator role): the agent gets its answer now, or when it reconnects; the decision is stored as a permission_decided event. `remember` also decides the same call this way from now on.',
      tags: ['approvals'],
      params: ApprovalParams,
      body: DecisionBody,
      response: {
        200: { ...DecisionResult, description: 'Decided and sent to the agent' },
        404: errorResponse('No such pending request for this agent', ['approval_not_found']),
        409: { ...AlreadyDecided, description: 'Already decided or cancelled; `decision` says how (code: `already_decided`)' },
        503: errorResponse('The server is shutting down, or the instance that owns the agent did not answer', ['shutting_down', 'agent_busy', 'owner_unavailable'])
      }
    }
  }, async function (request, reply) {
    const { agentId, requestId } = request.params
    // several instances: the request waits on the instance that holds the agent's socket, so it decides there
    const remote = await cluster?.route(agentId, 'approval', { requestId, body: request.body, by: decider(request) }, FORWARD_MARGIN_MS) ?? null
    const result = remote ?? await decide(agentId, requestId, request.body, decider(request))
    if (result.status >= 400 && result.status !== 409) {
      const err = result.body as { message: string, code: string }
      throw httpError(result.status, err.message, errorCode(err.code, result.status))
    }
    reply.code(result.status as 200 | 409)
    return result.body as Static<typeof DecisionResult>
  })

  async function decide (agentId: string, requestId: string, body: Static<typeof DecisionBody>, by: string): Promise<CommandResult> {
    if (cluster !== null && !cluster.owns(agentId) && await approvals.stored(agentId, requestId)) {
      // nobody alive owns the agent (else the decision was forwarded there): this instance takes it, and with it
      // the request, so the decision is written by the agent's one writer
      await cluster.acquire(agentId)
    }
    const outcome = await approvals.decide(agentId, requestId, {
      behavior: body.behavior,
      message: body.message,
      updatedInput: body.updated_input,
      remember: body.remember
    }, by)
    if (outcome.kind === 'not_found') {
      throw httpError(404, `no permission request ${JSON.stringify(requestId)} for agent ${JSON.stringify(agentId)}`, 'approval_not_found')
    }
    if (outcome.kind === 'closed') {
      const a = outcome.approval
      return {
        status: 409,
        body: {
          error: 'Conflict',
          message: a.status === 'cancelled'
            ? `the request was cancelled by the ${a.decidedBy ?? 'agent'}`
            : `already decided: ${a.behavior ?? '?'} by ${a.decidedBy ?? '?'}`,
          code: 'already_decided',
          decision: { status: a.status === 'cancelled' ? 'cancelled' as const : 'decided' as const, behavior: a.behavior, decided_by: a.decidedBy, decided_at: a.decidedAt, waited_ms: a.waitedMs }
        }
      }
    }
    return { status: 200, body: outcome.result }
  }

  cluster?.serveCommand('approval', async (agentId, forwarded) => {
    const { requestId, body, by } = forwarded as { requestId: string, body: Static<typeof DecisionBody>, by: string }
    return await decide(agentId, requestId, body, by)
  })

  fastify.get('/agents/:agentId/rules', {
    schema: {
      summary: 'Remembered rules of an agent',
      description: 'The allow/deny rules operators asked to remember while deciding, in force for the agent now (stored: whichever instance owns the agent next applies them).',
      tags: ['approvals'],
      params: AgentParams,
      response: { 200: { ...RuleList, description: 'The rules' }, 404: errorResponse('No agent with this id', ['agent_not_found']) }
    }
  }, async function (request) {
    const { agentId } = request.params
    const state = await events.loadAgent(agentId, false)
    if (state === null) throw agentNotFound(agentId)
    return { rules: await approvals.rules(agentId, state.currentSession) }
  })

  fastify.delete('/agents/:agentId/rules/:ruleId', {
    schema: {
      summary: 'Forget a remembered rule',
      description: 'Removes the rule; the calls it decided are asked about again. Answers the removed rule.',
      tags: ['approvals'],
      params: RuleParams,
      response: {
        200: { ...RememberedRule, description: 'The deleted rule' },
        404: errorResponse('No such rule for this agent', ['rule_not_found']),
        503: errorResponse('The instance that owns the agent did not answer', ['owner_unavailable'])
      }
    }
  }, async function (request) {
    const { agentId, ruleId } = request.params
    // several instances: the owner applies the agent's rules from its memory, so it forgets the rule itself
    const remote = await forwarded(cluster, agentId, 'forget-rule', { ruleId }, FORWARD_MARGIN_MS)
    return (remote?.body ?? await forgetRule(agentId, ruleId)) as Static<typeof RememberedRule>
  })

  async function forgetRule (agentId: string, ruleId: string) {
    const rule = await approvals.deleteRule(agentId, ruleId)
    if (rule === null) throw httpError(404, `no remembered rule ${JSON.stringify(ruleId)} for agent ${JSON.stringify(agentId)}`, 'rule_not_found')
    return rule
  }

  cluster?.serveCommand('forget-rule', async (agentId, body) => ({ status: 200, body: await forgetRule(agentId, (body as { ruleId: string }).ruleId) }))
}

export default plugin
