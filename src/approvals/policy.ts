// Tool policy: ordered rules (first match wins) that allow, deny or ask a person about a tool call. Pure: no
// clock, no I/O; the configuration is parsed here and checked at start-up with errors that name the rule.

export type Decision = 'allow' | 'deny' | 'ask'

export interface PolicyRule {
  /** Where the rule comes from, for people and for the approval record: `TOOL_POLICY rule 2`, `remembered r-…`. */
  id: string
  /** Tool name glob (`*` any run of characters, `?` one): `Bash`, `mcp__github__*`, `*`. */
  tool: string
  /** Pattern on the tool's input (see INPUT_SUBJECTS); null: any input. */
  input: string | null
  /** Agent id glob; null: every agent. */
  agent: string | null
  decision: Decision
  /** Deny only: what the model is told; default "Tool 'X': denied by policy". */
  message: string | null
}

export interface Policy {
  rules: PolicyRule[]
  /** What happens when no rule matches. */
  otherwise: Decision
}

export interface ToolCall {
  agentId: string
  toolName: string
  input: unknown
}

export interface Verdict {
  decision: Decision
  /** The rule that matched; null when the default applied. */
  rule: PolicyRule | null
  /** Deny only: the message the model gets as the tool's error. */
  message: string | null
}

export class PolicyError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'PolicyError'
  }
}

/**
 * What an input pattern is matched against, per tool. Bash patterns are command prefixes; the others are
 * globs (`*` within one path segment, `**` across segments) on a path, or URL prefixes.
 */
export const INPUT_SUBJECTS: Record<string, { field: string, kind: 'command' | 'path' | 'prefix' }> = {
  Bash: { field: 'command', kind: 'command' },
  Write: { field: 'file_path', kind: 'path' },
  Edit: { field: 'file_path', kind: 'path' },
  MultiEdit: { field: 'file_path', kind: 'path' },
  Read: { field: 'file_path', kind: 'path' },
  NotebookEdit: { field: 'notebook_path', kind: 'path' },
  WebFetch: { field: 'url', kind: 'prefix' }
}

const DECISIONS: Decision[] = ['allow', 'deny', 'ask']
const TOOL_GLOB = /^[A-Za-z0-9_*?.:-]{1,200}$/
const AGENT_GLOB = /^[A-Za-z0-9._:*?-]{1,128}$/

export function globToRegExp (glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')
  return new RegExp(`^${body}$`)
}

/** `**` crosses `/`, `*` and `?` do not. */
export function pathGlobToRegExp (glob: string): RegExp {
  let body = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` also matches no directory at all
      if (glob[i + 2] === '/') { body += '(?:.*/)?'; i += 2 } else { body += '.*'; i++ }
    } else if (c === '*') body += '[^/]*'
    else if (c === '?') body += '[^/]'
    else body += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${body}$`)
}

/**
 * The simple commands of a shell command line, split at `;`, `&`, `|`, `&&`, `||` and newlines. Quotes are not
 * parsed: a separator inside quotes only makes more (smaller) pieces, which can stop an allow rule from
 * matching and let a deny or ask rule match — never the other way round.
 */
export function commandParts (command: string): string[] {
  return command.split(/&&|\|\||[;&|\n]/).map(p => p.trim()).filter(p => p !== '')
}

function startsWithWords (command: string, prefix: string): boolean {
  if (!command.startsWith(prefix)) return false
  return command.length === prefix.length || /\s/.test(command[prefix.length]) || /\s$/.test(prefix)
}

/**
 * A Bash prefix matches a command when it starts it at a word boundary (`git push` matches `git push -f`, not
 * `git pushy`). An allow rule needs every part of a compound command to match and no command substitution;
 * a deny or ask rule matches when any part does.
 */
function commandMatches (pattern: string, command: string, decision: Decision): boolean {
  const prefix = pattern.endsWith('*') ? pattern.slice(0, -1) : pattern
  const exact = (part: string): boolean => pattern.endsWith('*') ? part.startsWith(prefix) : startsWithWords(part, prefix)
  const parts = commandParts(command)
  if (parts.length === 0) return false
  if (decision === 'allow') {
    if (/`|\$\(/.test(command)) return false
    return parts.every(exact)
  }
  return parts.some(exact) || exact(command.trim())
}

function inputMatches (rule: PolicyRule, toolName: string, input: unknown): boolean {
  if (rule.input === null) return true
  const subject = INPUT_SUBJECTS[toolName]
  if (subject === undefined) return false
  const value = input !== null && typeof input === 'object' ? (input as Record<string, unknown>)[subject.field] : undefined
  if (typeof value !== 'string') return false
  switch (subject.kind) {
    case 'command': return commandMatches(rule.input, value, rule.decision)
    case 'path': return pathGlobToRegExp(rule.input).test(value)
    case 'prefix': return value.startsWith(rule.input)
  }
}

export function ruleMatches (rule: PolicyRule, call: ToolCall): boolean {
  if (!globToRegExp(rule.tool).test(call.toolName)) return false
  if (rule.agent !== null && !globToRegExp(rule.agent).test(call.agentId)) return false
  return inputMatches(rule, call.toolName, call.input)
}

export function denialMessage (toolName: string): string {
  return `Tool '${toolName}': denied by policy`
}

/** The first rule that matches decides; then the policy's default. */
export function decide (rules: PolicyRule[], otherwise: Decision, call: ToolCall): Verdict {
  const rule = rules.find(r => ruleMatches(r, call)) ?? null
  const decision = rule?.decision ?? otherwise
  const message = decision === 'deny' ? (rule?.message ?? denialMessage(call.toolName)) : null
  return { decision, rule, message }
}

/** The subject of a call's input (the Bash command, the file path…), or null for tools without one. */
export function inputSubject (toolName: string, input: unknown): string | null {
  const subject = INPUT_SUBJECTS[toolName]
  if (subject === undefined || input === null || typeof input !== 'object') return null
  const value = (input as Record<string, unknown>)[subject.field]
  return typeof value === 'string' ? value : null
}

// ---- parsing ----

function ruleFrom (raw: unknown, id: string): PolicyRule {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PolicyError(`${id}: must be an object like {"tool": "Bash", "decision": "ask"}`)
  }
  const r = raw as Record<string, unknown>
  for (const key of Object.keys(r)) {
    if (!['tool', 'input', 'agent', 'decision', 'message'].includes(key)) {
      throw new PolicyError(`${id}: unknown field ${JSON.stringify(key)} (fields: tool, input, agent, decision, message)`)
    }
  }
  if (typeof r.tool !== 'string' || !TOOL_GLOB.test(r.tool)) {
    throw new PolicyError(`${id}: "tool" must be a tool name or glob (A-Z a-z 0-9 _ . : - * ?), got ${JSON.stringify(r.tool)}`)
  }
  if (!DECISIONS.includes(r.decision as Decision)) {
    throw new PolicyError(`${id}: "decision" must be allow, deny or ask, got ${JSON.stringify(r.decision)}`)
  }
  let input: string | null = null
  if (r.input !== undefined && r.input !== null) {
    if (typeof r.input !== 'string' || r.input === '' || r.input.length > 1000) {
      throw new PolicyError(`${id}: "input" must be a non-empty pattern of at most 1000 characters`)
    }
    if (INPUT_SUBJECTS[r.tool] === undefined) {
      throw new PolicyError(`${id}: "input" needs "tool" to be one of ${Object.keys(INPUT_SUBJECTS).join(', ')} (the tools whose input has a pattern), got ${JSON.stringify(r.tool)}`)
    }
    input = r.input
  }
  let agent: string | null = null
  if (r.agent !== undefined && r.agent !== null) {
    if (typeof r.agent !== 'string' || !AGENT_GLOB.test(r.agent)) {
      throw new PolicyError(`${id}: "agent" must be an agent id glob (A-Z a-z 0-9 . _ : - * ?), got ${JSON.stringify(r.agent)}`)
    }
    agent = r.agent
  }
  let message: string | null = null
  if (r.message !== undefined && r.message !== null) {
    if (typeof r.message !== 'string' || r.message === '' || r.message.length > 2000) {
      throw new PolicyError(`${id}: "message" must be a non-empty string of at most 2000 characters`)
    }
    if (r.decision !== 'deny') throw new PolicyError(`${id}: "message" is only for deny rules`)
    message = r.message
  }
  return { id, tool: r.tool, input, agent, decision: r.decision as Decision, message }
}

/**
 * A JSON policy: `{ "default": "allow", "rules": [{ "tool", "input"?, "agent"?, "decision", "message"? }] }`
 * or just the array of rules (default allow). `source` names the variable in errors.
 */
export function parsePolicyJson (text: string, source: string): Policy {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new PolicyError(`${source}: not valid JSON (${(err as Error).message})`)
  }
  let rules: unknown
  let otherwise: unknown = 'allow'
  if (Array.isArray(value)) {
    rules = value
  } else if (value !== null && typeof value === 'object') {
    const v = value as Record<string, unknown>
    for (const key of Object.keys(v)) {
      if (key !== 'rules' && key !== 'default') throw new PolicyError(`${source}: unknown field ${JSON.stringify(key)} (fields: default, rules)`)
    }
    rules = v.rules ?? []
    otherwise = v.default ?? 'allow'
  } else {
    throw new PolicyError(`${source}: must be an array of rules or {"default": …, "rules": […]}`)
  }
  if (!Array.isArray(rules)) throw new PolicyError(`${source}: "rules" must be an array`)
  if (!DECISIONS.includes(otherwise as Decision)) {
    throw new PolicyError(`${source}: "default" must be allow, deny or ask, got ${JSON.stringify(otherwise)}`)
  }
  return { rules: rules.map((r, i) => ruleFrom(r, `${source} rule ${i + 1}`)), otherwise: otherwise as Decision }
}

function toolList (text: string): string[] {
  return text.split(',').map(t => t.trim()).filter(t => t !== '')
}

/**
 * TOOL_POLICY: `allow_all` (default), `deny_all`, `allow:A,B` (only these), `deny:A,B` (all but these),
 * `ask:A,B` (a person decides for these, the rest are allowed), or a JSON policy (see parsePolicyJson).
 */
export function parsePolicy (raw: string | undefined, source = 'TOOL_POLICY'): Policy {
  const text = (raw ?? '').trim()
  if (text === '' || text === 'allow_all') return { rules: [], otherwise: 'allow' }
  if (text === 'deny_all') return { rules: [], otherwise: 'deny' }
  if (text.startsWith('[') || text.startsWith('{')) return parsePolicyJson(text, source)
  const match = /^(allow|deny|ask):(.*)$/s.exec(text)
  if (match !== null) {
    const tools = toolList(match[2])
    const decision = match[1] as Decision
    if (tools.length > 0) {
      const rules = tools.map((tool, i) => ruleFrom({ tool, decision }, `${source} rule ${i + 1}`))
      return { rules, otherwise: decision === 'allow' ? 'deny' : 'allow' }
    }
  }
  throw new PolicyError(`${source} must be allow_all, deny_all, allow:Tool,Tool, deny:Tool,Tool, ask:Tool,Tool or a JSON policy, got ${JSON.stringify(raw)}`)
}
