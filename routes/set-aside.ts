// GET /set-aside: agent lines the database refused on their own while it took other writes (see src/store/isolate.ts).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SetAsideList, SetAsideQuery } from '../src/schemas/set-aside.js'
import { listSetAside } from '../src/store/set-aside.js'

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/set-aside', {
    schema: {
      summary: 'Lines the database refused',
      description: 'Agent lines whose write failed on its own, again and again, while every other write went through ' +
        '(a storage outage sets nothing aside). Each was taken out of the write queue so the rest could commit, and ' +
        'kept here with its agent, where it belongs (`after_seq`: it took no seq) and the database\'s error; ' +
        'oldest first, for all agents or one (`agent`). Page with `next_cursor` as `after`.',
      tags: ['health'],
      querystring: SetAsideQuery,
      response: { 200: { ...SetAsideList, description: 'One page of set-aside lines' } }
    }
  }, async function (request) {
    return await listSetAside(fastify.db, request.query)
  })
}

export default plugin
