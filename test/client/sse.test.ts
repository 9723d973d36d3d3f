// The one SSE parser (src/client/sse.ts), used by the typed client, the viewer and the tests' stream readers.
import { test } from 'tap'
import { SseParser } from '../../src/client/sse.js'

test('messages split across chunks at any point come out whole', async (t) => {
  const text = ': agentlog\n\nid: 4\nevent: output\ndata: {"seq":4}\n\nevent: caught_up\ndata: {"latest_seq":4}\n\n: heartbeat\n\n'
  for (let cut = 0; cut <= text.length; cut++) {
    const comments: string[] = []
    const parser = new SseParser({ onComment: (c) => comments.push(c) })
    const got = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))]
    t.strictSame(got, [
      { event: 'output', data: '{"seq":4}', id: '4' },
      { event: 'caught_up', data: '{"latest_seq":4}', id: undefined }
    ], `cut at ${cut}`)
    t.strictSame(comments, ['agentlog', 'heartbeat'], `comments, cut at ${cut}`)
  }
})

test('CRLF line ends, multi-line data, a field without a space, an unnamed event', async (t) => {
  const parser = new SseParser()
  t.strictSame(parser.push('id:7\r\ndata: a\r\ndata: b\r\n\r\ndata: plain\n\n'), [
    { event: 'message', data: 'a\nb', id: '7' },
    { event: 'message', data: 'plain', id: undefined }
  ])
})

test('a message is only complete at its blank line; one without data is none', async (t) => {
  const parser = new SseParser()
  t.strictSame(parser.push('id: 1\nevent: output\ndata: {}\n'), [])
  t.strictSame(parser.push('\n'), [{ event: 'output', data: '{}', id: '1' }])
  t.strictSame(parser.push('id: 2\nevent: output\n\ndata: x\n\n'), [{ event: 'message', data: 'x', id: undefined }], 'nothing carries over a blank line')
})
