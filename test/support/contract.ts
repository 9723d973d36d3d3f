// The API document as a contract for tests: fetch /openapi.json from the app and check a response (status, content
// type, body) against what the document says that route answers.
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormats from 'ajv-formats'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { openapiPath } from '../../plugins/openapi.js'

type Json = Record<string, any>

export interface Contract {
  doc: Json
  /** Throws unless the document lists this status for the route and the body validates against its schema. */
  check: (method: string, routeUrl: string, res: Pick<LightMyRequestResponse, 'statusCode' | 'headers' | 'body'>) => void
  /** The routes and statuses checked so far, as `METHOD /path STATUS`. */
  seen: Set<string>
}

function resolveRefs (schema: unknown, doc: Json, depth = 0): unknown {
  if (Array.isArray(schema)) return schema.map(s => resolveRefs(s, doc, depth))
  if (schema === null || typeof schema !== 'object') return schema
  const obj = schema as Json
  if (typeof obj.$ref === 'string' && obj.$ref.startsWith('#/') && depth < 20) {
    const target = obj.$ref.slice(2).split('/').reduce((o: any, k: string) => o?.[k], doc)
    return resolveRefs(target, doc, depth + 1)
  }
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, resolveRefs(v, doc, depth)]))
}

export async function contract (app: FastifyInstance): Promise<Contract> {
  const res = await app.inject({ method: 'GET', url: '/openapi.json', headers: app.config.authTokens.length > 0 ? { authorization: `Bearer ${app.config.authTokens[0].token}` } : {} })
  if (res.statusCode !== 200) throw new Error(`/openapi.json: ${res.statusCode} ${res.body}`)
  const doc = res.json()
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats.default(ajv)
  const compiled = new Map<string, ReturnType<typeof ajv.compile>>()
  const seen = new Set<string>()
  return {
    doc,
    seen,
    check (method, routeUrl, res) {
      const path = openapiPath(routeUrl)
      const op = doc.paths?.[path]?.[method.toLowerCase()]
      if (op === undefined) throw new Error(`${method} ${path} is not in the document`)
      const status = String(res.statusCode)
      const response = op.responses?.[status]
      if (response === undefined) throw new Error(`${method} ${path} answered ${status}, which the document does not list (${Object.keys(op.responses ?? {}).join(', ')}): ${res.body.slice(0, 200)}`)
      seen.add(`${method} ${path} ${status}`)
      const type = String(res.headers['content-type'] ?? '').split(';')[0].trim()
      const content = response.content as Json | undefined
      if (content === undefined) return
      const media = content[type]
      if (media === undefined) throw new Error(`${method} ${path} ${status}: content type ${JSON.stringify(type)}, the document says ${Object.keys(content).join(', ')}`)
      if (type !== 'application/json') return
      const key = `${method} ${path} ${status} ${type}`
      let validate = compiled.get(key)
      if (validate === undefined) {
        validate = ajv.compile(resolveRefs(media.schema, doc) as Json)
        compiled.set(key, validate)
      }
      const body = JSON.parse(res.body)
      if (validate(body) !== true) {
        throw new Error(`${method} ${path} ${status}: the body does not match the document: ${ajv.errorsText(validate.errors)}\n${res.body.slice(0, 500)}`)
      }
    }
  }
}
