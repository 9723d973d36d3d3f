// Who is asking /mcp and what it may read (src/mcp/scope.ts): given / when / then.
import { test } from 'tap'
import { callerOf, literalOf, visible } from '../../src/mcp/scope.js'

const glob = (s: string) => new RegExp(`^${s.replace(/\*/g, '.*')}$`)

test('readers and operators see every agent; an agent token, its glob', async (t) => {
  t.equal(visible(callerOf({ role: 'reader', agentPattern: null }, undefined, null), 'anything'), true)
  t.equal(visible(callerOf({ role: 'operator', agentPattern: null }, undefined, null), 'anything'), true)
  t.equal(visible(callerOf(null, undefined, null), 'anything'), true, 'no access control')
  const scoped = callerOf({ role: 'agent', agentPattern: glob('build-*') }, undefined, null)
  t.equal(visible(scoped, 'build-7'), true)
  t.equal(visible(scoped, 'deploy-1'), false)
  t.equal(visible(callerOf({ role: 'agent', agentPattern: null }, undefined, null), 'deploy-1'), true, 'an agent token without a glob: any agent')
})

test('the calling agent: the header when the token may read it, else a single-agent glob', async (t) => {
  const scoped = { role: 'agent' as const, agentPattern: glob('build-*') }
  t.equal(callerOf(scoped, 'build-2', null).agentId, 'build-2')
  t.equal(callerOf(scoped, 'deploy-1', null).agentId, null, 'a header outside the glob is no identity')
  t.equal(callerOf(scoped, 'not a valid id!', null).agentId, null)
  t.equal(callerOf(scoped, ['build-1', 'build-2'], null).agentId, null, 'the header twice is no identity')
  t.equal(callerOf({ role: 'agent', agentPattern: glob('solo') }, undefined, 'solo').agentId, 'solo')
  t.equal(callerOf({ role: 'reader', agentPattern: null }, undefined, 'solo').agentId, null, 'a glob means something only for an agent token')
  t.equal(callerOf({ role: 'reader', agentPattern: null }, 'build-1', null).agentId, 'build-1')
  t.equal(literalOf('build-1'), 'build-1')
  t.equal(literalOf('build-*'), null)
  t.equal(literalOf('build-?'), null)
  t.equal(literalOf(null), null)
})
