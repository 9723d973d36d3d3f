// Imports (Claude Code transcripts, agentlog exports) and exports of agents' logs.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createTranscriptImporter } from '../src/transcripts/import.js'

declare module 'fastify' {
  interface FastifyInstance { transcripts: Transcripts }
}

/** Longest transcript line kept (a pasted image makes a line of a few MB); longer ones are skipped and counted. */
export const MAX_IMPORT_LINE_BYTES = 64 * 1024 * 1024

export function createTranscripts (fastify: FastifyInstance) {
  const importer = createTranscriptImporter(fastify.db, fastify.events, {
    maxEventContentBytes: fastify.config.maxEventContentBytes,
    maxLineBytes: MAX_IMPORT_LINE_BYTES
  })
  return { importer }
}

export type Transcripts = ReturnType<typeof createTranscripts>

export default fp(async function transcripts (fastify) {
  fastify.decorate('transcripts', createTranscripts(fastify))
}, { name: 'transcripts', dependencies: ['config', 'db', 'event-store'] })
