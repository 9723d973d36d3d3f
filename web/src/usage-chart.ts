// Stacked bar charts for the usage page, drawn by uPlot (served from node_modules as ui/uplot.js, loaded when the
// page opens). The chart is a picture of the table beside it: it is hidden from screen readers, which read the
// table, and takes its colours from the page's (light or dark) stylesheet.
import type uPlot from 'uplot'
import type { Series } from './usage-data.js'

type UPlotCtor = typeof uPlot
let loaded: Promise<UPlotCtor> | null = null

function load (): Promise<UPlotCtor> {
  loaded ??= (import(new URL('./uplot.js', import.meta.url).href) as Promise<{ default: UPlotCtor }>).then(m => m.default)
  return loaded
}

/** Colours told apart in light and dark mode (and by most colour-blind readers): Tableau 10. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac']

function cssVar (name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim()
}

export interface Chart {
  dispose: () => void
}

/**
 * Draws `series` stacked per day into `box`, sized to it and redrawn when it is resized or the colour scheme
 * changes. `format` labels the value axis.
 */
export async function stackedBars (box: HTMLElement, days: string[], series: Series[], format: (n: number) => string): Promise<Chart> {
  const UPlot = await load()
  const xs = days.map((_, i) => i)
  // cumulative sums: the last series' bar is the whole day, drawn first, the others over it
  const stacked: number[][] = []
  let running = days.map(() => 0)
  for (const s of series) {
    running = running.map((v, i) => v + (s.values[i] ?? 0))
    stacked.push(running)
  }
  const order = series.map((_, i) => i).reverse()
  let plot: uPlot | null = null

  function draw (): void {
    plot?.destroy()
    const text = cssVar('--text')
    const grid = cssVar('--border')
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '12px system-ui, sans-serif' }
    const width = Math.max(240, box.clientWidth)
    const bars = UPlot.paths.bars?.({ size: [0.7, 48], gap: 1 })
    plot = new UPlot({
      width,
      height: width < 500 ? 200 : 260,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false, range: [-0.5, days.length - 0.5] }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.08 : 1] } },
      axes: [
        { ...axis, values: (_u, ticks) => ticks.map(t => Number.isInteger(t) ? (days[t] ?? '').slice(5) : ''), space: 44 },
        { ...axis, values: (_u, ticks) => ticks.map(format), size: 64 }
      ],
      series: [{}, ...order.map(i => ({ label: series[i].label, fill: PALETTE[i % PALETTE.length], stroke: PALETTE[i % PALETTE.length], width: 0, paths: bars, points: { show: false } }))]
    }, [xs, ...order.map(i => stacked[i])], box)
  }

  draw()
  let width = box.clientWidth
  const resized = new ResizeObserver(() => {
    if (box.clientWidth !== width) {
      width = box.clientWidth
      draw()
    }
  })
  resized.observe(box)
  const scheme = matchMedia('(prefers-color-scheme: dark)')
  scheme.addEventListener('change', draw)
  return {
    dispose () {
      resized.disconnect()
      scheme.removeEventListener('change', draw)
      plot?.destroy()
    }
  }
}
