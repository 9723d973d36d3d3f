// Human approval of tool use: the approval desk (src/approvals/) wired to the database, the event log, the
// agents' sockets and the webhook.
import fp from 'fastify-plugin'
import { createDesk, type Desk } from '../src/approvals/desk.js'
import { createApprovalStore } from '../src/approvals/store.js'
import { createNotifier } from '../src/approvals/webhook.js'
import { createRedactor } from '../src/redact.js'

declare module 'fastify' {
  interface FastifyInstance { approvals: Desk }
}

export default fp(async function approvals (fastify) {
  const { config, events, agents, cluster } = fastify
  const log = fastify.log.child({ component: 'approvals' })
  const notifier = config.approvalWebhookUrl === null
    ? null
    : createNotifier({ url: config.approvalWebhookUrl, format: config.approvalWebhookFormat, log })
  const redact = createRedactor(config.redactPatterns)
  const desk = createDesk({
    store: createApprovalStore(fastify.db),
    events: {
      loadAgent: events.loadAgent,
      record: events.record,
      currentSession: (agentId) => events.getAgent(agentId)?.currentSession ?? null
    },
    send: (agentId, message) => agents.sendLine(agentId, message),
    owns: cluster === null ? undefined : cluster.owns,
    policy: config.toolPolicy,
    timeoutMs: config.approvalTimeoutMs,
    fallback: config.approvalFallback,
    publicUrl: config.publicUrl,
    maxInputBytes: config.maxEventContentBytes,
    notifier,
    redactText: (text) => redact === null ? text : redact({ event_type: 'permission_requested', content: text, metadata: null }).content ?? '',
    log
  })
  await desk.start()
  // several instances: an agent's requests wait, time out and remember rules on whichever instance owns it now
  cluster?.onOwnership(async (agentId, owned) => {
    if (owned) await desk.adopt(agentId)
    else desk.letGo(agentId)
  })
  agents.onChange((agentId, state) => { if (state === 'connected') desk.connected(agentId) })
  // a turn that ended (interrupted, or the CLI replaced) no longer waits for anything it asked before
  events.onCommit((stored) => {
    for (const e of stored) if (e.event_type === 'result') desk.turnEnded(e.agent_id, e.seq)
  })
  fastify.decorate('approvals', desk)
  fastify.addHook('onClose', async () => {
    desk.close()
    await notifier?.close()
  })
}, { name: 'approvals', dependencies: ['config', 'db', 'cluster', 'event-store', 'agent-hub'] })
