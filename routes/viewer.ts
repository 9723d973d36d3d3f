// The web viewer: the page at / and its files under /ui/. Both are public (the page asks for a token itself)
// and sent with a Content-Security-Policy that lets nothing but the viewer's own modules run.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { errorResponse } from '../src/schemas/docs.js'
import { loadAssets, VIEWER_CSP, ViewerNotBuiltError, type Asset } from '../src/viewer/assets.js'
import { httpError } from '../src/errors.js'

const Text = Type.String({ description: 'the file' })
const AssetParams = Type.Object({
  file: Type.String({ pattern: '^[a-z0-9][a-z0-9.-]{0,63}$', description: 'a file of the viewer, e.g. main.js' })
})

const plugin: FastifyPluginAsyncTypebox = async (fastify) => {
  let assets: Map<string, Asset> | null = null
  // read on first use, so a server whose viewer is not built still serves the API
  function asset (name: string): Asset | undefined {
    if (assets === null) {
      try {
        assets = loadAssets()
      } catch (err) {
        if (err instanceof ViewerNotBuiltError) throw httpError(503, err.message, 'viewer_not_built')
        throw err
      }
    }
    return assets.get(name)
  }

  const notBuilt = errorResponse('The viewer is not built, or the server is shutting down', ['viewer_not_built', 'shutting_down'])

  fastify.get('/', {
    schema: {
      summary: 'The web viewer',
      description: 'A single-page app: agents, their logs (live), search, approvals, usage and operator controls.',
      tags: ['viewer'],
      response: {
        200: { description: 'The page', content: { 'text/html': { schema: Text } } },
        503: notBuilt
      }
    }
  }, async function (request, reply) {
    const page = asset('index.html') as Asset
    reply.type(page.type).header('content-security-policy', VIEWER_CSP).header('cache-control', 'no-cache')
    return page.body
  })

  fastify.get('/ui/:file', {
    schema: {
      summary: 'A file of the web viewer',
      description: 'Its modules, stylesheet and the browser libraries it uses.',
      tags: ['viewer'],
      params: AssetParams,
      response: {
        200: { description: 'The file (JavaScript, CSS, …)', content: { 'text/javascript': { schema: Text }, 'text/css': { schema: Text } } },
        404: errorResponse('The viewer has no such file', ['not_found']),
        503: notBuilt
      }
    }
  }, async function (request, reply) {
    const found = asset(request.params.file)
    if (found === undefined || request.params.file === 'index.html') {
      throw httpError(404, `the viewer has no file ${JSON.stringify(request.params.file)}`)
    }
    reply.type(found.type).header('content-security-policy', VIEWER_CSP).header('cache-control', 'no-cache')
    return found.body
  })
}

export default plugin
