// The agentlog command line dispatches `import` and `export` (run as a real process, as bin/agentlog.js runs it).
import { test } from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../', import.meta.url))

function run (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/agentlog.js', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
    child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stdout, stderr }))
  })
}

test('agentlog import --help and agentlog export without an agent', async (t) => {
  const [help, missing] = await Promise.all([run(['import', '--help']), run(['export'])])
  t.equal(help.code, 0)
  t.match(help.stdout, /^usage: agentlog import \[PATH…\]/)
  t.equal(missing.code, 2)
  t.match(missing.stderr, /agentlog export: --agent ID is required/)
})
