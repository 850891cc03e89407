/**
 * `npm run bench -- reconcile`: the runs a deployed selector stack makes again and again. For each
 * size N x M, N namespaces made with kubectl, all with one label, and a stack whose only tenant
 * selects them by that label, with M registries, set up as docs/scale.md advises (combinedPullSecret,
 * imageIsolation off, verifyCredentials false) in a copy of the project (its own Pulumi.yaml, so
 * `kubernetes:enableSecretMutable` is on). Then, each a fresh CLI, `pulumi up --yes --skip-preview`:
 *
 *   first up       from empty, with PULUMI_SKIP_CHECKPOINTS=true (reported, no target);
 *   no-change up   nothing changed (target: under 20 s);
 *   one namespace  one more namespace with the label (target: under 20 s);
 *   rotation       one registry's password set again with `pulumi config set --secret` (target: at
 *                  most 0.6x the kubectl loop), every Secret updated in place;
 *   kubectl loop   the same rotation by bench/kubectl-rotate.sh, before the program's rotation at
 *                  every other size, after it at the others.
 *
 *   npm run bench -- reconcile            N x M = 300x1, 300x3
 *   npm run bench -- reconcile --quick    10x1 (for CI)
 *   options: --sizes NxM,...
 *
 * The cluster is bench/engine.ts's: its own control-plane-only one unless KUBECONFIG is set. The
 * passwords are made for each run and never printed. Prints a Markdown table per size and a
 * verdict per target; exits non-zero if a command fails or a run does other than expected.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { dockerConfigData, type DockerCredential } from "../components/dockerConfig";
import { configLeaves, projectCopy } from "../deploy/engine";
import { benchEnv, type Cluster, expectChanges, kubectl, s1, serverVersion, startCluster, verdict } from "./engine";
import { loadAverage, machine } from "./machine";
import { runTree } from "./procTree";
import { PROJECT, STACK } from "./scenario";

const ROOT = path.join(__dirname, "..", "..");
const LABEL = "registry-access-bench";
const SECRET = "regcred";
/** The loop's own Secret, beside the stack's, so that neither overwrites the other. */
const LOOP_SECRET = "regcred-loop";
/** Per matched namespace: the tenant's component, its Secret and the ServiceAccount patch. */
const PER_NAMESPACE = 3;
const MAX_RECONCILE_MS = 20_000;
const MAX_ROTATION_RATIO = 0.6;

type Step = "first up" | "no-change up" | "one more namespace" | "rotation" | "kubectl loop";
const STEP_TITLE: Record<Step, string> = {
    "first up": "first `up` (`PULUMI_SKIP_CHECKPOINTS=true`)",
    "no-change up": "no-change `up`",
    "one more namespace": "one more namespace labelled, then `up`",
    rotation: "one registry password rotated, then `up`",
    "kubectl loop": "the same rotation as a kubectl loop (`create secret --dry-run -o yaml \\| apply` per namespace)",
};

interface Measured {
    step: Step;
    wallMs: number;
    cpuMs: number;
    load1: number;
    /** The engine's Resources summary (pulumi steps only). */
    changes?: Record<string, number>;
}

interface SizeResult {
    namespaces: number;
    registries: number;
    loopFirst: boolean;
    steps: Measured[];
}

function parseSizes(argv: string[]): { namespaces: number; registries: number }[] {
    const at = argv.indexOf("--sizes");
    const text = at >= 0 ? argv[at + 1] : argv.includes("--quick") ? "10x1" : "300x1,300x3";
    return (text ?? "").split(",").map((size) => {
        const m = /^(\d+)x(\d+)$/.exec(size);
        if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) {
            throw new Error(`--sizes takes NxM,... e.g. 300x3 (got ${size})`);
        }
        return { namespaces: Number(m[1]), registries: Number(m[2]) };
    });
}

const newPassword = () => randomBytes(24).toString("base64url");

/** "+ 3 created, 901 unchanged", as the CLI words its summary. */
function summaryText(changes: Record<string, number> | undefined): string {
    const words: Record<string, string> = { create: "+ %d created", update: "~ %d updated in place", replace: "+- %d replaced", delete: "- %d deleted", same: "%d unchanged" };
    return Object.entries(changes ?? {})
        .map(([kind, n]) => (words[kind] ?? `%d ${kind}`).replace("%d", String(n)))
        .join(", ");
}

async function runSize(cluster: Cluster, work: string, index: number, namespaces: number, registries: number): Promise<SizeResult> {
    const id = `rc${index}-${Date.now().toString(36)}`;
    const dir = path.join(work, id);
    const backend = path.join(dir, "state");
    mkdirSync(backend, { recursive: true });
    const env = benchEnv(cluster, path.join(work, "kubectl-cache"), {}, backend);
    const project = projectCopy(path.join(dir, "project"));
    const names = Array.from({ length: namespaces }, (_, i) => `${id}-${i}`);
    const all = [...names, `${id}-new`];
    const namespaceList = (list: string[]) =>
        JSON.stringify({ apiVersion: "v1", kind: "List", items: list.map((name) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { [LABEL]: id } } })) });
    const result: SizeResult = { namespaces, registries, loopFirst: index % 2 === 1, steps: [] };
    const label = `N=${namespaces} M=${registries}`;

    const measure = async (step: Step, command: string, args: string[], cwd: string, extra: Record<string, string> = {}) => {
        const run = await runTree(command, args, { env: { ...env, ...extra }, cwd });
        if (run.code !== 0) {
            throw new Error(`${step} ${label} failed (${run.code}):\n${run.output.slice(-4000)}`);
        }
        const m: Measured = { step, wallMs: run.wallMs, cpuMs: run.cpuMs, load1: os.loadavg()[0] };
        result.steps.push(m);
        progress(`${label} ${step}: ${s1(run.wallMs)} s`);
        return { run, m };
    };
    /** A measured `pulumi up`, which must report EXPECTED (and nothing else) as its changes. */
    const up = async (step: Step, expected: Record<string, number>, extra: Record<string, string> = {}) => {
        const { run, m } = await measure(step, "pulumi", ["up", "--yes", "--skip-preview", "--stack", STACK, "--non-interactive", "--color", "never"], project, extra);
        m.changes = expectChanges(run.output, expected, `${step} ${label}`);
    };
    /** Unmeasured CLI calls; INPUT on stdin, so that no password is on a command line. */
    const pulumi = (args: string[], input?: string) => {
        const r = spawnSync("pulumi", [...args, "--non-interactive"], { env, cwd: project, input, encoding: "utf8" });
        if (r.status !== 0) {
            throw new Error(`pulumi ${args.slice(0, 2).join(" ")} failed: ${r.stdout}${r.stderr}`);
        }
    };
    /** Each namespace's Secret NAME as uid and data: a replaced Secret has a new uid. */
    const secrets = (name: string) => {
        const list = JSON.parse(kubectl(env, ["get", "secrets", "-A", "--field-selector", `metadata.name=${name}`, "-o", "json"])) as {
            items: { metadata: { namespace: string; uid: string }; data?: Record<string, string> }[];
        };
        return new Map(list.items.map((s) => [s.metadata.namespace, { uid: s.metadata.uid, data: s.data?.[".dockerconfigjson"] }]));
    };
    /** Every namespace's Secret NAME is the one BEFORE knew, updated in place to hold DATA. */
    const checkRotated = (name: string, before: ReturnType<typeof secrets>, data: string) => {
        const after = secrets(name);
        for (const ns of all) {
            const [b, a] = [before.get(ns), after.get(ns)];
            if (!b || !a) {
                throw new Error(`${label}: Secret ${ns}/${name} is missing`);
            }
            if (a.uid !== b.uid) {
                throw new Error(`${label}: Secret ${ns}/${name} was replaced (a new uid), not updated in place`);
            }
            if (a.data !== data) {
                throw new Error(`${label}: Secret ${ns}/${name} does not hold the rotated password`);
            }
        }
    };

    const creds: DockerCredential[] = Array.from({ length: registries }, (_, j) => ({ server: `registry-${j}.example.org`, username: `puller-${j}`, password: newPassword() }));
    try {
        // 1. Setup: the namespaces, then a fresh stack in a new backend (not measured).
        kubectl(env, ["apply", "-f", "-"], namespaceList(names));
        pulumi(["stack", "init", STACK, "--secrets-provider", "passphrase"]);
        const leaves = Object.entries(
            configLeaves({
                tenants: [{ namespaceSelector: { matchLabels: { [LABEL]: id } }, registries: creds }],
                combinedPullSecret: SECRET,
                imageIsolation: "off",
                verifyCredentials: false,
            }),
        );
        pulumi(["config", "set-all", "--stack", STACK, "--path", ...leaves.filter(([, v]) => !v.secret).flatMap(([k, v]) => ["--plaintext", `${k}=${v.value}`])]);
        for (const [key, { value }] of leaves.filter(([, v]) => v.secret)) {
            pulumi(["config", "set", "--stack", STACK, "--secret", "--path", key], value);
        }
        const declared = (n: number) => n * PER_NAMESPACE + 1; // and the Stack

        await up("first up", { create: declared(namespaces) }, { PULUMI_SKIP_CHECKPOINTS: "true" });
        // 2. Nothing changed.
        await up("no-change up", { same: declared(namespaces) });
        // 3. One more namespace with the label: its Secret and patch made, the rest untouched.
        kubectl(env, ["apply", "-f", "-"], namespaceList(all.slice(-1)));
        await up("one more namespace", { create: PER_NAMESPACE, same: declared(namespaces) });

        // 4. and 5. Registry 0's password rotated, by the program and by the loop (its own Secret,
        // made first with the old password by one unmeasured apply, so that the loop updates it).
        const loopCreds = { ...creds[0], password: newPassword() };
        const seed = all.map((ns) => ({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name: LOOP_SECRET, namespace: ns },
            type: "kubernetes.io/dockerconfigjson",
            data: { ".dockerconfigjson": dockerConfigData(loopCreds) },
        }));
        kubectl(env, ["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: seed }));
        const rotateProgram = async () => {
            const before = secrets(SECRET);
            creds[0] = { ...creds[0], password: newPassword() };
            pulumi(["config", "set", "--stack", STACK, "--secret", "--path", `${PROJECT}:tenants[0].registries[0].password`], creds[0].password);
            await up("rotation", { update: all.length, same: declared(all.length) - all.length });
            checkRotated(SECRET, before, dockerConfigData(...creds));
        };
        const rotateLoop = async () => {
            const before = secrets(LOOP_SECRET);
            loopCreds.password = newPassword();
            // Passwords in a file only the owner reads, not on the benchmark's command line.
            const file = path.join(dir, "rotate.txt");
            writeFileSync(file, all.map((ns) => `${ns} ${loopCreds.server} ${loopCreds.username} ${loopCreds.password}\n`).join(""), { mode: 0o600 });
            await measure("kubectl loop", "bash", [path.join(ROOT, "bench", "kubectl-rotate.sh"), LOOP_SECRET, file], dir);
            rmSync(file);
            checkRotated(LOOP_SECRET, before, dockerConfigData(loopCreds));
        };
        // By turns, so that drift in the machine hits both ways alike.
        for (const rotate of result.loopFirst ? [rotateLoop, rotateProgram] : [rotateProgram, rotateLoop]) {
            await rotate();
        }
        return result;
    } finally {
        // Not measured: the namespaces go (the stack's objects with them) and the state is dropped.
        kubectl(env, ["delete", "namespace", "-l", `${LABEL}=${id}`, "--ignore-not-found", "--timeout=600s"]);
        rmSync(dir, { recursive: true, force: true });
    }
}

const progress = (line: string) => process.stderr.write(`bench reconcile: ${new Date().toISOString().slice(11, 19)} ${line} (load ${loadAverage()})\n`);

function report(results: SizeResult[], print: (line?: string) => void): void {
    for (const r of results) {
        print(`### A selector stack at N = ${r.namespaces} namespaces x M = ${r.registries} registries`);
        print();
        print(`Wall time and CPU time of the process tree, s; the kubectl loop ran ${r.loopFirst ? "before" : "after"} the program's rotation.`);
        print();
        print("| step | wall | CPU | engine summary |");
        print("|---|---:|---:|---|");
        for (const [step, title] of Object.entries(STEP_TITLE)) {
            const m = r.steps.find((x) => x.step === step)!;
            print(`| ${title} | ${s1(m.wallMs)} | ${s1(m.cpuMs)} | ${summaryText(m.changes)} |`);
        }
        print();
    }
    print("### Targets");
    print();
    for (const r of results) {
        const wall = (step: Step) => r.steps.find((m) => m.step === step)!.wallMs;
        const at = `N=${r.namespaces} M=${r.registries}`;
        for (const step of ["no-change up", "one more namespace"] as const) {
            print(`- ${step} under ${MAX_RECONCILE_MS / 1000} s, ${at}: ${s1(wall(step))} s, ${verdict(wall(step) < MAX_RECONCILE_MS)}`);
        }
        const ratio = wall("rotation") / wall("kubectl loop");
        print(
            `- rotation in at most ${MAX_ROTATION_RATIO}x the kubectl loop's time, ${at}: ${s1(wall("rotation"))} s vs ${s1(wall("kubectl loop"))} s, ` +
                `${ratio.toFixed(2)}x, ${verdict(ratio <= MAX_ROTATION_RATIO)}`,
        );
    }
    print();
    const loads = results.flatMap((r) => r.steps.map((m) => m.load1));
    print(`1-minute load average over the measured runs: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (2 would be both cores busy)`);
}

export async function main(argv: string[]): Promise<void> {
    const sizes = parseSizes(argv);
    const print = (line = "") => console.log(line);
    const work = mkdtempSync(path.join(os.tmpdir(), "registry-access-bench-reconcile-"));
    const cluster = startCluster();
    try {
        print(`Machine: ${machine()}`);
        print(`Kubernetes: ${serverVersion(benchEnv(cluster, path.join(work, "kubectl-cache")))}`);
        print(`Sizes: ${sizes.map((z) => `${z.namespaces}x${z.registries}`).join(", ")}; one run each`);
        print(`Load average at start: ${loadAverage()}`);
        print();
        const results: SizeResult[] = [];
        for (const [i, { namespaces, registries }] of sizes.entries()) {
            results.push(await runSize(cluster, work, i, namespaces, registries));
        }
        report(results, print);
        print(`Load average at end: ${loadAverage()}`);
    } finally {
        cluster.stop();
        rmSync(work, { recursive: true, force: true });
    }
}
