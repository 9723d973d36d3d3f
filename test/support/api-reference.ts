// docs/api-reference.md, made from the OpenAPI document the server serves: every route, its parameters, body and
// answers, in the words of its schema. test/docs.test.ts checks the committed page is what this makes.

interface Parameter { name: string, in: string, required?: boolean, description?: string, schema?: Record<string, unknown> }
interface Operation {
  summary?: string
  description?: string
  tags?: string[]
  parameters?: Parameter[]
  requestBody?: { required?: boolean, content?: Record<string, { schema?: { description?: string } }> }
  responses?: Record<string, { description?: string }>
  security?: Array<Record<string, unknown>>
}
interface Document { paths: Record<string, Record<string, Operation>>, tags?: Array<{ name: string, description?: string }> }

const cell = (text: string | undefined): string => (text ?? '').replace(/\|/g, '\\|').replace(/\n+/g, ' ').trim()

function typeOf (schema: Record<string, unknown> | undefined): string {
  if (schema === undefined) return ''
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as Array<Record<string, unknown>>).map(typeOf).join(' or ')
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).map(v => JSON.stringify(v)).join(' or ')
  return String(schema.type ?? '')
}

export function renderApiReference (doc: Document): string {
  const out: string[] = [
    '# REST API reference',
    '',
    '<!-- Made from the OpenAPI document (GET /openapi.json) by test/docs.test.ts: do not edit by hand.',
    '     After changing a route: UPDATE_DOCS=1 npx tap test/docs.test.ts -->',
    '',
    'Every route, as its schema declares it. What the answers mean and how the routes work together: [REST API](api.md).',
    'Operator routes (POST, DELETE) need the operator role when access control is on, the others the reader role',
    '(the agent socket: an agent token).',
    ''
  ]
  const ops: Array<{ method: string, path: string, op: Operation }> = []
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) ops.push({ method: method.toUpperCase(), path, op })
  }
  const tags = (doc.tags ?? []).map(t => t.name)
  for (const tag of tags) {
    const mine = ops.filter(o => (o.op.tags ?? [])[0] === tag)
    if (mine.length === 0) continue
    const about = doc.tags?.find(t => t.name === tag)?.description
    out.push(`## ${tag}`, '')
    if (about !== undefined) out.push(about + '.', '')
    for (const { method, path, op } of mine) {
      out.push(`### \`${method} ${path}\``, '')
      if (op.summary !== undefined) out.push(`**${op.summary}.** ${op.description ?? ''}`.trim(), '')
      const params = op.parameters ?? []
      if (params.length > 0) {
        out.push('| parameter | in | type | required | meaning |', '|---|---|---|---|---|')
        for (const p of params) {
          const dflt = p.schema?.default !== undefined ? ` (default ${JSON.stringify(p.schema.default)})` : ''
          out.push(`| \`${p.name}\` | ${p.in} | ${cell(typeOf(p.schema))} | ${p.required === true ? 'yes' : 'no'} | ${cell(p.description)}${dflt} |`)
        }
        out.push('')
      }
      const body = op.requestBody?.content
      if (body !== undefined) {
        const types = Object.keys(body).map(t => `\`${t}\``).join(', ')
        const what = Object.values(body)[0]?.schema?.description
        out.push(`Body (${op.requestBody?.required === false ? 'optional' : 'required'}): ${types}${what === undefined ? '' : ` — ${cell(what)}`}`, '')
      }
      const answers = Object.entries(op.responses ?? {})
      if (answers.length > 0) {
        out.push('| answer | when |', '|---|---|')
        for (const [status, r] of answers) out.push(`| ${status} | ${cell(r.description)} |`)
        out.push('')
      }
    }
  }
  const untagged = ops.filter(o => !tags.includes((o.op.tags ?? [])[0] ?? ''))
  if (untagged.length > 0) throw new Error(`routes without a declared tag: ${untagged.map(o => `${o.method} ${o.path}`).join(', ')}`)
  return out.join('\n').replace(/\n+$/, '') + '\n'
}
