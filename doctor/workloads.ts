/**
 * Every image a namespace's workloads pull, with the pull Secrets the kubelet would use for it:
 * a pod's own `imagePullSecrets`; for a controller's pod template, what ServiceAccount admission
 * would give a pod made from it now (plugin/pkg/admission/serviceaccount `Admit`: the account's
 * `imagePullSecrets`, copied only when the pod lists none of its own). Read from kubectl's JSON,
 * whatever its fields hold: a field of an unexpected type counts as absent.
 */
import { listedItems } from "../components/cluster";

/** The kinds read, in one list call: a ReplicaSet only to tell a Deployment's pods by their owner. */
export const WORKLOAD_KINDS = ["pods", "deployments.apps", "statefulsets.apps", "daemonsets.apps", "jobs.batch", "cronjobs.batch", "replicasets.apps", "serviceaccounts"] as const;

/** The Secret types the kubelet reads pull credentials from, and the key of each. */
export const PULL_SECRET_TYPES = { "kubernetes.io/dockerconfigjson": ".dockerconfigjson", "kubernetes.io/dockercfg": ".dockercfg" } as const;

/** One container's image in one workload. */
export interface WorkloadImage {
    namespace: string;
    /** `Kind/name`: a controller for its template, `Pod/name` for a pod no listed controller explains. */
    workload: string;
    container: string;
    image: string;
    serviceAccount: string;
    /** For a template: its ServiceAccount does not exist, so no pod of it can be made. */
    accountMissing?: true;
    /** What made it, for a pod: the listed controller whose template it comes from (`Deployment/web`). */
    madeBy?: string;
    /** The pull Secrets' names, in the order the kubelet reads them. */
    pullSecrets: string[];
    /**
     * For a pod: Secrets its ServiceAccount lists now that the pod lacks. Admission copied the
     * account's list when the pod was made, so the pod was made before they were added.
     */
    missingFromPod: string[];
}

type Json = Record<string, unknown>;
const object = (v: unknown): Json => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const names = (refs: unknown): string[] => list(refs).flatMap((r) => text(object(r).name) ?? []);
const at = (v: unknown, ...path: string[]): unknown => path.reduce((o, k) => object(o)[k], v);

function controllerOf(item: unknown): { kind: string; name: string } | undefined {
    const ref = object(list(at(item, "metadata", "ownerReferences")).find((o) => object(o).controller === true));
    const kind = text(ref.kind);
    const name = text(ref.name);
    return kind && name ? { kind, name } : undefined;
}

function podSpecOf(item: unknown): Json {
    switch (at(item, "kind")) {
        case "Pod":
            return object(at(item, "spec"));
        case "CronJob":
            return object(at(item, "spec", "jobTemplate", "spec", "template", "spec"));
        default:
            return object(at(item, "spec", "template", "spec"));
    }
}

/** Kinds whose pod template is read in place of the pods (or Jobs) they make. */
const TEMPLATE_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]);

/** A pod the kubelet will not pull for again, or a Job that makes no more pods. */
function finished(item: unknown): boolean {
    if (at(item, "kind") === "Pod") {
        return ["Succeeded", "Failed"].includes(at(item, "status", "phase") as string);
    }
    return at(item, "kind") === "Job" && list(at(item, "status", "conditions")).some((c) => ["Complete", "Failed"].includes(object(c).type as string) && object(c).status === "True");
}

/**
 * The images of the workloads in `kubectl get <WORKLOAD_KINDS> -o json`'s list, and the namespaces
 * it shows to exist, or undefined when it is not a list. What a listed controller makes (a Deployment through its ReplicaSet, a
 * CronJob through its Job) is read from that controller's template; a pod is read as itself when
 * nothing listed made it, or when it lacks Secrets its account lists now, since that pod is what
 * the kubelet is pulling for. Finished pods and Jobs are left out: nothing pulls for them.
 */
export function readWorkloads(kubectlList: string): { images: WorkloadImage[]; namespaces: Set<string> } | undefined {
    const items = listedItems<unknown>(kubectlList)?.filter((i) => text(at(i, "kind")) && text(at(i, "metadata", "namespace")) && text(at(i, "metadata", "name")));
    if (items === undefined) {
        return undefined;
    }
    // Every namespace has a `default` ServiceAccount: one listing none does not exist.
    const namespaces = new Set(items.filter((i) => at(i, "kind") === "ServiceAccount").map((i) => at(i, "metadata", "namespace") as string));
    const key = (kind: unknown, namespace: unknown, name: unknown) => `${String(kind)}/${String(namespace)}/${String(name)}`;
    const byKey = new Map(items.map((i) => [key(at(i, "kind"), at(i, "metadata", "namespace"), at(i, "metadata", "name")), i]));
    /** The outermost listed controller with a template above this object, following up to three owners. */
    const templateOwner = (namespace: string, item: unknown): { name: string; item: unknown } | undefined => {
        let found: { name: string; item: unknown } | undefined;
        let owner = controllerOf(item);
        for (let hops = 0; owner !== undefined && hops < 3; hops++) {
            const listed = byKey.get(key(owner.kind, namespace, owner.name));
            if (listed === undefined) {
                break;
            }
            found = TEMPLATE_KINDS.has(owner.kind) ? { name: `${owner.kind}/${owner.name}`, item: listed } : found;
            owner = controllerOf(listed);
        }
        return found;
    };
    const out: WorkloadImage[] = [];
    for (const item of items) {
        const kind = at(item, "kind") as string;
        const namespace = at(item, "metadata", "namespace") as string;
        if ((kind !== "Pod" && !TEMPLATE_KINDS.has(kind)) || finished(item)) {
            continue;
        }
        const spec = podSpecOf(item);
        const serviceAccount = text(spec.serviceAccountName) ?? "default";
        const account = byKey.get(key("ServiceAccount", namespace, serviceAccount));
        const accountNow = names(at(account, "imagePullSecrets"));
        const own = names(spec.imagePullSecrets);
        const madeBy = templateOwner(namespace, item);
        let missingFromPod: string[] = [];
        if (kind === "Pod") {
            // Admission copies the account's whole list, and only onto a pod that lists none, so a
            // pod whose template lists its own, or that lists one the account does not, was not
            // given its list by admission; otherwise one listing a subset was made before the rest.
            const fromAdmission = names(podSpecOf(madeBy?.item).imagePullSecrets).length === 0 && own.every((s) => accountNow.includes(s));
            missingFromPod = fromAdmission ? accountNow.filter((s) => !own.includes(s)) : [];
            if (madeBy !== undefined && missingFromPod.length === 0) {
                continue;
            }
        } else if (madeBy !== undefined) {
            continue;
        }
        const pullSecrets = kind === "Pod" || own.length > 0 ? own : accountNow;
        for (const c of [...list(spec.initContainers), ...list(spec.containers)]) {
            const image = text(object(c).image);
            if (image !== undefined) {
                out.push({
                    namespace,
                    workload: `${kind}/${String(at(item, "metadata", "name"))}`,
                    container: text(object(c).name) ?? "",
                    image,
                    serviceAccount,
                    ...(kind !== "Pod" && account === undefined ? { accountMissing: true as const } : {}),
                    ...(madeBy ? { madeBy: madeBy.name } : {}),
                    pullSecrets,
                    missingFromPod,
                });
            }
        }
    }
    return { images: out, namespaces };
}

/**
 * Each pull Secret's docker config by `namespace/name`, as `.dockerconfigjson` text: a legacy
 * `.dockercfg` (the `auths` map alone) is wrapped in `auths`, as the kubelet reads both.
 */
export function dockerConfigs(secretList: string): Map<string, string> | undefined {
    const items = listedItems<unknown>(secretList);
    if (items === undefined) {
        return undefined;
    }
    const out = new Map<string, string>();
    for (const s of items) {
        const [namespace, name] = [text(at(s, "metadata", "namespace")), text(at(s, "metadata", "name"))];
        const field = PULL_SECRET_TYPES[at(s, "type") as keyof typeof PULL_SECRET_TYPES];
        const data = field && at(s, "data", field);
        if (namespace && name && typeof data === "string") {
            const decoded = Buffer.from(data, "base64").toString("utf8");
            out.set(`${namespace}/${name}`, field === ".dockercfg" && decoded !== "" ? `{"auths":${decoded}}` : decoded);
        }
    }
    return out;
}
