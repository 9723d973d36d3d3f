// A real Chromium for the viewer's tests: Debian's package (installed by .ci/run), driven by playwright-core,
// never a downloaded browser. Screenshots go to screenshots/ (ignored by git) for people to look at.
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { TestContext } from '../helper.js'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SCREENSHOTS = fileURLToPath(new URL('../../screenshots/', import.meta.url))

export const DESKTOP = { width: 1280, height: 800 }
export const PHONE = { width: 390, height: 844 }

/** One browser for a test file (closed on teardown); each page gets its own context, so its own storage. */
export async function launchBrowser (t: TestContext): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright gives it a fresh temporary --user-data-dir
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    timeout: 60000
  })
  t.teardown(() => browser.close())
  return browser
}

export interface Watched {
  page: Page
  /** Uncaught page errors and console errors, for asserting that nothing went wrong. */
  errors: string[]
  /** Answers of 400 and more: "METHOD path status". */
  failed: string[]
  /** Dialogs the page opened (alert/confirm/prompt); accepted. */
  dialogs: string[]
  /** Content-Security-Policy violations the page reported (anything blocked, or attempted). */
  violations: string[]
}

export async function openPage (t: TestContext, browser: Browser, url: string, viewport = DESKTOP, opts: { bypassCSP?: boolean, timezoneId?: string } = {}): Promise<Watched> {
  const context = await browser.newContext({ viewport, serviceWorkers: 'block', bypassCSP: opts.bypassCSP === true, ...(opts.timezoneId === undefined ? {} : { timezoneId: opts.timezoneId }) })
  t.teardown(() => context.close())
  const page = await context.newPage()
  // generous: CI runs the suite two files at a time on a small machine
  page.setDefaultTimeout(30000)
  const errors: string[] = []
  const dialogs: string[] = []
  const failed: string[] = []
  page.on('pageerror', err => errors.push(`pageerror: ${err.message}`))
  // failed requests are listed in `failed`, with their address (the console's message has none)
  page.on('console', msg => { if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) errors.push(`console: ${msg.text()}`) })
  page.on('response', r => { if (r.status() >= 400) failed.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`) })
  page.on('dialog', d => { dialogs.push(`${d.type()}: ${d.message()}`); d.accept().catch(() => {}) })
  const violations: string[] = []
  await page.exposeFunction('__reportViolation', (v: string) => { violations.push(v) })
  // runs before the page's own code (injected by the driver, so the page's policy does not apply to it)
  await page.addInitScript(() => {
    const w = globalThis as any
    w.document.addEventListener('securitypolicyviolation', (e: any) => {
      w.__reportViolation(`${e.violatedDirective}: ${e.blockedURI} ${e.sample ?? ''}`)
    })
  })
  await page.goto(url)
  return { page, errors, failed, dialogs, violations }
}

export async function screenshot (page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const path = join(SCREENSHOTS, `${name}.png`)
  await page.screenshot({ path, fullPage: false })
  return path
}

/** The texts of the elements matching `selector`, in document order. */
export function texts (page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).evaluateAll(els => els.map(e => (e.textContent ?? '').trim()))
}

/** Waits (bounded) until at least n elements match. */
export async function countAtLeast (page: Page, selector: string, n: number, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const count = await page.locator(selector).count()
    if (count >= n) return
    if (Date.now() > deadline) throw new Error(`expected at least ${n} of ${selector}, found ${count}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

/**
 * Runs axe-core (WCAG 2.1 A and AA rules) on the page as it is; returns "rule: target" for each violation.
 * The page must come from a context opened with bypassCSP: axe is injected, which the page's policy forbids.
 */
export async function accessibilityViolations (page: Page): Promise<string[]> {
  await page.evaluate(axeSource)
  const result = await page.evaluate(async () => {
    const axe = (globalThis as any).axe
    const r = await axe.run((globalThis as any).document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
    return r.violations.map((v: any) => `${v.id} (${v.impact}): ${v.nodes.map((n: any) => n.target.join(' ')).slice(0, 3).join(', ')}`)
  })
  return result as string[]
}
