// Secrets in agent output are masked before they are stored: the default key shapes and their near-misses, hostile
// input, custom patterns, the path through the socket and the operator's prompt, and every way a secret could come
// back out (history, search, export, approvals and their webhook).
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'tap'
import { build, collect, sync, searchable, line, walk, assistantText, uuid, type TestContext } from './helper.js'
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

// made-up secrets of the kinds below, in their real shapes
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'
const OPENSSH_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\n' +
  'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n' +
  'QyNTUxOQAAACDqDMGCDnHVZjGxpvDbBRF3dQ0eXYN8Mkc5p5vyRZtwFwAAAJh0Uc9SdFHP\n' +
  'UgAAAAtzc2gtZWQyNTUxOQAAACDqDMGCDnHVZjGxpvDbBRF3dQ0eXYN8Mkc5p5vyRZtwFw\n' +
  '-----END OPENSSH PRIVATE KEY-----'
const block = (label: string, body: string, eol = '\n'): string => [`-----BEGIN ${label}-----`, ...body.split('\n'), `-----END ${label}-----`].join(eol)

/** One row per kind: lines holding a secret, with what they are stored as; and near-misses, stored as they are. */
const KINDS: Array<{ kind: string, masked: Array<[string, string]>, unchanged: string[] }> = [
  {
    kind: 'credentials in a URL',
    masked: [
      ['git clone https://deploy:s3cr3t-Pa55@git.example.com/team/app.git', `git clone https://${REDACTED}@git.example.com/team/app.git`],
      ['DATABASE_URL=postgres://app:p@ss:w0rd@db.internal:5432/app', `DATABASE_URL=postgres://${REDACTED}@db.internal:5432/app`],
      ['REDIS_URL="redis://:hunter2@cache:6379/0"', `REDIS_URL="redis://${REDACTED}@cache:6379/0"`]
    ],
    unchanged: [
      'open https://user@example.com/path',
      'git remote add origin ssh://git@github.com/org/repo.git',
      'http://localhost:5432/db?contact=ops@example.com',
      'git@github.com:org/repo.git',
      'https://example.com:8443/users/a:b@c',
      '{"url":"http://example.com:80","mail":"ops@example.com"}'
    ]
  },
  {
    kind: 'GitLab personal access token',
    masked: [
      ['GITLAB_TOKEN=glpat-Xk3v9Qw2LmN8pR5tY7zA', `GITLAB_TOKEN=${REDACTED}`],
      ['PRIVATE-TOKEN: glpat-8Wn5v9ZxiqT9rXZS6o2Ks286MQp1OjEH.01.0w1b8xbqm (routable)', `PRIVATE-TOKEN: ${REDACTED} (routable)`]
    ],
    unchanged: ['tokens look like glpat-xxxxxxxx', 'the glpat- prefix marks personal access tokens']
  },
  {
    kind: 'Hugging Face token',
    masked: [['HF_TOKEN=hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh', `HF_TOKEN=${REDACTED}`]],
    unchanged: ['the shelf_life of a model', 'from huggingface_hub import hf_hub_download', 'self.hf_config = load_hf_config_from_pretrained_checkpoint()']
  },
  {
    kind: 'Slack token',
    masked: [
      ['SLACK_BOT_TOKEN=xoxb-123-456-abc', `SLACK_BOT_TOKEN=${REDACTED}`],
      ['xoxe.xoxp-1-Mi0yLTU0NjI4ODQ1NjEyMi01NDYyODg0NTYxMjItMTIzNDU2Nzg5MDEyMy1hYmNkZWY rotated', `${REDACTED} rotated`],
      ['refresh_token=xoxe-1-My0xLTU0NjI4ODQ1NjEyMi0xMjM0NTY3ODkwMTIzLWFiY2RlZg', `refresh_token=${REDACTED}`],
      ['xoxp-5462884561-5462884561-1234567890123-0123456789abcdef0123456789abcdef', REDACTED]
    ],
    unchanged: ['xoxo-hugs-and-kisses-from-the-team', 'bot tokens start with xoxb- and user tokens with xoxp-']
  },
  {
    kind: 'Google API key',
    masked: [['https://maps.googleapis.com/maps/api/geocode/json?key=AIzaSyB7kR2mQ9xW4pL6nT3vJ8cH1dF5gZ0aE2s', `https://maps.googleapis.com/maps/api/geocode/json?key=${REDACTED}`]],
    unchanged: ['Google API keys start with AIza and are 39 characters long', 'AIzaSyTooShort']
  },
  {
    kind: 'npm token',
    masked: [['//registry.npmjs.org/:_authToken=npm_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa', `//registry.npmjs.org/:_authToken=${REDACTED}`]],
    unchanged: ['npm_config_cache=/home/dev/.npm', 'echo $npm_package_version $npm_lifecycle_event']
  },
  {
    kind: 'JSON Web Token',
    masked: [
      [`Set-Cookie: session=${JWT}; Path=/; HttpOnly`, `Set-Cookie: session=${REDACTED}; Path=/; HttpOnly`],
      [`{"id_token":"${JWT}"}`, `{"id_token":"${REDACTED}"}`]
    ],
    unchanged: [
      'header.payload without a signature: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.',
      'echo eyJmb28iOiJiYXIifQ== | base64 -d',
      'eyJhbGciOiJIUzI1NiJ9.bm90LWpzb24.c2ln is not a JWT: its payload is not JSON'
    ]
  },
  {
    kind: 'private key block',
    masked: [
      [`$ cat ~/.ssh/id_ed25519\n${OPENSSH_KEY}\n$`, `$ cat ~/.ssh/id_ed25519\n${REDACTED}\n$`],
      [block('EC PRIVATE KEY', 'MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oR1+yWBFn5sOoAoGCCqGSM49\nAwEHoUQDQgAE7bq2'), REDACTED],
      [block('ENCRYPTED PRIVATE KEY', 'MIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI3+FrUBMHiJ8CAggA\nMAwGCCqGSIb3DQIJBQAw'), REDACTED],
      [block('RSA PRIVATE KEY', 'Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,2AF25325A9B286F4CBD8D6F0A6F5E5A1\n\nMIIEpQIBAAKCAQEA3Tz2'), REDACTED],
      [block('PRIVATE KEY', 'MC4CAQAwBQYDK2VwBCIEIKs2\nq3Vz0w==', '\r\n'), REDACTED],
      [block('PGP PRIVATE KEY BLOCK', '\nlQOYBGF3kOQBCADH5cO0V0PqQ0z7\n=J3Kx'), REDACTED]
    ],
    unchanged: [
      block('CERTIFICATE', 'MIIBszCCAVmgAwIBAgIUQ1Yx\nq3Vz0w=='),
      block('PGP PUBLIC KEY BLOCK', '\nmQENBGF3kOQBCADH5cO0V0PqQ0z7\n=J3Kx'),
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOoMwYIOcdVmMbGm8NsFEXd1DR5dg3wyRzmnm/JFm3AX dev@laptop',
      "if (pem.startsWith('-----BEGIN PRIVATE KEY-----')) return 'pkcs8'"
    ]
  }
]

test('each kind: a real shape is masked with the text around it kept, a near-miss is left alone', async (t) => {
  for (const { kind, masked, unchanged } of KINDS) {
    t.test(kind, async (t) => {
      for (const [content, expected] of masked) {
        const out = redact(text(content))
        t.equal(out.content, expected, JSON.stringify(content.slice(0, 50)))
        t.equal(out.metadata?.redacted, true)
      }
      for (const content of unchanged) {
        const draft = text(content)
        t.equal(redact(draft), draft, `unchanged: ${JSON.stringify(content.slice(0, 50))}`)
      }
    })
  }
})

test('a megabyte of almost-secrets costs one pass: hostile input is redacted in bounded time', async (t) => {
  const MB = 1 << 20
  const fill = (unit: string): string => unit.repeat(Math.ceil(MB / unit.length))
  const hostile: Record<string, string> = {
    'eyJa.': fill('eyJa.'),
    // every "eyJ" after a '-' may start a token: a header scanning on to the end of the run for each would be quadratic
    'eyJa-': fill('eyJa-'),
    'https://a:': fill('https://a:'),
    'https://a:@': fill('https://a:@'),
    'https:// then a:': 'https://' + fill('a:'),
    'xoxb-1-': fill('xoxb-1-'),
    'glpat-': fill('glpat-'),
    'Bearer ': fill('Bearer '),
    'BEGIN lines': fill('-----BEGIN OPENSSH PRIVATE KEY-----\n')
  }
  const tail = ` ${JWT} https://a:b@host`
  for (const [name, content] of Object.entries(hostile)) {
    const started = performance.now()
    const out = redact(text(content + tail))
    const ms = performance.now() - started
    t.ok(ms < 2000, `${name}: ${Math.round(ms)} ms for ${content.length} characters`)
    t.ok(out.content?.endsWith(` ${REDACTED} https://${REDACTED}@host`), `${name}: the secrets after it are masked`)
  }
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

/** A local APPROVAL_WEBHOOK_URL: the bodies POSTed to it, in the order they arrive. */
async function webhook (t: TestContext): Promise<{ url: string, next: () => Promise<any> }> {
  const bodies: any[] = []
  const waiting: Array<(body: any) => void> = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      res.writeHead(200).end()
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      const waiter = waiting.shift()
      if (waiter === undefined) bodies.push(body)
      else waiter(body)
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    next: () => bodies.length > 0 ? Promise.resolve(bodies.shift()) : new Promise(resolve => waiting.push(resolve))
  }
}

test('a line full of secrets is masked everywhere it comes out: history, search, export, approvals and their webhook', async (t) => {
  const leaked = {
    url: 'postgres://app:Hunter2Secret@db.internal:5432/app',
    gitlab: 'glpat-Xk3v9Qw2LmN8pR5tY7zA',
    huggingFace: 'hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh',
    slack: 'xoxe.xoxp-1-Mi0yLTU0NjI4ODQ1NjEyMi01NDYyODg0NTYxMjItMTIzNDU2Nzg5MDEyMy1hYmNkZWY',
    google: 'AIzaSyB7kR2mQ9xW4pL6nT3vJ8cH1dF5gZ0aE2s',
    npm: 'npm_Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa',
    jwt: JWT,
    key: OPENSSH_KEY
  }
  // what must never come out: each secret, and each line of the key's body
  const secrets = [...Object.values(leaked).filter(s => s !== OPENSSH_KEY), 'Hunter2Secret', ...OPENSSH_KEY.split('\n').slice(1, -1)]
  const env = [
    `DATABASE_URL=${leaked.url}`, `GITLAB_TOKEN=${leaked.gitlab}`, `HF_TOKEN=${leaked.huggingFace}`, `SLACK_TOKEN=${leaked.slack}`,
    `MAPS_KEY=${leaked.google}`, `NPM_TOKEN=${leaked.npm}`, `SESSION=${leaked.jwt}`, leaked.key
  ].join('\n')
  const masked = [
    `DATABASE_URL=postgres://${REDACTED}@db.internal:5432/app`, `GITLAB_TOKEN=${REDACTED}`, `HF_TOKEN=${REDACTED}`, `SLACK_TOKEN=${REDACTED}`,
    `MAPS_KEY=${REDACTED}`, `NPM_TOKEN=${REDACTED}`, `SESSION=${REDACTED}`, REDACTED
  ].join('\n')
  const command = `git clone https://oauth2:${leaked.gitlab}@gitlab.example.com/team/app.git && cat > ~/.ssh/id_ed25519 <<'EOF'\n${leaked.key}\nEOF`

  const hook = await webhook(t)
  const app = await build(t, { env: { TOOL_POLICY: 'ask:Bash', APPROVAL_WEBHOOK_URL: hook.url, PUBLIC_URL: 'https://agentlog.example.com' } })
  const ws = await app.injectWS('/ws/leaky')
  t.teardown(() => ws.terminate())
  const inbox = collect(ws)
  ws.send(line(assistantText(`The .env file was leaked:\n${env}`)))
  ws.send(line({
    type: 'assistant',
    message: { id: 'msg_tool', role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command, description: 'Clone and install the deploy key' } }] },
    session_id: 'sess-1',
    uuid: uuid()
  }))
  ws.send(line({ type: 'control_request', request_id: 'req-1', request: { subtype: 'can_use_tool', tool_name: 'Bash', input: { command }, tool_use_id: 'toolu_1' } }))
  const notice = await hook.next()
  await sync(app, ws, inbox)

  const events = await walk(app, 'leaky')
  const [output, use, asked] = events
  t.equal(output.content, `The .env file was leaked:\n${masked}`, 'each secret masked, labels and hosts kept')
  t.equal(output.metadata.redacted, true)
  const maskedCommand = `git clone https://${REDACTED}@gitlab.example.com/team/app.git && cat > ~/.ssh/id_ed25519 <<'EOF'\n${REDACTED}\nEOF`
  t.equal(use.metadata.input.command, maskedCommand, 'the tool input (metadata) is masked too')
  t.equal(asked.event_type, 'permission_requested')
  t.equal(asked.metadata.input.command, maskedCommand)

  t.equal(notice.summary, `git clone https://${REDACTED}@gitlab.example.com/team/app.git && cat > ~/.ssh/id_ed25519 <<'EOF' ${REDACTED} EOF`,
    'the webhook summary is masked before it is cut to length: the key is gone whole, not cut into an unrecognisable start')
  const approvals = (await app.inject({ method: 'GET', url: '/approvals' })).json().approvals
  t.equal(approvals[0].input.command, maskedCommand)

  await searchable(app)
  const search = async (q: string) => {
    const res = await app.inject({ method: 'GET', url: `/search?${new URLSearchParams({ q, agent: 'leaky' }).toString()}` })
    t.equal(res.statusCode, 200)
    return res
  }
  for (const secret of secrets) {
    t.same((await search(`"${secret}"`)).json().hits, [], `searching for ${secret.slice(0, 16)}… finds nothing`)
  }
  const found = await search('leaked OR clone')
  t.ok(found.json().hits.length >= 2, 'the events are found by their other words')
  t.match(found.json().hits.map((h: any) => h.snippet).join('\n'), REDACTED, 'snippets show the mask')

  const exported = await app.inject({ url: '/agents/leaky/export' })
  t.equal(exported.statusCode, 200)
  t.match(exported.body, REDACTED)

  const outputs = { history: JSON.stringify(events), search: found.body, export: exported.body, webhook: JSON.stringify(notice), approvals: JSON.stringify(approvals) }
  for (const [where, body] of Object.entries(outputs)) {
    const shown = secrets.filter(secret => body.includes(secret))
    t.same(shown, [], `no secret in the ${where}`)
  }
})
