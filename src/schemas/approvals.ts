// Schemas of the approval routes: pending requests, decisions, remembered rules.
import { Type } from '@sinclair/typebox'
import { AgentId, ErrorBody } from './common.js'

const Nullable = <T extends ReturnType<typeof Type.String> | ReturnType<typeof Type.Integer>> (t: T) => Type.Union([t, Type.Null()])

export const RuleRef = Type.Object({
  id: Type.String({ description: 'where the rule is: "TOOL_POLICY rule 2", "TOOL_POLICY_FILE rule 1", "remembered r-…"' }),
  tool: Type.String(),
  input: Nullable(Type.String()),
  agent: Nullable(Type.String()),
  decision: Type.String()
}, { description: 'the policy rule that asked; null when the policy default asked' })

export const PendingApproval = Type.Object({
  agent_id: Type.String(),
  request_id: Type.String({ description: "the CLI's request_id" }),
  tool_name: Type.String(),
  input: Type.Unknown({ description: 'the tool input, with secrets redacted' }),
  tool_use_id: Nullable(Type.String()),
  rule: Type.Union([RuleRef, Type.Null()]),
  session_number: Type.Integer(),
  seq: Nullable(Type.Integer({ description: 'the permission_requested event' })),
  requested_at: Type.String()
})

export const ApprovalList = Type.Object({ approvals: Type.Array(PendingApproval) })

export const ApprovalQuery = Type.Object({
  agent: Type.Optional(AgentId)
}, { additionalProperties: false })

export const ApprovalParams = Type.Object({
  agentId: AgentId,
  requestId: Type.String({ minLength: 1, maxLength: 200 })
})

export const DecisionBody = Type.Object({
  behavior: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  message: Type.Optional(Type.String({ minLength: 1, maxLength: 10000, pattern: '^[^\\u0000]*$', description: 'deny: what the model is told' })),
  updated_input: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'allow: run the tool with this input instead' })),
  remember: Type.Optional(Type.Union([Type.Literal('session'), Type.Literal('agent')], { description: 'also decide the same way from now on, for the rest of the session or for the agent' }))
}, { additionalProperties: false })

export const DecisionResult = Type.Object({
  agent_id: Type.String(),
  request_id: Type.String(),
  behavior: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  decided_by: Type.String(),
  waited_ms: Type.Integer(),
  delivered: Type.Boolean({ description: 'false: the agent is not connected; it gets the decision when it reconnects' })
})

const FirstDecision = Type.Object({
  status: Type.Union([Type.Literal('decided'), Type.Literal('cancelled')]),
  behavior: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Null()]),
  decided_by: Nullable(Type.String()),
  decided_at: Nullable(Type.String()),
  waited_ms: Nullable(Type.Integer())
})

export const AlreadyDecided = Type.Intersect([ErrorBody, Type.Object({ decision: FirstDecision })])

export const RememberedRule = Type.Object({
  id: Type.String(),
  agent_id: Type.String(),
  scope: Type.Union([Type.Literal('session'), Type.Literal('agent')]),
  session_number: Nullable(Type.Integer()),
  tool: Type.String(),
  input: Nullable(Type.String({ description: 'Bash: a command prefix; file tools: a path glob' })),
  decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  created_at: Type.String(),
  created_by: Nullable(Type.String()),
  request_id: Nullable(Type.String())
})

export const RuleList = Type.Object({ rules: Type.Array(RememberedRule) })

export const RuleParams = Type.Object({
  agentId: AgentId,
  ruleId: Type.String({ minLength: 1, maxLength: 100 })
})
