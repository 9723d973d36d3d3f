// Import and export throughput: `agentlog import` of a generated set of Claude Code transcripts (records/s), and
// GET /agents/:id/export of a large log (events/s, plain and gzip), each against the real server in a child process.
import { mkdirSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { randomUUID } from 'node:crypto'
import { runImport } from '../src/cli/import.js'
import { envInt, round, startChild, type Child } from './common.js'
import { seedDatabase } from './seed.js'

const cfg = {
  files: envInt('BENCH_TRANSCRIPT_FILES', 40),
  recordsPerFile: envInt('BENCH_TRANSCRIPT_RECORDS', 2500),
  exportEvents: envInt('BENCH_EXPORT_EVENTS', 300_000)
}

const ATTACHMENT = 'You have been invoked in the following environment: '.repeat(30)
const TEXT = 'I read the failing test first: the session number has to come from the agents row, not from counting clears. '.repeat(3)

/**
 * One transcript shaped like the recordings (test/fixtures/recordings/claude-code-2.1.331-transcripts): per turn two
 * queue operations, the prompt, an attachment, API bookkeeping, text, a tool call and its result, more text, then
 * last-prompt and cost-state. About a third of the records are conversation.
 */
export function transcript (sessionId: string, records: number, startMs: number): string {
  const out: string[] = []
  let t = startMs
  let parent: string | null = null
  let cost = 0
  let turn = 0
  const ts = (): string => new Date(t++).toISOString()
  const conv = (rec: Record<string, unknown>): void => {
    const uuid = randomUUID()
    out.push(JSON.stringify({ parentUuid: parent, isSidechain: false, ...rec, uuid, timestamp: ts(), cwd: '/home/dev/project', sessionId, version: '2.1.331', gitBranch: 'main' }))
    parent = uuid
  }
  while (out.length < records) {
    turn++
    const msg = `msg_${sessionId.slice(0, 8)}_${turn}`
    out.push(JSON.stringify({ type: 'queue-operation', operation: 'enqueue', timestamp: ts(), sessionId, content: `Fix test ${turn}` }))
    out.push(JSON.stringify({ type: 'queue-operation', operation: 'dequeue', timestamp: ts(), sessionId }))
    conv({ type: 'user', message: { role: 'user', content: `Fix the failing test number ${turn}` }, promptId: randomUUID() })
    conv({ type: 'attachment', attachment: { type: 'environment' }, rendered: [{ content: ATTACHMENT }] })
    out.push(JSON.stringify({ type: 'api-request', id: randomUUID(), timestamp: ts(), sessionId, params: { model: 'claude-opus-5-5', max_tokens: 32000 } }))
    const usage = { input_tokens: 1200 + turn, output_tokens: 300, cache_read_input_tokens: 9000, cache_creation_input_tokens: 0 }
    conv({ type: 'assistant', message: { id: msg, type: 'message', role: 'assistant', model: 'claude-opus-5-5', content: [{ type: 'text', text: TEXT }], usage } })
    const tool = `toolu_${turn}`
    conv({ type: 'assistant', message: { id: msg, type: 'message', role: 'assistant', model: 'claude-opus-5-5', content: [{ type: 'tool_use', id: tool, name: 'Bash', input: { command: 'npx tap test/sessions.test.ts', description: 'Run the tests' } }], usage } })
    conv({ type: 'user', message: { role: 'user', content: [{ tool_use_id: tool, type: 'tool_result', content: 'ok 1 - sessions survive a restart\n'.repeat(20), is_error: false }] } })
    conv({ type: 'assistant', message: { id: `${msg}b`, type: 'message', role: 'assistant', model: 'claude-opus-5-5', content: [{ type: 'text', text: 'The tests pass now.' }], usage } })
    out.push(JSON.stringify({ type: 'last-prompt', lastPrompt: `Fix test ${turn}`, sessionId }))
    cost += 0.0123
    out.push(JSON.stringify({ type: 'cost-state', sessionId, totalCostUSD: cost, modelUsage: { 'claude-opus-5-5': { inputTokens: turn * 1200, outputTokens: turn * 600, cacheReadInputTokens: turn * 9000, cacheCreationInputTokens: 0 } } }))
  }
  return out.slice(0, records).join('\n') + '\n'
}

function get (port: number, path: string, gzip: boolean): Promise<{ bytes: number, lines: number, ms: number }> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers: gzip ? { 'accept-encoding': 'gzip' } : {} }, (res) => {
      let bytes = 0
      let lines = 0
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length
        if (!gzip) for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++
      })
      res.on('end', () => resolve({ bytes, lines, ms: performance.now() - started }))
      res.on('error', reject)
    }).on('error', reject)
  })
}

export async function benchTranscripts (work: string, log: (msg: string) => void): Promise<Record<string, unknown>> {
  // ---- import ----
  const projects = join(work, 'transcripts', 'projects')
  const dir = join(projects, '-home-dev-bench')
  mkdirSync(dir, { recursive: true })
  let bytes = 0
  const start = Date.UTC(2026, 0, 1)
  for (let i = 0; i < cfg.files; i++) {
    const text = transcript(randomUUID(), cfg.recordsPerFile, start + i * 3_600_000)
    bytes += Buffer.byteLength(text)
    writeFileSync(join(dir, `${randomUUID()}.jsonl`), text)
  }
  const records = cfg.files * cfg.recordsPerFile
  log(`transcripts: importing ${cfg.files} files, ${records} records (${round(bytes / 1e6, 1)} MB)`)
  let server: Child = await startChild('server.js', { DATABASE_PATH: join(work, 'import.db'), LOG_LEVEL: 'warn' })
  const stderr = new PassThrough()
  let summary = ''
  stderr.on('data', (d) => { summary += d.toString() })
  const t0 = performance.now()
  const status = await runImport({
    paths: [projects],
    agentId: null,
    target: { base: `http://127.0.0.1:${server.port}`, token: null },
    dryRun: false,
    watch: false,
    rescanMs: 500,
    stderr,
    stdout: new PassThrough()
  })
  const importMs = performance.now() - t0
  if (status !== 0) throw new Error(`agentlog import failed: ${summary}`)
  const imported = await server.request<number>('storedEvents')
  const importRss = (await server.request<{ maxRss: number }>('stats')).maxRss
  await server.stop()
  log(`  ${summary.trim()}`)

  // ---- export ----
  const exportDb = join(work, 'export.db')
  log(`export: seeding ${cfg.exportEvents} events`)
  await seedDatabase(exportDb, [{ id: 'bench-export', events: cfg.exportEvents }], log)
  server = await startChild('server.js', { DATABASE_PATH: exportDb, LOG_LEVEL: 'warn' })
  const rssBefore = (await server.request<{ rss: number }>('stats')).rss
  const plain = await get(server.port, '/agents/bench-export/export', false)
  const gz = await get(server.port, '/agents/bench-export/export', true)
  const rssAfter = (await server.request<{ maxRss: number }>('stats')).maxRss
  await server.stop()
  const eventsPerSecond = (ms: number) => Math.round(cfg.exportEvents / (ms / 1000))
  return {
    import_files: cfg.files,
    import_records: records,
    import_mb: round(bytes / 1e6, 1),
    import_events: imported,
    import_seconds: round(importMs / 1000, 2),
    import_records_per_sec: Math.round(records / (importMs / 1000)),
    import_events_per_sec: Math.round(imported / (importMs / 1000)),
    import_server_max_rss_mb: round(importRss / 1e6, 0),
    export_events: cfg.exportEvents,
    export_lines: plain.lines,
    export_mb: round(plain.bytes / 1e6, 1),
    export_events_per_sec: eventsPerSecond(plain.ms),
    export_gzip_events_per_sec: eventsPerSecond(gz.ms),
    export_gzip_mb: round(gz.bytes / 1e6, 1),
    export_server_rss_mb_before: round(rssBefore / 1e6, 0),
    export_server_max_rss_mb: round(rssAfter / 1e6, 0)
  }
}
