// The search query language, parsed once into a tree that both databases' renderers share:
// words, "quoted phrases", prefixes (migrat*), AND / OR / NOT (upper case; adjacent terms mean AND), parentheses.

/** A word or phrase, as the tokens both full-text tokenizers would cut it into. */
export interface TermNode { kind: 'term', tokens: string[], prefix: boolean }
export interface AndNode { kind: 'and', include: QueryNode[], exclude: QueryNode[] }
export interface OrNode { kind: 'or', children: QueryNode[] }
export type QueryNode = TermNode | AndNode | OrNode

export class QuerySyntaxError extends Error {
  constructor (message: string, readonly position: number) {
    super(message)
    this.name = 'QuerySyntaxError'
  }
}

export const MAX_TERMS = 64
export const MAX_DEPTH = 32

type Lexeme =
  | { type: 'word', text: string, prefix: boolean, at: number }
  | { type: 'phrase', text: string, prefix: boolean, at: number }
  | { type: 'and' | 'or' | 'not' | 'open' | 'close', at: number }

// Both tokenizers (SQLite unicode61, PostgreSQL's parser over text whose ASCII punctuation became spaces) keep
// runs of letters, digits and marks together and split on everything else; each folds case itself.
const TOKEN = /[\p{L}\p{N}\p{M}\p{Co}]+/gu

export function tokenize (text: string): string[] {
  return text.match(TOKEN) ?? []
}

function lex (input: string): Lexeme[] {
  const out: Lexeme[] = []
  let i = 0
  while (i < input.length) {
    const c = input[i]
    if (/\s/.test(c)) { i++; continue }
    if (c === '(') { out.push({ type: 'open', at: i }); i++; continue }
    if (c === ')') { out.push({ type: 'close', at: i }); i++; continue }
    if (c === '"') {
      const end = input.indexOf('"', i + 1)
      if (end === -1) throw new QuerySyntaxError(`unterminated quote at ${i + 1}`, i)
      let next = end + 1
      const prefix = input[next] === '*'
      while (input[next] === '*') next++
      out.push({ type: 'phrase', text: input.slice(i + 1, end), prefix, at: i })
      i = next
      continue
    }
    let end = i
    while (end < input.length && !/[\s()"]/.test(input[end])) end++
    const raw = input.slice(i, end)
    if (raw === 'AND' || raw === 'OR' || raw === 'NOT') {
      out.push({ type: raw.toLowerCase() as 'and' | 'or' | 'not', at: i })
    } else {
      const prefix = raw.endsWith('*')
      const text = raw.replace(/\*+$/, '')
      if (prefix && tokenize(text).length === 0) throw new QuerySyntaxError(`"*" at ${i + raw.length} must follow a word`, i)
      out.push({ type: 'word', text, prefix, at: i })
    }
    i = end
  }
  return out
}

/** A negated part waiting for its AND to give it something to exclude from. */
interface Negated { kind: 'not', child: QueryNode }
type Parsed = QueryNode | Negated | null

/**
 * Parses a query. Terms with no letters or digits (a lone "-") are dropped, as the tokenizers would drop them.
 * Throws QuerySyntaxError for what cannot be searched: unbalanced parentheses or quotes, an operator without an
 * operand, only excluded terms (NOT needs something to exclude from), nothing to search for.
 */
export function parseQuery (input: string): QueryNode {
  const lexemes = lex(input)
  let pos = 0
  let terms = 0

  const peek = (): Lexeme | undefined => lexemes[pos]
  const where = (l: Lexeme | undefined): string => l === undefined ? 'at the end' : `at ${l.at + 1}`

  function parseOr (depth: number): Parsed {
    if (depth > MAX_DEPTH) throw new QuerySyntaxError(`parentheses nested deeper than ${MAX_DEPTH}`, peek()?.at ?? input.length)
    const parts: Parsed[] = [parseAnd(depth)]
    while (peek()?.type === 'or') {
      const op = peek() as Lexeme
      pos++
      if (startsOperand(peek()) === false) throw new QuerySyntaxError(`OR ${where(op)} needs a term after it`, op.at)
      parts.push(parseAnd(depth))
    }
    if (parts.length === 1) return parts[0]
    const kept: QueryNode[] = []
    for (const p of parts) {
      if (p === null) continue
      if (p.kind === 'not') throw new QuerySyntaxError('NOT cannot be an alternative of OR; write "a NOT b" or "(a OR b) NOT c"', 0)
      if (p.kind === 'or') kept.push(...p.children)
      else kept.push(p)
    }
    if (kept.length === 0) return null
    return kept.length === 1 ? kept[0] : { kind: 'or', children: kept }
  }

  function startsOperand (l: Lexeme | undefined): boolean {
    return l !== undefined && (l.type === 'word' || l.type === 'phrase' || l.type === 'open' || l.type === 'not')
  }

  function parseAnd (depth: number): Parsed {
    const first = peek()
    if (!startsOperand(first)) {
      if (first?.type === 'and' || first?.type === 'or') throw new QuerySyntaxError(`${first.type.toUpperCase()} ${where(first)} needs a term before it`, first.at)
      if (first?.type === 'close') throw new QuerySyntaxError(`unexpected ")" ${where(first)}`, first.at)
      throw new QuerySyntaxError('expected a word, a "phrase" or "(" ' + where(first), first?.at ?? input.length)
    }
    const parts: Parsed[] = [parseUnary(depth)]
    for (;;) {
      const next = peek()
      if (next?.type === 'and') {
        pos++
        if (!startsOperand(peek())) throw new QuerySyntaxError(`AND ${where(next)} needs a term after it`, next.at)
        parts.push(parseUnary(depth))
      } else if (startsOperand(next)) {
        parts.push(parseUnary(depth))
      } else {
        break
      }
    }
    const include: QueryNode[] = []
    const exclude: QueryNode[] = []
    for (const p of parts) {
      if (p === null) continue
      if (p.kind === 'not') exclude.push(p.child)
      else if (p.kind === 'and') { include.push(...p.include); exclude.push(...p.exclude) } else include.push(p)
    }
    if (include.length === 0) {
      if (exclude.length === 0) return null
      if (parts.length === 1 && exclude.length === 1) return { kind: 'not', child: exclude[0] }
      throw new QuerySyntaxError('NOT needs something to exclude from, e.g. "deploy NOT staging"', first?.at ?? 0)
    }
    if (exclude.length === 0 && include.length === 1) return include[0]
    return { kind: 'and', include, exclude }
  }

  function parseUnary (depth: number): Parsed {
    const l = peek() as Lexeme
    if (l.type === 'not') {
      pos++
      if (!startsOperand(peek())) throw new QuerySyntaxError(`NOT ${where(l)} needs a term after it`, l.at)
      const inner = parseUnary(depth + 1)
      if (inner === null) return null
      return inner.kind === 'not' ? inner.child : { kind: 'not', child: inner }
    }
    if (l.type === 'open') {
      pos++
      if (peek()?.type === 'close') throw new QuerySyntaxError(`empty parentheses at ${l.at + 1}`, l.at)
      const inner = parseOr(depth + 1)
      const close = peek()
      if (close?.type !== 'close') throw new QuerySyntaxError(`"(" at ${l.at + 1} is never closed`, l.at)
      pos++
      return inner
    }
    pos++
    const text = (l as { text: string }).text
    const tokens = tokenize(text)
    if (tokens.length === 0) return null
    terms++
    if (terms > MAX_TERMS) throw new QuerySyntaxError(`more than ${MAX_TERMS} terms`, l.at)
    return { kind: 'term', tokens, prefix: (l as { prefix: boolean }).prefix }
  }

  if (lexemes.length === 0) throw new QuerySyntaxError('the query is empty', 0)
  const tree = parseOr(0)
  if (pos < lexemes.length) {
    const l = lexemes[pos]
    throw new QuerySyntaxError(l.type === 'close' ? `unmatched ")" at ${l.at + 1}` : `unexpected ${l.type} ${where(l)}`, l.at)
  }
  if (tree === null) throw new QuerySyntaxError('the query has no words to search for', 0)
  if (tree.kind === 'not') throw new QuerySyntaxError('NOT needs something to exclude from, e.g. "deploy NOT staging"', 0)
  return tree
}

/** The tree as an SQLite FTS5 MATCH expression (every part parenthesized, so precedence never matters). */
export function toFts5 (node: QueryNode): string {
  switch (node.kind) {
    case 'term':
      // tokens hold only letters and digits: nothing inside the quotes needs escaping
      return `"${node.tokens.join(' ')}"${node.prefix ? ' *' : ''}`
    case 'or':
      return `(${node.children.map(toFts5).join(' OR ')})`
    case 'and': {
      const include = node.include.length === 1 ? toFts5(node.include[0]) : `(${node.include.map(toFts5).join(' AND ')})`
      return node.exclude.length === 0 ? include : `(${include}${node.exclude.map(n => ` NOT ${toFts5(n)}`).join('')})`
    }
  }
}

/** The tree as a PostgreSQL to_tsquery() text: <-> joins a phrase's words, :* marks a prefix. */
export function toTsquery (node: QueryNode): string {
  switch (node.kind) {
    case 'term': {
      const words = node.tokens.map(t => `'${t}'`)
      if (node.prefix) words[words.length - 1] += ':*'
      return words.length === 1 ? words[0] : `(${words.join(' <-> ')})`
    }
    case 'or':
      return `(${node.children.map(toTsquery).join(' | ')})`
    case 'and':
      return `(${[...node.include.map(toTsquery), ...node.exclude.map(n => `!${toTsquery(n)}`)].join(' & ')})`
  }
}
