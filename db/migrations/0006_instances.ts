// Several instances on one PostgreSQL: who owns an agent's writes (fenced by an epoch), where it is connected,
// and operator commands carried from the instance that received them to the one that owns the agent.
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('owner_instance', 'text').execute()
  // bumped by each new owner; a writer whose epoch is older may no longer write (see src/cluster/fence.ts)
  await db.schema.alterTable('agents').addColumn('owner_epoch', 'integer', col => col.notNull().defaultTo(0)).execute()
  await db.schema.alterTable('agents').addColumn('connected_instance', 'text').execute()

  await db.schema.createTable('instance_commands')
    .addColumn('id', 'text', col => col.primaryKey())
    .addColumn('target_instance', 'text', col => col.notNull())
    .addColumn('agent_id', 'text', col => col.notNull())
    .addColumn('request', 'text', col => col.notNull())
    .addColumn('reply', 'text')
    .addColumn('created_at', 'text', col => col.notNull())
    .execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('instance_commands').execute()
  await db.schema.alterTable('agents').dropColumn('connected_instance').execute()
  await db.schema.alterTable('agents').dropColumn('owner_epoch').execute()
  await db.schema.alterTable('agents').dropColumn('owner_instance').execute()
}
