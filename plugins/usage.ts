// Usage budgets (src/usage/budgets.ts) wired to the database, the event log and the approvals webhook.
import fp from 'fastify-plugin'
import { createBudgetWatcher, budgetRequest, type BudgetWatcher } from '../src/usage/budgets.js'
import { createNotifier } from '../src/approvals/webhook.js'

declare module 'fastify' {
  interface FastifyInstance { usageBudgets: BudgetWatcher }
}

export default fp(async function usage (fastify) {
  const { config, events } = fastify
  const log = fastify.log.child({ component: 'budgets' })
  const url = config.approvalWebhookUrl
  const notifier = url === null || config.budgets.length === 0 ? null : createNotifier({ url, format: config.approvalWebhookFormat, log })
  const watcher = createBudgetWatcher({
    db: fastify.db,
    budgets: config.budgets,
    intervalMs: config.budgetCheckMs,
    record: async (agentId, draft) => {
      await events.loadAgent(agentId, true)
      await events.record(agentId, [draft])
    },
    notify: notifier === null || url === null ? null : (n) => notifier.send(budgetRequest(url, config.approvalWebhookFormat, n), `budget ${n.budget} ${n.period}`),
    log
  })
  fastify.decorate('usageBudgets', watcher)
  fastify.addHook('onReady', async () => { watcher.start() })
  fastify.addHook('onClose', async () => {
    await watcher.stop()
    await notifier?.close()
  })
}, { name: 'usage', dependencies: ['config', 'db', 'event-store'] })
