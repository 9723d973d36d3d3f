// The search query language (parser and both renderers), snippet marks and cursors, without the app.
import { test } from 'tap'
import fc from 'fast-check'
import SQLite from 'better-sqlite3'
import { parseQuery, QuerySyntaxError, toFts5, toTsquery, MAX_TERMS } from '../src/search/query.js'
import { MARK_END as E, MARK_START as S, remark, unmark } from '../src/search/snippet.js'
import { decodeCursor, encodeCursor } from '../src/search/cursor.js'
import { relevance, relevanceOfMarked } from '../src/search/relevance.js'

const fts = (q: string): string => toFts5(parseQuery(q))
const tsq = (q: string): string => toTsquery(parseQuery(q))

test('words next to each other must all match', async (t) => {
  t.same(parseQuery('deploy staging'), {
    kind: 'and',
    include: [{ kind: 'term', tokens: ['deploy'], prefix: false }, { kind: 'term', tokens: ['staging'], prefix: false }],
    exclude: []
  })
  t.equal(fts('deploy staging'), '("deploy" AND "staging")')
  t.equal(tsq('deploy staging'), "('deploy' & 'staging')")
  t.equal(fts('deploy AND staging'), fts('deploy staging'), 'AND is the same as nothing')
})

test('a quoted phrase is its words in order', async (t) => {
  t.equal(fts('"run the tests"'), '"run the tests"')
  t.equal(tsq('"run the tests"'), "('run' <-> 'the' <-> 'tests')")
  // a word the tokenizers cut (file_path, bar-baz) is a phrase of its parts on both databases
  t.equal(fts('file_path'), '"file path"')
  t.equal(tsq('file_path'), "('file' <-> 'path')")
})

test('a trailing * is a prefix, also of a phrase', async (t) => {
  t.equal(fts('migrat*'), '"migrat" *')
  t.equal(tsq('migrat*'), "'migrat':*")
  t.equal(fts('"database migrat"*'), '"database migrat" *')
  t.equal(tsq('"database migrat"*'), "('database' <-> 'migrat':*)")
})

test('OR, NOT and parentheses', async (t) => {
  t.equal(fts('deploy OR release'), '("deploy" OR "release")')
  t.equal(tsq('deploy OR release'), "('deploy' | 'release')")
  t.equal(fts('deploy NOT staging'), '("deploy" NOT "staging")')
  t.equal(tsq('deploy NOT staging'), "('deploy' & !'staging')")
  t.equal(fts('deploy AND NOT staging'), fts('deploy NOT staging'))
  t.equal(fts('(deploy OR release) NOT (staging OR test*)'), '(("deploy" OR "release") NOT ("staging" OR "test" *))')
  t.equal(tsq('(deploy OR release) NOT (staging OR test*)'), "(('deploy' | 'release') & !('staging' | 'test':*))")
  t.equal(fts('a b OR c'), '(("a" AND "b") OR "c")', 'AND binds tighter than OR')
  t.equal(fts('NOT NOT a'), '"a"', 'a double negation cancels')
})

test('operators are upper case; quoted, or in lower case, they are words', async (t) => {
  t.equal(fts('"OR"'), '"OR"')
  t.equal(fts('rock and roll'), '("rock" AND "and" AND "roll")')
  t.equal(fts('"NOT" found'), '("NOT" AND "found")')
})

test('terms without letters or digits are dropped, as the tokenizers drop them', async (t) => {
  t.equal(fts('deploy - staging'), '("deploy" AND "staging")')
  t.equal(fts('C++'), '"C"')
  t.equal(fts('café Über 日本'), '("café" AND "Über" AND "日本")')
})

test('what cannot be searched is a QuerySyntaxError naming the problem', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['   ', /empty/],
    ['-', /no words/],
    ['"unterminated', /unterminated quote/],
    ['(deploy', /never closed/],
    ['deploy)', /unmatched "\)"/],
    ['()', /empty parentheses/],
    ['deploy AND', /AND at 8 needs a term after it/],
    ['OR deploy', /OR at 1 needs a term before it/],
    ['deploy OR', /needs a term after it/],
    ['NOT staging', /NOT needs something to exclude from/],
    ['deploy OR NOT staging', /NOT cannot be an alternative/],
    ['NOT a NOT b', /NOT needs something to exclude from/],
    ['*', /must follow a word/],
    ['deploy NOT', /NOT at 8 needs a term after it/],
    ['('.repeat(40) + 'a' + ')'.repeat(40), /nested deeper/],
    [Array.from({ length: MAX_TERMS + 1 }, (_, i) => `w${i}`).join(' '), /more than 64 terms/]
  ]
  for (const [q, message] of cases) {
    t.throws(() => parseQuery(q), message, JSON.stringify(q))
    t.throws(() => parseQuery(q), QuerySyntaxError)
  }
})

test('any input parses or is a QuerySyntaxError, and what parses is a valid FTS5 and tsquery expression', async (t) => {
  const db = new SQLite(':memory:')
  t.teardown(() => db.close())
  db.exec("create virtual table f using fts5(body, tokenize = 'unicode61 remove_diacritics 0')")
  db.prepare('insert into f (body) values (?)').run('deploy staging migrate the tests')
  const search = db.prepare('select rowid from f where f match ?')
  const piece = fc.oneof(
    fc.constantFrom('AND', 'OR', 'NOT', '(', ')', '"', '*', ' ', 'deploy', 'migrat*', '"the tests"', '-', '日本', '😀', 'a_b', 'x:y', '^', '+'),
    fc.string({ maxLength: 6 }),
    fc.string({ unit: 'grapheme', maxLength: 4 })
  )
  fc.assert(fc.property(fc.array(piece, { maxLength: 12 }).map(parts => parts.join(' ')), (q) => {
    let tree
    try {
      tree = parseQuery(q)
    } catch (err) {
      if (err instanceof QuerySyntaxError) return true
      throw err
    }
    search.all(toFts5(tree))
    // tsquery: quoted lexemes without quotes or backslashes inside, balanced parentheses
    const text = toTsquery(tree)
    let depth = 0
    for (const ch of text.replace(/'[^'\\]*'/g, '')) {
      if (ch === '(') depth++
      if (ch === ')') depth--
      if (depth < 0) return false
    }
    return depth === 0
  }), { numRuns: 2000 })
})

test('marks become plain text and UTF-16 offsets; phrase words join into one highlight', async (t) => {
  t.same(unmark(`run ${S}npm${E} ${S}test${E} now`), { snippet: 'run npm test now', highlights: [[4, 12]] })
  t.same(unmark(`😀 ${S}deploy${E} and ${S}deploy${E}`), { snippet: '😀 deploy and deploy', highlights: [[3, 9], [14, 20]] })
  t.same(unmark(`<b>${S}x${E}</b>`), { snippet: '<b>x</b>', highlights: [[3, 4]] }, 'content is never treated as markup')
  t.same(unmark(`${S}${E}plain`), { snippet: 'plain', highlights: [] }, 'an empty mark is no highlight')
})

test('a long excerpt is cut around its first highlight', async (t) => {
  const long = 'x'.repeat(1000) + ` ${S}needle${E} ` + 'y'.repeat(1000)
  const { snippet, highlights } = unmark(long, 100)
  t.ok(snippet.length <= 102)
  t.equal(snippet.slice(highlights[0][0], highlights[0][1]), 'needle')
  t.ok(snippet.startsWith('…') && snippet.endsWith('…'))
  const astral = unmark('😀'.repeat(200) + `${S}z${E}`, 51)
  t.notOk(/[\uD800-\uDBFF]$|^…?[\uDC00-\uDFFF]/.test(astral.snippet.replace(/…/g, '')), 'no half surrogate pairs')
})

test('PostgreSQL marks move onto the original characters', async (t) => {
  t.equal(remark(`see https   ${S}github${E} com`, 'see https://github.com'), `see https://${S}github${E}.com`)
  t.equal(remark('abc', 'abcd'), null, 'texts that do not line up')
  t.equal(remark(`script  ${S}owned${E}`, 'script>"owned', 'x <', '"> y'), `<script>"${S}owned${E}">`, 'with the punctuation around it')
})

test('a cursor is only taken back for the query it was made for', async (t) => {
  const c = { f: 'abc', hi: 100, lo: 50, score: 1.25, id: 77 }
  t.same(decodeCursor(encodeCursor(c), 'abc'), c)
  t.equal(decodeCursor(encodeCursor(c), 'other'), null)
  t.equal(decodeCursor('not base64 json', 'abc'), null)
  t.equal(decodeCursor(encodeCursor({ ...c, lo: 200 }), 'abc'), null)
  t.same(decodeCursor(encodeCursor({ f: 'abc', hi: 10, lo: 0 }), 'abc'), { f: 'abc', hi: 10, lo: 0 })
})

test('relevance: more matches score higher, the same matches in a longer text lower, from the event alone', async (t) => {
  t.equal(relevance(0, 100), 0)
  t.ok(relevance(2, 400) > relevance(1, 400))
  t.ok(relevance(1, 100) > relevance(1, 4000))
  t.ok(relevance(50, 400) < 1, 'saturates')
  t.equal(relevanceOfMarked(`a ${S}b c ${S}b`, S), relevance(2, 7))
})
