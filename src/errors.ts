// Errors the routes throw; the app's error handler (plugins/errors.ts) turns them into `{ error, message, code }`
// bodies with their status. `code` is a stable snake_case identifier clients branch on; `message` is for people.
//
// Every code a response can carry is listed in ERROR_CODES, which the README table and the OpenAPI document are
// made from: a new code is one new line here (httpError() does not take a code that is not listed).

import { STATUS_CODES } from 'node:http'

export const ERROR_CODES = {
  bad_parameter: { status: 400, meaning: 'a path, query, header or body value has the wrong form (the message names it and the accepted form)' },
  unknown_parameter: { status: 400, meaning: 'a query parameter or body property the route does not take (a typo is never ignored)' },
  invalid_json: { status: 400, meaning: 'the body is not valid JSON' },
  forbidden_key: { status: 400, meaning: 'the body has a `__proto__` or `constructor.prototype` key' },
  invalid_gzip: { status: 400, meaning: 'a body sent with Content-Encoding gzip that does not decompress' },
  invalid_line: { status: 400, meaning: 'a line of an uploaded export that is not what an export holds (the message names the line)' },
  bad_query: { status: 400, meaning: 'a search query that cannot be parsed (the message says where)' },
  bad_cursor: { status: 400, meaning: 'a search cursor that does not belong to this query and these filters' },
  cwd_not_allowed: { status: 400, meaning: 'the directory is outside every root of the runner (after resolving symlinks), or does not exist' },
  not_a_repository: { status: 400, meaning: 'a worktree was asked for, but the directory is not in a git repository' },
  base_not_found: { status: 400, meaning: 'the worktree\'s base ref does not exist in the repository' },
  bad_request: { status: 400, meaning: 'any other malformed request' },
  unauthorized: { status: 401, meaning: 'no token, an unknown token, or a malformed Authorization header' },
  forbidden: { status: 403, meaning: 'the token\'s role does not allow this request' },
  route_not_found: { status: 404, meaning: 'no route for this method and path' },
  agent_not_found: { status: 404, meaning: 'no agent with this id has ever connected' },
  approval_not_found: { status: 404, meaning: 'no such pending permission request for this agent' },
  rule_not_found: { status: 404, meaning: 'no such remembered approval rule for this agent' },
  runner_not_found: { status: 404, meaning: 'no runner with this name has ever connected' },
  not_found: { status: 404, meaning: 'something else the request names does not exist' },
  agent_not_connected: { status: 409, meaning: 'the command needs the agent to be connected, and it is not' },
  already_decided: { status: 409, meaning: 'the permission request was already decided or cancelled (the body says how)' },
  agent_connected_elsewhere: { status: 409, meaning: 'the agent is connected to another instance; send the request there' },
  position_mismatch: { status: 409, meaning: 'a transcript upload\'s offset is not where the stored file stands' },
  runner_not_connected: { status: 409, meaning: 'the runner is known but not connected now' },
  agent_running: { status: 409, meaning: 'the agent already runs (connected, or being started by a runner)' },
  not_started_by_runner: { status: 409, meaning: 'the agent does not run under a runner, so the server cannot stop it' },
  no_session: { status: 409, meaning: 'there is no Claude session to resume: the agent never reported one, and no transcript of it was imported' },
  worktree_exists: { status: 409, meaning: 'a worktree of that name already exists in the repository' },
  worktree_dirty: { status: 409, meaning: 'the worktree has uncommitted changes: it was kept (commit or discard them, then ask again)' },
  conflict: { status: 409, meaning: 'the request conflicts with the current state' },
  request_in_progress: { status: 409, meaning: 'a request with the same Idempotency-Key is being carried out; ask again (Retry-After) for its answer' },
  payload_too_large: { status: 413, meaning: 'the body is over the limit (1 MiB)' },
  unsupported_media_type: { status: 415, meaning: 'a body whose content type the route does not take' },
  unsupported_encoding: { status: 415, meaning: 'a Content-Encoding other than gzip' },
  agent_refused: { status: 422, meaning: 'the agent answered the control command with an error' },
  idempotency_key_reused: { status: 422, meaning: 'the Idempotency-Key was used within 24 hours for another request (another route, agent or body)' },
  method_not_allowed: { status: 405, meaning: 'GET or DELETE on /mcp: the MCP endpoint is stateless and takes POST only' },
  not_acceptable: { status: 406, meaning: 'POST /mcp whose Accept does not name both application/json and text/event-stream (as MCP clients send)' },
  upgrade_required: { status: 426, meaning: 'a plain GET on a WebSocket route' },
  uri_too_long: { status: 414, meaning: 'a path parameter longer than the router takes (256 characters)' },
  rate_limited: { status: 429, meaning: 'too many operator requests in the window (see Retry-After)' },
  cli_failed: { status: 502, meaning: 'the runner could not get the agent\'s Claude Code CLI up (the message holds its last stderr lines)' },
  worktree_failed: { status: 502, meaning: 'git could not create or remove the worktree (the message says why)' },
  runner_timeout: { status: 504, meaning: 'the runner did not answer within RUNNER_START_TIMEOUT_MS (start) or the stop grace' },
  event_refused: { status: 500, meaning: 'the database refused the events this request makes while it took other writes (the server log has its error); nothing of it was stored' },
  internal: { status: 500, meaning: 'a fault in the server; the details are in the server log, never in the response' },
  write_timeout: { status: 503, meaning: 'the event log did not commit in time: the storage is failing or overloaded' },
  not_implemented: { status: 501, meaning: 'another instance asked for a command this instance does not know (mixed versions)' },
  agent_busy: { status: 503, meaning: 'the agent is still held by another instance; retry' },
  owner_unavailable: { status: 503, meaning: 'the instance that owns the agent did not answer in time; retry' },
  viewer_not_built: { status: 503, meaning: 'the web viewer\'s files are not built (npm run build)' },
  shutting_down: { status: 503, meaning: 'the server is shutting down; retry against the next instance' },
  unavailable: { status: 503, meaning: 'the server cannot serve this now' }
} as const satisfies Record<string, { status: number, meaning: string }>

export type ErrorCode = keyof typeof ERROR_CODES

export type HttpError = Error & { statusCode: number, code: ErrorCode }

/** An error answer's body: the status text, the message for people, the code for programs. */
export function errorBody (err: { statusCode: number, message: string, code: string }): { error: string, message: string, code: string } {
  return { error: STATUS_CODES[err.statusCode] ?? 'Error', message: err.message, code: err.code }
}

/** The code an error of this status carries when nothing more precise is known. */
const DEFAULT_CODES: Record<number, ErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  426: 'upgrade_required',
  429: 'rate_limited',
  503: 'unavailable'
}

export function defaultCode (statusCode: number): ErrorCode {
  return DEFAULT_CODES[statusCode] ?? (statusCode >= 500 ? 'internal' : 'bad_request')
}

/** A code read from another instance's answer: passed on when it is one of ours, else the status's own. */
export function errorCode (code: unknown, statusCode: number): ErrorCode {
  return isErrorCode(code) ? code : defaultCode(statusCode)
}

export function isErrorCode (code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code)
}

export function httpError (statusCode: number, message: string, code: ErrorCode = defaultCode(statusCode)): HttpError {
  return Object.assign(new Error(message), { statusCode, code })
}

export function agentNotFound (agentId: string): HttpError {
  return httpError(404, `agent ${JSON.stringify(agentId)} is not known`, 'agent_not_found')
}

export function agentNotConnected (agentId: string): HttpError {
  return httpError(409, `agent ${JSON.stringify(agentId)} is not connected`, 'agent_not_connected')
}
