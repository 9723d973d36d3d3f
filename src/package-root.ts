// Where the package is installed, found from any file of it: the sources (src/), the compiled code (dist/src/) and
// the bundle (dist/bundle/) sit at different depths.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface PackageJson { name: string, version: string, description: string }

/** The nearest directory above `from` whose package.json is agentlog's. */
export function packageRoot (from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from)
  for (;;) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'agentlog') return dir
    const up = dirname(dir)
    if (up === dir) throw new Error('agentlog: package.json not found above ' + from)
    dir = up
  }
}

let cached: PackageJson | null = null

/** agentlog's package.json (read once). */
export function packageJson (): PackageJson {
  cached ??= JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as PackageJson
  return cached
}
