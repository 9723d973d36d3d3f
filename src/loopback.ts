// Whether an address is this machine's own: the server refuses to run without tokens anywhere else, and the
// importer does not bother compressing what it sends there.

/** 127.0.0.0/8, ::1 and localhost (with or without brackets, and IPv4 mapped into IPv6). */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}
