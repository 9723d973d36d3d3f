// Builds elements from tag names, fixed attribute names and text: agent content only ever becomes text nodes
// or attribute values, never markup.

export type Child = Node | string | number | null | undefined | false
type Value = string | number | boolean | null | undefined
type Listener = (event: Event) => void
export type Attrs = Record<string, Value | Listener>

export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Attrs = {}, ...children: Array<Child | Child[]>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === 'function') {
      el.addEventListener(name.replace(/^on/, ''), value)
    } else if (value !== null && value !== undefined && value !== false) {
      el.setAttribute(name === 'className' ? 'class' : name, value === true ? '' : String(value))
    }
  }
  append(el, ...children)
  return el
}

export function append (parent: Node, ...children: Array<Child | Child[]>): void {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child)
  }
}

export function clear (el: Element): void {
  el.replaceChildren()
}

let toastTimer: number | undefined

/** A short message in the page's status region (read out by screen readers). */
export function toast (message: string, kind: 'info' | 'error' = 'info'): void {
  const box = document.getElementById('toast')
  if (box === null) return
  box.textContent = message
  box.className = `toast show ${kind}`
  window.clearTimeout(toastTimer)
  toastTimer = window.setTimeout(() => { box.className = 'toast' }, kind === 'error' ? 8000 : 4000)
}
