/**
 * Whether the cluster keeps one tenant's pulled private images from the other tenants' pods
 * (README.md, "Tenants on a shared node"). Without a protection, an image one namespace pulled is
 * on the node, and a pod of any namespace with pull policy IfNotPresent runs it without
 * credentials. Two things protect, and both are asked of the cluster with kubectl, given the
 * kubeconfig, context and cluster the provider uses (clusterKubectl):
 * - admission: a server-side dry run of a pod in the namespace, with an image of the tenant's
 *   first registry and no pull policy. `Always` in the answer means the AlwaysPullImages plugin
 *   (or a mutating policy) is on; a refusal by admission means a policy enforces it.
 * - the kubelets: each node's configz, for the KubeletEnsureSecretPulledImages gate with a
 *   verification policy other than NeverVerify.
 * No pull secret is sent anywhere: a dry run schedules nothing and the pod names none. No text of
 * kubectl's reaches a message, since kubectl may quote the kubeconfig (kubectlFailure).
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { closeSync, existsSync, openSync, unlinkSync, writeSync } from "node:fs";
import { homedir, tmpdir, userInfo } from "node:os";
import * as path from "node:path";
import { serverKey } from "./names";

export interface IsolationProbe {
    namespace: string;
    /** A registry of the tenant, as configured. */
    server: string;
}

export type IsolationAnswer =
    | { namespace: string; isolated: true; by: string }
    | { namespace: string; isolated: false; why: string }
    | { namespace: string; unknown: string };

export interface KubectlResult {
    code: number;
    stdout: string;
    stderr: string;
}

/** Runs kubectl with ARGS (and INPUT on stdin); never throws for kubectl's own failures. */
export type Kubectl = (args: string[], input?: string) => Promise<KubectlResult>;

/** The program's own stderr for a kubectl it could not start (code 127). */
const NOT_ON_PATH = "kubectl is not on PATH";
const NOT_RUN = "kubectl could not be run";

/** What the probe asks for: the only verbs and resources a Forbidden is named by. */
const PROBE_VERBS = ["get", "list", "create"];
const PROBE_RESOURCES = ["namespaces", "nodes", "nodes/proxy", "pods"];

/**
 * Why kubectl failed, in the program's own words: its stderr may quote the kubeconfig (`stat
 * <content>: no such file`, a parse error's excerpt), so none of it is repeated.
 */
function kubectlFailure(r: KubectlResult): string {
    const e = r.stderr;
    if (r.code === 127 && (e === NOT_ON_PATH || e === NOT_RUN)) {
        return e;
    }
    if (/context was not found|no server found for cluster|(context|cluster) "[^"]*" does not exist/.test(e)) {
        return "the kubeconfig has no such context or cluster";
    }
    if (/error loading config file|couldn't get version\/kind|^error: stat .*: no such file or directory|invalid configuration/m.test(e)) {
        return "kubectl could not read the kubeconfig";
    }
    if (/x509:|tls:/.test(e)) {
        return "TLS with the API server failed (its certificate is not trusted, or not for that name)";
    }
    if (/\(Unauthorized\)|must be logged in/.test(e)) {
        return "the API server refused the credentials (Unauthorized)";
    }
    if (/\(Forbidden\)/.test(e)) {
        const [, verb, resource] = /cannot (\S+) resource "([^"]*)"/.exec(e) ?? [];
        return PROBE_VERBS.includes(verb) && PROBE_RESOURCES.includes(resource) ? `forbidden: may not ${verb} ${resource}` : "forbidden";
    }
    if (/i\/o timeout|Timeout exceeded|deadline exceeded|timed out|\(Timeout\)/.test(e)) {
        return "the API server did not answer in time";
    }
    if (/connection refused|was refused/.test(e)) {
        return "the API server refused the connection";
    }
    if (/no such host|no route to host|network is unreachable|Unable to connect to the server/.test(e)) {
        return "cannot reach the API server";
    }
    if (/\(NotFound\)|could not find the requested resource|no matches for kind|doesn't have a resource type/.test(e)) {
        return "the API server does not have what kubectl asked for (not found)";
    }
    return `kubectl failed (exit ${r.code})`;
}

/** A webhook's or a ValidatingAdmissionPolicy's denial, as the API server words it (RBAC's Forbidden says "cannot"). */
const refusedByAdmission = (r: KubectlResult) => r.stderr.split("\n").some((line) => line.startsWith("Error from server") && /denied (the )?request/.test(line));

/** kubectl's stdout as a JSON object; undefined when it is not one (exit 0 does not promise it is). */
function parsed<T extends object>(stdout: string): T | undefined {
    try {
        const value: unknown = JSON.parse(stdout);
        return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as T) : undefined;
    } catch {
        return undefined;
    }
}

const probeRegistry = (server: string) => serverKey(server) ?? "registry.invalid";

/**
 * The probe pod: a tagged image (the default policy is IfNotPresent), no pull policy, no secrets.
 * Named when it is one of a batch, so that kubectl's output tells whose answer is whose.
 */
function probePod(namespace: string, server: string, name?: string): Record<string, unknown> {
    return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { ...(name ? { name } : { generateName: "registry-access-isolation-probe-" }), namespace },
        spec: {
            automountServiceAccountToken: false,
            containers: [{ name: "probe", image: `${probeRegistry(server)}/registry-access-isolation-probe:dry-run` }],
        },
    };
}

type AdmissionAnswer = { isolated: true; by: string } | { isolated: false } | { unknown: string };

const fromPolicy = (policy: string | undefined): AdmissionAnswer =>
    policy === "Always" ? { isolated: true, by: "admission sets imagePullPolicy: Always (AlwaysPullImages)" } : { isolated: false };

/** One probe on its own: its answer, admission's refusal, or why the dry run failed. */
async function askAdmission(kubectl: Kubectl, where: string, server: string): Promise<AdmissionAnswer> {
    const r = await kubectl(["create", "--dry-run=server", "-o", "json", "-f", "-"], JSON.stringify(probePod(where, server)));
    if (r.code !== 0) {
        return refusedByAdmission(r) ? { isolated: true, by: "admission refuses the pod (a webhook or policy denied it)" } : { unknown: `the dry run failed: ${kubectlFailure(r)}` };
    }
    const pod = parsed<{ spec?: { containers?: { imagePullPolicy?: string }[] } }>(r.stdout);
    return pod === undefined ? { unknown: "the dry run's answer is not JSON" } : fromPolicy(pod.spec?.containers?.[0]?.imagePullPolicy);
}

/**
 * Every (namespace, registry) probe in one kubectl: a process per namespace cost about 0.2 s of
 * CPU each, which at hundreds of tenants was a large part of a preview (docs/benchmarks.md).
 * A probe missing from the answers (refused, or failed) is asked again alone, for its reason.
 */
async function askAdmissionAll(kubectl: Kubectl, targets: { where: string; server: string }[]): Promise<AdmissionAnswer[]> {
    const name = (i: number) => `registry-access-isolation-probe-${i}`;
    const list = { apiVersion: "v1", kind: "List", items: targets.map((t, i) => probePod(t.where, t.server, name(i))) };
    const r = await kubectl(["create", "--dry-run=server", "-o", 'jsonpath={.metadata.name} {.spec.containers[0].imagePullPolicy}{"\\n"}', "-f", "-"], JSON.stringify(list));
    const policies = new Map(
        r.stdout
            .split("\n")
            .map((line) => line.trim().split(" "))
            .filter((fields) => fields.length === 2)
            .map(([pod, policy]) => [pod, policy] as const),
    );
    const answers: AdmissionAnswer[] = [];
    for (const [i, t] of targets.entries()) {
        answers.push(policies.has(name(i)) ? fromPolicy(policies.get(name(i))) : await askAdmission(kubectl, t.where, t.server));
    }
    return answers;
}

type KubeletAnswer = { isolated: true } | { isolated: false; nodes: string[] } | { unknown: string };

interface Configz {
    kubeletconfig?: { featureGates?: Record<string, boolean>; imagePullCredentialsVerificationPolicy?: string };
}

async function askKubelets(kubectl: Kubectl): Promise<KubeletAnswer> {
    const list = await kubectl(["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"]);
    if (list.code !== 0) {
        return { unknown: `listing the nodes failed: ${kubectlFailure(list)}` };
    }
    const nodes = list.stdout.split(/\s+/).filter(Boolean);
    // Names go into a URL and a message: only what a node's name can be (a DNS-1123 subdomain).
    if (!nodes.every((node) => /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(node))) {
        return { unknown: "kubectl's list of nodes is not a list of node names" };
    }
    const open: string[] = [];
    for (const node of nodes) {
        const r = await kubectl(["get", "--raw", `/api/v1/nodes/${node}/proxy/configz`]);
        if (r.code !== 0) {
            return { unknown: `reading node ${node}'s kubelet configuration failed: ${kubectlFailure(r)}` };
        }
        const configz = parsed<Configz>(r.stdout);
        if (configz === undefined) {
            return { unknown: `node ${node}'s kubelet configuration is not JSON` };
        }
        const config = configz.kubeletconfig ?? {};
        const checks = config.featureGates?.KubeletEnsureSecretPulledImages === true && (config.imagePullCredentialsVerificationPolicy ?? "NeverVerifyPreloadedImages") !== "NeverVerify";
        if (!checks) {
            open.push(node);
        }
    }
    return open.length === 0 && nodes.length > 0 ? { isolated: true } : { isolated: false, nodes: open };
}

/** Asks the cluster, for each tenant namespace, whether its pulled images are kept from the others. */
export async function imageIsolation(probes: IsolationProbe[], kubectl: Kubectl): Promise<IsolationAnswer[]> {
    const existing = await kubectl(["get", "namespaces", "-o", "jsonpath={.items[*].metadata.name}"]);
    if (existing.code !== 0) {
        const why = `the cluster did not answer: ${kubectlFailure(existing)}`;
        return probes.map((p) => ({ namespace: p.namespace, unknown: why }));
    }
    const namespaces = new Set(existing.stdout.split(/\s+/));
    // A namespace this stack has yet to create: cluster-wide admission answers the same in default,
    // so new namespaces with the same registry are one probe.
    const targetOf = (p: IsolationProbe) => ({ where: namespaces.has(p.namespace) ? p.namespace : "default", server: p.server });
    const keyOf = (t: { where: string; server: string }) => `${t.where}\n${probeRegistry(t.server)}`;
    const targets = new Map(probes.map((p) => [keyOf(targetOf(p)), targetOf(p)]));
    const admissionAnswers = await askAdmissionAll(kubectl, [...targets.values()]);
    const admissionOf = new Map([...targets.keys()].map((key, i) => [key, admissionAnswers[i]]));
    let kubelets: KubeletAnswer | undefined;
    const answers: IsolationAnswer[] = [];
    for (const probe of probes) {
        const admission = admissionOf.get(keyOf(targetOf(probe)))!;
        if ("unknown" in admission) {
            answers.push({ namespace: probe.namespace, unknown: admission.unknown });
            continue;
        }
        if (admission.isolated) {
            answers.push({ namespace: probe.namespace, isolated: true, by: admission.by });
            continue;
        }
        // The same for every namespace: asked once.
        kubelets ??= await askKubelets(kubectl);
        if ("unknown" in kubelets) {
            answers.push({ namespace: probe.namespace, unknown: `no AlwaysPullImages, and ${kubelets.unknown}` });
        } else if (kubelets.isolated) {
            answers.push({ namespace: probe.namespace, isolated: true, by: "every kubelet re-checks credentials (KubeletEnsureSecretPulledImages)" });
        } else {
            answers.push({
                namespace: probe.namespace,
                isolated: false,
                why: `no AlwaysPullImages, and no KubeletEnsureSecretPulledImages on ${kubelets.nodes.length ? `node ${kubelets.nodes.join(", ")}` : "any node (the cluster has none)"}`,
            });
        }
    }
    return answers;
}

const ISOLATION_FIX =
    "enable the AlwaysPullImages admission plugin or the kubelet's KubeletEnsureSecretPulledImages gate (README.md, \"Tenants on a shared node\"), or set registry-access:imageIsolation off";

/** The warning or error for the namespaces that are not (or not known to be) isolated; undefined when all are. */
export function isolationMessage(answers: IsolationAnswer[]): string | undefined {
    const open = answers.filter((a): a is Exclude<IsolationAnswer, { isolated: true }> => !("isolated" in a && a.isolated));
    if (open.length === 0) {
        return undefined;
    }
    const lines = open.map((a) => `  - ${a.namespace}: ${"why" in a ? `a pod without credentials runs the images other tenants pulled (${a.why})` : `cannot tell (${a.unknown})`}`);
    return `image isolation: ${open.length === 1 ? "1 namespace is" : `${open.length} namespaces are`} not known to keep tenants' pulled images apart on shared nodes:\n${lines.join("\n")}\n(fix: ${ISOLATION_FIX})`;
}

/** `~` and `~/…` expanded as the provider does (Go's user.Current: the passwd entry's home, else $HOME). */
function expandHome(value: string): string {
    if (value !== "~" && !value.startsWith("~/")) {
        return value;
    }
    let home: string;
    try {
        home = userInfo().homedir;
    } catch {
        home = homedir();
    }
    // filepath.Join also drops a trailing slash.
    return path.join(home, value.slice(1)).replace(/(.)\/+$/, "$1");
}

/**
 * `kubernetes:kubeconfig` read as the provider reads it (parseKubeconfigString in
 * pulumi-kubernetes' provider/pkg/provider/util.go): after `~` expansion, a value naming an existing
 * file is a path; any other value is the kubeconfig's content (YAML, or JSON on one line).
 */
function kubeconfigSetting(value: string): { path: string } | { content: string } {
    const expanded = expandHome(value);
    return existsSync(expanded) ? { path: expanded } : { content: expanded };
}

/**
 * The kubeconfig's content for one kubectl, as an open file with no name: unlinked before the
 * content is written, so no file on disk ever holds it and it goes with the last process that has
 * it open, even when the program is killed. kubectl opens it as /dev/fd/3, which on Linux reopens
 * the file, so it reads it whole however often it opens it (gcloud's kubectl dispatcher opens it
 * twice; a pipe would give the second open nothing, and Node's extra stdio pipes are sockets).
 */
function unnamedFile(content: string): number {
    const name = path.join(tmpdir(), `registry-access-kubeconfig-${randomUUID()}`);
    const fd = openSync(name, "wx+", 0o600);
    unlinkSync(name);
    // At position 0, leaving the offset at 0 for a system whose /dev/fd shares it.
    writeSync(fd, content, 0);
    return fd;
}

/**
 * kubectl against the cluster the provider deploys to: the `kubernetes:kubeconfig`,
 * `kubernetes:context` and `kubernetes:cluster` settings when the stack has them, else kubectl's
 * own KUBECONFIG, as the provider reads them.
 */
export function clusterKubectl(settings: { kubeconfig?: string; context?: string; cluster?: string }): Kubectl {
    const kubeconfig = settings.kubeconfig ? kubeconfigSetting(settings.kubeconfig) : undefined;
    const global = ["--request-timeout=10s"];
    if (kubeconfig) {
        global.push(`--kubeconfig=${"path" in kubeconfig ? kubeconfig.path : "/dev/fd/3"}`);
    }
    if (settings.context) {
        global.push(`--context=${settings.context}`);
    }
    if (settings.cluster) {
        global.push(`--cluster=${settings.cluster}`);
    }
    return (args, input) =>
        new Promise<KubectlResult>((resolve) => {
            let fd: number | undefined;
            let done = false;
            const finish = (result: KubectlResult) => {
                if (!done) {
                    done = true;
                    if (fd !== undefined) {
                        closeSync(fd);
                    }
                    resolve(result);
                }
            };
            let child: ReturnType<typeof spawn>;
            try {
                fd = kubeconfig && "content" in kubeconfig ? unnamedFile(kubeconfig.content) : undefined;
                child = spawn("kubectl", [...global, ...args], { stdio: ["pipe", "pipe", "pipe", ...(fd === undefined ? [] : [fd])] });
            } catch {
                // No temp dir to write to, or no process to start: an answer, not an exception.
                return finish({ code: 127, stdout: "", stderr: NOT_RUN });
            }
            let stdout = "";
            let stderr = "";
            child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
            child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
            child.on("error", (err: NodeJS.ErrnoException) => finish({ code: 127, stdout: "", stderr: err.code === "ENOENT" ? NOT_ON_PATH : NOT_RUN }));
            child.on("close", (code) => finish({ code: code ?? 1, stdout, stderr }));
            // kubectl may exit before it reads its input.
            child.stdin?.on("error", () => undefined);
            child.stdin?.end(input ?? "");
        });
}
