// Amounts in US dollars are kept to 1e-10: sums of per-turn costs stay exact to the digits a CLI reports.

/** Rounds an amount in USD to 1e-10 (what a cost is stored and summed at). */
export function roundUsd (usd: number): number {
  return Math.round(usd * 1e10) / 1e10
}
