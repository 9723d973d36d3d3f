// The packed package carries the viewer: its compiled modules and its page and stylesheet.
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'

test('npm pack includes the viewer (dist/web is built by npm run build and npm test)', async (t) => {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8' })
  const files = new Set((JSON.parse(out) as Array<{ files: Array<{ path: string }> }>)[0].files.map(f => f.path))
  for (const f of ['web/static/index.html', 'web/static/style.css', 'dist/web/main.js', 'dist/web/agent.js', 'dist/web/sse.js', 'dist/web/usage.js', 'dist/web/usage-blocks.js']) {
    t.ok(files.has(f), `${f} is packed`)
  }
  t.notOk([...files].some(f => f.startsWith('web/src/') || f.startsWith('test/')), 'sources and tests stay out')
})
