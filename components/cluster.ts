/**
 * kubectl against the cluster the Kubernetes provider deploys to, for the program's read-only
 * questions before it declares anything (image isolation, existing namespaces): the
 * `kubernetes:kubeconfig`, `kubernetes:context` and `kubernetes:cluster` settings read as the
 * provider reads them, the kubeconfig's content never on disk, and kubectl's failures said in the
 * program's own words (kubectl may quote the kubeconfig, token included).
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { closeSync, existsSync, openSync, unlinkSync, writeSync } from "node:fs";
import { homedir, tmpdir, userInfo } from "node:os";
import * as path from "node:path";

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

/** What the program asks for: the only verbs and resources a Forbidden is named by. */
const ASKED_VERBS = ["get", "list", "create"];
const ASKED_RESOURCES = ["namespaces", "nodes", "nodes/proxy", "pods", "serviceaccounts", "secrets", "deployments", "statefulsets", "daemonsets", "replicasets", "jobs", "cronjobs"];

/**
 * Why kubectl failed, in the program's own words: its stderr may quote the kubeconfig (`stat
 * <content>: no such file`, a parse error's excerpt), so none of it is repeated.
 */
export function kubectlFailure(r: KubectlResult): string {
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
        return ASKED_VERBS.includes(verb) && ASKED_RESOURCES.includes(resource) ? `forbidden: may not ${verb} ${resource}` : "forbidden";
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


/** Whether kubectl reached no API server at all (then the provider cannot deploy there either). */
export function unreachable(r: KubectlResult): boolean {
    return r.code !== 0 && /connection refused|was refused|no such host|no route to host|network is unreachable|Unable to connect to the server|i\/o timeout|Timeout exceeded|deadline exceeded|timed out/.test(r.stderr);
}

/** kubectl's stdout as a JSON object; undefined when it is not one (exit 0 does not promise it is). */
export function parsed<T extends object>(stdout: string): T | undefined {
    try {
        const value: unknown = JSON.parse(stdout);
        return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as T) : undefined;
    } catch {
        return undefined;
    }
}

/** The items of a kubectl `-o json` list; undefined when the answer is no list. */
export function listedItems<T>(stdout: string): T[] | undefined {
    const items = parsed<{ items?: unknown }>(stdout)?.items;
    return Array.isArray(items) ? (items as T[]) : undefined;
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

/**
 * The same kubectl, asked each distinct question once per run: the checks that need the
 * namespace list share one list call.
 */
export function askingOnce(kubectl: Kubectl): Kubectl {
    const answers = new Map<string, Promise<KubectlResult>>();
    return (args, input) => {
        const question = JSON.stringify([args, input ?? ""]);
        let answer = answers.get(question);
        if (answer === undefined) {
            answer = kubectl(args, input);
            answers.set(question, answer);
        }
        return answer;
    };
}
