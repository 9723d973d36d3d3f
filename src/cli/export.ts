// `agentlog export --agent ID > file.ndjson`: an agent's whole log (or one session, or what follows a seq) as NDJSON,
// the file `agentlog import FILE` takes into another server.
import { createWriteStream } from 'node:fs'
import { Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { checked, DEFAULT_HTTP_SERVER, headers, type ServerTarget } from './http.js'
import { readHttpTarget, SERVER_OPTIONS, type TokenFileIo } from './server-options.js'
import { UsageError } from './usage-error.js'

export const EXPORT_USAGE = `usage: agentlog export --agent ID [--session N] [--after SEQ] [--output FILE] [--server URL]
                      [--token TOKEN | --token-file F]

Writes the agent's log as NDJSON (to standard output, or FILE): one event a line in seq order, then a line per
session with its totals, then an end line. \`agentlog import FILE\` takes it into another server.

  --agent ID        the agent (required)
  --session N       only this session
  --after SEQ       only events after this seq
  --output FILE     write here instead of standard output
  --server URL      the agentlog server (default ${DEFAULT_HTTP_SERVER}; AGENTLOG_SERVER)
  --token TOKEN     a reader token, sent as Authorization: Bearer (AGENTLOG_TOKEN)
  --token-file F    read the token from file F (keeps it out of the process list and shell history)
  -h, --help        this text`

export interface ExportCommandOptions {
  agentId: string
  session: number | null
  after: number | null
  target: ServerTarget
}

function whole (value: string | undefined, name: string): number | null {
  if (value === undefined) return null
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(value)}`)
  return Number(value)
}

export async function runExport (options: ExportCommandOptions, out: Writable): Promise<void> {
  const query = new URLSearchParams()
  if (options.session !== null) query.set('session', String(options.session))
  if (options.after !== null) query.set('after', String(options.after))
  const qs = query.toString()
  const res = await checked(await fetch(`${options.target.base}/agents/${encodeURIComponent(options.agentId)}/export${qs === '' ? '' : '?' + qs}`, {
    headers: headers(options.target, { 'accept-encoding': 'gzip' })
  }))
  if (res.body === null) throw new Error('the server sent no body')
  // fetch has already undone the gzip
  await pipeline(Readable.fromWeb(res.body as any), out)
}

/** argv after `export`; throws on a usage error. */
export function parseExportArgs (argv: string[], env: NodeJS.ProcessEnv, io: TokenFileIo): { options: ExportCommandOptions, output: string | undefined } | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      agent: { type: 'string' },
      session: { type: 'string' },
      after: { type: 'string' },
      output: { type: 'string', short: 'o' },
      ...SERVER_OPTIONS,
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) return 'help'
  if (values.agent === undefined || values.agent.trim() === '') throw new UsageError('--agent ID is required')
  return {
    options: {
      agentId: values.agent,
      session: whole(values.session, '--session'),
      after: whole(values.after, '--after'),
      target: readHttpTarget(values, env, io)
    },
    output: values.output
  }
}

export async function exportCommand (argv: string[], env: NodeJS.ProcessEnv, io: TokenFileIo): Promise<number> {
  let parsed: ReturnType<typeof parseExportArgs>
  try {
    parsed = parseExportArgs(argv, env, io)
  } catch (err) {
    process.stderr.write(`agentlog export: ${(err as Error).message}\n\n${EXPORT_USAGE}\n`)
    return 2
  }
  if (parsed === 'help') {
    process.stdout.write(EXPORT_USAGE + '\n')
    return 0
  }
  const { options, output } = parsed
  try {
    await runExport(options, output === undefined ? process.stdout : createWriteStream(output))
    return 0
  } catch (err) {
    process.stderr.write(`agentlog export: ${(err as Error).message}\n`)
    return 1
  }
}
