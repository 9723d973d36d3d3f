// Secrets in agent output are masked before they are stored: the default key shapes, custom patterns, and the
// path through the socket and the operator's prompt.
import { test } from 'tap'
import { build, collect, sync, line, walk, assistantText, uuid } from './helper.js'
import { createRedactor, DEFAULT_REDACT_PATTERNS, REDACTED } from '../src/redact.js'
import { loadConfig } from '../src/config.js'
import type { EventDraft } from '../src/protocol/messages.js'

// made-up credentials in each provider's shape
const SECRETS: Record<string, string> = {
  anthropic: 'sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-AbCdEfGhIjKlMnOpQrStUvWxYz-0123456789AA',
  openai: 'sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90Uv12',
  openaiLegacy: 'sk-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90Uv12Wx',
  awsKeyId: 'AKIAIOSFODNN7EXAMPLE',
  github: 'ghp_16C7e42F292c6912E7710c838347Ae178B4a',
  githubFineGrained: 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOP',
  slack: 'xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
  google: 'AIzaSyA1234567890abcdefghijklmnopqrstuv',
  stripe: 'sk_live_51H8abcdefghijklmnopqrstuvwx',
  npm: 'npm_abcdefghijklmnopqrstuvwxyz0123456789'
}

const PRIVATE_KEY = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7bq...\nq3Vz0w==\n-----END RSA PRIVATE KEY-----'

const redact = createRedactor(DEFAULT_REDACT_PATTERNS) as NonNullable<ReturnType<typeof createRedactor>>

function text (content: string): EventDraft {
  return { event_type: 'output', content, metadata: { uuid: 'u-1' } }
}

test('each default shape is masked where it appears, the text around it is kept', async (t) => {
  for (const [name, secret] of Object.entries(SECRETS)) {
    const out = redact(text(`export KEY=${secret} # ${name}`))
    t.equal(out.content, `export KEY=${REDACTED} # ${name}`, name)
    t.equal(out.metadata?.redacted, true)
  }
  t.equal(redact(text('aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).content, `aws_secret_access_key = ${REDACTED}`)
  t.equal(redact(text('curl -H "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig" https://x')).content,
    `curl -H "Authorization: Bearer ${REDACTED}" https://x`, 'a bearer token, keeping the word Bearer')
  t.equal(redact(text(`key file:\n${PRIVATE_KEY}\ndone`)).content, `key file:\n${REDACTED}\ndone`, 'a whole private key block')
  t.equal(redact(text(`${SECRETS.github} and ${SECRETS.slack}`)).content, `${REDACTED} and ${REDACTED}`, 'every occurrence')
  const unterminated = '-----BEGIN PRIVATE KEY-----\n'.repeat(3)
  t.equal(redact(text(unterminated + PRIVATE_KEY)).content, unterminated + REDACTED, 'a block is the shortest BEGIN..END; stray BEGIN lines stay')
})

test('ordinary text and code are left alone, and the draft is returned as it was', async (t) => {
  const ordinary = [
    'The task-description lists sk-learn as a dependency.',
    'commit 3f786850e387550fdab836ed7e6dc881de23001b',
    'id 123e4567-e89b-12d3-a456-426614174000',
    'const token = process.env.GITHUB_TOKEN // read at start-up',
    'The bearer of this note is welcome.',
    'Authorization: Bearer short',
    '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----',
    'AKIA is how AWS key ids start'
  ]
  for (const content of ordinary) {
    const draft = text(content)
    t.equal(redact(draft), draft, JSON.stringify(content.slice(0, 40)))
  }
  const noContent: EventDraft = { event_type: 'activity_changed', content: null, metadata: null }
  t.equal(redact(noContent), noContent)
})

test('metadata strings are masked at any depth, without changing the draft the writer holds', async (t) => {
  const input = { command: `curl -H 'x-api-key: ${SECRETS.anthropic}' https://api.anthropic.com`, env: [{ name: 'A', value: SECRETS.awsKeyId }], n: 5, ok: true, nothing: null }
  const draft: EventDraft = { event_type: 'tool_use', content: 'Bash', metadata: { name: 'Bash', input, uuid: 'u-2' } }
  const before = JSON.stringify(draft)
  const out = redact(draft)
  t.equal(JSON.stringify(draft), before, 'the original draft is untouched (a retried batch builds it again)')
  t.equal(out.content, 'Bash')
  t.same(out.metadata, {
    name: 'Bash',
    input: { command: `curl -H 'x-api-key: ${REDACTED}' https://api.anthropic.com`, env: [{ name: 'A', value: REDACTED }], n: 5, ok: true, nothing: null },
    uuid: 'u-2',
    redacted: true
  })

  // iterative: a very deep tree neither overflows the stack nor loses its secret
  let deep: Record<string, unknown> = { secret: SECRETS.github }
  for (let i = 0; i < 100000; i++) deep = { d: deep }
  const deepOut = redact({ event_type: 'tool_use', content: 'X', metadata: { input: deep } })
  let node = deepOut.metadata?.input as Record<string, unknown>
  while (node.d !== undefined) node = node.d as Record<string, unknown>
  t.equal(node.secret, REDACTED)
})

test('REDACT_PATTERNS adds patterns, REDACT_DEFAULTS=0 drops the built-in ones, bad patterns are refused', async (t) => {
  const custom = createRedactor(loadConfig({ REDACT_PATTERNS: 'internal-[0-9]{6} corp_[a-z]+_key' }).redactPatterns)
  t.equal(custom?.(text(`internal-123456 corp_billing_key ${SECRETS.anthropic}`)).content, `${REDACTED} ${REDACTED} ${REDACTED}`)

  const onlyCustom = createRedactor(loadConfig({ REDACT_DEFAULTS: '0', REDACT_PATTERNS: 'internal-[0-9]{6}' }).redactPatterns)
  t.equal(onlyCustom?.(text(`internal-123456 ${SECRETS.anthropic}`)).content, `${REDACTED} ${SECRETS.anthropic}`)

  t.equal(createRedactor(loadConfig({ REDACT_DEFAULTS: '0' }).redactPatterns), null, 'nothing to look for: no redaction pass at all')

  t.throws(() => loadConfig({ REDACT_PATTERNS: 'ok-[0-9]+ broken-(' }), { name: 'ConfigError', message: /^REDACT_PATTERNS: "broken-\(" is not a valid regular expression/ })
  t.throws(() => loadConfig({ REDACT_PATTERNS: 'a*' }), { name: 'ConfigError', message: /^REDACT_PATTERNS: "a\*" matches the empty string/ })
  t.throws(() => loadConfig({ REDACT_DEFAULTS: 'off' }), { name: 'ConfigError', message: /^REDACT_DEFAULTS/ })
})

test('through the socket: output, tool input, tool result and result are stored masked and flagged', async (t) => {
  const app = await build(t, { env: { REDACT_PATTERNS: 'internal-[0-9]{6}' } })
  const ws = await app.injectWS('/ws/leaky')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(line(assistantText(`Found ANTHROPIC_API_KEY=${SECRETS.anthropic} in .env`)))
  ws.send(line({
    type: 'assistant',
    message: { id: 'msg_tool', role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: `gh auth login --with-token <<< ${SECRETS.github}` } }] },
    session_id: 'sess-1',
    uuid: uuid()
  }))
  ws.send(line({
    type: 'user',
    message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: `cat id_rsa\n${PRIVATE_KEY}` }] }] },
    session_id: 'sess-1',
    uuid: uuid()
  }))
  ws.send(line(assistantText('Nothing secret here, ticket internal-12345 is too short to match.')))
  ws.send(line({ type: 'result', subtype: 'success', is_error: false, result: 'Rotated internal-654321', session_id: 'sess-1', total_cost_usd: 0.01, uuid: uuid() }))
  await sync(app, ws, inbox)

  const [output, use, result, clean, done] = await walk(app, 'leaky')
  t.equal(output.content, `Found ANTHROPIC_API_KEY=${REDACTED} in .env`)
  t.equal(output.metadata.redacted, true)
  t.equal(use.metadata.input.command, `gh auth login --with-token <<< ${REDACTED}`)
  t.equal(use.metadata.redacted, true)
  t.equal(result.content, `cat id_rsa\n${REDACTED}`)
  t.equal(result.metadata.redacted, true)
  t.equal(clean.content, 'Nothing secret here, ticket internal-12345 is too short to match.')
  t.notOk('redacted' in clean.metadata, 'events without secrets carry no flag')
  t.equal(done.content, `Rotated ${REDACTED}`)
  t.match(done.metadata, { redacted: true, cost_usd: 0.01 })

  // the operator's prompt is an event like any other
  const res = await app.inject({ method: 'POST', url: '/agents/leaky/messages', payload: { content: `use ${SECRETS.openai} for this` } })
  t.equal(res.statusCode, 202)
  const prompt = res.json().events[0]
  t.equal(prompt.event_type, 'prompt_sent')
  t.equal(prompt.content, `use ${REDACTED} for this`, 'the stored prompt is masked')
  t.same(prompt.metadata, { redacted: true })
  const sent = await inbox.next(m => m.type === 'user')
  t.equal(sent.message.content, `use ${SECRETS.openai} for this`, 'the agent still gets the prompt as written')

  const stored = JSON.stringify(await walk(app, 'leaky'))
  for (const secret of [SECRETS.anthropic, SECRETS.github, SECRETS.openai, 'MIIEpAIBAAKCAQEA7bq', 'internal-654321']) {
    t.notOk(stored.includes(secret), `${secret.slice(0, 12)}… is nowhere in the history`)
  }
})
