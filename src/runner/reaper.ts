// The runner's reaper: a small child process (forked with an IPC channel) that outlives the runner. The runner
// tells it each CLI's process group; when the channel closes without a goodbye (the runner died, even by kill -9) it
// ends them: SIGTERM, then SIGKILL 3 s later. It ignores the signals a terminal or systemd send the group.
const KILL_AFTER_MS = 3000

const groups = new Set<number>()

function signalAll (signal: NodeJS.Signals): void {
  for (const pgid of groups) {
    try { process.kill(-pgid, signal) } catch {}
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {})

process.on('message', (message: { add?: number, remove?: number, bye?: boolean }) => {
  if (typeof message.add === 'number') groups.add(message.add)
  if (typeof message.remove === 'number') groups.delete(message.remove)
  if (message.bye === true) groups.clear()
})

process.on('disconnect', () => {
  if (groups.size === 0) process.exit(0)
  signalAll('SIGTERM')
  setTimeout(() => {
    signalAll('SIGKILL')
    process.exit(0)
  }, KILL_AFTER_MS)
})
