// The chart of docs/benchmarks.md: median create wall time against N for the four ways, one panel
// per M, drawn headlessly as SVG with vega-lite (compiled to vega, rendered by vega's View).
//
//   node bench/chart.mjs MEASUREMENTS.json|- OUT.svg
//
// MEASUREMENTS: the "sizes" measurements of `npm run bench -- engine --json FILE` (its
// `measurements` field), or that list itself on stdin.
import { readFileSync, writeFileSync } from "node:fs";

// ESM with top-level await: loaded with import(), not require().
const vega = await import("vega");
const vegaLite = await import("vega-lite");

const [input, output] = process.argv.slice(2);
if (!input || !output) {
    throw new Error("usage: node bench/chart.mjs MEASUREMENTS.json|- OUT.svg");
}
const parsed = JSON.parse(readFileSync(input === "-" ? 0 : input, "utf8"));
const measurements = (Array.isArray(parsed) ? parsed : parsed.measurements).filter((m) => m.phase === "sizes" && m.op === "create");

const label = { program: "this program (pulumi up)", bare: "bare Pulumi program", loop: "kubectl loop", floor: "kubectl apply --server-side (floor)" };
const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const groups = new Map();
for (const m of measurements) {
    const key = `${m.way} ${m.namespaces} ${m.registries}`;
    groups.set(key, [...(groups.get(key) ?? []), m]);
}
const values = [...groups.values()].map((ms) => ({
    way: label[ms[0].way],
    N: ms[0].namespaces,
    M: `M = ${ms[0].registries} registr${ms[0].registries === 1 ? "y" : "ies"}`,
    seconds: median(ms.map((m) => m.wallMs)) / 1000,
}));

const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "Create from empty: wall time against namespaces (median)", subtitle: "local API server, 2 shared cores" },
    data: { values },
    facet: { column: { field: "M", type: "nominal", title: null } },
    spec: {
        width: 320,
        height: 240,
        mark: { type: "line", point: true },
        encoding: {
            x: { field: "N", type: "quantitative", title: "namespaces (N)" },
            y: { field: "seconds", type: "quantitative", title: "wall time, s" },
            color: { field: "way", type: "nominal", title: null, sort: Object.values(label) },
        },
    },
    config: { legend: { orient: "bottom", columns: 2, labelLimit: 400 }, background: "white" },
};

const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
writeFileSync(output, await view.toSVG());
view.finalize();
console.error(`chart: wrote ${output}`);
