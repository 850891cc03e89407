/**
 * `npm run bench`: what the program costs as clusters grow, against a baseline that declares the
 * same resources directly, and what a user waits for before the first resource shows.
 *
 *   npm run bench                 N = 10, 100, 1000 namespaces x M = 1, 3 registries, 7 runs each,
 *                                 start-up 10 runs each, `npm test` 3 times
 *   npm run bench -- --quick      N = 10 only, 1 run each, no `npm test` (for CI: keeps it running)
 *   options: --runs K, --startup-runs K, --npm-test-runs K
 *   npm run bench -- engine ...   the real engine on a real API server instead (bench/engine.ts)
 *   npm run bench -- reconcile    a selector stack's no-change, new-namespace and rotation runs (bench/reconcile.ts)
 *   npm run bench -- doctor ...   npm run doctor on 300 namespaces x 3 workloads (bench/doctor.ts)
 *
 * Every measured run is a fresh process (Pulumi's runtime state is process-global), one at a
 * time so that runs do not compete for cores. Prints Markdown tables and the targets' verdicts.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ChildResult, Mode } from "./child";
import { loadAverage, machine } from "./machine";
import { declaredPerTenant } from "./scenario";
import { type Stat, stat } from "./stats";

const ROOT = path.join(__dirname, "..", "..");
const CHILD = path.join(__dirname, "child.js");

// Its targets. The program / baseline ratio is printed as the program's own cost, not judged: what
// users wait for is judged on the real engine (`npm run bench -- engine`, docs/benchmarks.md).
const MAX_GROWTH = 11;
const MAX_STARTUP_RATIO = 1.3;

interface Options {
    namespaces: number[];
    registries: number[];
    runs: number;
    startupRuns: number;
    npmTestRuns: number;
}

function parseOptions(argv: string[]): Options {
    const quick = argv.includes("--quick");
    const count = (flag: string, fallback: number): number => {
        const at = argv.indexOf(flag);
        const value = at >= 0 ? Number(argv[at + 1]) : fallback;
        if (!Number.isInteger(value) || value < 0) {
            throw new Error(`${flag} takes a whole number`);
        }
        return value;
    };
    return {
        namespaces: quick ? [10] : [10, 100, 1000],
        registries: [1, 3],
        runs: Math.max(1, count("--runs", quick ? 1 : 7)),
        startupRuns: Math.max(1, count("--startup-runs", quick ? 1 : 10)),
        npmTestRuns: count("--npm-test-runs", quick ? 0 : 3),
    };
}

/** A child's own timings plus what the parent saw: process wall time and start to first resource. */
interface Run extends ChildResult {
    processMs: number;
    startToFirstResourceMs: number;
}

function runChild(dir: string, mode: Mode, namespaces: number, registries: number): Run {
    const resultFile = path.join(dir, `${mode}.json`);
    rmSync(resultFile, { force: true });
    // hrtime is CLOCK_MONOTONIC, the same clock in the child: the spawn instant is comparable.
    const spawned = process.hrtime.bigint();
    const child = spawnSync(process.execPath, [CHILD, mode, String(namespaces), String(registries), resultFile], {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
    const exited = process.hrtime.bigint();
    if (child.status !== 0) {
        throw new Error(`${mode} N=${namespaces} M=${registries} failed (${child.status ?? child.signal}):\n${child.stdout}${child.stderr}`);
    }
    const result = JSON.parse(readFileSync(resultFile, "utf8")) as ChildResult;
    return {
        ...result,
        processMs: Number(exited - spawned) / 1e6,
        startToFirstResourceMs: Number(BigInt(result.firstResourceAt) - spawned) / 1e6,
    };
}

const of = (runs: Run[], pick: (r: Run) => number): Stat => stat(runs.map(pick));
const fixed = (value: number, digits: number): string => value.toFixed(digits);
/** Median and, over several runs, the min–max spread. */
const show = (s: Stat, digits = 0, scale = 1): string =>
    s.min === s.max
        ? fixed(s.median * scale, digits)
        : `${fixed(s.median * scale, digits)} (${fixed(s.min * scale, digits)}–${fixed(s.max * scale, digits)})`;
const verdict = (ok: boolean): string => (ok ? "met" : "MISSED");

interface Size {
    namespaces: number;
    registries: number;
    program: Run[];
    baseline: Run[];
}

/** Alternates which program goes first, so that drift in the machine hits both alike. */
function measurePair(dir: string, a: Mode, b: Mode, namespaces: number, registries: number, runs: number): [Run[], Run[]] {
    const first: Run[] = [];
    const second: Run[] = [];
    for (let i = 0; i < runs; i++) {
        if (i % 2 === 0) {
            first.push(runChild(dir, a, namespaces, registries));
            second.push(runChild(dir, b, namespaces, registries));
        } else {
            second.push(runChild(dir, b, namespaces, registries));
            first.push(runChild(dir, a, namespaces, registries));
        }
    }
    return [first, second];
}

function npmTest(runs: number): { seconds: number[]; failures: number } {
    const seconds: number[] = [];
    let failures = 0;
    for (let i = 0; i < runs; i++) {
        const started = process.hrtime.bigint();
        const run = spawnSync("npm", ["test"], { cwd: ROOT, stdio: "ignore" });
        seconds.push(Number(process.hrtime.bigint() - started) / 1e9);
        failures += run.status === 0 ? 0 : 1;
    }
    return { seconds, failures };
}

function main(): void {
    const options = parseOptions(process.argv.slice(2));
    const dir = mkdtempSync(path.join(os.tmpdir(), "registry-access-bench-"));
    const print = (line = "") => console.log(line);
    try {
        print(`Machine: ${machine()}`);
        print(`Runs per size: ${options.runs}; start-up runs: ${options.startupRuns}; npm test runs: ${options.npmTestRuns}`);
        // Other work on the machine shows up as spread; the load average tells whether there was any.
        print(`Load average at start: ${loadAverage()}`);
        print();

        // Warm the file cache so that the first measured process does not read from disk.
        for (const mode of ["program", "baseline", "bare"] as const) {
            runChild(dir, mode, 1, 1);
        }

        const sizes: Size[] = [];
        for (const namespaces of options.namespaces) {
            for (const registries of options.registries) {
                const [program, baseline] = measurePair(dir, "program", "baseline", namespaces, registries, options.runs);
                sizes.push({ namespaces, registries, program, baseline });
                process.stderr.write(`measured N=${namespaces} M=${registries}\n`);
            }
        }
        const ratioOf = (s: Size) => of(s.program, (r) => r.registeredMs).median / of(s.baseline, (r) => r.registeredMs).median;
        // The same ratio without requiring the modules: what declaring costs, apart from loading.
        const declareRatioOf = (s: Size) =>
            of(s.program, (r) => r.registeredMs - r.loadMs).median / of(s.baseline, (r) => r.registeredMs - r.loadMs).median;

        print("### Declaring N namespaces x M registries");
        print();
        print("Time from just before requiring the program to the last Kubernetes resource registered with the");
        print("mock monitor, in ms: median (min–max). Per resource: that median over the N x (2 + M) Namespaces,");
        print("Secrets and ServiceAccount patches both declare. The last column leaves out requiring the modules.");
        print();
        print("| N | M | resources | program ms | baseline ms | program / baseline | program µs / resource | baseline µs / resource | ratio without module load |");
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (const s of sizes) {
            const resources = s.namespaces * declaredPerTenant(s.registries);
            const p = of(s.program, (r) => r.registeredMs);
            const b = of(s.baseline, (r) => r.registeredMs);
            print(
                `| ${s.namespaces} | ${s.registries} | ${resources} | ${show(p)} | ${show(b)} | ${fixed(ratioOf(s), 2)} | ` +
                    `${fixed((p.median * 1000) / resources, 0)} | ${fixed((b.median * 1000) / resources, 0)} | ${fixed(declareRatioOf(s), 2)} |`,
            );
        }
        print();
        print("### Memory and process");
        print();
        print("Peak RSS in MB and whole-process wall time (spawn to exit) in ms: median (min–max). Module load: requiring");
        print("the program and its imports, in ms (median). Settled: the program returned and no RPC is pending,");
        print("stack outputs included (ms, median).");
        print();
        print("| N | M | program RSS | baseline RSS | program process | baseline process | program load | baseline load | program settled | baseline settled |");
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (const s of sizes) {
            const mb = 1 / 1024;
            print(
                `| ${s.namespaces} | ${s.registries} | ${show(of(s.program, (r) => r.maxRssKb), 0, mb)} | ${show(of(s.baseline, (r) => r.maxRssKb), 0, mb)} | ` +
                    `${show(of(s.program, (r) => r.processMs))} | ${show(of(s.baseline, (r) => r.processMs))} | ` +
                    `${fixed(of(s.program, (r) => r.loadMs).median, 0)} | ${fixed(of(s.baseline, (r) => r.loadMs).median, 0)} | ` +
                    `${fixed(of(s.program, (r) => r.settledMs).median, 0)} | ${fixed(of(s.baseline, (r) => r.settledMs).median, 0)} |`,
            );
        }
        print();

        print("### Growth from N = 100 to N = 1000");
        print();
        const growth: { registries: number; program: number; baseline: number }[] = [];
        for (const registries of options.registries) {
            const at = (n: number) => sizes.find((s) => s.namespaces === n && s.registries === registries);
            const small = at(100);
            const large = at(1000);
            if (small && large) {
                const time = (runs: Run[]) => of(runs, (r) => r.registeredMs).median;
                growth.push({
                    registries,
                    program: time(large.program) / time(small.program),
                    baseline: time(large.baseline) / time(small.baseline),
                });
            }
        }
        if (growth.length === 0) {
            print("Not measured (needs N = 100 and N = 1000; run without --quick).");
        } else {
            print("Time at N = 1000 over time at N = 100 (10x the namespaces; linear is 10).");
            print();
            print("| M | program | baseline |");
            print("|---:|---:|---:|");
            for (const g of growth) {
                print(`| ${g.registries} | ${fixed(g.program, 2)}x | ${fixed(g.baseline, 2)}x |`);
            }
        }
        print();

        // The program with one namespace and one registry, against one Namespace and nothing else.
        const [startProgram, startBare] = measurePair(dir, "program", "bare", 1, 1, options.startupRuns);
        const firstOf = (runs: Run[]) => of(runs, (r) => r.startToFirstResourceMs);
        const startupRatio = firstOf(startProgram).median / firstOf(startBare).median;
        print("### Start-up: process start to first resource registered");
        print();
        print("Both as compiled JS under the same Node and the same mock setup: index.ts with one namespace and one");
        print("registry, against a bare program declaring one Namespace. In ms: median (min–max).");
        print();
        print("| | start to first resource | of which module load | process wall (spawn to exit) | peak RSS MB |");
        print("|---|---:|---:|---:|---:|");
        for (const [label, runs] of [["program (index.ts)", startProgram], ["bare program", startBare]] as const) {
            print(
                `| ${label} | ${show(firstOf(runs))} | ${show(of(runs, (r) => r.loadMs))} | ${show(of(runs, (r) => r.processMs))} | ` +
                    `${show(of(runs, (r) => r.maxRssKb), 0, 1 / 1024)} |`,
            );
        }
        print(`| program / bare | ${fixed(startupRatio, 2)} | | | |`);
        print();

        print("### npm test");
        print();
        if (options.npmTestRuns === 0) {
            print("Not run (--quick, or --npm-test-runs 0).");
        } else {
            const { seconds, failures } = npmTest(options.npmTestRuns);
            print(
                `Wall time of \`npm test\` (build, lint, unit tests), ${options.npmTestRuns} run(s): ${show(stat(seconds), 1)} s` +
                    (failures > 0 ? `; ${failures} run(s) failed` : ""),
            );
        }
        print();

        print("### Targets");
        print();
        for (const g of growth) {
            print(`- growth 100 -> 1000 namespaces <= ${MAX_GROWTH}x at M=${g.registries}: program ${fixed(g.program, 2)}x, ${verdict(g.program <= MAX_GROWTH)}`);
        }
        print(`- start-up <= ${MAX_STARTUP_RATIO}x the bare program: ${fixed(startupRatio, 3)}x, ${verdict(startupRatio <= MAX_STARTUP_RATIO)}`);
        print();
        print(`Load average at end: ${loadAverage()}`);
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

// `npm run bench -- engine ...`: the real engine on a real API server (bench/engine.ts);
// `npm run bench -- reconcile ...`: a deployed selector stack's runs (bench/reconcile.ts);
// `npm run bench -- doctor ...`: npm run doctor on many namespaces (bench/doctor.ts).
if (["engine", "reconcile", "doctor"].includes(process.argv[2])) {
    const which = process.argv[2];
    (require(`./${which}`) as { main(argv: string[]): Promise<void> }).main(process.argv.slice(3)).catch((err: unknown) => {
        process.stderr.write(`bench ${which} failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
    });
} else {
    main();
}
