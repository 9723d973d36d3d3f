// The options `agentlog connect`, `import` and `export` read the same way: the server (--server, AGENTLOG_SERVER)
// and the token (--token, --token-file, AGENTLOG_TOKEN).
import { resolve } from 'node:path'
import type { ArgsIo } from './args.js'
import { DEFAULT_HTTP_SERVER, httpBase, type ServerTarget } from './http.js'
import { UsageError } from './usage-error.js'

/** Their parseArgs entries, for each command's list of options. */
export const SERVER_OPTIONS = {
  server: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' }
} as const

/** What reading --token-file needs: a file is relative to cwd. */
export type TokenFileIo = Pick<ArgsIo, 'cwd' | 'readFile'>

export interface ServerOptionValues {
  server?: string
  token?: string
  'token-file'?: string
}

export interface ServerOptions {
  /** As given; each command turns it into the URL it speaks (ws:// for connect, http:// for import and export). */
  server: string
  /** null: no Authorization header. */
  token: string | null
  /** The token was on the command line, where the process list shows it. */
  tokenFromArgv: boolean
}

function oneWord (token: string, from: string): string {
  if (token === '' || /\s/.test(token)) throw new UsageError(`the token ${from} must be one word (no spaces or line breaks)`)
  return token
}

/**
 * The server: --server, else AGENTLOG_SERVER, else the command's default. The token: --token or --token-file
 * (a file relative to the current directory; not both), else AGENTLOG_TOKEN; trimmed. An empty or blank
 * AGENTLOG_TOKEN means no token (an environment template may leave it empty); an empty --token or token file is
 * a mistake and a usage error.
 */
export function readServerOptions (values: ServerOptionValues, env: NodeJS.ProcessEnv, io: TokenFileIo, defaultServer: string): ServerOptions {
  const server = values.server ?? env.AGENTLOG_SERVER ?? defaultServer
  if (values.token !== undefined && values['token-file'] !== undefined) throw new UsageError('give --token or --token-file, not both')
  if (values.token !== undefined) return { server, token: oneWord(values.token.trim(), 'given with --token'), tokenFromArgv: true }
  if (values['token-file'] !== undefined) {
    const file = resolve(io.cwd, values['token-file'])
    let text: string
    try {
      text = io.readFile(file)
    } catch (err) {
      throw new UsageError(`cannot read --token-file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    return { server, token: oneWord(text.trim(), `in --token-file ${file}`), tokenFromArgv: false }
  }
  const fromEnv = env.AGENTLOG_TOKEN?.trim() ?? ''
  return { server, token: fromEnv === '' ? null : oneWord(fromEnv, 'in AGENTLOG_TOKEN'), tokenFromArgv: false }
}

/** `import` and `export`: the server's http(s):// base (the ws(s):// form connect takes works too) and the token. */
export function readHttpTarget (values: ServerOptionValues, env: NodeJS.ProcessEnv, io: TokenFileIo): ServerTarget {
  const { server, token } = readServerOptions(values, env, io, DEFAULT_HTTP_SERVER)
  try {
    return { base: httpBase(server), token }
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}
