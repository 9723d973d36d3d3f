// `agentlog export --agent ID > file.ndjson`: an agent's whole log (or one session, or what follows a seq) as NDJSON,
// the file `agentlog import FILE` takes into another server.
import { createWriteStream } from 'node:fs'
import { Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { checked, DEFAULT_HTTP_SERVER, headers, httpBase, type ServerTarget } from './http.js'

export const EXPORT_USAGE = `usage: agentlog export --agent ID [--session N] [--after SEQ] [--output FILE] [--server URL] [--token TOKEN]

Writes the agent's log as NDJSON (to standard output, or FILE): one event a line in seq order, then a line per
session with its totals, then an end line. \`agentlog import FILE\` takes it into another server.

  --agent ID        the agent (required)
  --session N       only this session
  --after SEQ       only events after this seq
  --output FILE     write here instead of standard output
  --server URL      the agentlog server (default ${DEFAULT_HTTP_SERVER}; AGENTLOG_SERVER)
  --token TOKEN     a reader token (AGENTLOG_TOKEN)
  -h, --help        this text`

export interface ExportCommandOptions {
  agentId: string
  session: number | null
  after: number | null
  target: ServerTarget
}

function whole (value: string | undefined, name: string): number | null {
  if (value === undefined) return null
  if (!/^\d+$/.test(value)) throw new Error(`${name} must be a whole number, got ${JSON.stringify(value)}`)
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

export async function exportCommand (argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let options: ExportCommandOptions
  let output: string | undefined
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        agent: { type: 'string' },
        session: { type: 'string' },
        after: { type: 'string' },
        output: { type: 'string', short: 'o' },
        server: { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    })
    if (values.help === true) {
      process.stdout.write(EXPORT_USAGE + '\n')
      return 0
    }
    if (values.agent === undefined || values.agent.trim() === '') throw new Error('--agent ID is required')
    output = values.output
    options = {
      agentId: values.agent,
      session: whole(values.session, '--session'),
      after: whole(values.after, '--after'),
      target: { base: httpBase(values.server ?? env.AGENTLOG_SERVER ?? DEFAULT_HTTP_SERVER), token: values.token ?? env.AGENTLOG_TOKEN ?? null }
    }
  } catch (err) {
    process.stderr.write(`agentlog export: ${(err as Error).message}\n\n${EXPORT_USAGE}\n`)
    return 2
  }
  try {
    await runExport(options, output === undefined ? process.stdout : createWriteStream(output))
    return 0
  } catch (err) {
    process.stderr.write(`agentlog export: ${(err as Error).message}\n`)
    return 1
  }
}
