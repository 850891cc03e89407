/**
 * Puts what the program declares onto a real API server the way the Pulumi Kubernetes provider
 * (v4, server-side apply) does, since `pulumi up` cannot run where these tests run.
 *
 * Reproduced (pulumi-kubernetes provider/pkg/await/await.go, provider.go; reference.md §5):
 * - create and update are server-side apply patches: an upsert, in registration order, so the
 *   Namespace comes before its Secrets and the Secrets before the ServiceAccount patch;
 * - ordinary resources apply under the field manager `pulumi-kubernetes`; a Patch resource under
 *   its `pulumi.com/patchFieldManager` annotation; both force only when `pulumi.com/patchForce`
 *   is "true" (the provider's patchForce() reads the annotation for every SSA apply);
 * - resources no longer declared are deleted after the applies, in reverse order; deleting a
 *   Patch relinquishes it (an apply of only apiVersion/kind/name/namespace under its manager)
 *   unless retainOnDelete; deleting a Namespace waits until it is gone; a protected resource
 *   stops the destroy before anything is deleted, as the engine does.
 * - an object whose declared inputs are unchanged since the previous run is not sent at all,
 *   as the engine's diff finds no change.
 * Not reproduced: Pulumi state (the previous run is passed in), the provider's own diff
 * (a dry-run apply), previews, await logic beyond namespace deletion, the provider's retries,
 * and the annotations the provider may strip or add (the object is applied as declared).
 */
import { execFile } from "node:child_process";
import type { Declared } from "../../support/runProgram";
import { unwrapSecrets } from "../../support/secrets";

export interface K8sObject {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string; annotations?: Record<string, string>; [k: string]: unknown };
    [k: string]: unknown;
}

export interface DeclaredObject {
    urn: string;
    patch: boolean;
    object: K8sObject;
    manager: string;
    force: boolean;
    retainOnDelete: boolean;
    protect: boolean;
}

const PROVIDER_MANAGER = "pulumi-kubernetes";

/** The Kubernetes objects a program run declared, secrets unwrapped (inside this test process only). */
export function declaredObjects(result: Declared): DeclaredObject[] {
    if (result.error) {
        throw new Error(`the program failed: ${result.error.message}`);
    }
    return result.resources
        .filter((r) => r.type.startsWith("kubernetes:"))
        .map((r) => {
            const object = unwrapSecrets(r.inputs) as K8sObject;
            const annotations = object.metadata.annotations ?? {};
            const patch = r.type.endsWith("Patch");
            return {
                urn: r.urn,
                patch,
                object,
                manager: patch ? (annotations["pulumi.com/patchFieldManager"] ?? "pulumi-patch") : PROVIDER_MANAGER,
                force: annotations["pulumi.com/patchForce"] === "true",
                retainOnDelete: r.retainOnDelete,
                protect: r.protect,
            };
        });
}

export class KubectlError extends Error {}

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

function serverSideApply(object: unknown, manager: string, force: boolean): Promise<string> {
    return kubectl(
        ["apply", "--server-side", `--field-manager=${manager}`, ...(force ? ["--force-conflicts"] : []), "-o", "name", "-f", "-"],
        JSON.stringify(object),
    );
}

/**
 * `pulumi up`: apply what is new or changed since the previous run (the engine sends no update
 * for unchanged inputs), then delete what the previous run declared and this one does not.
 */
export async function up(desired: DeclaredObject[], previous: DeclaredObject[] = []): Promise<void> {
    const before = new Map(previous.map((p) => [p.urn, JSON.stringify(p)]));
    for (const d of desired) {
        if (before.get(d.urn) !== JSON.stringify(d)) {
            await serverSideApply(d.object, d.manager, d.force);
        }
    }
    const kept = new Set(desired.map((d) => d.urn));
    await remove(previous.filter((p) => !kept.has(p.urn)));
}

/** `pulumi destroy`. */
export async function destroy(declared: DeclaredObject[]): Promise<void> {
    await remove(declared);
}

async function remove(objects: DeclaredObject[]): Promise<void> {
    const protectedOnes = objects.filter((o) => o.protect);
    if (protectedOnes.length > 0) {
        throw new Error(`refusing to delete protected resources: ${protectedOnes.map((o) => o.urn).join(", ")}`);
    }
    for (const o of [...objects].reverse()) {
        const { apiVersion, kind, metadata } = o.object;
        if (o.patch) {
            if (!o.retainOnDelete) {
                await serverSideApply({ apiVersion, kind, metadata: { name: metadata.name, namespace: metadata.namespace } }, o.manager, false);
            }
        } else if (!o.retainOnDelete) {
            await kubectl(["delete", kind, metadata.name, ...(metadata.namespace ? ["-n", metadata.namespace] : []), "--wait=true", "--ignore-not-found"]);
        }
    }
}
