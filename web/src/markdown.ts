// Agent output as Markdown: marked turns it into HTML, DOMPurify keeps only harmless elements and returns them
// as nodes (under the page's Trusted Types policy nothing else can turn a string into markup).
import type { Marked as MarkedType } from 'marked'
import type { DOMPurify } from 'dompurify'

let render: ((text: string) => Node) | null = null

export async function loadMarkdown (): Promise<void> {
  // served by the server from node_modules next to these modules (no build step bundles them)
  const markedUrl = new URL('./marked.js', import.meta.url).href
  const purifyUrl = new URL('./purify.js', import.meta.url).href
  const [{ Marked }, { default: purify }] = await Promise.all([
    import(markedUrl) as Promise<{ Marked: typeof MarkedType }>,
    import(purifyUrl) as Promise<{ default: DOMPurify }>
  ])
  const marked = new Marked({
    gfm: true,
    async: false,
    renderer: {
      // HTML written by an agent is part of what it said (often an example): shown as text, never as markup
      html: ({ text }) => escapeHtml(text),
      // images would fetch from wherever the agent points: shown as links instead
      image: ({ href, text }) => `<a href="${escapeHtml(href)}">${escapeHtml(text === '' ? 'image' : text)}</a>`
    }
  })
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.tagName === 'A') {
      node.setAttribute('target', '_blank')
      node.setAttribute('rel', 'noopener noreferrer nofollow')
    }
  })
  render = (text) => purify.sanitize(marked.parse(text) as string, {
    RETURN_DOM_FRAGMENT: true,
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed'],
    FORBID_ATTR: ['style', 'id', 'name']
  })
}

function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)
}

/** The text as sanitized Markdown, or as plain text when the libraries could not be loaded. */
export function markdown (text: string): Node {
  if (render === null) return document.createTextNode(text)
  return render(text)
}
