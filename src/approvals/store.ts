// Where approvals and remembered rules are kept: the approvals and approval_rules tables (Kysely, both dialects).
import type { Kysely } from 'kysely'
import type { ApprovalRow, ApprovalRuleRow, Database } from '../../db/schema.js'

export function createApprovalStore (db: Kysely<Database>) {
  return {
    /** Requests still waiting, and decisions the agent has not received yet: what a restart must pick up. */
    async open (agentId?: string): Promise<ApprovalRow[]> {
      let q = db.selectFrom('approvals').selectAll()
        .where(eb => eb.or([eb('status', '=', 'pending'), eb.and([eb('status', '=', 'decided'), eb('delivered', '=', 0)])]))
      if (agentId !== undefined) q = q.where('agent_id', '=', agentId)
      return await q.orderBy('requested_at').execute()
    },

    /** Requests still waiting for a person, oldest first. */
    async pending (agentId?: string): Promise<ApprovalRow[]> {
      let q = db.selectFrom('approvals').selectAll().where('status', '=', 'pending')
      if (agentId !== undefined) q = q.where('agent_id', '=', agentId)
      return await q.orderBy('requested_at').execute()
    },

    async get (agentId: string, requestId: string): Promise<ApprovalRow | undefined> {
      return await db.selectFrom('approvals').selectAll()
        .where('agent_id', '=', agentId).where('request_id', '=', requestId).executeTakeFirst()
    },

    /** False when a row with this key exists already (it is kept as it is). */
    async insert (row: ApprovalRow): Promise<boolean> {
      const result = await db.insertInto('approvals').values(row)
        .onConflict(oc => oc.columns(['agent_id', 'request_id']).doNothing()).executeTakeFirst()
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0
    },

    async update (agentId: string, requestId: string, changes: Partial<ApprovalRow>): Promise<void> {
      await db.updateTable('approvals').set(changes)
        .where('agent_id', '=', agentId).where('request_id', '=', requestId).execute()
    },

    async rules (agentId?: string): Promise<ApprovalRuleRow[]> {
      let q = db.selectFrom('approval_rules').selectAll()
      if (agentId !== undefined) q = q.where('agent_id', '=', agentId)
      return await q.orderBy('created_at').orderBy('id').execute()
    },

    async addRule (rule: ApprovalRuleRow): Promise<void> {
      await db.insertInto('approval_rules').values(rule).execute()
    },

    async deleteRule (id: string): Promise<void> {
      await db.deleteFrom('approval_rules').where('id', '=', id).execute()
    }
  }
}

export type ApprovalStore = ReturnType<typeof createApprovalStore>
