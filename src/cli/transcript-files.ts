// Finds Claude Code transcripts to import: ~/.claude/projects (every project folder), one project folder, or files.
import { createReadStream, promises as fs } from 'node:fs'
import { homedir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { agentIdForProject } from '../protocol/transcript.js'

export interface FoundFile {
  path: string
  /** The name the server keeps its position under. */
  name: string
  agentId: string
  format: 'transcript' | 'agentlog'
  /** The first record's time (transcripts are imported in the order their sessions started). */
  startedAt: string
}

/** Where Claude Code keeps transcripts: $CLAUDE_CONFIG_DIR/projects, else ~/.claude/projects. */
export function defaultProjectsDir (env: NodeJS.ProcessEnv): string {
  const config = env.CLAUDE_CONFIG_DIR !== undefined && env.CLAUDE_CONFIG_DIR.trim() !== '' ? env.CLAUDE_CONFIG_DIR : join(homedir(), '.claude')
  return join(config, 'projects')
}

/** The first line of a file (up to 64 KiB), parsed, or null. */
async function firstRecord (path: string): Promise<Record<string, unknown> | null> {
  const stream = createReadStream(path, { start: 0, end: 65535, encoding: 'utf8' })
  let text = ''
  for await (const chunk of stream) {
    text += chunk as string
    if (text.includes('\n')) break
  }
  stream.destroy()
  const lines = text.split('\n')
  for (const line of lines.slice(0, 20)) {
    try {
      const value = JSON.parse(line)
      if (value !== null && typeof value === 'object') return value
    } catch {}
  }
  return null
}

/** When the transcript's session started: its first record that has a timestamp, else the file's mtime. */
async function startTime (path: string): Promise<string> {
  const stream = createReadStream(path, { start: 0, end: 1024 * 1024 - 1, encoding: 'utf8' })
  let text = ''
  try {
    for await (const chunk of stream) {
      text += chunk as string
      const m = /"timestamp":"([^"]+)"/.exec(text)
      if (m !== null) return new Date(m[1]).toISOString()
    }
  } catch {} finally { stream.destroy() }
  return (await fs.stat(path)).mtime.toISOString()
}

async function describe (path: string, agentOverride: string | null): Promise<FoundFile | null> {
  const first = await firstRecord(path)
  const isExport = first !== null && ('event_type' in first || first.type === 'end' || first.type === 'session')
  if (isExport) {
    const agentId = agentOverride ?? (typeof first.agent_id === 'string' ? first.agent_id : null)
    if (agentId === null) return null
    return { path, name: basename(path), agentId, format: 'agentlog', startedAt: '' }
  }
  if (!path.endsWith('.jsonl')) return null
  return {
    path,
    name: basename(path),
    agentId: agentOverride ?? agentIdForProject(basename(dirname(path))),
    format: 'transcript',
    startedAt: await startTime(path).catch(() => '')
  }
}

async function jsonlIn (dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true })
  return entries.filter(e => e.isFile() && e.name.endsWith('.jsonl')).map(e => join(dir, e.name))
}

/**
 * Every file to import under the given paths. A directory holding .jsonl files is a project folder; any other
 * directory is a folder of project folders (~/.claude/projects). Sessions of one agent come in the order they
 * started; agentlog exports (any file whose first line is an exported event) come first.
 */
export async function findFiles (paths: string[], agentOverride: string | null, known: ReadonlySet<string> = new Set()): Promise<FoundFile[]> {
  const files: string[] = []
  for (const p of paths) {
    const st = await fs.stat(p)
    if (st.isFile()) { files.push(p); continue }
    const direct = await jsonlIn(p)
    if (direct.length > 0) { files.push(...direct); continue }
    for (const e of await fs.readdir(p, { withFileTypes: true })) {
      if (e.isDirectory()) files.push(...await jsonlIn(join(p, e.name)))
    }
  }
  const found: FoundFile[] = []
  for (const f of [...new Set(files)]) {
    if (known.has(f)) continue
    const d = await describe(f, agentOverride).catch(() => null)
    if (d !== null) found.push(d)
  }
  const rank = (f: FoundFile) => f.format === 'agentlog' ? 0 : 1
  return found.sort((a, b) => rank(a) - rank(b) || a.agentId.localeCompare(b.agentId) || a.startedAt.localeCompare(b.startedAt) || a.name.localeCompare(b.name))
}
