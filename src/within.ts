// A bounded wait: shutdown steps that may hang on a failing storage give up after a deadline instead.

/** Whether `p` settles within `ms`; a rejection of `p` within it is passed on. The timer is cleared either way. */
export async function within (p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p.then(() => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
    ])
  } finally {
    clearTimeout(timer)
  }
}
