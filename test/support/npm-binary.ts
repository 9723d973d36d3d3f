// A native program published on npm as one package per platform (Claude Code's binaries, ccusage's), fetched from
// the registry the first time a test needs it (npm pack checks its integrity) and kept in node_modules/.cache, so
// `npm ci` installs no binary for every platform and the lock file names none.
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const execFileAsync = promisify(execFile)

/** The path of `bin` (relative to the package) in `pkg@version`, fetched into node_modules/.cache/`cacheName` once. */
export async function packedBinary (cacheName: string, pkg: string, version: string, bin: string): Promise<string> {
  const cache = join(ROOT, 'node_modules', '.cache', cacheName)
  const dir = join(cache, `${pkg.replace(/^@/, '').replace(/\//g, '+')}-${version}`)
  const path = join(dir, 'package', bin)
  if (existsSync(path)) return path
  mkdirSync(cache, { recursive: true })
  // fetched beside, then moved into place: two test files asking at once do not see half a binary
  const tmp = mkdtempSync(join(cache, 'fetching-'))
  try {
    await execFileAsync('npm', ['pack', `${pkg}@${version}`, '--pack-destination', tmp, '--silent'], { cwd: tmp, timeout: 10 * 60 * 1000 })
    const tarball = readdirSync(tmp).find(f => f.endsWith('.tgz'))
    if (tarball === undefined) throw new Error(`npm pack of ${pkg}@${version} made no tarball`)
    await execFileAsync('tar', ['xzf', join(tmp, tarball), '-C', tmp])
    rmSync(join(tmp, tarball))
    chmodSync(join(tmp, 'package', bin), 0o755)
    try {
      renameSync(tmp, dir)
    } catch {
      // another test file put it there first
      if (!existsSync(path)) throw new Error(`could not put ${pkg}@${version} in ${dir}`)
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  return path
}
