// Which directories a runner starts agents in: under one of its roots, symlinks resolved (pure, given realpath).
import { isAbsolute, relative, sep } from 'node:path'

/** Whether dir is root itself or under it (both already resolved). */
export function isWithin (root: string, dir: string): boolean {
  const rel = relative(root, dir)
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel))
}

export type CwdCheck = { ok: true, cwd: string } | { ok: false, message: string }

/**
 * The real directory `cwd` names, when it exists and is under a root (each root resolved too); else why not.
 * `realpath` throws for a missing path.
 */
export function checkCwd (cwd: string, roots: string[], realpath: (path: string) => string, isDirectory: (path: string) => boolean): CwdCheck {
  if (!isAbsolute(cwd)) return { ok: false, message: `cwd must be an absolute path, got ${JSON.stringify(cwd)}` }
  let real: string
  try {
    real = realpath(cwd)
  } catch {
    return { ok: false, message: `${cwd} does not exist on this runner` }
  }
  if (!isDirectory(real)) return { ok: false, message: `${cwd} is not a directory` }
  for (const root of roots) {
    let realRoot: string
    try {
      realRoot = realpath(root)
    } catch {
      continue
    }
    if (isWithin(realRoot, real)) return { ok: true, cwd: real }
  }
  return { ok: false, message: `${cwd}${real !== cwd ? ` (${real})` : ''} is outside the runner's roots (${roots.join(', ')})` }
}
