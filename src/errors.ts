// Errors the routes throw; the app's error handler turns them into `{ error, message, code }` bodies with their
// status. `code` is a stable snake_case identifier clients branch on; `message` is for people.

export type HttpError = Error & { statusCode: number, code: string }

const DEFAULT_CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'payload_too_large',
  426: 'upgrade_required',
  429: 'rate_limited',
  503: 'unavailable'
}

export function httpError (statusCode: number, message: string, code: string = DEFAULT_CODES[statusCode] ?? 'error'): HttpError {
  return Object.assign(new Error(message), { statusCode, code })
}

export function agentNotFound (agentId: string): HttpError {
  return httpError(404, `agent ${JSON.stringify(agentId)} is not known`, 'agent_not_found')
}

export function agentNotConnected (agentId: string): HttpError {
  return httpError(409, `agent ${JSON.stringify(agentId)} is not connected`, 'agent_not_connected')
}
