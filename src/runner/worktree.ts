// Git worktrees for agents: created under <repository>/.agentlog/worktrees/<name> on branch agentlog/<name>, never
// inside another worktree (the repository's main worktree is their parent), kept out of `git status` through
// .git/info/exclude; removed only when they hold no uncommitted changes (the branch is kept).
import { execFile } from 'node:child_process'
import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import type { WorktreeInfoType as WorktreeInfo } from '../protocol/runner.js'

export class WorktreeError extends Error {
  constructor (readonly code: 'not_a_repository' | 'worktree_exists' | 'base_not_found' | 'worktree_failed' | 'worktree_dirty', message: string) {
    super(message)
  }
}

function git (cwd: string, args: string[]): Promise<{ ok: boolean, out: string, err: string }> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd, timeout: 60000 }, (error, stdout, stderr) => {
      resolve({ ok: error === null, out: stdout.trim(), err: stderr.trim() || (error?.message ?? '') })
    })
  })
}

/** The repository's main worktree (where .git is), whatever worktree `cwd` is in. */
export async function mainWorktree (cwd: string): Promise<string> {
  const common = await git(cwd, ['rev-parse', '--path-format=absolute', '--git-common-dir'])
  if (!common.ok) throw new WorktreeError('not_a_repository', `${cwd} is not in a git repository`)
  const dir = isAbsolute(common.out) ? common.out : resolve(cwd, common.out)
  // a bare repository has no main worktree: its worktrees go beside it
  return dir.endsWith('/.git') ? dirname(dir) : dir
}

export async function createWorktree (cwd: string, name: string, base: string | null): Promise<WorktreeInfo> {
  const repository = await mainWorktree(cwd)
  const ref = base ?? 'HEAD'
  const commit = await git(repository, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`])
  if (!commit.ok) throw new WorktreeError('base_not_found', `the base ${JSON.stringify(ref)} is not a commit in ${repository}`)
  const path = join(repository, '.agentlog', 'worktrees', name)
  const branch = `agentlog/${name}`
  const exists = await git(repository, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`])
  if (exists.ok) throw new WorktreeError('worktree_exists', `branch ${branch} already exists in ${repository}`)
  await mkdir(dirname(path), { recursive: true })
  await excludeAgentlogDir(repository)
  const added = await git(repository, ['worktree', 'add', '-b', branch, path, commit.out])
  if (!added.ok) {
    throw new WorktreeError(/already exists/.test(added.err) ? 'worktree_exists' : 'worktree_failed', `git worktree add failed: ${added.err}`)
  }
  return { name, path, branch, base: ref, repository }
}

/** `/.agentlog/` in the repository's info/exclude, once. */
async function excludeAgentlogDir (repository: string): Promise<void> {
  const common = await git(repository, ['rev-parse', '--path-format=absolute', '--git-common-dir'])
  const file = join(common.out, 'info', 'exclude')
  let text = ''
  try { text = await readFile(file, 'utf8') } catch {}
  if (text.split('\n').includes('/.agentlog/')) return
  await mkdir(dirname(file), { recursive: true })
  await appendFile(file, `${text === '' || text.endsWith('\n') ? '' : '\n'}/.agentlog/\n`)
}

/** Throws worktree_dirty when `git status` in the worktree shows changes (worktree_failed when it cannot run). */
export async function worktreeStatus (worktree: WorktreeInfo): Promise<void> {
  const status = await git(worktree.path, ['status', '--porcelain'])
  if (!status.ok) throw new WorktreeError('worktree_failed', `git status failed in ${worktree.path}: ${status.err}`)
  if (status.out !== '') {
    const n = status.out.split('\n').length
    throw new WorktreeError('worktree_dirty', `the worktree ${worktree.path} has ${n} uncommitted change${n === 1 ? '' : 's'}; it was kept`)
  }
}

/** Removes the worktree when `git status` shows nothing to lose; else worktree_dirty and nothing removed. */
export async function removeWorktree (worktree: WorktreeInfo): Promise<void> {
  await worktreeStatus(worktree)
  const removed = await git(worktree.repository, ['worktree', 'remove', worktree.path])
  if (!removed.ok) throw new WorktreeError('worktree_failed', `git worktree remove failed: ${removed.err}`)
}
