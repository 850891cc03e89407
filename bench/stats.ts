/** The median of a set of runs and their spread. */
export interface Stat {
    median: number;
    min: number;
    max: number;
}

export function stat(values: number[]): Stat {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}
