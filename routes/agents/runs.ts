// Stopping and resuming an agent that a runner runs (src/fleet/).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { AgentParams } from '../../src/schemas/common.js'
import { errorResponse } from '../../src/schemas/docs.js'
import { AgentRunResult, ResumeAgentBody, StopAgentBody } from '../../src/schemas/runners.js'
import { byOf, startErrors } from '../runners.js'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { fleet } = fastify

  fastify.post('/agents/:agentId/stop', {
    schema: {
      summary: 'Stop an agent a runner runs',
      description: 'The runner ends the agent\'s CLI (SIGTERM, SIGKILL after RUNNER_STOP_GRACE_MS; it is not restarted) and the agent\'s log ' +
        'gets an `agent_stopped` event. Its worktree is kept unless `remove_worktree` is true: then it is removed when it has no ' +
        'uncommitted changes (else 409 `worktree_dirty`, nothing removed). Stopping a stopped agent changes nothing.',
      tags: ['runners'],
      params: AgentParams,
      body: Type.Optional(StopAgentBody),
      response: {
        200: { ...AgentRunResult, description: 'The CLI has ended (or was not running); whether the worktree was removed' },
        404: errorResponse('No such agent', ['agent_not_found']),
        409: errorResponse('The agent was not started by a runner, its runner is not connected, or its worktree has changes', ['not_started_by_runner', 'runner_not_connected', 'worktree_dirty']),
        502: errorResponse('git could not remove the worktree', ['worktree_failed']),
        504: errorResponse('The runner did not answer in time', ['runner_timeout'])
      }
    }
  }, async function (request) {
    return await fleet.stop(request.params.agentId, request.body?.remove_worktree === true, byOf(request))
  })

  fastify.post('/agents/:agentId/resume', {
    schema: {
      summary: 'Resume an agent\'s Claude session on a runner',
      description: 'Starts Claude Code with `--resume` on the agent\'s current Claude session (`--fork-session` too with `fork`), in the ' +
        'directory it ran in (or `cwd`), on the runner that has that directory under its roots (or `runner`). The new events continue the ' +
        'agent\'s log. Works for agents whose transcripts were imported (give `cwd` when the log does not hold it).',
      tags: ['runners'],
      params: AgentParams,
      body: Type.Optional(ResumeAgentBody),
      response: { 201: { ...AgentRunResult, description: 'The CLI is up again on the agent\'s Claude session' }, ...startErrors }
    }
  }, async function (request, reply) {
    const result = await fleet.resume(request.params.agentId, request.body ?? {}, byOf(request))
    reply.code(201)
    return result
  })
}

export default plugin
