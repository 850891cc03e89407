// The chart of docs/benchmarks.md: median create wall time against N for the four ways, one panel
// per M, and, when the run measured levers, each lever's create beside the kubectl loop at the
// levers' size; drawn headlessly as SVG with vega-lite (compiled to vega, rendered by vega's View).
//
//   node bench/chart.mjs MEASUREMENTS.json|- OUT.svg
//
// MEASUREMENTS: `npm run bench -- engine --json FILE` (its `measurements` field is read), or that
// list itself on stdin.
import { readFileSync, writeFileSync } from "node:fs";

// ESM with top-level await: loaded with import(), not require().
const vega = await import("vega");
const vegaLite = await import("vega-lite");

const [input, output] = process.argv.slice(2);
if (!input || !output) {
    throw new Error("usage: node bench/chart.mjs MEASUREMENTS.json|- OUT.svg");
}
const parsed = JSON.parse(readFileSync(input === "-" ? 0 : input, "utf8"));
const all = (Array.isArray(parsed) ? parsed : parsed.measurements).filter((m) => m.op === "create");
const measurements = all.filter((m) => m.phase === "sizes");

const label = { program: "this program (pulumi up)", tuned: "tuned (combined Secret + skip checkpoints)", bare: "bare Pulumi program", loop: "kubectl loop", floor: "kubectl apply --server-side (floor)" };
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

const sizesChart = {
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
};

// The levers: the program's settings at one size, as bars, with the loop's time at that size as a
// rule (when the run has it) and the target of 0.6x the loop as a dashed one.
const levers = all.filter((m) => m.phase === "levers");
const leverChart = () => {
    const { namespaces: N, registries: M } = levers[0];
    const order = [...new Set(levers.map((m) => m.variant))];
    const bars = order.map((variant) => ({
        setting: variant,
        seconds: median(levers.filter((m) => m.variant === variant).map((m) => m.wallMs)) / 1000,
    }));
    const loop = measurements.filter((m) => m.way === "loop" && m.namespaces === N && m.registries === M);
    const loopSeconds = loop.length ? median(loop.map((m) => m.wallMs)) / 1000 : undefined;
    const rules = loopSeconds === undefined ? [] : [
        { what: `kubectl loop: ${loopSeconds.toFixed(1)} s`, seconds: loopSeconds, dash: [] },
        { what: `0.6x the loop: ${(0.6 * loopSeconds).toFixed(1)} s`, seconds: 0.6 * loopSeconds, dash: [4, 3] },
    ];
    return {
        title: { text: `The program's settings at N = ${N}, M = ${M}: create wall time (median)`, subtitle: "one bar per setting; the rules are the kubectl loop at the same size", offset: 24 },
        width: 700,
        height: 22 * bars.length,
        layer: [
            {
                data: { values: bars },
                mark: { type: "bar", color: "#4c78a8" },
                encoding: {
                    y: { field: "setting", type: "nominal", sort: order, title: null, axis: { labelLimit: 300 } },
                    x: { field: "seconds", type: "quantitative", title: "wall time, s" },
                },
            },
            {
                data: { values: bars },
                mark: { type: "text", align: "left", dx: 3 },
                encoding: {
                    y: { field: "setting", type: "nominal", sort: order },
                    x: { field: "seconds", type: "quantitative" },
                    text: { field: "seconds", type: "quantitative", format: ".1f" },
                },
            },
            ...rules.map((r) => ({
                data: { values: [r] },
                layer: [
                    { mark: { type: "rule", color: "#e45756", strokeDash: r.dash }, encoding: { x: { field: "seconds", type: "quantitative" } } },
                    {
                        // Above the bars, one line each, so no bar hides them.
                        mark: { type: "text", color: "#e45756", align: "left", dx: 3, baseline: "bottom", y: r.dash.length ? -14 : -2 },
                        encoding: { x: { field: "seconds", type: "quantitative" }, text: { field: "what" } },
                    },
                ],
            })),
        ],
    };
};

const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    vconcat: [sizesChart, ...(levers.length ? [leverChart()] : [])],
    config: { legend: { orient: "bottom", columns: 2, labelLimit: 400 }, background: "white" },
};

const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
writeFileSync(output, await view.toSVG());
view.finalize();
console.error(`chart: wrote ${output}`);
