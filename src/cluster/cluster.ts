// Several instances on one PostgreSQL serving one fleet. PostgreSQL is the coordinator, and this file composes
// the parts on the instance's own connection (link.ts), which carries their notices (notices.ts):
// - ownership.ts: the instance an agent is connected to holds its lock and fences every write with its epoch;
//   a newer connection elsewhere asks the owner to close the old socket (4001), commit what it received, let go;
// - commits.ts: write transactions are committed in id order across instances and announce what they wrote;
// - presence.ts: where each agent is connected, and which instances are alive;
// - commands.ts: operator commands sent to another instance are carried to the owner through instance_commands.
import type { FastifyBaseLogger } from 'fastify'
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import type { Config } from '../config.js'
import type { EventStore, WriteHooks } from '../store/event-store.js'
import type { AgentHub } from '../agent-hub.js'
import { createCommands } from './commands.js'
import { createCommits } from './commits.js'
import { createLink } from './link.js'
import { encodeNotice, type Notice, noticeFor } from './notices.js'
import { createOwnership } from './ownership.js'
import { APP_PREFIX, createPresence } from './presence.js'

export type { CommandExecutor, CommandResult } from './commands.js'
export type { CommitNoticeListener } from './commits.js'
export { OwnershipLostError, type OwnershipListener } from './ownership.js'
export type { PresenceListener } from './presence.js'

export interface ClusterOptions {
  db: Kysely<Database>
  config: Config & { databaseUrl: string }
  log: FastifyBaseLogger
}

export function createCluster ({ db, config, log }: ClusterOptions) {
  const instanceId = config.instanceId
  const namespace = config.databaseSchema ?? 'public'
  const channel = `agentlog_${namespace}`
  let attached: { events: EventStore, hub: AgentHub } | null = null
  const stats = { handovers: 0, released: 0, fenced: 0, forwarded: 0, served: 0, reconnects: 0 }

  const link = createLink({
    url: config.databaseUrl,
    schema: config.databaseSchema,
    applicationName: APP_PREFIX + instanceId,
    channel,
    onNotice: (payload) => {
      const notice = noticeFor(payload, instanceId)
      if (notice === null) return
      handle(notice).catch((err: unknown) => log.error({ err, notice: notice.t }, 'instance notice failed'))
    },
    onUp: regain,
    onDown: () => { stats.reconnects++ },
    log
  })

  async function notify (notice: Notice): Promise<void> {
    // on the instance's own connection: notices from one instance arrive in the order it sent them
    await link.query('select pg_notify($1, $2)', [channel, encodeNotice(notice)])
  }

  function deps (): { events: EventStore, hub: AgentHub } {
    if (attached === null) throw new Error('cluster used before the event store and agent hub were attached')
    return attached
  }

  const ownership = createOwnership({ db, link, instanceId, namespace, notify, attached: deps, stats, log })
  const commits = createCommits({ instanceId, namespace, channel })
  const presence = createPresence({ db, link, instanceId, notify, log })
  const commands = createCommands({ db, instanceId, notify, owns: ownership.owns, liveInstances: presence.liveInstances, stats, log })

  async function handle (notice: Notice): Promise<void> {
    presence.heardFrom(notice.from)
    switch (notice.t) {
      case 'commit':
        commits.heard(notice)
        return
      case 'presence':
        presence.heard(notice)
        return
      case 'release':
        await ownership.release(notice.agent, notice.from)
        return
      case 'released':
        ownership.released(notice.agent)
        return
      case 'command':
        await commands.serve(notice.id, notice.from)
        return
      case 'reply':
        commands.replied(notice.id)
    }
  }

  /** After every (re)connection of the link. */
  async function regain (): Promise<void> {
    await ownership.regain()
    commits.missed()
    // other instances may have taken this one for dead meanwhile: say again where its agents are
    if (attached !== null) await presence.reannounce(attached.hub.ids(), ownership.owns)
  }

  const writeHooks: WriteHooks = {
    owns: ownership.owns,
    async begin (trx, agentIds) {
      await commits.begin(trx)
      await ownership.fence(trx, agentIds)
    },
    beforeCommit: commits.beforeCommit
  }

  async function start (store: EventStore, agents: AgentHub): Promise<void> {
    attached = { events: store, hub: agents }
    await link.start()
    await presence.start(agents)
  }

  async function close (): Promise<void> {
    ownership.close()
    await presence.close()
    await link.close()
  }

  return {
    instanceId,
    writeHooks,
    start,
    close,
    acquire: ownership.acquire,
    route: commands.route,
    /** A command for a named instance (the one holding a runner's socket), answered as it answered it. */
    forwardTo: commands.forward,
    owns: ownership.owns,
    /** Set just before each commit: valid in the store's commit listeners, which run right after it. */
    get lastLocalCommit () { return commits.lastLocalCommit },
    /** Registers what this instance does when another one forwards it a command of this kind. */
    serveCommand: commands.serveCommand,
    onCommitNotice: commits.onCommitNotice,
    onOwnership: ownership.onOwnership,
    onPresence: presence.onPresence,
    /** The instance holding the agent's socket, anywhere; null when it is connected nowhere. */
    locate: presence.locate,
    connectedAgents: presence.connectedAgents,
    liveInstances: presence.liveInstances,
    get linkUp () { return link.up },
    stats
  }
}

export type Cluster = ReturnType<typeof createCluster>
