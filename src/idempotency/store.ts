// Where Idempotency-Key answers are kept: the idempotency_keys table (migration 0010), so a retry is recognised
// after a restart and by any instance.
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { StoredKey } from './decide.js'

export interface KeyRef { principal: string, key: string }

export interface StoredAnswer extends StoredKey {
  contentType: string | null
  body: string | null
}

export function createIdempotencyStore (db: Kysely<Database>) {
  return {
    async get ({ principal, key }: KeyRef): Promise<StoredAnswer | null> {
      const row = await db.selectFrom('idempotency_keys').selectAll()
        .where('principal', '=', principal).where('key', '=', key).executeTakeFirst()
      if (row === undefined) return null
      return { fingerprint: row.fingerprint, status: row.status, createdAt: row.created_at, contentType: row.content_type, body: row.body }
    },

    /** Takes the key for a request now being carried out; false when the key is stored already. */
    async claim ({ principal, key }: KeyRef, fingerprint: string, now: string): Promise<boolean> {
      const result = await db.insertInto('idempotency_keys')
        .values({ principal, key, fingerprint, status: null, content_type: null, body: null, created_at: now })
        .onConflict(oc => oc.columns(['principal', 'key']).doNothing()).executeTakeFirst()
      return Number(result.numInsertedOrUpdatedRows ?? 0) > 0
    },

    /** Takes over a key stored at `was` (expired, or abandoned while pending); false when another took it first. */
    async reclaim ({ principal, key }: KeyRef, was: string, fingerprint: string, now: string): Promise<boolean> {
      const result = await db.updateTable('idempotency_keys')
        .set({ fingerprint, status: null, content_type: null, body: null, created_at: now })
        .where('principal', '=', principal).where('key', '=', key).where('created_at', '=', was).executeTakeFirst()
      return Number(result.numUpdatedRows ?? 0) > 0
    },

    async complete ({ principal, key }: KeyRef, status: number, contentType: string | null, body: string): Promise<void> {
      await db.updateTable('idempotency_keys').set({ status, content_type: contentType, body })
        .where('principal', '=', principal).where('key', '=', key).execute()
    },

    /** Forgets a key whose request did nothing (a 5xx answer): the same key may be tried again. */
    async release ({ principal, key }: KeyRef): Promise<void> {
      await db.deleteFrom('idempotency_keys').where('principal', '=', principal).where('key', '=', key).execute()
    },

    async purge (before: string): Promise<void> {
      await db.deleteFrom('idempotency_keys').where('created_at', '<', before).execute()
    }
  }
}

export type IdempotencyStore = ReturnType<typeof createIdempotencyStore>
