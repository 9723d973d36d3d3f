// Secrets an agent prints (API keys, tokens, private keys) are masked before an event is stored.
import type { EventDraft } from './protocol/messages.js'

export const REDACTED = '[REDACTED]'

/**
 * Shapes of credentials that show up in coding sessions (a `cat .env`, a failing curl, a config file).
 * Each is specific enough that ordinary prose and code do not match. A group named `keep` is left in place
 * (the label before the secret). Each starts with a literal, so V8 scans for it quickly; no lookbehind.
 */
export const DEFAULT_REDACT_PATTERNS: readonly RegExp[] = [
  // Anthropic: sk-ant-api03-..., sk-ant-admin01-...
  /\bsk-ant-[A-Za-z0-9_-]{20,}/,
  // OpenAI: sk-..., sk-proj-..., sk-svcacct-...
  /\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}/,
  // AWS access key ids, and secret keys where they are named
  /\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/,
  /(?<keep>(?:aws|AWS)_(?:secret|SECRET)_(?:access|ACCESS)_(?:key|KEY)["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{40}/,
  // GitHub: classic (ghp_, gho_, ghu_, ghs_, ghr_) and fine-grained tokens
  /\bgh[pousr]_[A-Za-z0-9]{36,}/,
  /\bgithub_pat_[A-Za-z0-9_]{22,}/,
  // GitLab personal access tokens, the routable ones with their ".01.crc" tail too
  /\bglpat-[A-Za-z0-9_-]{20,}(?:\.[0-9a-z]{2}\.[0-9a-z]+)?/,
  // Hugging Face user access tokens
  /\bhf_[A-Za-z0-9]{34}\b/,
  // Slack bot, user, app, client, legacy and refresh tokens (xoxb-<team>-<user>-<secret>), rotated ones
  // (xoxe.xoxp-1-...) whole; the digits after the prefix keep words like "xoxo-hugs" out
  /\bxox(?:e\.xox)?[abceoprs]-[0-9]+-[A-Za-z0-9-]+/,
  /\bxapp-[A-Za-z0-9-]{10,}/,
  // Google API keys, Stripe live keys, npm tokens
  /\bAIza[0-9A-Za-z_-]{35}/,
  /\b[rs]k_live_[A-Za-z0-9]{20,}/,
  /\bnpm_[A-Za-z0-9]{36}/,
  // whatever follows "Bearer " (an Authorization header in a curl command or a log)
  /(?<keep>\b[Bb]earer\s+)[A-Za-z0-9._~+/=-]{16,}/,
  // JSON Web Tokens: header and payload are base64url JSON ("eyJ" is '{"'), and a signature. A header never runs on
  // past "-eyJ", where the next attempt starts: a long run of "eyJa-eyJa-..." costs one pass, not one pass each
  /\beyJ(?:[A-Za-z0-9_]|-(?!eyJ))+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/,
  // user:password@ in a URL (postgres://app:pw@db:5432, https://user:token@host), the pair as a whole: either half
  // may be the token. Scheme and host stay. The password may hold '@' (the last one before the host counts); every
  // part stops at '/', so a run of "https://a:https://a:..." costs one pass
  /(?<keep>:\/\/)[^\s:/?#@"'<>]*:[^\s/?#"'<>]*(?=@)/,
  // PEM private keys (PKCS#8, RSA, EC, OPENSSH, ENCRYPTED...) and PGP private key blocks, whole blocks; the body stops
  // at the next "-----", so a run of unterminated BEGIN lines costs one pass, not one pass each
  /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[^-]|-(?!----))*-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/
]

/**
 * Every built-in pattern starts with one of these literals (the AWS secret pattern with its variable name). A URL's
 * credentials are looked for only where "://" reaches an '@' before the host ends: links alone skip the full pass.
 */
const DEFAULT_HINT = /sk-|AKIA|ASIA|ABIA|ACCA|_(?:access|ACCESS)_|gh[pousr]_|github_pat_|glpat-|hf_|xox|xapp-|AIza|k_live_|npm_|earer|eyJ|:\/\/[^\s/?#"'<>]*@|PRIVATE KEY/

export type Redactor = (draft: EventDraft) => EventDraft

function replacement (...args: unknown[]): string {
  const groups = args[args.length - 1]
  const keep = typeof groups === 'object' && groups !== null ? (groups as { keep?: string }).keep : undefined
  return keep === undefined ? REDACTED : keep + REDACTED
}

/**
 * Null when there is nothing to look for. One pass per pattern: joined into one alternation they are
 * several times slower, because V8 can no longer skip ahead to each pattern's literal start.
 * The draft is never changed in place: the writer may build it again when a batch is retried.
 */
export function createRedactor (patterns: readonly RegExp[]): Redactor | null {
  if (patterns.length === 0) return null
  const global = patterns.map(p => new RegExp(p.source, p.flags.includes('g') ? p.flags : p.flags + 'g'))
  // most strings hold none of the built-in secrets' literal starts: one cheap test spares them the full pass
  const custom = patterns.some(p => !DEFAULT_REDACT_PATTERNS.includes(p))
  const hint = custom ? null : DEFAULT_HINT

  function scrub (text: string): string {
    if (hint !== null && !hint.test(text)) return text
    let out = text
    for (const re of global) out = out.replace(re, replacement)
    return out
  }

  return function redact (draft) {
    const content = draft.content === null ? null : scrub(draft.content)
    const metadata = draft.metadata === null ? null : scrubDeep(draft.metadata, scrub)
    const changed = content !== draft.content || metadata !== draft.metadata
    if (!changed) return draft
    return { ...draft, content, metadata: { ...(metadata ?? {}), redacted: true } }
  }
}

/**
 * Every string value in an object tree, with copies only along the paths that changed (the same object back when
 * nothing did). Iterative: agent lines may nest deeply, and the writer must never overflow its stack.
 */
function scrubDeep (root: Record<string, unknown>, scrub: (text: string) => string): Record<string, unknown> {
  interface Frame { source: Record<string, unknown> | unknown[], copy: Record<string, unknown> | unknown[] | null, keys: string[], next: number, parent: Frame | null, key: string }
  const frameOf = (source: Record<string, unknown> | unknown[], parent: Frame | null, key: string): Frame =>
    ({ source, copy: null, keys: Object.keys(source), next: 0, parent, key })

  // a changed child makes its parent copy itself and take the new child, and so on up to the first copied ancestor
  function replace (frame: Frame, key: string, value: unknown): void {
    let f: Frame | null = frame
    let k = key
    let v = value
    while (f !== null) {
      const fresh = f.copy === null
      if (f.copy === null) f.copy = Array.isArray(f.source) ? f.source.slice() : { ...f.source }
      ;(f.copy as Record<string, unknown>)[k] = v
      if (!fresh) return
      k = f.key
      v = f.copy
      f = f.parent
    }
  }

  const top = frameOf(root, null, '')
  const stack: Frame[] = [top]
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]
    if (frame.next >= frame.keys.length) {
      stack.pop()
      continue
    }
    const key = frame.keys[frame.next++]
    const value = (frame.source as Record<string, unknown>)[key]
    if (typeof value === 'string') {
      const scrubbed = scrub(value)
      if (scrubbed !== value) replace(frame, key, scrubbed)
    } else if (value !== null && typeof value === 'object') {
      stack.push(frameOf(value as Record<string, unknown>, frame, key))
    }
  }
  return (top.copy ?? root) as Record<string, unknown>
}
