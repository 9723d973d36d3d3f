// Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: top functions by self time, and by package.
// `node dist/bench/profile.js FILE.cpuprofile`; bench/run.ts calls it when BENCH_CPU_PROF=1.
import { readFileSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { round } from './common.js'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  totalMs: number
  /** Share of the sampled time not spent idle. */
  busyMs: number
  functions: Array<{ name: string, where: string, selfMs: number, pct: number }>
  /** Time inside a function and everything it called, for the project's own functions. */
  inclusive: Array<{ name: string, where: string, totalMs: number, pct: number }>
  areas: Array<{ area: string, selfMs: number, pct: number }>
}

/** Which package or project file a frame belongs to. */
function areaOf (url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native)'
  if (url.startsWith('node:')) return 'node internals'
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (m !== null) return m[1]
  const own = /\/dist\/(.+?)\.js$/.exec(url)
  return own !== null ? own[1] : url
}

function shortUrl (url: string): string {
  const m = /node_modules\/(.+)$/.exec(url) ?? /\/dist\/(.+)$/.exec(url)
  return m !== null ? m[1] : url.replace(/^node:/, '')
}

export function summarizeProfile (path: string, top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const fns = new Map<string, { name: string, where: string, us: number }>()
  const areas = new Map<string, number>()
  let total = 0
  let idle = 0
  for (const [id, us] of self) {
    const node = byId.get(id)
    if (node === undefined) continue
    const { functionName, url, lineNumber } = node.callFrame
    const name = functionName === '' ? '(anonymous)' : functionName
    total += us
    if (name === '(idle)') { idle += us; continue }
    const key = `${name}\u0000${url}\u0000${lineNumber}`
    const f = fns.get(key) ?? { name, where: url === '' ? '' : `${shortUrl(url)}:${lineNumber + 1}`, us: 0 }
    f.us += us
    fns.set(key, f)
    const area = areaOf(url, name)
    areas.set(area, (areas.get(area) ?? 0) + us)
  }
  const busy = total - idle

  // inclusive time: each call tree node's self time counted for every distinct function on its stack
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const incl = new Map<string, { name: string, where: string, us: number }>()
  for (const [id, us] of self) {
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const node = byId.get(cur)
      if (node === undefined) break
      const { functionName, url, lineNumber } = node.callFrame
      if (!/\/dist\//.test(url) || /node_modules/.test(url)) continue
      const key = `${functionName}\u0000${url}\u0000${lineNumber}`
      if (seen.has(key)) continue
      seen.add(key)
      const f = incl.get(key) ?? { name: functionName === '' ? '(anonymous)' : functionName, where: `${shortUrl(url)}:${lineNumber + 1}`, us: 0 }
      f.us += us
      incl.set(key, f)
    }
  }
  const pct = (us: number): number => round(100 * us / Math.max(1, busy), 1)
  return {
    totalMs: round(total / 1000),
    busyMs: round(busy / 1000),
    functions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map(f => ({ name: f.name, where: f.where, selfMs: round(f.us / 1000), pct: pct(f.us) })),
    inclusive: [...incl.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map(f => ({ name: f.name, where: f.where, totalMs: round(f.us / 1000), pct: pct(f.us) })),
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
      .map(([area, us]) => ({ area, selfMs: round(us / 1000), pct: pct(us) }))
  }
}

export function printProfile (s: ProfileSummary): void {
  console.log(`\nCPU profile: ${s.busyMs} ms busy of ${s.totalMs} ms sampled (self time, % of busy)`)
  console.log('  by package / file:')
  for (const a of s.areas.slice(0, 12)) console.log(`    ${a.pct.toFixed(1).padStart(5)}%  ${a.area}`)
  console.log('  top functions (self):')
  for (const f of s.functions) console.log(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`)
  console.log('  project functions (inclusive: with everything they call):')
  for (const f of s.inclusive.slice(0, 15)) console.log(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  ${f.where}`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2]
  if (file === undefined) {
    console.error('usage: node dist/bench/profile.js FILE.cpuprofile')
    process.exitCode = 1
  } else {
    printProfile(summarizeProfile(file, Number(process.argv[3] ?? 25)))
  }
}
