// `agentlog import` / `agentlog export` against a real server on a real socket: folders, dry runs, exports, --watch.
import { test } from 'tap'
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { runImport, type ImportCommandOptions } from '../src/cli/import.js'
import { runExport } from '../src/cli/export.js'
import { httpBase } from '../src/cli/http.js'
import { build, fixturesDir, listen, LOAD_MARGIN_MS, tempDatabasePath, walk } from './helper.js'
import { startProxy } from './support/tcp-proxy.js'

const PROJECT = join(fixturesDir(), 'claude-code-2.1.331-transcripts', 'projects', '-home-dev-project')
const BEFORE_CLEAR = 'b139aeb6-4ad3-4307-96b6-942c85cc1885.jsonl'
const AFTER_CLEAR = '4cfc1751-0d6a-495b-8de8-641c95cf5db8.jsonl'
const AGENT = 'claude-home-dev-project'

function tempDir (t: any): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentlog-import-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function capture (): { stream: PassThrough, text: () => string } {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (d) => { text += d.toString() })
  return { stream, text: () => text }
}

function options (server: string, paths: string[], extra: Partial<ImportCommandOptions> = {}) {
  const stderr = capture()
  const stdout = capture()
  const opts: ImportCommandOptions = {
    paths,
    agentId: null,
    target: { base: httpBase(server), token: null },
    dryRun: false,
    watch: false,
    rescanMs: 200,
    stderr: stderr.stream,
    stdout: stdout.stream,
    ...extra
  }
  return { opts, stderr, stdout }
}

/** The comparable part of an event: everything but the server-local id. */
const view = (e: any) => { const { id, ...rest } = e; return rest }

async function directImport (t: any, files: string[]): Promise<any[]> {
  const app = await build(t)
  for (const f of files) {
    const res = await app.inject({ method: 'POST', url: `/agents/${AGENT}/import?file=${f}`, headers: { 'content-type': 'application/x-ndjson' }, payload: readFileSync(join(PROJECT, f)) })
    t.equal(res.statusCode, 200)
  }
  return (await walk(app, AGENT)).map(view)
}

/** Waits (with a deadline) until the agent's log satisfies `pred`; resolves with how long it took. */
async function until (app: FastifyInstance, agentId: string, pred: (events: any[]) => boolean, deadlineMs = 10000): Promise<number> {
  const started = Date.now()
  for (;;) {
    const res = await app.inject({ url: `/agents/${agentId}/events?limit=1000` })
    if (res.statusCode === 200 && pred(res.json().events)) return Date.now() - started
    if (Date.now() - started > deadlineMs) throw new Error(`not there after ${deadlineMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

test('agentlog import: a folder of projects, the agent id from the folder, nothing twice', async (t) => {
  const app = await build(t)
  const server = await listen(app)
  const home = tempDir(t)
  cpSync(PROJECT, join(home, 'projects', '-home-dev-project'), { recursive: true })

  const first = options(server, [join(home, 'projects')])
  t.equal(await runImport(first.opts), 0)
  t.match(first.stderr.text(), /^imported: 2 files into 1 agents, \d+ records, 17 events added, 0 already stored, \d+ skipped, 0 of unknown types, 0 invalid in [\d.]+ s\n$/)
  const events = (await walk(app, AGENT)).map(view)
  t.same(events, await directImport(t, [BEFORE_CLEAR, AFTER_CLEAR]), 'the same as importing the files in the order their sessions started')

  const again = options(server, [join(home, 'projects', '-home-dev-project')])
  t.equal(await runImport(again.opts), 0)
  t.match(again.stderr.text(), /0 records, 0 events added/)
  t.same((await walk(app, AGENT)).map(view), events)

  // on a terminal: a progress bar, redrawn in place, then the summary
  const tty = options(server, [join(home, 'projects')], { agentId: 'tty-agent' })
  Object.assign(tty.stderr.stream, { isTTY: true })
  tty.opts.stderr = tty.stderr.stream
  t.equal(await runImport(tty.opts), 0)
  const shown = tty.stderr.text().replaceAll('\u001b[2K', '<erase>')
  t.match(shown, /\r<erase>\[#{20}\] 2\/2 files · 76 records · [\d,]+ records\/s · 17 events · 57 skipped/)
  t.match(shown, /\r<erase>imported: 2 files into 1 agents/)

  const dry = options(server, [join(PROJECT, BEFORE_CLEAR)], { dryRun: true, agentId: 'dry-agent' })
  t.equal(await runImport(dry.opts), 0)
  t.match(dry.stdout.text(), new RegExp(`${BEFORE_CLEAR} → dry-agent: 14 events`))
  t.match(dry.stderr.text(), /^dry run \(nothing stored\)/)
  const res = await app.inject({ url: '/agents/dry-agent/events' })
  t.same(res.json().events, [], 'a dry run stores nothing')
})

test('agentlog export > file, then agentlog import file into another server: the same agent, byte for byte', async (t) => {
  const source = await build(t)
  const sourceUrl = await listen(source)
  const home = tempDir(t)
  const imp = options(sourceUrl, [PROJECT])
  t.equal(await runImport(imp.opts), 0)
  const file = join(home, 'agent.ndjson')
  const { createWriteStream } = await import('node:fs')
  await runExport({ agentId: AGENT, session: null, after: null, target: { base: httpBase(sourceUrl), token: null } }, createWriteStream(file))
  const exported = readFileSync(file, 'utf8')
  t.equal(exported, (await source.inject({ url: `/agents/${AGENT}/export` })).body)

  const target = await build(t)
  const targetUrl = await listen(target)
  const back = options(targetUrl, [file])
  t.equal(await runImport(back.opts), 0)
  t.equal((await target.inject({ url: `/agents/${AGENT}/export` })).body, exported)
  t.same((await target.inject({ url: `/agents/${AGENT}/sessions` })).json(), (await source.inject({ url: `/agents/${AGENT}/sessions` })).json())
})

test('agentlog import --watch follows files as they are written, across importer and server restarts', async (t) => {
  const databasePath = tempDatabasePath(t)
  let app = await build(t, { databasePath })
  // the importer talks to a proxy: the restarted server listens on a port of its own (no other process can take
  // the old one in between)
  const proxy = await startProxy([{ host: '127.0.0.1', port: Number(new URL(await listen(app)).port) }])
  t.teardown(() => proxy.close())
  const server = proxy.url
  const home = tempDir(t)
  const dir = join(home, 'projects', '-home-dev-project')
  mkdirSync(dir, { recursive: true })
  const before = readFileSync(join(PROJECT, BEFORE_CLEAR), 'utf8').split('\n').filter(l => l !== '').map(l => l + '\n')
  const after = readFileSync(join(PROJECT, AFTER_CLEAR), 'utf8').split('\n').filter(l => l !== '').map(l => l + '\n')
  const at = (lines: string[], text: string) => lines.findIndex(l => l.includes(text))
  const beforePath = join(dir, BEFORE_CLEAR)

  // the first turn is there when the importer starts
  const k1 = at(before, '"THINK about it"')
  writeFileSync(beforePath, before.slice(0, k1).join(''))
  let stop = new AbortController()
  let w = options(server, [join(home, 'projects')], { watch: true, signal: stop.signal })
  let watching = runImport(w.opts)
  await until(app, AGENT, evs => evs.some(e => e.content === 'Hello! This is the mock model answering: Say hello'))

  // lines appended to the file arrive; a line still being written waits until it is whole
  const k2 = at(before, 'I will run a command.') + 1
  const bash = before[k2]
  t.match(bash, /"name":"Bash"/)
  appendFileSync(beforePath, before.slice(k1, k2).join('') + bash.slice(0, 100))
  await until(app, AGENT, evs => evs.some(e => e.content === 'I will run a command.'))
  t.notOk((await walk(app, AGENT)).some(e => e.event_type === 'tool_use'), 'the half-written line is not stored')
  const appended = Date.now()
  appendFileSync(beforePath, bash.slice(100) + before.slice(k2 + 1).join(''))
  const latency = await until(app, AGENT, evs => evs.some(e => e.event_type === 'tool_use') && evs.some(e => e.content === "Tool 'Write': denied by policy"))
  t.ok(Date.now() - appended < w.opts.rescanMs + LOAD_MARGIN_MS, `appended lines arrived in ${latency} ms (the rescan is every ${w.opts.rescanMs} ms)`)

  // the importer restarts: it resumes from the positions the server kept
  stop.abort()
  t.equal(await watching, 0)
  const half = at(after, '"Say hello after the clear"') + 1
  writeFileSync(join(dir, AFTER_CLEAR), after.slice(0, half).join(''))
  stop = new AbortController()
  w = options(server, [join(home, 'projects')], { watch: true, signal: stop.signal })
  watching = runImport(w.opts)
  await until(app, AGENT, evs => evs.some(e => e.event_type === 'context_cleared'))

  // the server restarts: the importer waits and resumes
  await app.close()
  appendFileSync(join(dir, AFTER_CLEAR), after.slice(half).join(''))
  const deadline = Date.now() + 10000
  while (!w.stderr.text().includes('retrying')) {
    if (Date.now() > deadline) throw new Error('the importer did not notice the server was away')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  app = await build(t, { databasePath })
  proxy.retarget([{ host: '127.0.0.1', port: Number(new URL(await listen(app)).port) }])
  await until(app, AGENT, evs => evs.some(e => e.content === 'Hello! This is the mock model answering: Say hello after the clear'))
  stop.abort()
  t.equal(await watching, 0)
  t.match(w.stderr.text(), /the server is back/)

  t.same((await walk(app, AGENT)).map(view), await directImport(t, [BEFORE_CLEAR, AFTER_CLEAR]), 'every event once, as from one import')
})
