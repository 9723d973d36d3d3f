// Schemas of transcript import, import positions and export.
import { Type, type Static } from '@sinclair/typebox'

const Counts = Type.Record(Type.String(), Type.Integer())

export const ImportQuery = Type.Object({
  format: Type.Union([Type.Literal('transcript'), Type.Literal('agentlog')], {
    default: 'transcript',
    description: '`transcript`: Claude Code transcript JSONL; `agentlog`: an export of GET /agents/:agentId/export'
  }),
  file: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 255,
    pattern: '^[^/\\\\\\u0000]+$',
    description: 'transcript only (required): the file\'s name, e.g. `<claude session id>.jsonl`; its position is kept under it'
  })),
  offset: Type.Integer({
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    default: 0,
    description: 'where the body starts in the file: 0, or (transcript) the position the previous import returned'
  }),
  dry_run: Type.Boolean({ default: false, description: 'plan only: say what would be imported, store nothing' })
}, { additionalProperties: false })

export const TranscriptImportResult = Type.Object({
  agent_id: Type.String(),
  file: Type.String(),
  offset: Type.Integer({ description: 'bytes of whole lines read; send from here next time' }),
  lines: Type.Integer({ description: 'whole lines of the file read so far' }),
  records: Type.Integer({ description: 'lines read by this request' }),
  events_added: Type.Integer(),
  duplicates: Type.Integer({ description: 'conversation records already stored (re-import, or seen live)' }),
  skipped: Counts,
  unknown: Counts,
  invalid: Type.Integer(),
  sessions: Type.Array(Type.Integer(), { description: 'sessions that received events' }),
  partial_line: Type.Boolean({ description: 'a line still being written at the end was left for later' }),
  dry_run: Type.Boolean()
})

export const ExportImportResult = Type.Object({
  agent_id: Type.String(),
  format: Type.Literal('agentlog'),
  offset: Type.Integer({ description: 'bytes of whole lines read, from the start of the file' }),
  records: Type.Integer(),
  events_added: Type.Integer(),
  duplicates: Type.Integer({ description: 'events whose seq the agent already has' }),
  sessions: Type.Integer({ description: 'session rows set' }),
  complete: Type.Boolean({ description: 'the export\'s end line was read' }),
  partial_line: Type.Boolean(),
  dry_run: Type.Boolean()
})

export const ImportResult = Type.Union([TranscriptImportResult, ExportImportResult])

const ImportPosition = Type.Object({
  file: Type.String(),
  offset: Type.Integer(),
  lines: Type.Integer(),
  claude_session_id: Type.Union([Type.String(), Type.Null()]),
  session_number: Type.Union([Type.Integer(), Type.Null()]),
  updated_at: Type.String()
})

export const ImportPositions = Type.Object({ files: Type.Array(ImportPosition) })

export const ExportQuery = Type.Object({
  session: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, description: 'only this session' })),
  after: Type.Optional(Type.Integer({ minimum: 0, maximum: 2147483647, description: 'only events with a greater seq' }))
}, { additionalProperties: false })
export type ExportQueryType = Static<typeof ExportQuery>
