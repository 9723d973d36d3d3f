// SIGINT and SIGTERM sent to `agentlog connect` itself, handed on with how many of that kind came so far.

export function onStopSignals (handler: (signal: NodeJS.Signals, count: number) => void): () => void {
  const installed: Array<[NodeJS.Signals, () => void]> = []
  for (const signal of ['SIGINT', 'SIGTERM'] as NodeJS.Signals[]) {
    let count = 0
    const listener = (): void => { handler(signal, ++count) }
    process.on(signal, listener)
    installed.push([signal, listener])
  }
  return () => { for (const [signal, listener] of installed) process.off(signal, listener) }
}
