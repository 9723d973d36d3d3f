// Errors the routes throw; the app's error handler turns them into `{ error, message }` bodies with their status.

export function httpError (statusCode: number, message: string): Error & { statusCode: number } {
  return Object.assign(new Error(message), { statusCode })
}

export function agentNotFound (agentId: string): Error & { statusCode: number } {
  return httpError(404, `agent ${JSON.stringify(agentId)} is not known`)
}

export function agentNotConnected (agentId: string): Error & { statusCode: number } {
  return httpError(409, `agent ${JSON.stringify(agentId)} is not connected`)
}
