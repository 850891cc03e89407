/**
 * `npm run bench -- engine`: what users wait for, on a real API server. Four ways of giving N
 * namespaces x M registries their pull secrets, side by side:
 *
 *   program  this program (index.ts) as a user deploys it: the pulumi CLI in a copy of the project
 *            folder, its Node.js language host, the real provider and a file backend: create
 *            (`pulumi up --yes --skip-preview`), no-change `pulumi preview`, no-change `up`,
 *            `pulumi destroy`, each a fresh CLI, from fresh state for each create;
 *   tuned    the same with the README's setup for hundreds of namespaces (TUNED below);
 *   bare     a bare Pulumi program declaring the same resources (bench/baseline.ts, as the copy's
 *            `main`), the same way;
 *   loop     the kubectl recipe as a shell loop (bench/kubectl-loop.sh): create only;
 *   floor    one `kubectl apply --server-side` of the same objects from one file, and its
 *            no-change apply, `kubectl diff --server-side` and `kubectl delete -f`.
 *
 *   npm run bench -- engine            N = 10, 100, 300 x M = 1, 3; runs: 3, 3, 2; the levers
 *   npm run bench -- engine --quick    N = 10, M = 1, one run, no levers (for CI)
 *   options: --sizes NxM,...|none (e.g. 100x3), --runs K (every size), --ways program,tuned,bare,loop,floor,
 *            --no-levers, --levers NAME,... (some of them), --lever-runs K (2), --lever-size NxM (100x3),
 *            --ops create,preview,noop-up,destroy (the program's and bare's; without destroy their
 *            namespaces are deleted by kubectl, unmeasured),
 *            --json FILE (every measurement, written as it goes), --chart FILE (SVG of create wall
 *            time against N), --report FILE (the tables and chart of a --json FILE, measuring nothing),
 *            --deadline HH:MM (UTC: skip what would end later, judged by the way's last pace)
 *
 * Without KUBECONFIG it starts its own control-plane-only cluster (scripts/local-cluster.sh with
 * LOCAL_CLUSTER_NODE=0, in BENCH_CLUSTER_DIR or /tmp/registry-access-bench-cluster) and stops it
 * at the end, whatever happens. Prints Markdown tables (docs/benchmarks.md).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { OFFLINE_ENV, projectCopy } from "../deploy/engine";
import { loadAverage, machine } from "./machine";
import { processCpuMs, runTree, SAMPLE_MS, type TreeRun } from "./procTree";
import { benchTenants, declaredPerTenant, PROJECT, STACK, type BenchTenant } from "./scenario";
import { type Stat, stat } from "./stats";

const ROOT = path.join(__dirname, "..", "..");
const PASSPHRASE = "registry-access-bench";

type EngineWay = "program" | "tuned" | "bare";
type Way = EngineWay | "loop" | "floor";
type Op = "create" | "preview" | "noop-up" | "destroy";
const WAYS: Way[] = ["program", "tuned", "bare", "loop", "floor"];
const OPS: Op[] = ["create", "preview", "noop-up", "destroy"];

/** A setting under test: changes how the program way runs (levers), "default" when none. */
interface Variant {
    name: string;
    what: string;
    env?: Record<string, string>;
    parallel?: number;
    /** Pulumi.yaml's `main` in the project copy (the compiled program, say), and what it needs linked. */
    main?: { file: string; link: string[] };
    /** Parent of the state folder (the file backend); os.tmpdir() otherwise. */
    stateRoot?: string;
    /** More stack config (project keys), as `pulumi config set` sets them. */
    config?: Record<string, string>;
    /**
     * A fleet: the tenants split into this many stacks of one backend (a stack per tenant group),
     * each op run in all of them at once, as a pipeline's parallel jobs would.
     */
    stacks?: number;
}

const DEFAULT: Variant = {
    name: "default",
    what: "the pulumi CLI as a user runs it (index.ts through ts-node as tsconfig.json's ts-node section says), default parallel (4 x CPUs), checkpoints, provider client defaults, file backend on disk",
};
/** The README's setup for hundreds of namespaces, the "tuned" way: the best combination of levers. */
const TUNED: Variant = {
    name: "combined Secret + skip checkpoints",
    what: "combinedPullSecret: regcred with PULUMI_SKIP_CHECKPOINTS=true",
    config: { combinedPullSecret: "regcred" },
    env: { PULUMI_SKIP_CHECKPOINTS: "true" },
};
/** The setting a way runs with in the sizes phase. */
const variantOf = (way: Way): Variant => (way === "tuned" ? TUNED : DEFAULT);

const LEVERS: Variant[] = [
    { name: "parallel=64", what: "engine parallelism 64", parallel: 64 },
    { name: "ts-node type-checked", what: "ts-node type-checking the program at every run (PULUMI_NODEJS_TRANSPILE_ONLY=false)", env: { PULUMI_NODEJS_TRANSPILE_ONLY: "false" } },
    { name: "ts-node transpile-only", what: "ts-node without type-checking (PULUMI_NODEJS_TRANSPILE_ONLY=true)", env: { PULUMI_NODEJS_TRANSPILE_ONLY: "true" } },
    { name: "compiled main", what: "Pulumi.yaml's main: build/index.js, the output of npm run build", main: { file: "build/index.js", link: ["build"] } },
    { name: "skip checkpoints", what: "PULUMI_SKIP_CHECKPOINTS=true: state written once at the end", env: { PULUMI_SKIP_CHECKPOINTS: "true" } },
    { name: "client qps=500 burst=1000", what: "the provider's client rate (PULUMI_K8S_CLIENT_QPS / _BURST; defaults 50 / 120)", env: { PULUMI_K8S_CLIENT_QPS: "500", PULUMI_K8S_CLIENT_BURST: "1000" } },
    { name: "backend on tmpfs", what: "file backend in /dev/shm instead of the disk", stateRoot: "/dev/shm" },
    { name: "combined Secret", what: "combinedPullSecret: regcred, every registry of a namespace in one Secret", config: { combinedPullSecret: "regcred" } },
    { name: "fleet of 3 stacks", what: "the tenants in 3 stacks of one backend, a third each, their CLIs run at once", stacks: 3 },
    {
        name: "combined Secret + fleet of 3",
        what: "combinedPullSecret: regcred in each of 3 stacks run at once",
        config: { combinedPullSecret: "regcred" },
        stacks: 3,
    },
    TUNED,
];

export interface Measurement {
    /** "sizes": the four ways at every size; "levers": the program's settings at one size. */
    phase: "sizes" | "levers";
    way: Way;
    op: Op;
    variant: string;
    namespaces: number;
    registries: number;
    run: number;
    wallMs: number;
    cpuMs: number;
    peakRssMb: number;
    /** CPU the API server, etcd and controller-manager spent meanwhile (own cluster only). */
    serverCpuMs: number;
    load1: number;
    /** After a program's or bare's create: the bytes of its stacks' checkpoint files. */
    stateBytes?: number;
}

/** Where the wall time of one program `preview` went, in ms (from a run with PULUMI_DEBUG_GRPC). */
interface PreviewSplit {
    namespaces: number;
    registries: number;
    wallMs: number;
    /** The CLI started to its LanguageRuntime/Run call: CLI, backend, language host, provider. */
    engineStart: number;
    /** The Run call: Node, ts-node, the program's modules, the program and its registrations. */
    run: number;
    providerCalls: number;
    providerBusy: number;
    /** Run's end to the CLI's exit. */
    engineFinish: number;
}

interface Options {
    sizes: { namespaces: number; registries: number; runs: number }[];
    ways: Way[];
    levers: boolean;
    leverRuns: number;
    /** The levers to measure (all when absent), by name. */
    leverNames?: string[];
    leverSize: { namespaces: number; registries: number };
    /** What the program and bare ways run; without destroy, kubectl deletes their namespaces. */
    ops: Op[];
    quick: boolean;
    json?: string;
    chart?: string;
    /** Print the tables of an earlier run's --json file instead of measuring. */
    report?: string;
    /** ms since the epoch: no way is started that would be expected to end later. */
    deadline?: number;
}

/** "HH:MM" (UTC, the next such time) as ms since the epoch. */
function deadlineOf(text: string | undefined): number | undefined {
    if (text === undefined) {
        return undefined;
    }
    const m = /^(\d\d):(\d\d)$/.exec(text);
    if (!m) {
        throw new Error(`--deadline takes HH:MM in UTC (got ${text})`);
    }
    const at = new Date();
    at.setUTCHours(Number(m[1]), Number(m[2]), 0, 0);
    return at.getTime() < Date.now() ? at.getTime() + 86_400_000 : at.getTime();
}

function parseOptions(argv: string[]): Options {
    const quick = argv.includes("--quick");
    const valueOf = (flag: string): string | undefined => {
        const at = argv.indexOf(flag);
        return at >= 0 ? argv[at + 1] : undefined;
    };
    const count = (flag: string): number | undefined => {
        const text = valueOf(flag);
        if (text !== undefined && !(Number.isInteger(Number(text)) && Number(text) > 0)) {
            throw new Error(`${flag} takes a whole number above 0`);
        }
        return text === undefined ? undefined : Number(text);
    };
    const runs = count("--runs");
    // Fewer runs at N = 300, where one round of the four ways takes minutes on 2 cores.
    const runsAt = (n: number) => runs ?? (quick ? 1 : n >= 300 ? 2 : 3);
    const size = (text: string) => {
        const m = /^(\d+)x(\d+)$/.exec(text);
        if (!m) {
            throw new Error(`sizes are NxM, e.g. 100x3 (got ${text})`);
        }
        return { namespaces: Number(m[1]), registries: Number(m[2]), runs: runsAt(Number(m[1])) };
    };
    const sizesText = valueOf("--sizes") ?? (quick ? "10x1" : "10x1,10x3,100x1,100x3,300x1,300x3");
    const sizes = sizesText === "none" ? [] : sizesText.split(",").map(size);
    const ways = (valueOf("--ways")?.split(",") ?? WAYS) as Way[];
    if (!ways.every((w) => WAYS.includes(w))) {
        throw new Error(`--ways takes some of ${WAYS.join(",")}`);
    }
    const ops = (valueOf("--ops")?.split(",") ?? OPS) as Op[];
    if (!ops.every((o) => OPS.includes(o)) || !ops.includes("create")) {
        throw new Error(`--ops takes create and some of ${OPS.slice(1).join(",")}`);
    }
    return {
        sizes,
        ways,
        levers: !quick && !argv.includes("--no-levers"),
        leverRuns: count("--lever-runs") ?? 2,
        leverNames: valueOf("--levers")?.split(","),
        leverSize: size(valueOf("--lever-size") ?? "100x3"),
        ops: OPS.filter((o) => ops.includes(o)),
        report: valueOf("--report"),
        deadline: deadlineOf(valueOf("--deadline")),
        quick,
        json: valueOf("--json"),
        chart: valueOf("--chart"),
    };
}

// ---------------------------------------------------------------- the cluster

export interface Cluster {
    kubeconfig: string;
    /** Pids of the control plane, when this benchmark started it: their CPU is read from /proc. */
    serverPids: number[];
    stop(): void;
}

export function startCluster(): Cluster {
    const given = process.env.KUBECONFIG;
    if (given) {
        return { kubeconfig: given, serverPids: [], stop: () => undefined };
    }
    const dir = process.env.BENCH_CLUSTER_DIR ?? "/tmp/registry-access-bench-cluster";
    const script = path.join(ROOT, "scripts", "local-cluster.sh");
    const env = { ...process.env, LOCAL_CLUSTER_DIR: dir, LOCAL_CLUSTER_NODE: "0", LOCAL_CLUSTER_FORCE: "1" };
    // A cluster already running there is another benchmark's: used, and left to it to stop.
    const pidFile = path.join(dir, "apiserver.pid");
    let stopped = existsSync(pidFile) && existsSync(`/proc/${readFileSync(pidFile, "utf8").trim()}`);
    const stop = () => {
        if (!stopped) {
            stopped = true;
            spawnSync("bash", [script, "down"], { env, stdio: ["ignore", "ignore", "inherit"] });
        }
    };
    // Stopped whatever happens: normal end, error, Ctrl-C or TERM.
    process.on("exit", stop);
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.on(signal, () => {
            stop();
            process.exit(130);
        });
    }
    const up = spawnSync("bash", [script, "up"], { env, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (up.status !== 0) {
        stop();
        throw new Error("scripts/local-cluster.sh up failed");
    }
    const serverPids = ["apiserver", "etcd", "controller-manager"].map((name) => Number(readFileSync(path.join(dir, `${name}.pid`), "utf8")));
    return { kubeconfig: up.stdout.trim().split("\n").pop()!, serverPids, stop };
}

/** What every command of a benchmark runs with: the cluster, an offline CLI, a file backend in BACKEND. */
export function benchEnv(cluster: Cluster, kubectlCache: string, extra: Record<string, string> = {}, backend?: string): NodeJS.ProcessEnv {
    return {
        ...process.env,
        ...OFFLINE_ENV,
        KUBECONFIG: cluster.kubeconfig,
        KUBECACHEDIR: kubectlCache,
        PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
        ...(backend ? { PULUMI_BACKEND_URL: `file://${backend}` } : {}),
        ...extra,
    };
}

/** Runs kubectl (not measured), INPUT on its stdin; its stdout, or an error with its stderr. */
export function kubectl(env: NodeJS.ProcessEnv, args: string[], input?: string): string {
    const r = spawnSync("kubectl", args, { env, input, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (r.status !== 0) {
        throw new Error(`kubectl ${args.join(" ")} failed: ${r.stderr}`);
    }
    return r.stdout;
}

/** The API server's version, as the reports' header gives it. */
export const serverVersion = (env: NodeJS.ProcessEnv): string =>
    kubectl(env, ["version", "-o", "json"]).match(/"serverVersion":[^}]*"gitVersion":\s*"([^"]+)"/)?.[1] ?? "unknown";

// ---------------------------------------------------------------- the ways

interface Scenario {
    phase: Measurement["phase"];
    way: Way;
    namespaces: number;
    registries: number;
    run: number;
    variant: Variant;
    tenants: BenchTenant[];
    dir: string;
}

const secretName = (server: string) => `regcred-${server.replace(/[^a-z0-9]+/g, "-")}`;

/** The same objects as the programs declare, as one List for `kubectl apply --server-side`. */
function floorManifest(tenants: BenchTenant[]): string {
    const items = tenants.flatMap((t) => [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: t.namespace } },
        ...t.registries.map((r) => {
            const auth = Buffer.from(`${r.username}:${r.password}`).toString("base64");
            const document = JSON.stringify({ auths: { [r.server]: { username: r.username, password: r.password, auth } } });
            return {
                apiVersion: "v1",
                kind: "Secret",
                metadata: { name: secretName(r.server), namespace: t.namespace },
                type: "kubernetes.io/dockerconfigjson",
                data: { ".dockerconfigjson": Buffer.from(document).toString("base64") },
            };
        }),
        {
            apiVersion: "v1",
            kind: "ServiceAccount",
            metadata: { name: "default", namespace: t.namespace },
            imagePullSecrets: t.registries.map((r) => ({ name: secretName(r.server) })),
        },
    ]);
    return JSON.stringify({ apiVersion: "v1", kind: "List", items });
}

class Bench {
    readonly measurements: Measurement[] = [];
    readonly splits: PreviewSplit[] = [];

    constructor(
        private readonly cluster: Cluster,
        private readonly kubectlCache: string,
    ) {}

    private env(extra: Record<string, string> = {}, backend?: string): NodeJS.ProcessEnv {
        return benchEnv(this.cluster, this.kubectlCache, extra, backend);
    }

    private serverCpu(): number {
        return this.cluster.serverPids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
    }

    /** Runs one measured command and records it; fails the benchmark if the command failed. */
    private async measure(s: Scenario, op: Op, command: string, args: string[], env: NodeJS.ProcessEnv, cwd = s.dir): Promise<TreeRun> {
        const [run] = await this.measureAll(s, op, [{ command, args }], env, cwd);
        return run;
    }

    /**
     * Runs COMMANDS at once and records them as one: wall time from the first start to the last
     * end, CPU summed, peak memory summed (an upper bound: the peaks need not coincide).
     */
    private async measureAll(s: Scenario, op: Op, commands: { command: string; args: string[] }[], env: NodeJS.ProcessEnv, cwd = s.dir): Promise<TreeRun[]> {
        const server = this.serverCpu();
        const runs = await Promise.all(commands.map((c) => runTree(c.command, c.args, { env, cwd })));
        for (const run of runs.filter((r) => r.code !== 0)) {
            throw new Error(`${s.way} ${op} N=${s.namespaces} M=${s.registries} failed (${run.code}):\n${run.output.slice(-4000)}`);
        }
        const sum = (pick: (r: TreeRun) => number) => runs.reduce((total, r) => total + pick(r), 0);
        this.measurements.push({
            phase: s.phase,
            way: s.way,
            op,
            variant: s.variant.name,
            namespaces: s.namespaces,
            registries: s.registries,
            run: s.run,
            wallMs: Math.max(...runs.map((r) => r.spawnedAt + r.wallMs)) - Math.min(...runs.map((r) => r.spawnedAt)),
            cpuMs: sum((r) => r.cpuMs),
            peakRssMb: sum((r) => r.peakRssMb),
            serverCpuMs: this.serverCpu() - server,
            load1: os.loadavg()[0],
        });
        return runs;
    }

    kubectl(args: string[]): string {
        return kubectl(this.env(), args);
    }

    /** Deletes the run's namespaces and waits until they are gone (not measured). */
    private deleteNamespaces(tenants: BenchTenant[]): void {
        this.kubectl(["delete", "namespace", "--ignore-not-found", "--timeout=600s", ...tenants.map((t) => t.namespace)]);
    }

    async runWay(s: Scenario, split: boolean, ops: Op[] = OPS): Promise<void> {
        mkdirSync(s.dir, { recursive: true });
        switch (s.way) {
            case "program":
            case "tuned":
            case "bare":
                return this.runPulumi(s, split, ops);
            case "loop": {
                const file = path.join(s.dir, "tenants.txt");
                writeFileSync(file, s.tenants.map((t) => [t.namespace, ...t.registries.flatMap((r) => [r.server, r.username, r.password])].join(" ")).join("\n") + "\n");
                await this.measure(s, "create", "bash", [path.join(ROOT, "bench", "kubectl-loop.sh"), file], this.env());
                this.deleteNamespaces(s.tenants);
                return;
            }
            case "floor": {
                const file = path.join(s.dir, "objects.json");
                writeFileSync(file, floorManifest(s.tenants));
                const apply = ["apply", "--server-side", "--field-manager=registry-access-bench", "-f", file];
                await this.measure(s, "create", "kubectl", apply, this.env());
                // `kubectl diff` exits 1 when it finds a difference: a failure here.
                await this.measure(s, "preview", "kubectl", ["diff", "--server-side", "--field-manager=registry-access-bench", "-f", file], this.env());
                await this.measure(s, "noop-up", "kubectl", apply, this.env());
                await this.measure(s, "destroy", "kubectl", ["delete", "--timeout=600s", "-f", file], this.env());
                return;
            }
        }
    }

    private async runPulumi(s: Scenario, split: boolean, ops: Op[]): Promise<void> {
        const way = s.way as EngineWay;
        const stateDir = mkdtempSync(path.join(s.variant.stateRoot ?? os.tmpdir(), "registry-access-bench-state-"));
        const backend = path.join(stateDir, "backend");
        mkdirSync(backend);
        try {
            const env = this.env(s.variant.env, backend);
            // Fresh state: new stacks of a new project copy in a new backend, their config set (not measured).
            const main = way === "bare" ? { file: "bench/baseline.ts", link: ["bench"] } : s.variant.main;
            const project = projectCopy(path.join(s.dir, "project"), main ? { main: main.file, link: main.link } : {});
            // A fleet's stacks take consecutive tenant groups; one stack keeps the usual name.
            const k = s.variant.stacks ?? 1;
            const per = Math.ceil(s.tenants.length / k);
            const stacks = Array.from({ length: k }, (_, g) => ({ name: k === 1 ? STACK : `${STACK}-${g}`, tenants: s.tenants.slice(g * per, (g + 1) * per) }));
            for (const { name, tenants } of stacks) {
                const stack = await LocalWorkspace.createStack({ stackName: name, workDir: project }, { secretsProvider: "passphrase", envVars: env as Record<string, string> });
                await stack.setConfig(`${PROJECT}:tenants`, { value: JSON.stringify(tenants), secret: true });
                for (const [key, value] of Object.entries(s.variant.config ?? {})) {
                    await stack.setConfig(`${PROJECT}:${key}`, { value });
                }
            }

            const secrets = s.variant.config?.combinedPullSecret !== undefined ? 1 : s.registries;
            const perTenant = declaredPerTenant(secrets) + (way === "bare" ? 0 : 1); // and the component
            for (const op of ops) {
                const commands = stacks.map(({ name }) => cliCommand(op, name, s.variant.parallel));
                const runs = await this.measureAll(s, op, commands, env, project);
                runs.forEach((run, i) => {
                    const resources = stacks[i].tenants.length * perTenant + 1; // and the Stack
                    const expected: Record<string, number> = { create: { create: resources }, preview: { same: resources }, "noop-up": { same: resources }, destroy: { delete: resources } }[op];
                    expectChanges(run.output, expected, `${way} ${op} N=${s.namespaces} M=${s.registries} stack ${stacks[i].name}`);
                });
                if (op === "create") {
                    this.measurements[this.measurements.length - 1].stateBytes = stacks.reduce((sum, { name }) => sum + statSync(checkpointFile(backend, name)).size, 0);
                }
                if (op === "preview" && split && k === 1) {
                    this.splits.push(await this.previewSplit(s, project, env, commands[0].command, commands[0].args));
                }
            }
            if (!ops.includes("destroy")) {
                this.deleteNamespaces(s.tenants);
            }
        } finally {
            rmSync(stateDir, { recursive: true, force: true });
        }
    }

    /**
     * One more no-change preview, not counted in the tables, with the CLI logging every gRPC call
     * it makes (PULUMI_DEBUG_GRPC: method, end time and duration) to split its wall time.
     */
    private async previewSplit(s: Scenario, project: string, env: NodeJS.ProcessEnv, command: string, args: string[]): Promise<PreviewSplit> {
        const log = path.join(s.dir, "grpc.log");
        const run = await runTree(command, args, { env: { ...env, PULUMI_DEBUG_GRPC: log }, cwd: project });
        if (run.code !== 0) {
            throw new Error(`instrumented preview failed:\n${run.output.slice(-4000)}`);
        }
        const calls = readFileSync(log, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((line) => JSON.parse(line) as { method: string; progress?: string; timestamp: string; duration?: number })
            .filter((c) => c.progress === "response_completed")
            .map((c) => ({ method: c.method, end: Date.parse(c.timestamp), ms: (c.duration ?? 0) / 1e6 }));
        rmSync(log, { force: true });
        const runCall = calls.find((c) => c.method.endsWith("LanguageRuntime/Run"));
        if (!runCall) {
            throw new Error("the gRPC log has no LanguageRuntime/Run call");
        }
        // Provider calls overlap each other: their union is the time some call was in flight.
        const provider = calls.filter((c) => c.method.startsWith("/pulumirpc.ResourceProvider/")).map((c) => [c.end - c.ms, c.end] as const);
        provider.sort((a, b) => a[0] - b[0]);
        let busy = 0;
        let reach = -Infinity;
        for (const [start, end] of provider) {
            busy += Math.max(0, end - Math.max(start, reach));
            reach = Math.max(reach, end);
        }
        const runStart = runCall.end - runCall.ms;
        return {
            namespaces: s.namespaces,
            registries: s.registries,
            wallMs: run.wallMs,
            engineStart: runStart - run.spawnedAt,
            run: runCall.ms,
            providerCalls: provider.length,
            providerBusy: busy,
            engineFinish: run.spawnedAt + run.wallMs - runCall.end,
        };
    }
}

/** A file backend's checkpoint of STACK: project-scoped (CLI 3.61 and later) or the older layout. */
function checkpointFile(backend: string, stack: string): string {
    const scoped = path.join(backend, ".pulumi", "stacks", PROJECT, `${stack}.json`);
    return existsSync(scoped) ? scoped : path.join(backend, ".pulumi", "stacks", `${stack}.json`);
}

/** The pulumi command a user types for OP, in the project folder. */
function cliCommand(op: Op, stack: string, parallel: number | undefined): { command: string; args: string[] } {
    const verb: Record<Op, string[]> = {
        create: ["up", "--yes", "--skip-preview"],
        preview: ["preview"],
        "noop-up": ["up", "--yes", "--skip-preview"],
        destroy: ["destroy", "--yes", "--skip-preview"],
    };
    return { command: "pulumi", args: [...verb[op], "--stack", stack, "--non-interactive", "--color", "never", ...(parallel ? ["--parallel", String(parallel)] : [])] };
}

/** The CLI's "Resources:" summary as the engine's change counts: `+ 12 created`, `12 unchanged`, `- 3 to delete`. */
export function changeSummary(output: string): Record<string, number> {
    const kinds: Record<string, string> = { create: "create", created: "create", unchanged: "same", delete: "delete", deleted: "delete", update: "update", updated: "update", replace: "replace", replaced: "replace" };
    const changes: Record<string, number> = {};
    const summary = output.slice(output.lastIndexOf("Resources:"));
    for (const m of summary.matchAll(/^\s+[-+~]?\s*(\d+) (?:to )?(\w+)$/gm)) {
        const kind = kinds[m[2]];
        if (kind) {
            changes[kind] = (changes[kind] ?? 0) + Number(m[1]);
        }
    }
    return changes;
}

/** The run's summary as change counts, which must be exactly EXPECTED; else an error naming WHAT. */
export function expectChanges(output: string, expected: Record<string, number>, what: string): Record<string, number> {
    const changes = changeSummary(output);
    const sorted = (c: Record<string, number>) => JSON.stringify(Object.entries(c).sort());
    if (sorted(changes) !== sorted(expected)) {
        throw new Error(`${what}: the engine reported ${JSON.stringify(changes)}, expected ${JSON.stringify(expected)}:\n${output.slice(-2000)}`);
    }
    return changes;
}

// ---------------------------------------------------------------- tables

export const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
/** MS in seconds, as the tables show them. */
export const s1 = (ms: number) => (ms / 1000).toFixed(ms < 10000 ? 2 : 1);
const showS = (st: Stat | undefined) => (!st ? "–" : st.min === st.max ? s1(st.median) : `${s1(st.median)} (${s1(st.min)}–${s1(st.max)})`);

function select(ms: Measurement[], q: Partial<Measurement>): Measurement[] {
    return ms.filter((m) => Object.entries(q).every(([k, v]) => m[k as keyof Measurement] === v));
}

function statOf(ms: Measurement[], q: Partial<Measurement>, pick: (m: Measurement) => number): Stat | undefined {
    const found = select(ms, q);
    return found.length ? stat(found.map(pick)) : undefined;
}

export function report(ms: Measurement[], splits: PreviewSplit[], sizes: Options["sizes"], print: (line?: string) => void): string[] {
    // Each way runs with its own setting here (variantOf): the way alone tells them apart.
    const wall = (q: Partial<Measurement>) => statOf(ms, q, (m) => m.wallMs);
    const ratio = (a?: Stat, b?: Stat) => (a && b ? (a.median / b.median).toFixed(2) : "–");

    const opTitle: Record<Op, string> = {
        create: "Create (from empty)",
        preview: "No-change preview",
        "noop-up": "No-change up",
        destroy: "Destroy",
    };
    for (const op of OPS) {
        print(`### ${opTitle[op]}: wall time, s`);
        print();
        print("| N | M | program | tuned | bare | kubectl loop | SSA floor | program / bare | program / loop | tuned / loop | program / floor |");
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (const { namespaces, registries } of sizes) {
            const at = { namespaces, registries, op };
            const [p, t, b, l, f] = WAYS.map((way) => wall({ ...at, way }));
            print(
                `| ${namespaces} | ${registries} | ${showS(p)} | ${showS(t)} | ${showS(b)} | ${showS(l)} | ${showS(f)} | ${ratio(p, b)} | ${ratio(p, l)} | ${ratio(t, l)} | ${ratio(p, f)} |`,
            );
        }
        print();
    }

    print("### CPU time and peak memory of the whole process tree (median)");
    print();
    print("CPU: user + system of every process of the tree, s. Memory: peak of the summed RSS, MB.");
    print("Server: CPU of the API server, etcd and controller-manager during the same run, s.");
    print();
    print(
        "| N | M | op | program CPU | tuned CPU | bare CPU | loop CPU | floor CPU | program MB | tuned MB | bare MB | loop MB | floor MB | server CPU: program | tuned | bare | loop | floor |",
    );
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const { namespaces, registries } of sizes) {
        for (const op of OPS) {
            const at = { namespaces, registries, op };
            const col = (pick: (m: Measurement) => number, digits: number, scale: number) =>
                WAYS.map((way) => {
                    const st = statOf(ms, { ...at, way }, pick);
                    return st ? (st.median * scale).toFixed(digits) : "–";
                });
            print(
                `| ${namespaces} | ${registries} | ${op} | ${col((m) => m.cpuMs, 2, 1 / 1000).join(" | ")} | ${col((m) => m.peakRssMb, 0, 1).join(" | ")} | ` +
                    `${col((m) => m.serverCpuMs, 2, 1 / 1000).join(" | ")} |`,
            );
        }
    }
    print();

    if (splits.length) {
        print("### Where a no-change `preview` of the program spends its time (one instrumented run per size, ms)");
        print();
        print("| N | M | wall | CLI start to Run (CLI, backend, language host, provider) | Run (Node, ts-node, modules, program, registrations) | of which provider calls busy (calls) | Run's end to exit |");
        print("|---:|---:|---:|---:|---:|---:|---:|");
        for (const sp of splits) {
            const r = (v: number) => v.toFixed(0);
            print(`| ${sp.namespaces} | ${sp.registries} | ${r(sp.wallMs)} | ${r(sp.engineStart)} | ${r(sp.run)} | ${r(sp.providerBusy)} (${sp.providerCalls}) | ${r(sp.engineFinish)} |`);
        }
        print();
    }

    // The targets, from the issue.
    const verdicts: string[] = [];
    for (const { namespaces, registries } of sizes.filter((z) => z.namespaces >= 100)) {
        for (const op of ["create", "preview"] as const) {
            const p = wall({ namespaces, registries, op, way: "program" });
            const b = wall({ namespaces, registries, op, way: "bare" });
            const cpu = (way: Way) => statOf(ms, { namespaces, registries, op, way }, (m) => m.cpuMs)?.median ?? NaN;
            if (p && b) {
                const r = p.median / b.median;
                verdicts.push(
                    `program / bare <= 1.05 on ${op}, N=${namespaces} M=${registries}: ${r.toFixed(3)}, ${verdict(r <= 1.05)} ` +
                        `(CPU time: ${(cpu("program") / cpu("bare")).toFixed(3)})`,
                );
            }
        }
    }
    for (const way of ["program", "tuned"] as const) {
        for (const { namespaces, registries } of sizes.filter((z) => z.namespaces >= 10)) {
            const p = wall({ namespaces, registries, op: "create", way });
            const l = wall({ namespaces, registries, op: "create", way: "loop" });
            if (p && l) {
                const r = p.median / l.median;
                verdicts.push(`${way} create in at most 0.6x the kubectl loop's time, N=${namespaces} M=${registries}: ${s1(p.median)} s vs ${s1(l.median)} s, ${r.toFixed(2)}x, ${verdict(r <= 0.6)}`);
            }
        }
        const preview = wall({ namespaces: 300, registries: 3, op: "preview", way });
        if (preview) {
            verdicts.push(`${way} no-change preview at N=300 M=3 under 30 s: ${s1(preview.median)} s, ${verdict(preview.median < 30000)}`);
        }
        for (const registries of [1, 3]) {
            const p = wall({ namespaces: 300, registries, op: "create", way });
            const f = wall({ namespaces: 300, registries, op: "create", way: "floor" });
            if (p && f) {
                const r = p.median / f.median;
                verdicts.push(`${way} create within 3x of the SSA floor, N=300 M=${registries}: ${r.toFixed(2)}x, ${verdict(r <= 3)}`);
            }
            const small = wall({ namespaces: 100, registries, op: "create", way });
            if (p && small) {
                const g = p.median / 300 / (small.median / 100);
                verdicts.push(`${way} create time per namespace at N=300 <= 1.2x that at N=100, M=${registries}: ${g.toFixed(2)}x, ${verdict(g <= 1.2)}`);
            }
        }
    }
    print("### Targets");
    print();
    for (const v of verdicts) {
        print(`- ${v}`);
    }
    print();
    return verdicts;
}

/** LOOP: the kubectl loop's create at the levers' size, when the sizes measured it. */
function reportLevers(ms: Measurement[], loop: Stat | undefined, print: (line?: string) => void): void {
    if (ms.length === 0) {
        return;
    }
    const at = { way: "program" as const, namespaces: ms[0].namespaces, registries: ms[0].registries };
    print(`### Levers: the program at N = ${at.namespaces}, M = ${at.registries}`);
    print();
    print(
        "Wall time and CPU time of the process tree in s, median (min–max) where a setting ran more than once; peak memory of create in MB " +
            "(a fleet's: its CLIs' peaks summed); state: the checkpoint files after create, KB" +
            (loop ? `; create / loop: against the kubectl loop's ${s1(loop.median)} s at this size.` : "."),
    );
    print();
    print("| setting | create wall | create CPU | preview wall | preview CPU | no-change up wall | no-change up CPU | destroy wall | destroy CPU | create MB | state KB | create / loop |");
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    const variants = [DEFAULT, ...LEVERS].filter((v) => ms.some((m) => m.variant === v.name));
    for (const v of variants) {
        const cells = OPS.flatMap((op) => [
            showS(statOf(ms, { ...at, variant: v.name, op }, (m) => m.wallMs)),
            showS(statOf(ms, { ...at, variant: v.name, op }, (m) => m.cpuMs)),
        ]);
        const create = { ...at, variant: v.name, op: "create" as const };
        const mem = statOf(ms, create, (m) => m.peakRssMb);
        const state = statOf(ms.filter((m) => m.stateBytes !== undefined), create, (m) => m.stateBytes!);
        const wall = statOf(ms, create, (m) => m.wallMs);
        const vsLoop = wall && loop ? (wall.median / loop.median).toFixed(2) : "–";
        print(`| ${v.name} | ${cells.join(" | ")} | ${mem ? mem.median.toFixed(0) : "–"} | ${state ? (state.median / 1024).toFixed(0) : "–"} | ${vsLoop} |`);
    }
    print();
    for (const v of variants) {
        print(`- ${v.name}: ${v.what}`);
    }
    print();
}

// ---------------------------------------------------------------- main


interface Results {
    measurements: Measurement[];
    splits: PreviewSplit[];
}

/** The tables (and the chart) of a run's results. */
function printResults(results: Results, options: Options, print: (line?: string) => void): void {
    const sizes = results.measurements.filter((m) => m.phase === "sizes");
    const sizeList = [...new Map(sizes.map((m) => [`${m.namespaces}x${m.registries}`, { namespaces: m.namespaces, registries: m.registries, runs: 0 }])).values()].sort(
        (a, b) => a.namespaces - b.namespaces || a.registries - b.registries,
    );
    if (sizes.length) {
        report(sizes, results.splits, sizeList, print);
    }
    const levers = results.measurements.filter((m) => m.phase === "levers");
    const loop = levers.length
        ? statOf(sizes, { way: "loop", op: "create", namespaces: levers[0].namespaces, registries: levers[0].registries }, (m) => m.wallMs)
        : undefined;
    reportLevers(levers, loop, print);
    const loads = results.measurements.map((m) => m.load1);
    if (loads.length) {
        print(`1-minute load average over the measured runs: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (2 would be both cores busy)`);
    }
    if (options.chart && sizes.length) {
        const chart = spawnSync(process.execPath, [path.join(ROOT, "bench", "chart.mjs"), "-", options.chart], {
            input: JSON.stringify(results.measurements),
            stdio: ["pipe", "inherit", "inherit"],
        });
        if (chart.status !== 0) {
            throw new Error("drawing the chart failed");
        }
    }
}

export async function main(argv: string[]): Promise<void> {
    const options = parseOptions(argv);
    const print = (line = "") => console.log(line);
    if (options.report) {
        printResults(JSON.parse(readFileSync(options.report, "utf8")) as Results, options, print);
        return;
    }
    const progress = (line: string) => process.stderr.write(`bench engine: ${new Date().toISOString().slice(11, 19)} ${line} (load ${loadAverage()})\n`);
    const work = mkdtempSync(path.join(os.tmpdir(), "registry-access-bench-engine-"));
    const cluster = startCluster();
    try {
        const kubectlCache = path.join(work, "kubectl-cache");
        const bench = new Bench(cluster, kubectlCache);
        print(`Machine: ${machine()}`);
        print(`Kubernetes: ${serverVersion(benchEnv(cluster, kubectlCache))}; memory sampled every ${SAMPLE_MS} ms`);
        print(`Runs per size: ${options.sizes.map((z) => `N=${z.namespaces} M=${z.registries}: ${z.runs}`).join(", ") || "none"}`);
        print(`Load average at start: ${loadAverage()}`);
        print();
        // Written after every way, so that an interrupted run's measurements are kept (--report).
        const save = () => {
            if (options.json) {
                writeFileSync(options.json, JSON.stringify({ measurements: bench.measurements, splits: bench.splits } satisfies Results, null, 1));
            }
        };

        let serial = 0;
        const scenario = (phase: Scenario["phase"], way: Way, namespaces: number, registries: number, run: number, variant: Variant): Scenario => {
            const prefix = `${way[0]}${serial++}`;
            return { phase, way, namespaces, registries, run, variant, tenants: benchTenants(namespaces, registries, prefix), dir: path.join(work, prefix) };
        };
        // Unmeasured warm-up of every way at the smallest size: file cache, kubectl's discovery cache.
        if (!options.quick) {
            for (const way of options.levers ? ["program" as const, ...options.ways] : options.ways) {
                await bench.runWay(scenario("sizes", way, 1, 1, -1, variantOf(way)), false, options.ops);
            }
            bench.measurements.length = 0;
            progress("warmed up");
        }

        // Round by round: every size gets its first run before any gets its second, so that a
        // deadline leaves every size measured at least once.
        const pace = new Map<Way, number>(); // ms per declared resource, from the way's last run
        const skipped: string[] = [];
        for (let run = 0; run < Math.max(0, ...options.sizes.map((z) => z.runs)); run++) {
            for (const size of options.sizes.filter((z) => run < z.runs)) {
                // Each round starts with a different way, so that drift in the machine hits all alike.
                const order = options.ways.map((_, i) => options.ways[(i + run) % options.ways.length]);
                const resources = size.namespaces * declaredPerTenant(size.registries);
                for (const way of order) {
                    const expected = (pace.get(way) ?? 0) * resources;
                    if (options.deadline && Date.now() + expected > options.deadline) {
                        skipped.push(`${way} N=${size.namespaces} M=${size.registries} run ${run + 1}`);
                        continue;
                    }
                    const started = Date.now();
                    // The first round's program preview is repeated once with gRPC logging for the split.
                    await bench.runWay(scenario("sizes", way, size.namespaces, size.registries, run, variantOf(way)), way === "program" && run === 0, options.ops);
                    pace.set(way, (Date.now() - started) / resources);
                    save();
                }
                progress(`N=${size.namespaces} M=${size.registries} run ${run + 1}/${size.runs}`);
            }
        }
        if (skipped.length) {
            print(`Not measured, as they would have ended after the deadline (--deadline): ${skipped.join("; ")}`);
            print();
        }
        if (options.levers) {
            const { namespaces, registries } = options.leverSize;
            for (let run = 0; run < options.leverRuns; run++) {
                // The default is measured again beside the levers, in the same rounds.
                const variants = [DEFAULT, ...LEVERS.filter((v) => !options.leverNames || options.leverNames.includes(v.name))];
                for (const v of run % 2 ? [...variants].reverse() : variants) {
                    await bench.runWay(scenario("levers", "program", namespaces, registries, run, v), false, options.ops);
                    save();
                    progress(`lever ${v.name} run ${run + 1}/${options.leverRuns}`);
                }
            }
        }
        printResults({ measurements: bench.measurements, splits: bench.splits }, options, print);
        print(`Load average at end: ${loadAverage()}`);
    } finally {
        cluster.stop();
        rmSync(work, { recursive: true, force: true });
    }
}
