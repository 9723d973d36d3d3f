// The documentation a person reads: the README is a front door (at most 250 lines, the two commands first), every
// link in it and in docs/ leads somewhere, and the REST reference is what the OpenAPI document says.
import { test } from 'tap'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from './helper.js'
import { anchors, links } from './support/markdown.js'
import { renderApiReference } from './support/api-reference.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter(f => f.endsWith('.md')).map(f => `docs/${f}`)]

test('the README is a front door: at most 250 lines, the two quick-start commands first', async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const lines = readme.split('\n').length
  t.ok(lines <= 250, `${lines} lines`)
  const start = readme.indexOf('## Quick start')
  t.ok(start > 0 && start < readme.indexOf('## Connect an agent'), 'the quick start comes first')
  t.match(readme.slice(start), /npm ci && npm start[^\n]*\nnpm ci && npm test/, 'the two commands')
  for (const page of pages.filter(p => p.startsWith('docs/'))) {
    t.ok(readme.includes(`](${page})`), `the README links ${page}`)
  }
})

test('every link in the README and in docs/ leads to a file or a heading that exists', async (t) => {
  const headings = new Map(pages.map(p => [resolve(ROOT, p), anchors(readFileSync(join(ROOT, p), 'utf8'))]))
  let checked = 0
  for (const page of pages) {
    const text = readFileSync(join(ROOT, page), 'utf8')
    for (const { target, line } of links(text)) {
      checked++
      const where = `${page}:${line} → ${target}`
      if (/^(https?|mailto):/.test(target)) {
        t.doesNotThrow(() => new URL(target), `${where}: a well-formed address`)
        continue
      }
      const [file, anchor] = target.split('#')
      const path = file === '' ? resolve(ROOT, page) : resolve(ROOT, dirname(page), decodeURIComponent(file))
      if (!existsSync(path)) { t.fail(`${where}: no such file`); continue }
      if (anchor !== undefined) {
        const known = headings.get(path)
        if (known === undefined) t.fail(`${where}: an anchor into a page that is not Markdown`)
        else t.ok(known.has(anchor), `${where}: a heading with this anchor`)
      }
    }
  }
  t.ok(checked >= 30, `${checked} links checked`)
})

test('docs/api-reference.md is what the OpenAPI document says (UPDATE_DOCS=1 writes it)', async (t) => {
  const app = await build(t)
  const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json()
  const made = renderApiReference(doc)
  const path = join(ROOT, 'docs', 'api-reference.md')
  if (process.env.UPDATE_DOCS === '1') writeFileSync(path, made)
  const committed = existsSync(path) ? readFileSync(path, 'utf8') : ''
  t.equal(committed, made, 'docs/api-reference.md is up to date (after changing a route: UPDATE_DOCS=1 npx tap test/docs.test.ts)')
  for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
    for (const method of Object.keys(item)) t.ok(made.includes(`### \`${method.toUpperCase()} ${path}\``), `${method.toUpperCase()} ${path} is in it`)
  }
})
