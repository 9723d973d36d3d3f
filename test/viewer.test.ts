// The viewer's routes: the page and its files are public and carry a strict policy; /auth/whoami names the role.
import { test } from 'tap'
import { build } from './helper.js'

const TOKENS = { AUTH_TOKENS: 'reader:r-1,operator:o-1,agent:a-1:build-*' }

test('the page and its files are served without a token, with a policy that runs only their own modules', async (t) => {
  const app = await build(t, { env: TOKENS })
  const page = await app.inject({ method: 'GET', url: '/' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body, /<script type="module" src="ui\/main.js"><\/script>/)
  t.notMatch(page.body, /<script>/, 'no inline script in the page')
  const csp = String(page.headers['content-security-policy'])
  t.match(csp, /default-src 'none'/)
  t.match(csp, /script-src 'self'(;|$)/)
  t.match(csp, /require-trusted-types-for 'script'/)
  t.notMatch(csp, /unsafe/)

  for (const file of ['main.js', 'agent.js', 'sse.js', 'style.css', 'marked.js', 'purify.js', 'usage.js', 'usage-blocks.js', 'uplot.js', 'uplot.css']) {
    const res = await app.inject({ method: 'GET', url: `/ui/${file}` })
    t.equal(res.statusCode, 200, file)
    t.match(res.headers['content-type'], file.endsWith('.css') ? /^text\/css/ : /^text\/javascript/, file)
  }
  const missing = await app.inject({ method: 'GET', url: '/ui/nothing.js' })
  t.equal(missing.statusCode, 404)
  t.equal(missing.json().code, 'not_found')
  const traversal = await app.inject({ method: 'GET', url: '/ui/..%2Fpackage.json' })
  t.equal(traversal.statusCode, 400, 'only plain file names')

  // the rest of the API still wants a token
  t.equal((await app.inject({ method: 'GET', url: '/agents' })).statusCode, 401)
})

test('whoami answers any valid token with its role, and says when access control is off', async (t) => {
  const app = await build(t, { env: TOKENS })
  const as = async (token: string | null) => {
    const res = await app.inject({ method: 'GET', url: '/auth/whoami', headers: token === null ? {} : { authorization: `Bearer ${token}` } })
    return { status: res.statusCode, body: res.json() }
  }
  t.same(await as('r-1'), { status: 200, body: { access_control: true, role: 'reader' } })
  t.same(await as('o-1'), { status: 200, body: { access_control: true, role: 'operator' } })
  t.same(await as('a-1'), { status: 200, body: { access_control: true, role: 'agent' } })
  const none = await as(null)
  t.equal(none.status, 401)
  t.equal(none.body.code, 'unauthorized')
  t.equal((await as('wrong')).status, 401)

  const open = await build(t)
  const res = await open.inject({ method: 'GET', url: '/auth/whoami' })
  t.same(res.json(), { access_control: false, role: null })
})
