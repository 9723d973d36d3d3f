// `agentlog import [PATH…]`: sends Claude Code transcripts (and agentlog exports) to a server, and with --watch keeps
// following them. Each file is sent from the position the server keeps for it, in slices (a request stays well
// within the server's request timeout whatever the file's size); the server answers with how far it read (whole
// lines only), so a line Claude Code is still writing is sent again once it is whole.
import { createReadStream, promises as fs, watch, type FSWatcher } from 'node:fs'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import { createGzip } from 'node:zlib'
import { checked, DEFAULT_HTTP_SERVER, headers, isLoopback, isTransient, ServerError, type ServerTarget } from './http.js'
import { readHttpTarget, SERVER_OPTIONS, type TokenFileIo } from './server-options.js'
import { defaultProjectsDir, type FoundFile, findFiles } from './transcript-files.js'

export const IMPORT_USAGE = `usage: agentlog import [PATH…] [--agent ID] [--server URL] [--token TOKEN | --token-file F] [--dry-run] [--watch]

Sends Claude Code transcripts to an agentlog server. PATH is a folder of project folders (default
$CLAUDE_CONFIG_DIR/projects or ~/.claude/projects), one project folder, or files; a file written by
\`agentlog export\` is taken back as it was (same seq numbers, sessions and totals).

  --agent ID        the agent to import into (default: from each project folder, claude-<folder>)
  --server URL      the agentlog server (default ${DEFAULT_HTTP_SERVER}; AGENTLOG_SERVER)
  --token TOKEN     an operator token, sent as Authorization: Bearer (AGENTLOG_TOKEN)
  --token-file F    read the token from file F (keeps it out of the process list and shell history)
  --dry-run         show what would be imported; store nothing
  --watch           keep going: new files and new lines are sent as Claude Code writes them
  -h, --help        this text`

/** Bytes sent per request. */
const SLICE_BYTES = 16 * 1024 * 1024

export interface ImportCommandOptions {
  paths: string[]
  agentId: string | null
  target: ServerTarget
  dryRun: boolean
  watch: boolean
  /** Watch: how often every file is looked at again (file-system notifications usually come sooner). */
  rescanMs: number
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  stdout: NodeJS.WritableStream
  signal?: AbortSignal
}

interface Totals {
  files: number
  records: number
  events: number
  duplicates: number
  skipped: number
  unknown: number
  invalid: number
  partial: number
}

export function parseImportArgs (argv: string[], env: NodeJS.ProcessEnv, io: TokenFileIo): ImportCommandOptions | 'help' {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      agent: { type: 'string' },
      ...SERVER_OPTIONS,
      'dry-run': { type: 'boolean' },
      watch: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) return 'help'
  return {
    paths: positionals.length > 0 ? positionals : [defaultProjectsDir(env)],
    agentId: values.agent ?? null,
    target: readHttpTarget(values, env, io),
    dryRun: values['dry-run'] === true,
    watch: values.watch === true,
    rescanMs: 500,
    stderr: process.stderr,
    stdout: process.stdout
  }
}

function num (n: number): string {
  return n.toLocaleString('en-US')
}

/** A progress bar on a terminal, redrawn at most ten times a second. */
function progressBar (out: ImportCommandOptions['stderr'], started: number) {
  let last = 0
  return {
    draw (totals: Totals, done: number, of: number, force = false): void {
      if (out.isTTY !== true) return
      const now = Date.now()
      if (!force && now - last < 100) return
      last = now
      const width = 20
      const filled = of === 0 ? width : Math.round(width * done / of)
      const rate = Math.round(totals.records / Math.max(0.001, (now - started) / 1000))
      out.write(`\r\x1b[2K[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${of} files · ${num(totals.records)} records · ` +
        `${num(rate)} records/s · ${num(totals.events)} events · ${num(totals.skipped + totals.unknown)} skipped`)
    },
    clear (): void { if (out.isTTY === true) out.write('\r\x1b[2K') }
  }
}

export function createImporter (options: ImportCommandOptions) {
  const { target } = options
  /** The server's position of each file, by agent; fetched once per agent (again after an error). */
  const positions = new Map<string, Map<string, number>>()
  const totals: Totals = { files: 0, records: 0, events: 0, duplicates: 0, skipped: 0, unknown: 0, invalid: 0, partial: 0 }

  async function positionsOf (agentId: string): Promise<Map<string, number>> {
    const known = positions.get(agentId)
    if (known !== undefined) return known
    const res = await fetch(`${target.base}/agents/${encodeURIComponent(agentId)}/imports`, { headers: headers(target) })
    const map = new Map<string, number>()
    if (res.status !== 404) {
      const body = await (await checked(res)).json() as { files: Array<{ file: string, offset: number }> }
      for (const f of body.files) map.set(f.file, f.offset)
    }
    positions.set(agentId, map)
    return map
  }

  async function sendSlice (file: FoundFile, start: number, end: number): Promise<any> {
    const query = new URLSearchParams({ format: file.format, offset: String(start) })
    if (file.format === 'transcript') query.set('file', file.name)
    if (options.dryRun) query.set('dry_run', 'true')
    const raw = createReadStream(file.path, { start, end: end - 1 })
    // compressed on the way to another machine; on this one it would only cost time
    const gzip = !isLoopback(target.base)
    const body = gzip ? raw.pipe(createGzip({ level: 1 })) : raw
    const extra: Record<string, string> = { 'content-type': 'application/x-ndjson' }
    if (gzip) extra['content-encoding'] = 'gzip'
    try {
      const res = await fetch(`${target.base}/agents/${encodeURIComponent(file.agentId)}/import?${query.toString()}`, {
        method: 'POST',
        headers: headers(target, extra),
        body: Readable.toWeb(body) as ReadableStream,
        duplex: 'half'
      } as RequestInit)
      return await (await checked(res)).json()
    } finally {
      raw.destroy()
    }
  }

  /** Sends what the server does not have yet of one file. */
  async function sendFile (file: FoundFile): Promise<void> {
    const known = await positionsOf(file.agentId)
    let offset = file.format === 'transcript' ? known.get(file.name) ?? 0 : 0
    const size = (await fs.stat(file.path)).size
    if (size < offset) {
      options.stderr.write(`agentlog import: ${file.path} is shorter than what was imported of it (${offset} bytes); skipped\n`)
      return
    }
    let partial = false
    while (offset < size) {
      const r = await sendSlice(file, offset, Math.min(size, offset + SLICE_BYTES))
      totals.records += r.records
      totals.events += r.events_added
      totals.duplicates += r.duplicates
      totals.invalid += r.invalid ?? 0
      for (const n of Object.values(r.skipped ?? {}) as number[]) totals.skipped += n
      for (const n of Object.values(r.unknown ?? {}) as number[]) totals.unknown += n
      partial = r.partial_line === true
      if (options.dryRun) {
        options.stdout.write(`${file.path} → ${file.agentId}: ${r.events_added} events${r.duplicates > 0 ? `, ${r.duplicates} already stored` : ''}\n`)
        break
      }
      if (r.offset <= offset) break // only a line still being written is left
      offset = r.offset
    }
    if (partial) totals.partial++
    if (file.format === 'transcript') known.set(file.name, offset)
  }

  /** Whether a file has grown past what was sent of it. */
  async function grown (file: FoundFile): Promise<boolean> {
    if (file.format !== 'transcript') return false
    const known = await positionsOf(file.agentId)
    const size = await fs.stat(file.path).then(s => s.size, () => -1)
    return size > (known.get(file.name) ?? 0)
  }

  return { totals, sendFile, grown, forget: () => positions.clear() }
}

function summaryLine (totals: Totals, agents: number, seconds: number, dryRun: boolean): string {
  return `${dryRun ? 'dry run (nothing stored)' : 'imported'}: ${num(totals.files)} files into ${num(agents)} agents, ` +
    `${num(totals.records)} records, ${num(totals.events)} events ${dryRun ? 'to add' : 'added'}, ${num(totals.duplicates)} already stored, ` +
    `${num(totals.skipped)} skipped, ${num(totals.unknown)} of unknown types, ${num(totals.invalid)} invalid` +
    `${totals.partial > 0 ? `, ${totals.partial} partly written last lines left for later` : ''} in ${seconds.toFixed(1)} s`
}

/** Runs the command; resolves with the exit status. */
export async function runImport (options: ImportCommandOptions): Promise<number> {
  const started = Date.now()
  const importer = createImporter(options)
  const bar = progressBar(options.stderr, started)
  let files: FoundFile[]
  try {
    files = await findFiles(options.paths, options.agentId)
  } catch (err) {
    options.stderr.write(`agentlog import: ${(err as Error).message}\n`)
    return 1
  }
  try {
    for (const [i, file] of files.entries()) {
      bar.draw(importer.totals, i, files.length)
      await importer.sendFile(file)
      importer.totals.files++
    }
    bar.draw(importer.totals, files.length, files.length, true)
    bar.clear()
  } catch (err) {
    bar.clear()
    options.stderr.write(`agentlog import: ${(err as Error).message}\n`)
    return 1
  }
  const agents = new Set(files.map(f => f.agentId)).size
  options.stderr.write(summaryLine(importer.totals, agents, (Date.now() - started) / 1000, options.dryRun) + '\n')
  if (!options.watch || options.dryRun) return 0
  await follow(options, importer, files)
  return 0
}

/**
 * --watch: new files and lines are sent as soon as the file system says something changed (and every rescanMs
 * in any case). When the server is away it waits and resumes from the positions the server kept.
 */
async function follow (options: ImportCommandOptions, importer: ReturnType<typeof createImporter>, initial: FoundFile[]): Promise<void> {
  const known = new Map(initial.map(f => [f.path, f]))
  let wake: (() => void) | null = null
  const poke = (): void => { if (wake !== null) { const w = wake; wake = null; w() } }
  const watchers: FSWatcher[] = []
  for (const p of options.paths) {
    try {
      watchers.push(watch(p, { recursive: true }, poke))
    } catch {
      // no notifications here (or too many watches): the rescan alone finds changes
    }
  }
  options.signal?.addEventListener('abort', poke)
  let away = false
  let backoff = 0
  const stopped = (): boolean => options.signal?.aborted === true
  try {
    while (!stopped()) {
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(poke, backoff > 0 ? backoff : options.rescanMs)
      })
      if (stopped()) break
      try {
        for (const f of await findFiles(options.paths, options.agentId, new Set(known.keys()))) {
          if (!known.has(f.path) && f.format === 'transcript') known.set(f.path, f)
        }
        const files = [...known.values()].sort((a, b) => a.agentId.localeCompare(b.agentId) || a.startedAt.localeCompare(b.startedAt))
        for (const f of files) {
          if (await importer.grown(f)) await importer.sendFile(f)
        }
        if (away) options.stderr.write('agentlog import: the server is back; following again\n')
        away = false
        backoff = 0
      } catch (err) {
        if (!isTransient(err) && !(err instanceof ServerError && err.code === 'position_mismatch')) {
          options.stderr.write(`agentlog import: ${(err as Error).message}\n`)
        } else if (!away) {
          options.stderr.write(`agentlog import: ${(err as Error).message}; retrying\n`)
        }
        away = isTransient(err)
        // another importer (or a restarted server) may have moved on: ask again where each file stands
        importer.forget()
        backoff = Math.min(backoff === 0 ? 250 : backoff * 2, 2000)
      }
    }
  } finally {
    for (const w of watchers) w.close()
  }
}

export async function importCommand (argv: string[], env: NodeJS.ProcessEnv, io: TokenFileIo): Promise<number> {
  let options: ImportCommandOptions | 'help'
  try {
    options = parseImportArgs(argv, env, io)
  } catch (err) {
    process.stderr.write(`agentlog import: ${(err as Error).message}\n\n${IMPORT_USAGE}\n`)
    return 2
  }
  if (options === 'help') {
    process.stdout.write(IMPORT_USAGE + '\n')
    return 0
  }
  if (options.watch) {
    const stop = new AbortController()
    options.signal = stop.signal
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort())
  }
  return await runImport(options)
}
