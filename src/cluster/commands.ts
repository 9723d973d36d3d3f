// Operator commands for an agent another instance owns: written to instance_commands and carried to the owner
// by a notice; the owner runs the command (an executor the routes registered), writes its answer back and says
// so. The routes' side (errors thrown again as the owner gave them) is forward.ts.
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import { httpError, isErrorCode } from '../errors.js'
import type { Notice } from './notices.js'

/** An operator command's result, as the owner answered it. */
export interface CommandResult {
  status: number
  body: unknown
}

export type CommandExecutor = (agentId: string, body: unknown) => Promise<CommandResult>

/**
 * A command that threw, as the answer sent back, by the rule of the error handler (plugins/errors.ts): its own
 * 4xx/5xx status and code; the message of a 4xx, or of a 5xx thrown on purpose with a code of ours, goes back;
 * any other fault is a 500 (or its own 5xx) whose message stays in this instance's log.
 */
export function failedCommand (err: unknown): CommandResult {
  const e = err as { statusCode?: number, code?: string, message?: string }
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 600 ? e.statusCode : 500
  const code = typeof e.code === 'string' && /^[a-z_]+$/.test(e.code) ? e.code : 'internal'
  const meant = status < 500 || (isErrorCode(code) && code !== 'internal')
  return {
    status,
    body: {
      error: STATUS_CODES[status] ?? 'Error',
      message: meant ? String(e.message) : 'internal error; see the server log',
      code
    }
  }
}

export interface CommandsOptions {
  db: Kysely<Database>
  instanceId: string
  notify: (notice: Notice) => Promise<void>
  /** Whether this instance owns the agent (then its commands run here). */
  owns: (agentId: string) => boolean
  liveInstances: () => Promise<Set<string>>
  stats: { forwarded: number, served: number }
  log: FastifyBaseLogger
}

export function createCommands ({ db, instanceId, notify, owns, liveInstances, stats, log }: CommandsOptions) {
  const executors = new Map<string, CommandExecutor>()
  const replyWaiters = new Map<string, () => void>()

  /**
   * Where an operator command for the agent runs: null here (this instance owns the agent, or nobody alive
   * does), else the owner's answer.
   */
  async function route (agentId: string, kind: string, body: unknown, waitMs: number): Promise<CommandResult | null> {
    if (owns(agentId)) return null
    const row = await db.selectFrom('agents').select('owner_instance').where('agent_id', '=', agentId).executeTakeFirst()
    const owner = row?.owner_instance ?? null
    if (owner === null || owner === instanceId) return null
    if (!(await liveInstances()).has(owner)) return null
    return await forward(owner, agentId, kind, body, waitMs)
  }

  async function forward (target: string, agentId: string, kind: string, body: unknown, waitMs: number): Promise<CommandResult> {
    const id = randomUUID()
    stats.forwarded++
    await db.insertInto('instance_commands').values({
      id, target_instance: target, agent_id: agentId, request: JSON.stringify({ kind, body }), reply: null, created_at: new Date().toISOString()
    }).execute()
    let timer: NodeJS.Timeout | undefined
    try {
      const answered = new Promise<boolean>((resolve) => {
        replyWaiters.set(id, () => resolve(true))
        timer = setTimeout(() => resolve(false), waitMs)
      })
      await notify({ t: 'command', from: instanceId, to: target, id })
      const ok = await answered
      const row = await db.selectFrom('instance_commands').select('reply').where('id', '=', id).executeTakeFirst()
      if (!ok || row?.reply === null || row?.reply === undefined) {
        throw httpError(503, `the instance that owns agent ${JSON.stringify(agentId)} did not answer in time`, 'owner_unavailable')
      }
      return JSON.parse(row.reply) as CommandResult
    } finally {
      clearTimeout(timer)
      replyWaiters.delete(id)
      await db.deleteFrom('instance_commands').where('id', '=', id).execute().catch(() => {})
    }
  }

  /** Another instance forwarded a command here (instance_commands under this id): run it, answer the sender. */
  async function serve (id: string, from: string): Promise<void> {
    const row = await db.selectFrom('instance_commands').select(['agent_id', 'request']).where('id', '=', id).executeTakeFirst()
    if (row === undefined) return // the sender gave up
    const { kind, body } = JSON.parse(row.request) as { kind: string, body: unknown }
    const executor = executors.get(kind)
    let result: CommandResult
    try {
      if (executor === undefined) throw httpError(501, `command ${kind} is not known to this instance`, 'not_implemented')
      stats.served++
      result = await executor(row.agent_id, body)
    } catch (err) {
      result = failedCommand(err)
      if (result.status >= 500) log.error({ err, kind, agentId: row.agent_id }, 'forwarded command failed')
    }
    await db.updateTable('instance_commands').set({ reply: JSON.stringify(result) }).where('id', '=', id).execute()
    await notify({ t: 'reply', from: instanceId, to: from, id })
  }

  return {
    route,
    /** Sends a command to a named instance (a runner's, say) and returns its answer; 503 owner_unavailable after waitMs. */
    forward,
    serve,
    /** The owner's answer to a command sent from here is in instance_commands. */
    replied (id: string): void {
      replyWaiters.get(id)?.()
    },
    /** Registers what this instance does when another one forwards it a command of this kind. */
    serveCommand (kind: string, executor: CommandExecutor): void {
      executors.set(kind, executor)
    }
  }
}
