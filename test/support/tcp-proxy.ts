// A loopback TCP proxy that spreads connections over several backends in turn, skipping those that refuse:
// what a load balancer does in front of several instances, small enough for tests and benchmarks.
import net from 'node:net'

export interface Proxy {
  /** http://127.0.0.1:PORT */
  url: string
  wsUrl: string
  /** Which backend (index) each accepted connection went to, in order. */
  picks: number[]
  /** While on, new connections are closed at once (those already open carry on): a peer that cannot be reached. */
  refuseNew: (on: boolean) => void
  /** New connections go to these backends from now on (a server restarted on another port). */
  retarget: (to: Array<{ host: string, port: number }>) => void
  close: () => Promise<void>
}

export async function startProxy (initial: Array<{ host: string, port: number }>): Promise<Proxy> {
  let backends = initial
  let next = 0
  const picks: number[] = []
  const sockets = new Set<net.Socket>()
  let refusing = false
  const server = net.createServer((client) => {
    if (refusing) { client.destroy(); return }
    sockets.add(client)
    client.on('close', () => sockets.delete(client))
    client.on('error', () => {})
    client.pause()
    const tryBackend = (attempt: number): void => {
      if (attempt >= backends.length) { client.destroy(); return }
      const index = next++ % backends.length
      const upstream = net.connect(backends[index])
      sockets.add(upstream)
      upstream.on('close', () => sockets.delete(upstream))
      let connected = false
      upstream.on('error', () => {
        upstream.destroy()
        // refused (a dead instance): the next one takes the connection
        if (!connected) tryBackend(attempt + 1)
        else client.destroy()
      })
      upstream.once('connect', () => {
        connected = true
        picks.push(index)
        client.on('close', () => upstream.destroy())
        upstream.on('close', () => client.destroy())
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      })
    }
    tryBackend(0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as net.AddressInfo
  const url = `http://127.0.0.1:${address.port}`
  return {
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    picks,
    refuseNew (on: boolean) { refusing = on },
    retarget (to) { backends = to },
    async close () {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
