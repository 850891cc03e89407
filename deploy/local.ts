/**
 * The steps around the `local` stack's plain `pulumi up` (stacks/Pulumi.local.yaml), which
 * scripts/local-stack.sh runs on the project's own control plane and private registry:
 *   node build/deploy/local.js admit   lets the stack's user into the local registry
 *   node build/deploy/local.js prove   proves from the stack's outputs that the up works
 * Both read the stack through the CLI (`pulumi config`, `pulumi stack output`), never printing a
 * secret. Run as part of `npm run up:local`.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parseEnv, promisify } from "node:util";

const STACK = "local";
const run = promisify(execFile);

/**
 * The pulumi CLI's JSON answer for the local stack. Its output is parsed, never printed: with
 * --show-secrets it holds the throwaway password and the Container Service's token.
 */
async function pulumiJson(args: string[]): Promise<Record<string, unknown>> {
    const { stdout } = await run("pulumi", [...args, "--stack", STACK, "--json", "--non-interactive"], { maxBuffer: 16 * 1024 * 1024 });
    try {
        return JSON.parse(stdout) as Record<string, unknown>;
    } catch {
        // JSON.parse's own message quotes the text around the fault, which may be a secret.
        throw new Error(`pulumi ${args.join(" ")} --stack ${STACK} --json did not print JSON`);
    }
}

/** Runs kubectl with stdin from INPUT; its stdout, or an error naming the command and its stderr. */
function kubectl(args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = execFile("kubectl", ["--request-timeout=10s", ...args], (err, out, errOut) =>
            err ? reject(new Error(`kubectl ${args.join(" ")}: ${errOut.trim() || err.message}`)) : resolve(out),
        );
        child.stdin?.end(input ?? "");
    });
}

/** kubectl with only the given kubeconfig, as XNAT's admin would run it. */
const kubectlAs = (kubeconfig: string, args: string[], input?: string) => kubectl(["--kubeconfig", kubeconfig, ...args], input);

function log(message: string): void {
    process.stderr.write(`up:local: ${message}\n`);
}

interface LocalRegistry {
    server: string;
    username: string;
    password: string;
}

/** The stack's one registry entry, decrypted with the throwaway passphrase (`pulumi config --show-secrets`). */
async function localRegistry(): Promise<LocalRegistry> {
    const config = (await pulumiJson(["config", "--show-secrets"])) as Record<string, { value: string }>;
    const registries = JSON.parse(config["registry-access:registries"].value) as LocalRegistry[];
    if (registries.length !== 1) {
        throw new Error("stacks/Pulumi.local.yaml must list exactly one registry, the local one");
    }
    return registries[0];
}

/** Lets the stack's user into the local registry: its htpasswd gains (or replaces) the user's bcrypt line. */
async function admitToRegistry(env: Record<string, string>, reg: LocalRegistry): Promise<void> {
    if (reg.server !== env.REGISTRY_BASIC_HOST) {
        throw new Error(
            `the local registry listens on ${env.REGISTRY_BASIC_HOST}, but stacks/Pulumi.local.yaml names ${reg.server}; ` +
                `free that port (scripts/local-registry.sh down) and run npm run up:local again`,
        );
    }
    // htpasswd -i reads the password from stdin, so it never shows in a process list.
    const line = await new Promise<string>((resolve, reject) => {
        const child = spawn("htpasswd", ["-niB", reg.username], { stdio: ["pipe", "pipe", "inherit"] });
        let out = "";
        child.stdout.on("data", (d: Buffer) => (out += d.toString()));
        child.on("error", reject);
        child.on("close", (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`htpasswd exited with ${code}`))));
        child.stdin.end(reg.password);
    });
    const others = (await readFile(env.REGISTRY_HTPASSWD, "utf8")).split("\n").filter((l) => l && !l.startsWith(`${reg.username}:`));
    await writeFile(`${env.REGISTRY_HTPASSWD}.tmp`, [...others, line, ""].join("\n"));
    // Written whole, then renamed: the registry never reads half a file.
    await rename(`${env.REGISTRY_HTPASSWD}.tmp`, env.REGISTRY_HTPASSWD);
}

/**
 * The proof: the Secret as the API server returns it is skopeo's auth file for the local
 * registry's image, and a pod with no pull secrets of its own is admitted with them injected.
 */
async function prove(env: Record<string, string>, namespace: string, secretNames: string[]): Promise<void> {
    const work = await mkdtemp(path.join(tmpdir(), "registry-access-local-"));
    try {
        const stdout = await kubectl(["get", "secret", secretNames[0], "-n", namespace, "-o", "jsonpath={.data.\\.dockerconfigjson}"]);
        const authfile = path.join(work, "auth.json");
        await writeFile(authfile, Buffer.from(stdout, "base64"), { mode: 0o600 });
        const image = `docker://${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`;
        const inspected = JSON.parse((await run("skopeo", ["inspect", "--authfile", authfile, "--cert-dir", env.REGISTRY_CERT_DIR, image])).stdout) as { Digest: string };
        log(`skopeo pulled the manifest of ${image.slice(9)} (${inspected.Digest}) with Secret ${namespace}/${secretNames[0]}`);

        const pod = {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "pull-probe", namespace },
            spec: { containers: [{ name: "app", image: `${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}` }] },
        };
        const admitted = JSON.parse(await kubectl(["create", "--dry-run=server", "-f", "-", "-o", "json"], JSON.stringify(pod))) as {
            spec: { imagePullSecrets?: { name: string }[] };
        };
        const injected = (admitted.spec.imagePullSecrets ?? []).map((s) => s.name);
        if (JSON.stringify(injected) !== JSON.stringify(secretNames)) {
            throw new Error(`a pod in ${namespace} was admitted with imagePullSecrets ${JSON.stringify(injected)}, not ${JSON.stringify(secretNames)}`);
        }
        log(`a pod created in ${namespace} with no pull secrets of its own is admitted with imagePullSecrets ${injected.join(", ")} (server-side dry run)`);
    } finally {
        await rm(work, { recursive: true, force: true });
    }
}

/**
 * The Container Service's proof, with nothing but the stack's kubeconfig: a Job runs as `default`,
 * pulls the private image and completes, and its log reads back (README.md, "For XNAT's
 * Container Service", step by step).
 */
async function proveContainerService(env: Record<string, string>, namespace: string, kubeconfigText: string): Promise<void> {
    const server = (await kubectl(["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"])).trim();
    if (!kubeconfigText.includes(`server: ${server}\n`)) {
        log(`skipped the Container Service's Job: its kubeconfig names another API server than ${server} (containerService.apiServer in stacks/Pulumi.local.yaml)`);
        return;
    }
    const work = await mkdtemp(path.join(tmpdir(), "registry-access-xnat-"));
    const kubeconfig = path.join(work, "config");
    const job = `xnat-probe-${Date.now().toString(36)}`;
    try {
        await writeFile(kubeconfig, kubeconfigText, { mode: 0o600 });
        const manifest = {
            apiVersion: "batch/v1",
            kind: "Job",
            metadata: { name: job },
            spec: {
                backoffLimit: 0,
                template: {
                    spec: {
                        restartPolicy: "Never",
                        dnsPolicy: "Default",
                        containers: [{ name: "main", image: `${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}` }],
                    },
                },
            },
        };
        await kubectlAs(kubeconfig, ["create", "-f", "-"], JSON.stringify(manifest));
        // List, not get: the Role grants the verbs XNAT uses, and XNAT only lists and watches.
        const deadline = Date.now() + 120000;
        for (;;) {
            const jobs = JSON.parse(await kubectlAs(kubeconfig, ["get", "jobs", "-o", "json"])) as { items: { metadata: { name: string }; status: { succeeded?: number; failed?: number } }[] };
            const status = jobs.items.find((j) => j.metadata.name === job)?.status;
            if (status?.succeeded) {
                break;
            }
            if (status?.failed || Date.now() > deadline) {
                throw new Error(`the Container Service's Job ${namespace}/${job} did not complete; see kubectl describe job ${job} -n ${namespace}`);
            }
            await new Promise((r) => setTimeout(r, 1000));
        }
        const pod = (await kubectlAs(kubeconfig, ["get", "pods", "-l", `job-name=${job}`, "-o", "jsonpath={.items[0].metadata.name}"])).trim();
        const output = await kubectlAs(kubeconfig, ["get", "--raw", `/api/v1/namespaces/${namespace}/pods/${pod}/log`]);
        log(`with the containerServiceKubeconfig output only, Job ${namespace}/${job} pulled ${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE} as default and logged: ${output.trim()}`);
        await kubectlAs(kubeconfig, ["delete", "job", job, "--cascade=foreground", "--wait=false"]);
    } finally {
        await rm(work, { recursive: true, force: true });
    }
}

async function main(command: string | undefined): Promise<void> {
    const envFile = process.env.LOCAL_REGISTRY_ENV;
    if (!envFile || !process.env.KUBECONFIG) {
        throw new Error("run it as npm run up:local, which starts the local cluster and registry");
    }
    const env = parseEnv(await readFile(envFile, "utf8")) as Record<string, string>;
    if (command === "admit") {
        await admitToRegistry(env, await localRegistry());
    } else if (command === "prove") {
        // The outputs alone, as a user of the stack has them: the config's password is not needed.
        const outputs = await pulumiJson(["stack", "output", "--show-secrets"]);
        await prove(env, outputs.namespace as string, outputs.pullSecretNames as string[]);
        if (typeof outputs.containerServiceKubeconfig === "string") {
            await proveContainerService(env, outputs.namespace as string, outputs.containerServiceKubeconfig);
        }
    } else {
        throw new Error("usage: local.js admit|prove");
    }
}

main(process.argv[2]).catch((err: unknown) => {
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    log(`failed: ${message}`);
    process.exitCode = 1;
});
