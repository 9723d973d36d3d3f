// The embedded database behind the write path: batches, probes and pruning go to the writer thread
// (src/store/sqlite-writer/); loading agents, setting lines aside and exclusive writes run the same Kysely queries
// as PostgreSQL on the main connection, under the writer's hold (db/sqlite-dialect.ts).
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import { createKyselyBackend, type StoreBackend } from './backend.js'
import type { SqliteWriter } from './sqlite-writer/client.js'

export function createSqliteBackend (db: Kysely<Database>, writer: SqliteWriter): StoreBackend {
  return {
    ...createKyselyBackend(db),
    pipelined: true,
    reset: () => { writer.reset() },
    commit: async (batch) => await writer.commit(batch),
    probe: async (batch) => { await writer.probe(batch) },
    prune: async (agentKey, beforeSeq) => { await writer.prune(agentKey, beforeSeq) }
  }
}
