// The dedupe window: the uuids of an agent's most recent stream-json lines, kept in memory and bounded.
//
// A re-send only ever repeats recent lines (Claude Code 2.1.120 re-sends its buffer of unacknowledged lines on
// reconnect, `agentlog connect` its last few hundred), so exactly-once needs the recent uuids only, not an
// index over every line ever stored. The window is rebuilt from the tail of the log when the agent is loaded
// (each line's uuid is stored on its first event), so it survives a restart.

export class RecentLines {
  private readonly order: string[] = []
  private readonly set = new Set<string>()
  private head = 0

  constructor (readonly capacity: number, uuids: Iterable<string> = []) {
    for (const uuid of uuids) this.add(uuid)
  }

  has (uuid: string): boolean {
    return this.set.has(uuid)
  }

  get size (): number {
    return this.set.size
  }

  /** Remembers a uuid, forgetting the oldest one beyond the capacity. */
  add (uuid: string): void {
    if (this.capacity === 0 || this.set.has(uuid)) return
    this.set.add(uuid)
    this.order.push(uuid)
    if (this.set.size > this.capacity) {
      this.set.delete(this.order[this.head])
      this.head++
      // compact now and then instead of shifting on every add
      if (this.head > 1024 && this.head * 2 > this.order.length) {
        this.order.splice(0, this.head)
        this.head = 0
      }
    }
  }
}
