/**
 * `npm run bench -- doctor [--namespaces N] [--workloads W] [--runs K]`: how long `npm run doctor`
 * takes on N namespaces of W Deployments each (default 300 x 3), on the cluster KUBECONFIG names
 * and the registries LOCAL_REGISTRY_ENV names (scripts/local-cluster.sh, scripts/local-registry.sh).
 * Each namespace has its own pull Secret and a `default` ServiceAccount listing it, and its
 * Deployments pull the registries' three repositories; the doctor runs as a user runs it (the CLI,
 * `--namespace` with every name, `--json`), K times. The namespaces are deleted at the end.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { parseEnv } from "node:util";
import { dockerConfigJson } from "../components/dockerConfig";
import { machine } from "./machine";
import { stat } from "./stats";

const CLI = path.join(__dirname, "..", "doctor", "cli.js");

function run(command: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const child = execFile(command, args, { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
        child.stdin?.end(input ?? "");
    });
}

async function kubectl(args: string[], input?: string): Promise<string> {
    const r = await run("kubectl", args, input);
    if (r.code !== 0) {
        throw new Error(`kubectl ${args[0]} failed (exit ${r.code})`);
    }
    return r.stdout;
}

export async function main(argv: string[]): Promise<void> {
    const option = (flag: string, fallback: number) => {
        const at = argv.indexOf(flag);
        const value = at >= 0 ? Number(argv[at + 1]) : fallback;
        if (!Number.isInteger(value) || value < 1) {
            throw new Error(`${flag} takes a positive whole number`);
        }
        return value;
    };
    const namespaces = option("--namespaces", 300);
    const workloads = option("--workloads", 3);
    const runs = option("--runs", 3);
    if (!process.env.KUBECONFIG || !process.env.LOCAL_REGISTRY_ENV) {
        throw new Error("needs KUBECONFIG and LOCAL_REGISTRY_ENV: start scripts/local-cluster.sh and scripts/local-registry.sh");
    }
    const env = parseEnv(readFileSync(process.env.LOCAL_REGISTRY_ENV, "utf8"));
    const host = env.REGISTRY_BASIC_HOST!;
    const repos = ["team/hello", ...(env.REGISTRY_MORE_REPOS ?? "").split(",").filter((r) => r !== "" && !r.startsWith("public/"))];
    const prefix = `bd-${Date.now().toString(36)}`;
    const names = Array.from({ length: namespaces }, (_, i) => `${prefix}-${i}`);
    const config = Buffer.from(dockerConfigJson({ server: host, username: env.REGISTRY_USER!, password: env.REGISTRY_PASSWORD! })).toString("base64");
    const objects = names.flatMap((ns) => [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
        { apiVersion: "v1", kind: "Secret", metadata: { name: "regcred", namespace: ns }, type: "kubernetes.io/dockerconfigjson", data: { ".dockerconfigjson": config } },
        { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: ns }, imagePullSecrets: [{ name: "regcred" }] },
        ...Array.from({ length: workloads }, (_, w) => ({
            apiVersion: "apps/v1",
            kind: "Deployment",
            metadata: { name: `app-${w}`, namespace: ns },
            spec: {
                replicas: 1,
                selector: { matchLabels: { app: `app-${w}` } },
                template: { metadata: { labels: { app: `app-${w}` } }, spec: { containers: [{ name: "main", image: `${host}/${repos[w % repos.length]}:1.0` }] } },
            },
        })),
    ]);
    const print = (line = "") => process.stdout.write(`${line}\n`);
    print(`# npm run doctor on ${namespaces} namespaces x ${workloads} Deployments (${machine()})`);
    const t0 = Date.now();
    // The namespaces first, so that the objects in them are admitted in the same apply.
    await kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects.filter((o) => o.kind === "Namespace") }));
    await kubectl(["apply", "--server-side", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects.filter((o) => o.kind !== "Namespace") }));
    print(`made in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    try {
        const seconds: number[] = [];
        for (let i = 0; i < runs; i++) {
            const started = Date.now();
            const r = await run(process.execPath, [CLI, "--namespace", names.join(","), "--json", "--ca-file", env.REGISTRY_CA!]);
            seconds.push((Date.now() - started) / 1000);
            const report = JSON.parse(r.stdout) as { findings: { pulls: boolean }[]; requests: number };
            const failing = report.findings.filter((f) => !f.pulls).length;
            print(`run ${i + 1}: ${seconds.at(-1)!.toFixed(2)} s, exit ${r.code}, ${report.findings.length} images, ${failing} failing, ${report.requests} registry requests`);
            if (report.findings.length !== namespaces * workloads || failing > 0) {
                throw new Error(`expected ${namespaces * workloads} images that all pull`);
            }
        }
        const s = stat(seconds.map((x) => x * 1000));
        print(`doctor: median ${(s.median / 1000).toFixed(2)} s over ${runs} runs (process start to exit, kubectl lists and registry requests included)`);
    } finally {
        await kubectl(["delete", "namespace", ...names, "--wait=false"]);
    }
}
