// A command line that cannot be run as given: the command prints the message and its usage, and exits 2.

export class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}
