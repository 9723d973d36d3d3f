import { test } from 'tap'
import { SseParser } from '../../web/src/sse-parser.js'

test('messages split across chunks at any point come out whole', async (t) => {
  const text = ': agentlog\n\nid: 4\nevent: output\ndata: {"seq":4}\n\nevent: caught_up\ndata: {"latest_seq":4}\n\n: heartbeat\n\n'
  for (let cut = 0; cut <= text.length; cut++) {
    const parser = new SseParser()
    const got = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))]
    t.same(got, [
      { id: '4', event: 'output', data: '{"seq":4}' },
      { id: null, event: 'caught_up', data: '{"latest_seq":4}' }
    ], `cut at ${cut}`)
  }
})

test('CRLF line ends, multi-line data, a field without a space, an unnamed event', async (t) => {
  const parser = new SseParser()
  t.same(parser.push('id:7\r\ndata: a\r\ndata: b\r\n\r\ndata: plain\n\n'), [
    { id: '7', event: 'message', data: 'a\nb' },
    { id: null, event: 'message', data: 'plain' }
  ])
})

test('a message is only complete at its blank line', async (t) => {
  const parser = new SseParser()
  t.same(parser.push('id: 1\nevent: output\ndata: {}\n'), [])
  t.same(parser.push('\n'), [{ id: '1', event: 'output', data: '{}' }])
})
