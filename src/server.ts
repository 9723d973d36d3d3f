// The process entry point: reads the configuration, listens, and shuts down gracefully on SIGINT/SIGTERM.
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { ConfigError, loadConfig, type Config } from './config.js'
import app, { serverOptions } from './app.js'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`agentlog: invalid configuration: ${err.message}`)
    process.exit(1)
  }
  throw err
}

const server = Fastify(serverOptions(config)).withTypeProvider<TypeBoxTypeProvider>()

await server.register(app, { config })

closeWithGrace({ delay: 10000 }, async ({ signal, err }) => {
  if (err !== undefined) server.log.error({ err }, 'shutting down after an error')
  else server.log.info({ signal }, 'shutting down: closing agents, flushing the write queue')
  await server.close()
})

try {
  await server.listen({ host: config.host, port: config.port })
} catch (err) {
  server.log.error({ err }, 'could not listen')
  process.exit(1)
}
