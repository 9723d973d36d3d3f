// Several instances: which commits are known here, so the global followers (by id) are handed a commit only when
// every commit before it is known. Each commit carries the highest id committed before it (`prev`) and its own
// highest (`max`), see src/cluster/cluster.ts; commits become known out of order (notices from other instances
// arrive late), so those that follow one not known yet are held until the gap closes.
export class KnownCommits {
  /** Commits known here that follow one not known yet: previous highest id → their highest id. */
  private readonly held = new Map<number, number>()

  /** Every event with an id up to `through` was committed in a commit known here (announced or our own). */
  constructor (public through = 0) {}

  /** Records a commit; true when every commit before it was already known. */
  record (prev: number, max: number): boolean {
    if (prev > this.through) {
      this.held.set(prev, Math.max(this.held.get(prev) ?? 0, max))
      return false
    }
    this.through = Math.max(this.through, max)
    for (let progressed = true; progressed;) {
      progressed = false
      for (const [p, m] of this.held) {
        if (p > this.through) continue
        this.through = Math.max(this.through, m)
        this.held.delete(p)
        progressed = true
      }
    }
    return true
  }

  /** Notices may have been missed and everyone reads from the database, which has every commit: none is held. */
  settle (): void {
    for (const m of this.held.values()) this.through = Math.max(this.through, m)
    this.held.clear()
  }
}
