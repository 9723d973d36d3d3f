// Live usage through the real Claude Code CLI (the pinned 2.1.112 and the newest), relayed by `agentlog connect`:
// GET /usage's per-model figures equal what the CLI reported in its results' modelUsage (cumulative for the
// process: the last result's counters are the sum of every turn's growth).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import { build, listen } from './helper.js'
import { CLAUDE_CLI, CLAUDE_NEWEST, nativeClaude, offlineSetup, startConnector, turn, waitConnected } from './support/claude-cli.js'

const TEE = fileURLToPath(new URL('./support/tee-claude.mjs', import.meta.url))

for (const version of ['2.1.112', CLAUDE_NEWEST]) {
  test(`live usage with Claude Code ${version}: GET /usage per model equals the CLI's reported modelUsage`, async (t) => {
    const bin = version === '2.1.112' ? CLAUDE_CLI : await nativeClaude(version)
    const setup = await offlineSetup(t)
    const app = await build(t)
    const server = await listen(app)
    const tee = join(setup.claude.cwd, '..', 'stdout.ndjson')
    const agentId = `usage-${version.replace(/\./g, '-')}`
    startConnector(t, setup, { server, agentId, env: { CLAUDE_BIN: TEE, USAGE_REAL_CLAUDE: bin, USAGE_TEE: tee } })
    await waitConnected(app, agentId)
    await turn(app, agentId, 'Say hello')
    await turn(app, agentId, 'THINK about it')
    await turn(app, agentId, 'RUN_BASH please')

    const results = readFileSync(tee, 'utf8').split('\n').filter(l => l.includes('"modelUsage"')).map(l => JSON.parse(l)).filter(m => m.type === 'result')
    t.ok(results.length >= 3, `${results.length} results from the CLI`)
    const last = results[results.length - 1].modelUsage as Record<string, any>
    const ours = (await app.inject({ url: `/usage?group_by=model&agent=${agentId}` })).json()
    t.same(ours.usage.map((r: any) => r.model).sort(), Object.keys(last).sort(), 'the same models')
    for (const row of ours.usage) {
      const m = last[row.model]
      t.same([row.input_tokens, row.output_tokens, row.cache_read_tokens, row.cache_creation_tokens],
        [m.inputTokens, m.outputTokens, m.cacheReadInputTokens, m.cacheCreationInputTokens], `${row.model as string}: tokens`)
      t.ok(Math.abs(row.reported_cost_usd - m.costUSD) < 1e-9, `${row.model as string}: $${row.cost_usd as number} reported, the CLI said $${m.costUSD as number}`)
      t.equal(row.cost_source, 'reported')
    }
    const agent = (await app.inject({ url: '/agents' })).json().agents.find((a: any) => a.agent_id === agentId)
    t.ok(Math.abs(agent.cost_usd - (ours.totals.cost_usd as number)) < 1e-9, 'agrees with the sessions\' cost')
  })
}
