// How the relay ends, given / when / then: its state in, what it does before exiting out.
import { test } from 'tap'
import { howToStop } from '../../../src/cli/relay/stopping.js'

const ending = { fatal: false, cliRunning: false, connected: true, held: 0 }

test('given the CLI exited, when the socket is up, then the relay closes it after what is queued', async (t) => {
  t.equal(howToStop(ending), 'goodbye')
  t.equal(howToStop({ ...ending, held: 3 }), 'goodbye', 'held lines went out when it opened')
})

test('given the CLI exited, when the socket is down, then the relay waits for it only if lines are held', async (t) => {
  t.equal(howToStop({ ...ending, connected: false, held: 3 }), 'drain')
  t.equal(howToStop({ ...ending, connected: false }), 'finish')
})

test('given a fatal end (refused for good, no CLI to start), then nothing is delivered; a running CLI is stopped first', async (t) => {
  t.equal(howToStop({ ...ending, fatal: true, cliRunning: true }), 'stop_cli')
  t.equal(howToStop({ ...ending, fatal: true, held: 3 }), 'finish')
})
