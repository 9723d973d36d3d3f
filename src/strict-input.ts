// Strict input: what a route's query string may hold, and messages that name the parameter and the form it takes.
// Pure functions over the route's JSON schemas (TypeBox), used by plugins/validation.ts before Fastify's own
// validation, which would otherwise coerce ('1e3' -> 1000, '' -> absent) or drop what it does not know.
import type { FastifySchemaValidationError } from 'fastify/types/schema.js'
import { httpError, type HttpError } from './errors.js'

type Schema = Record<string, any>

/** The accepted form of a value, in words: "an integer from 1 to 1000", "one of asc, desc". */
export function describeSchema (schema: Schema | undefined): string {
  if (schema === undefined) return 'a value'
  const literals = literalsOf(schema)
  if (literals !== null) return literals.length === 1 ? JSON.stringify(literals[0]) : `one of ${literals.map(l => String(l)).join(', ')}`
  if (Array.isArray(schema.anyOf)) return schema.anyOf.map((s: Schema) => describeSchema(s)).join(' or ')
  const extra = typeof schema.description === 'string' ? ` (${schema.description})` : ''
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const what = schema.type === 'integer' ? 'an integer' : 'a number'
      const min = schema.minimum ?? (schema.exclusiveMinimum === undefined ? undefined : `more than ${schema.exclusiveMinimum}`)
      const max = schema.maximum ?? (schema.exclusiveMaximum === undefined ? undefined : `less than ${schema.exclusiveMaximum}`)
      if (typeof min === 'number' && typeof max === 'number') return `${what} from ${min} to ${max}${extra}`
      if (min !== undefined) return `${what} ${typeof min === 'number' ? `of at least ${min}` : min}${extra}`
      if (max !== undefined) return `${what} ${typeof max === 'number' ? `of at most ${max}` : max}${extra}`
      return `${what}${extra}`
    }
    case 'string': {
      let what = 'a string'
      if (typeof schema.minLength === 'number' && typeof schema.maxLength === 'number') what += ` of ${schema.minLength} to ${schema.maxLength} characters`
      else if (typeof schema.maxLength === 'number') what += ` of at most ${schema.maxLength} characters`
      else if (typeof schema.minLength === 'number' && schema.minLength > 0) what += ` of at least ${schema.minLength} characters`
      if (typeof schema.pattern === 'string' && extra === '') what += ` matching ${schema.pattern}`
      return what + extra
    }
    case 'boolean': return `true or false${extra}`
    case 'array': return `a list${extra}`
    case 'object': return `an object${extra}`
    default: return extra === '' ? 'a value' : extra.slice(2, -1)
  }
}

function literalsOf (schema: Schema): unknown[] | null {
  if ('const' in schema) return [schema.const]
  if (Array.isArray(schema.enum)) return schema.enum
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s: Schema) => 'const' in s)) return schema.anyOf.map((s: Schema) => s.const)
  return null
}

function distance (a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = cur
    }
  }
  return row[b.length]
}

function suggestion (name: string, known: string[]): string {
  const lower = name.toLowerCase()
  const near = known.map(k => ({ k, d: distance(lower, k.toLowerCase()) })).filter(x => x.d <= 2).sort((x, y) => x.d - y.d)[0]
  return near === undefined ? '' : ` (did you mean ${JSON.stringify(near.k)}?)`
}

function takes (known: string[]): string {
  return known.length === 0 ? 'this route takes no query parameters' : `this route takes ${known.join(', ')}`
}

/** Why one query value does not have the form its schema asks for; null when it does (or the schema is not simple). */
export function queryValueProblem (value: string, schema: Schema): string | null {
  if (value === '') return 'is empty'
  const literals = literalsOf(schema)
  if (literals !== null) return literals.some(l => String(l) === value) ? null : `is ${JSON.stringify(clip(value))}`
  if (Array.isArray(schema.anyOf)) {
    return schema.anyOf.some((s: Schema) => queryValueProblem(value, s) === null) ? null : `is ${JSON.stringify(clip(value))}`
  }
  switch (schema.type) {
    case 'integer':
    case 'number': {
      const syntax = schema.type === 'integer' ? /^-?(0|[1-9][0-9]*)$/ : /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/
      const n = Number(value)
      if (!syntax.test(value) || !Number.isFinite(n) || (schema.type === 'integer' && !Number.isSafeInteger(n))) return `is ${JSON.stringify(clip(value))}`
      if ((typeof schema.minimum === 'number' && n < schema.minimum) || (typeof schema.maximum === 'number' && n > schema.maximum) ||
          (typeof schema.exclusiveMinimum === 'number' && n <= schema.exclusiveMinimum) ||
          (typeof schema.exclusiveMaximum === 'number' && n >= schema.exclusiveMaximum)) return `is ${value}, out of range`
      return null
    }
    case 'boolean': return value === 'true' || value === 'false' ? null : `is ${JSON.stringify(clip(value))}`
    case 'string': {
      const chars = [...value].length
      if (typeof schema.maxLength === 'number' && chars > schema.maxLength) return `is ${chars} characters long`
      if (typeof schema.minLength === 'number' && chars < schema.minLength) return `is ${chars} characters long`
      if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) return `is ${JSON.stringify(clip(value))}`
      return null
    }
    default: return null
  }
}

function clip (value: string): string {
  return value.length > 40 ? `${value.slice(0, 40)}…` : value
}

export interface QueryRules {
  /** The querystring schema's properties (none: the route takes no query parameters). */
  properties: Record<string, Schema>
  /** Names taken besides the schema's, and not validated here (`token` on stream and socket routes). */
  also: string[]
}

export function queryRules (querystring: Schema | undefined, also: string[] = []): QueryRules {
  return { properties: { ...(querystring?.properties ?? {}) }, also }
}

/**
 * The first thing wrong with a raw query string (the part after `?`), as the 400 to answer; null when every
 * parameter is known, given once, not empty and of its form. Fastify's validation runs after this (defaults).
 */
export function checkQuery (rules: QueryRules, rawQuery: string): HttpError | null {
  if (rawQuery === '') return null
  const known = Object.keys(rules.properties)
  const counts = new Map<string, number>()
  const params = new URLSearchParams(rawQuery)
  for (const [name] of params) counts.set(name, (counts.get(name) ?? 0) + 1)
  for (const [name, count] of counts) {
    if (rules.also.includes(name)) continue
    const schema = Object.hasOwn(rules.properties, name) ? rules.properties[name] : undefined
    if (schema === undefined) {
      return httpError(400, `unknown query parameter ${JSON.stringify(clip(name))}${suggestion(name, known)}; ${takes(known)}`, 'unknown_parameter')
    }
    if (count > 1) {
      return httpError(400, `query parameter ${JSON.stringify(name)} is given ${count} times; give it once, as ${describeSchema(schema)}`, 'bad_parameter')
    }
    const problem = queryValueProblem(params.get(name) ?? '', schema)
    if (problem !== null) {
      return httpError(400, `query parameter ${JSON.stringify(name)} ${problem}; expected ${describeSchema(schema)}`, 'bad_parameter')
    }
  }
  return null
}

const PART_NAMES: Record<string, string> = { querystring: 'query parameter', params: 'path parameter', headers: 'header', body: 'body property' }

/** Ajv's errors (from Fastify's validation, with `verbose`) as one 400 that names the value and its form. */
export function validationError (errors: FastifySchemaValidationError[], context: string): HttpError {
  const e = (errors.find(x => x.keyword === 'additionalProperties') ?? errors[0]) as FastifySchemaValidationError & { parentSchema?: Schema, schema?: unknown }
  const part = PART_NAMES[context] ?? context
  const path = e.instancePath.split('/').slice(1).map(s => s.replace(/~1/g, '/').replace(/~0/g, '~'))
  const where = path.length === 0 ? (context === 'body' ? 'the body' : `the ${part}s`) : `${part} ${JSON.stringify(path.join('.'))}`
  const params = e.params as Record<string, any>
  if (e.keyword === 'additionalProperties') {
    const name = String(params.additionalProperty)
    const known = Object.keys(e.parentSchema?.properties ?? {})
    const noun = context === 'body' ? 'property' : part
    const inside = path.length === 0 ? '' : ` in ${where}`
    return httpError(400, `unknown ${context === 'body' ? 'body ' : ''}${noun} ${JSON.stringify(clip(name))}${inside}${suggestion(name, known)}; ${known.length === 0 ? 'none are taken' : `expected ${known.join(', ')}`}`, 'unknown_parameter')
  }
  if (e.keyword === 'required') {
    const name = String(params.missingProperty)
    const schema = e.parentSchema?.properties?.[name]
    const whose = path.length === 0 ? (context === 'body' ? 'body property' : part) : `${where}: property`
    return httpError(400, `${whose} ${JSON.stringify(name)} is required, as ${describeSchema(schema)}`, 'bad_parameter')
  }
  const schema = e.parentSchema
  const got = (e as { data?: unknown }).data
  const gotText = got === undefined ? '' : `, got ${typeof got === 'string' ? JSON.stringify(clip(got)) : got === null ? 'null' : Array.isArray(got) ? 'a list' : typeof got}`
  return httpError(400, `${where} must be ${describeSchema(schema)}${gotText}`, 'bad_parameter')
}
