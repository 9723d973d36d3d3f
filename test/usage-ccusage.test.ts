// Agreement with ccusage: the same Claude Code transcripts (real model names, 5-minute and 1-hour cache writes, a
// message split over two lines, a sidechain, a resumed session repeating earlier messages, a context past 200k
// tokens) imported into agentlog and read by `ccusage daily --offline --json --breakdown` (20.0.24, pinned; its native binary for this platform fetched
// from the registry the first time, like Claude Code's: test/support/npm-binary.ts):
// per day and model, the same tokens, and costs within 1%.
import { test } from 'tap'
import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { build, fixturesDir } from './helper.js'
import { packedBinary } from './support/npm-binary.js'

const run = promisify(execFile)
const root = join(fixturesDir(), '..', '..', '..')
const projects = join(root, 'test', 'fixtures', 'usage', 'projects')
/** ccusage's version: its native package exists for linux-x64 at 20.0.24 (not at 20.0.26). */
const CCUSAGE = '20.0.24'

interface Breakdown { modelName: string, inputTokens: number, outputTokens: number, cacheCreationTokens: number, cacheReadTokens: number, cost: number }

test('GET /usage?group_by=day,model agrees with ccusage daily --offline --breakdown on the same transcripts', async (t) => {
  // ccusage reads CLAUDE_CONFIG_DIR/projects; a copy keeps anything it writes out of the repository
  const config = mkdtempSync(join(tmpdir(), 'agentlog-ccusage-'))
  t.teardown(() => rmSync(config, { recursive: true, force: true }))
  cpSync(projects, join(config, 'projects'), { recursive: true })
  const ccusageBin = await packedBinary('agentlog-ccusage', `@ccusage/ccusage-${process.platform}-${process.arch}`, CCUSAGE, join('bin', 'ccusage'))
  const { stdout } = await run(ccusageBin, ['daily', '--offline', '--json', '--breakdown'], {
    env: { ...process.env, CLAUDE_CONFIG_DIR: config, TZ: 'UTC' },
    timeout: 60_000
  })
  const theirs = JSON.parse(stdout) as { daily: Array<{ period: string, modelBreakdowns: Breakdown[] }> }
  const expected = new Map<string, Breakdown>()
  for (const day of theirs.daily) for (const b of day.modelBreakdowns) expected.set(`${day.period} ${b.modelName}`, b)
  t.ok(expected.size >= 5, `ccusage reported ${expected.size} day × model rows`)

  const app = await build(t)
  for (const project of readdirSync(projects)) {
    for (const file of readdirSync(join(projects, project)).sort()) {
      const res = await app.inject({
        method: 'POST',
        url: `/agents/app-1/import?file=${encodeURIComponent(file)}`,
        headers: { 'content-type': 'application/x-ndjson' },
        payload: readFileSync(join(projects, project, file))
      })
      t.equal(res.statusCode, 200, `imported ${file}: ${res.body.slice(0, 300)}`)
    }
  }
  const ours = (await app.inject({ method: 'GET', url: '/usage?group_by=day,model&tz=UTC' })).json()
  t.same(ours.usage.map((r: any) => `${r.day as string} ${r.model as string}`).sort(), [...expected.keys()].sort(), 'the same days and models')
  for (const row of ours.usage) {
    const b = expected.get(`${row.day as string} ${row.model as string}`)
    if (b === undefined) continue
    t.same(
      [row.input_tokens, row.output_tokens, row.cache_creation_tokens, row.cache_read_tokens],
      [b.inputTokens, b.outputTokens, b.cacheCreationTokens, b.cacheReadTokens],
      `${row.day as string} ${row.model as string}: the same tokens`)
    t.equal(row.cost_source, 'computed')
    t.ok(Math.abs(row.cost_usd - b.cost) <= b.cost * 0.01, `${row.day as string} ${row.model as string}: $${row.cost_usd as number} vs ccusage $${b.cost}`)
  }
  t.same(ours.unpriced_models, [])
})
