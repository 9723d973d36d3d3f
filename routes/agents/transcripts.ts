// Import (Claude Code transcripts, agentlog exports), import positions, and export of an agent's log.
import { constants as zlib, createGunzip, createGzip } from 'node:zlib'
import { pipeline, type Readable } from 'node:stream'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { AgentParams } from '../../src/schemas/common.js'
import { errorResponse } from '../../src/schemas/docs.js'
import { ExportQuery, ImportPositions, ImportQuery, ImportResult } from '../../src/schemas/transcripts.js'
import { agentNotFound, httpError } from '../../src/errors.js'

/** Body types taken as a stream of lines (never buffered whole). */
export const LINE_STREAM_TYPES = [
  'application/x-ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/json-seq',
  'text/plain', 'application/octet-stream'
]

function acceptsGzip (header: string | undefined): boolean {
  if (header === undefined) return false
  return header.split(',').some(part => {
    const [name, ...params] = part.trim().toLowerCase().split(';')
    const q = params.map(p => p.trim()).find(p => p.startsWith('q='))
    return (name === 'gzip' || name === 'x-gzip') && (q === undefined || Number(q.slice(2)) > 0)
  })
}

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  const { transcripts, events, db, cluster } = fastify

  // the body is read as it arrives, line by line: memory stays bounded whatever its size
  fastify.addContentTypeParser(LINE_STREAM_TYPES, function (_request, payload, done) {
    done(null, payload)
  })

  function bodyStream (raw: Readable, encoding: string | undefined): AsyncIterable<Buffer> {
    const enc = (encoding ?? 'identity').trim().toLowerCase()
    if (enc === 'identity' || enc === '') return raw
    if (enc !== 'gzip' && enc !== 'x-gzip') throw httpError(415, `content-encoding ${JSON.stringify(enc)} is not supported; send gzip or nothing`, 'unsupported_encoding')
    const gunzip = createGunzip()
    raw.on('error', (err) => gunzip.destroy(err))
    gunzip.on('error', (err) => {
      // a broken gzip body is the client's fault, not the server's
      if ((err as NodeJS.ErrnoException).code?.startsWith('Z_') === true) Object.assign(err, { statusCode: 400, code: 'invalid_gzip' })
    })
    return raw.pipe(gunzip)
  }

  fastify.post('/agents/:agentId/import', {
    schema: {
      summary: 'Import a Claude Code transcript or an agentlog export',
      description: 'The body (JSONL, optionally gzip) is read as a stream. A transcript becomes a session of its own; ' +
        'records already stored (re-imports, sessions seen live) are skipped; a partly written last line is left for later.',
      tags: ['import/export'],
      params: AgentParams,
      querystring: ImportQuery,
      body: Type.Unknown({ description: 'JSONL lines (Content-Type application/x-ndjson; Content-Encoding gzip accepted)' }),
      response: {
        200: { ...ImportResult, description: 'What was read, stored and skipped, and where the file now stands' },
        409: errorResponse('`offset` is not where the stored file stands', ['position_mismatch']),
        415: errorResponse('Not JSONL, or a Content-Encoding other than gzip', ['unsupported_media_type', 'unsupported_encoding'])
      }
    }
  }, async function (request) {
    const { agentId } = request.params
    const q = request.query
    const raw = request.body as Readable | undefined
    if (raw === undefined || typeof (raw as Readable).pipe !== 'function') {
      throw httpError(415, `send the lines with Content-Type ${LINE_STREAM_TYPES[0]}`, 'unsupported_media_type')
    }
    const body = bodyStream(raw, request.headers['content-encoding'])
    if (cluster !== null && !cluster.owns(agentId)) {
      // several instances: an import is written by the agent's owner; a streamed body cannot be carried there
      const where = cluster.locate(agentId)
      if (where !== null) throw httpError(409, `agent ${JSON.stringify(agentId)} is connected to instance ${where}; send the import there`, 'agent_connected_elsewhere')
      await cluster.acquire(agentId)
    }
    if (q.format === 'transcript') {
      if (q.file === undefined) throw httpError(400, 'querystring/file is required for format=transcript', 'bad_parameter')
      return await transcripts.importer.importTranscript(agentId, body, { file: q.file, offset: q.offset, dryRun: q.dry_run })
    }
    return await transcripts.restorer.importExport(agentId, body, { offset: q.offset, dryRun: q.dry_run })
  })

  fastify.get('/agents/:agentId/export', {
    schema: {
      summary: 'Stream an agent\'s log as NDJSON',
      description: 'One event a line in seq order, then one line per session with its totals, then an end line; from one ' +
        'snapshot (consistent while writes continue). gzip when the request accepts it. POST .../import?format=agentlog takes it back.',
      tags: ['import/export'],
      params: AgentParams,
      querystring: ExportQuery,
      response: {
        200: { description: 'The log as NDJSON', content: { 'application/x-ndjson': { schema: Type.String({ description: 'one JSON object a line' }) } } },
        404: errorResponse('No agent with this id', ['agent_not_found'])
      }
    }
  }, async function (request, reply) {
    const { agentId } = request.params
    const stream = await transcripts.export(agentId, request.query)
    if (stream === null) throw agentNotFound(agentId)
    reply.type('application/x-ndjson; charset=utf-8')
    reply.header('vary', 'accept-encoding')
    if (acceptsGzip(request.headers['accept-encoding'])) {
      reply.header('content-encoding', 'gzip')
      // the fastest level: the export is meant to be read at 100k events/s and more
      const gzip = createGzip({ level: zlib.Z_BEST_SPEED })
      const gzipped = pipeline(stream, gzip, (err) => { if (err !== undefined && err !== null) request.log.debug({ err }, 'export stopped') })
      // a stream is sent as it is (the schema above documents its text)
      return gzipped as unknown as string
    }
    return stream as unknown as string
  })

  fastify.get('/agents/:agentId/imports', {
    schema: {
      summary: 'Where each imported transcript file stands',
      description: 'An importer resumes each file from its `offset` (bytes of whole lines read).',
      tags: ['import/export'],
      params: AgentParams,
      response: {
        200: { ...ImportPositions, description: 'Each imported file with its offset' },
        404: errorResponse('No agent with this id', ['agent_not_found'])
      }
    }
  }, async function (request) {
    const { agentId } = request.params
    if (await events.loadAgent(agentId, false) === null) throw agentNotFound(agentId)
    const rows = await db.selectFrom('transcript_files').selectAll().where('agent_id', '=', agentId).orderBy('file').execute()
    return {
      files: rows.map(r => ({
        file: r.file,
        offset: Number(r.byte_offset),
        lines: Number(r.lines),
        claude_session_id: r.claude_session_id,
        session_number: r.session_number,
        updated_at: r.updated_at
      }))
    }
  })
}

export default plugin
