// `agentlog usage` as a real process (bin/agentlog.js, the built copy) against a server holding imported transcripts.
import { test } from 'tap'
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { build, listen } from './helper.js'

const ROOT = fileURLToPath(new URL('../', import.meta.url))
const PROJECT = join(ROOT, 'test', 'fixtures', 'usage', 'projects', '-home-dev-app')

function run (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('AGENTLOG_')))
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'agentlog.js'), ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

async function importAll (app: FastifyInstance): Promise<void> {
  for (const file of readdirSync(PROJECT).sort()) {
    const res = await app.inject({ method: 'POST', url: `/agents/app-1/import?file=${file}`, headers: { 'content-type': 'application/x-ndjson' }, payload: readFileSync(join(PROJECT, file)) })
    if (res.statusCode !== 200) throw new Error(`import ${res.statusCode}: ${res.body}`)
  }
}

test('agentlog usage daily: a table per day with the models, --breakdown a line per model, --json the server\'s answer', async (t) => {
  const app = await build(t)
  await importAll(app)
  const server = await listen(app)
  const daily = await run(['usage', '--tz', 'UTC'], { AGENTLOG_SERVER: server })
  t.equal(daily.code, 0, daily.stderr)
  const lines = daily.stdout.split('\n')
  t.match(lines[1], /Period .*Models .*Input .*Output .*Cache Create .*Cache Read .*Total Tokens .*Cost \(USD\)/)
  t.ok(lines.some(l => /^│ 2026-02-10 │ /.test(l)), 'a line for the first day')
  t.match(daily.stdout, /│ Total +│/)
  const expected = (await app.inject({ url: '/usage?group_by=day' })).json()
  t.ok(daily.stdout.includes(`$${(expected.totals.cost_usd as number).toFixed(2)}`), 'the total cost')

  const breakdown = await run(['usage', 'daily', '--breakdown', '--since', '20260212', '--tz', 'UTC'], { AGENTLOG_SERVER: server })
  t.equal(breakdown.code, 0, breakdown.stderr)
  t.match(breakdown.stdout, /└ claude-opus-4-5-20251101/)
  t.notMatch(breakdown.stdout, /2026-02-10/, '--since')

  const json = await run(['usage', 'monthly', '--json', '--tz', 'UTC'], { AGENTLOG_SERVER: server })
  t.equal(json.code, 0, json.stderr)
  const body = JSON.parse(json.stdout)
  t.same(body.usage.map((r: any) => r.month), ['2026-02'])
  t.equal(body.totals.input_tokens, expected.totals.input_tokens)

  const blocks = await run(['usage', 'blocks', '--json'], { AGENTLOG_SERVER: server })
  t.equal(blocks.code, 0, blocks.stderr)
  const b = JSON.parse(blocks.stdout).blocks
  // 09:00 (to 14:00), 17:00, 23:00 (through 00:00 the next day), then 08:00 two days later
  t.same(b.map((x: any) => x.start), ['2026-02-10T09:00:00.000Z', '2026-02-10T17:00:00.000Z', '2026-02-10T23:00:00.000Z', '2026-02-12T08:00:00.000Z'])
  t.same(b.map((x: any) => x.active), [false, false, false, false])

  const bad = await run(['usage', 'yearly'], { AGENTLOG_SERVER: server })
  t.equal(bad.code, 2)
  t.match(bad.stderr, /the report is one of daily, weekly, monthly, session, blocks/)
})
