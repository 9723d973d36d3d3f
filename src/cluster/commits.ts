// The order of commits across instances and the notices that announce them: write transactions take one
// transaction-level advisory lock, so event ids are committed in increasing order and a reader that follows ids
// misses nothing; the commit notice, sent inside the transaction, is delivered only if it commits.
import { sql, type Transaction } from 'kysely'
import type { Database } from '../../db/schema.js'
import { type CommitOrder, type CommitRange, commitNotices, type Notice } from './notices.js'

/** ranges null: notices may have been missed (the connection was down), so anything may be new. */
export type CommitNoticeListener = (ranges: CommitRange[] | null, local: boolean, order: CommitOrder | null) => void

/** Where a transaction's events stand: after the highest id committed before it, up to its own highest. */
export function commitOrder (prevMax: number, stored: Array<{ id: number }>): CommitOrder {
  return { prev: prevMax, max: stored.reduce((m, e) => Math.max(m, e.id), prevMax) }
}

export interface CommitsOptions {
  instanceId: string
  /** The database schema: commits are ordered per schema. */
  namespace: string
  channel: string
}

export function createCommits ({ instanceId, namespace, channel }: CommitsOptions) {
  const listeners = new Set<CommitNoticeListener>()
  /** The highest event id committed before the transaction being written (read under the commit-order lock). */
  let prevMax = 0
  /** The order of this instance's last committed transaction, for its commit listeners. */
  let lastLocalCommit: CommitOrder | null = null

  return {
    /** First in each write transaction: waits for the commits before it, notes the highest id they left. */
    async begin (trx: Transaction<Database>): Promise<void> {
      // ids are handed out in commit order across instances: a follower reading by id misses nothing
      await sql`select pg_advisory_xact_lock(hashtextextended(${namespace + '/commit-order'}, 0))`.execute(trx)
      const before = await sql<{ m: number | string | null }>`select max(id) as m from conversation_events`.execute(trx)
      prevMax = Number(before.rows[0]?.m ?? 0)
    },
    /** Last in each write transaction, once the events have their ids: the notices of what it commits. */
    async beforeCommit (trx: Transaction<Database>, stored: Array<{ agent_id: string, seq: number, id: number }>): Promise<void> {
      const order = commitOrder(prevMax, stored)
      lastLocalCommit = order
      for (const payload of commitNotices(instanceId, stored, order)) {
        await sql`select pg_notify(${channel}, ${payload})`.execute(trx)
      }
    },
    heard (notice: Extract<Notice, { t: 'commit' }>): void {
      for (const l of listeners) l(notice.ranges, notice.from === instanceId, notice.order ?? null)
    },
    /** The link was down: commits announced meanwhile are read now. */
    missed (): void {
      for (const l of listeners) l(null, false, null)
    },
    onCommitNotice (listener: CommitNoticeListener): () => void {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    /** Set just before each commit: valid in the store's commit listeners, which run right after it. */
    get lastLocalCommit (): CommitOrder | null { return lastLocalCommit }
  }
}
