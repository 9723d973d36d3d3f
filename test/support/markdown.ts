// What the docs tests read in Markdown: headings as GitHub anchors them, and the links of a page.

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to dashes. */
export function slug (heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-')
}

/** Text outside fenced code blocks (a link or heading in an example is not one of the page's own). */
function prose (markdown: string): string[] {
  const lines: string[] = []
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (line.trimStart().startsWith('```')) { fenced = !fenced; continue }
    if (!fenced) lines.push(line)
  }
  return lines
}

/** The anchors of a page's headings (GitHub numbers repeated ones: -1, -2, …). */
export function anchors (markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const line of prose(markdown)) {
    const m = /^#{1,6} (.+)$/.exec(line)
    if (m === null) continue
    const base = slug(m[1])
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

/** Every link and image target of a page (inline `[text](target)`), with its line number. */
export function links (markdown: string): Array<{ target: string, line: number }> {
  const out: Array<{ target: string, line: number }> = []
  let fenced = false
  markdown.split('\n').forEach((line, i) => {
    if (line.trimStart().startsWith('```')) { fenced = !fenced; return }
    if (fenced) return
    // inline code is not a link
    const text = line.replace(/`[^`]*`/g, '')
    for (const m of text.matchAll(/!?\[(?:[^\]]*)\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push({ target: m[1], line: i + 1 })
  })
  return out
}
