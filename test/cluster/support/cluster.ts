/** The cluster in KUBECONFIG, read and written with kubectl (the deploys themselves go through Pulumi). */
import { execFile } from "node:child_process";

export interface K8sObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string; annotations?: Record<string, string>; [k: string]: unknown };
    [k: string]: unknown;
}

export interface ServiceAccount extends K8sObject {
    imagePullSecrets?: { name: string }[];
}

export class KubectlError extends Error {}

/** The state dir of scripts/local-cluster.sh's cluster (its pid files, ports, containerd socket). */
export const LOCAL_CLUSTER_DIR = process.env.LOCAL_CLUSTER_DIR ?? "/tmp/registry-access-cluster";

/** kubectl against the cluster in KUBECONFIG; the version-skew warning of an old server is dropped. */
export function kubectl(args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = execFile("kubectl", args, { maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
            const messages = stderr
                .split("\n")
                .filter((l) => l && !l.startsWith("Warning: version difference"))
                .join("\n");
            if (err) {
                reject(new KubectlError(`kubectl ${args.slice(0, 3).join(" ")}: ${messages || err.message}`));
            } else {
                resolve(stdout);
            }
        });
        child.stdin?.end(input ?? "");
    });
}

export async function getObject(kind: string, namespace: string | undefined, name: string): Promise<K8sObject | undefined> {
    try {
        const out = await kubectl(["get", kind, name, ...(namespace ? ["-n", namespace] : []), "-o", "json", "--show-managed-fields"]);
        return JSON.parse(out) as K8sObject;
    } catch (err) {
        if (err instanceof KubectlError && /NotFound|not found/.test(err.message)) {
            return undefined;
        }
        throw err;
    }
}

export async function serviceAccount(namespace: string, name = "default"): Promise<ServiceAccount | undefined> {
    return (await getObject("serviceaccount", namespace, name)) as ServiceAccount | undefined;
}

export const pullSecretNames = (sa: ServiceAccount | undefined) => (sa?.imagePullSecrets ?? []).map((s) => s.name);

/** The `.dockerconfigjson` bytes of a Secret exactly as the API server returns them. */
export async function secretBytes(namespace: string, name: string): Promise<Buffer> {
    const secret = (await getObject("secret", namespace, name)) as (K8sObject & { data: Record<string, string> }) | undefined;
    if (!secret) {
        throw new Error(`no Secret ${namespace}/${name}`);
    }
    return Buffer.from(secret.data[".dockerconfigjson"], "base64");
}

/** Polls PROBE until it returns a value (errors count as "not yet"). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
        try {
            const value = await probe();
            if (value !== undefined) {
                return value;
            }
        } catch (err) {
            last = err;
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** A namespace made by hand (kubectl), once its `default` ServiceAccount exists. */
export async function kubectlNamespace(namespace: string): Promise<void> {
    await kubectl(["create", "namespace", namespace]);
    await eventually("the default ServiceAccount", () => serviceAccount(namespace));
}

/** A Pod with no imagePullSecrets of its own, as the API server admits it. */
export async function admitPod(namespace: string, serviceAccountName = "default"): Promise<K8sObject & { spec: { imagePullSecrets?: { name: string }[] } }> {
    const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { generateName: "probe-", namespace },
        spec: { serviceAccountName, containers: [{ name: "app", image: "registry.example.org/team/app:1.0" }] },
    };
    // 1.20's ServiceAccount admission refuses pods until the account's token Secret exists.
    return eventually("the pod to be admitted", async () => JSON.parse(await kubectl(["create", "-f", "-", "-o", "json"], JSON.stringify(pod))));
}

/** Every field manager and the operation it used on an object. */
export const managers = (o: K8sObject | undefined) =>
    ((o?.metadata.managedFields as { manager: string; operation: string }[] | undefined) ?? []).map((m) => `${m.manager}/${m.operation}`).sort();

/** Deletes the namespaces that are left, without waiting. */
export async function deleteNamespaces(namespaces: string[]): Promise<void> {
    if (namespaces.length > 0) {
        await kubectl(["delete", "namespace", ...namespaces, "--wait=false", "--ignore-not-found"]);
    }
}
