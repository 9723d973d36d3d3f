// Response shapes for the OpenAPI document that plain JSON schemas cannot say: an SSE stream (its event names
// and the data of each) and a WebSocket (the messages each side sends). Route schemas use these helpers.
import type { Readable } from 'node:stream'
import { Type, type TSchema } from '@sinclair/typebox'
import type { ErrorCode } from '../errors.js'
import { ErrorBody } from './common.js'

/** An error answer of a route: `{ error, message, code }`, documented with the codes it may carry. */
export function errorResponse (description: string, codes: ErrorCode[]) {
  return Type.Object(ErrorBody.properties, { description: `${description} (code: ${codes.map(c => `\`${c}\``).join(', ')})` })
}

/** One SSE message kind: its `event:` name (or names), whether it carries an `id:`, and its `data:` JSON. */
export interface SseMessage {
  event: string | string[]
  description: string
  id?: boolean
  data: TSchema
}

/**
 * A `text/event-stream` response. Each message of the stream is documented as an object of its fields
 * (`event`, `id`, `data`), as OpenAPI 3.2 does with itemSchema; `data` is the JSON text's schema.
 */
export function sseResponse (description: string, messages: SseMessage[]) {
  const items = messages.map(m => Type.Object({
    ...(m.id === true ? { id: Type.String({ description: 'the position to resume from (Last-Event-ID)' }) } : {}),
    event: Array.isArray(m.event) ? Type.Union(m.event.map(e => Type.Literal(e))) : Type.Literal(m.event),
    data: m.data
  }, { description: m.description }))
  return {
    description,
    content: {
      'text/event-stream': {
        // the handler returns the stream itself (a Readable), which Fastify sends as it is
        schema: Type.Unsafe<Readable>(Type.Array(Type.Union(items), {
          description: 'the stream\'s messages, in order; comments (": heartbeat") keep the connection alive and are not listed'
        }))
      }
    }
  }
}

/**
 * A WebSocket endpoint's answer to the upgrade: 101, with the messages the server sends (one JSON text each, or
 * NDJSON lines) and, in `x-client-messages`, those it takes.
 */
export function webSocketResponse (description: string, serverMessages: TSchema, mediaType = 'application/json') {
  return {
    description: `Switching Protocols: ${description}`,
    content: { [mediaType]: { schema: serverMessages } }
  }
}
