// Idempotency-Key answers (plugins/idempotency.ts): the first answer to a key, kept 24 hours, shared by instances.
import type { Kysely } from 'kysely'

export async function up (db: Kysely<any>): Promise<void> {
  await db.schema.createTable('idempotency_keys')
    // '-' without access control, else token:N (which configured token sent it): keys are the sender's own
    .addColumn('principal', 'text', col => col.notNull())
    .addColumn('key', 'text', col => col.notNull())
    // the request's method, path and body, hashed: the same key for another request is refused
    .addColumn('fingerprint', 'text', col => col.notNull())
    // null while the first request is being carried out
    .addColumn('status', 'integer')
    .addColumn('content_type', 'text')
    .addColumn('body', 'text')
    .addColumn('created_at', 'text', col => col.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['principal', 'key'])
    .execute()
  await db.schema.createIndex('idempotency_keys_created').on('idempotency_keys').column('created_at').execute()
}

export async function down (db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('idempotency_keys').execute()
}
