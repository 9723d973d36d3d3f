// Imports (Claude Code transcripts, agentlog exports) and exports of agents' logs.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createAgentLocks, createTranscriptImporter } from '../src/transcripts/import.js'
import { createRestorer } from '../src/transcripts/restore.js'
import { exportAgent } from '../src/transcripts/export.js'
import type { ExportQueryType } from '../src/schemas/transcripts.js'

declare module 'fastify' {
  interface FastifyInstance { transcripts: Transcripts }
}

/** Longest transcript line kept (a pasted image makes a line of a few MB); longer ones are skipped and counted. */
export const MAX_IMPORT_LINE_BYTES = 64 * 1024 * 1024

export function createTranscripts (fastify: FastifyInstance) {
  const locks = createAgentLocks()
  const importer = createTranscriptImporter(fastify.db, fastify.events, locks, {
    maxEventContentBytes: fastify.config.maxEventContentBytes,
    maxLineBytes: MAX_IMPORT_LINE_BYTES,
    prices: fastify.config.prices
  })
  const restorer = createRestorer(fastify.events, locks, { maxLineBytes: MAX_IMPORT_LINE_BYTES })
  const sqlitePath = fastify.sqlite === null ? null : fastify.config.databasePath
  return {
    importer,
    restorer,
    /** The agent's log as an NDJSON stream (null when the agent is not known). */
    export: (agentId: string, filter: ExportQueryType) => exportAgent(fastify.db, sqlitePath, agentId, filter)
  }
}

export type Transcripts = ReturnType<typeof createTranscripts>

export default fp(async function transcripts (fastify) {
  fastify.decorate('transcripts', createTranscripts(fastify))
}, { name: 'transcripts', dependencies: ['config', 'db', 'event-store'] })
