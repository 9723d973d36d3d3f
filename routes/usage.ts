// Usage and cost: tokens and dollars per day, week, month, agent, session, model and project (src/usage/).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { UsageQuery, UsageResult, type UsageGroup } from '../src/schemas/usage.js'
import { errorResponse } from '../src/schemas/docs.js'
import { queryUsage, RangeError400, usageCsv } from '../src/usage/query.js'
import { httpError } from '../src/errors.js'

function wantsCsv (accept: string | undefined): boolean {
  if (accept === undefined) return false
  return accept.split(',').some(part => part.trim().toLowerCase().split(';')[0] === 'text/csv')
}

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/usage', {
    schema: {
      summary: 'Usage and cost, grouped',
      description: 'Tokens and cost of live and imported sessions, from rows pre-aggregated per agent, session, model ' +
        'and UTC hour as events are written: grouped by any of day, week, month, hour (in tz), agent, session, model, ' +
        'project. cost_source says whether a cost was reported by the CLI, computed from the price table, or both. ' +
        'Models without a price are listed in unpriced_models (their tokens are counted). Accept: text/csv answers CSV.',
      tags: ['usage'],
      querystring: UsageQuery,
      response: {
        200: {
          description: 'The usage rows, their totals and the unpriced models (or CSV)',
          content: {
            'application/json': { schema: UsageResult },
            'text/csv': { schema: Type.String({ description: 'a header line, then one line per row' }) }
          }
        },
        400: errorResponse('A bad range, group or time zone', ['bad_parameter', 'unknown_parameter'])
      }
    }
  }, async function (request, reply) {
    const q = request.query
    const groupBy = q.group_by.split(',') as UsageGroup[]
    let result
    try {
      result = await queryUsage(fastify.db, { groupBy, from: q.from, to: q.to, tz: q.tz, agent: q.agent })
    } catch (err) {
      if (err instanceof RangeError400) throw httpError(400, err.message, 'bad_parameter')
      throw err
    }
    if (fastify.config.budgets.length > 0) result.budgets = await fastify.usageBudgets.status()
    reply.header('vary', 'accept')
    if (wantsCsv(request.headers.accept)) {
      reply.type('text/csv; charset=utf-8')
      return usageCsv(result, groupBy)
    }
    return result
  })
}

export default plugin
