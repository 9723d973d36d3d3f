// A lean HTTP/1.1 client for latency: one keep-alive socket, a request written as bytes, the response read up to its
// Content-Length. Node's http client adds a millisecond or more to the tail on a 2-core machine; this measures the
// server, and a trivial route measured the same way gives the floor beside it.
import net from 'node:net'

export interface Probe {
  /** Status and body length of one GET, after the whole response has arrived. */
  get: (path: string) => Promise<{ status: number, bytes: number, body: Buffer }>
  close: () => void
}

export async function openProbe (port: number): Promise<Probe> {
  const socket = net.connect(port, '127.0.0.1')
  socket.setNoDelay(true)
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  let chunks: Buffer[] = []
  let got = 0
  let want = -1
  let headEnd = -1
  let done: ((r: { status: number, bytes: number, body: Buffer }) => void) | null = null
  let failed: ((err: Error) => void) | null = null
  socket.on('error', (err) => failed?.(err))
  socket.on('data', (data: Buffer) => {
    chunks.push(data)
    got += data.length
    if (want < 0) {
      const all = Buffer.concat(chunks)
      chunks = [all]
      headEnd = all.indexOf('\r\n\r\n')
      if (headEnd < 0) return
      const head = all.subarray(0, headEnd).toString('latin1')
      const length = /\r\ncontent-length: *(\d+)/i.exec(head)
      if (length === null) { failed?.(new Error(`no content-length: ${head.slice(0, 200)}`)); return }
      want = headEnd + 4 + Number(length[1])
    }
    if (got < want) return
    const all = Buffer.concat(chunks)
    const status = Number(all.subarray(9, 12).toString('latin1'))
    const body = all.subarray(headEnd + 4, want)
    chunks = []
    got = 0
    want = -1
    const finish = done
    done = null
    finish?.({ status, bytes: body.length, body })
  })
  return {
    get (path) {
      return new Promise((resolve, reject) => {
        done = resolve
        failed = reject
        socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n`)
      })
    },
    close () { socket.destroy() }
  }
}
