// Which directories a runner starts agents in (pure): under a root after resolving symlinks, and existing.
import { test } from 'tap'
import { checkCwd, isWithin } from '../../src/runner/roots.js'

const links: Record<string, string> = { '/home/me/src': '/home/me/src', '/home/me/src/app': '/home/me/src/app', '/home/me/link': '/etc', '/home/me/src/escape': '/etc/secret', '/etc': '/etc', '/etc/secret': '/etc/secret' }
const realpath = (p: string): string => {
  const r = links[p]
  if (r === undefined) throw new Error('ENOENT')
  return r
}
const isDir = (): boolean => true

test('isWithin: the root itself and below it, never beside it', async (t) => {
  t.ok(isWithin('/a/b', '/a/b'))
  t.ok(isWithin('/a/b', '/a/b/c/d'))
  t.notOk(isWithin('/a/b', '/a/bc'))
  t.notOk(isWithin('/a/b', '/a'))
  t.notOk(isWithin('/a/b', '/a/b/../c'.replace('/b/..', '')))
})

test('checkCwd: given roots, when a directory is asked for, then only a real one under a root is taken', async (t) => {
  t.same(checkCwd('/home/me/src/app', ['/home/me/src'], realpath, isDir), { ok: true, cwd: '/home/me/src/app' })
  t.match(checkCwd('/home/me/src/escape', ['/home/me/src'], realpath, isDir), { ok: false, message: /outside the runner's roots/ }, 'a symlink out of the root is refused')
  t.match(checkCwd('/home/me/link', ['/home/me/src'], realpath, isDir), { ok: false })
  t.match(checkCwd('/home/me/src/missing', ['/home/me/src'], realpath, isDir), { ok: false, message: /does not exist/ })
  t.match(checkCwd('src/app', ['/home/me/src'], realpath, isDir), { ok: false, message: /absolute/ })
  t.match(checkCwd('/home/me/src/app', ['/home/me/src'], realpath, () => false), { ok: false, message: /not a directory/ })
})
