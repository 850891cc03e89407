/**
 * Every image a namespace's workloads pull, with the pull Secrets the kubelet would use for it:
 * a pod's own `imagePullSecrets`; for a controller's pod template, what ServiceAccount admission
 * would give a pod made from it now (plugin/pkg/admission/serviceaccount `Admit`: the account's
 * `imagePullSecrets`, copied only when the pod lists none of its own).
 */
import { listedItems } from "../components/cluster";

/** The kinds read, in one list call: a ReplicaSet only to tell a Deployment's pods by their owner. */
export const WORKLOAD_KINDS = ["pods", "deployments.apps", "statefulsets.apps", "daemonsets.apps", "jobs.batch", "cronjobs.batch", "replicasets.apps", "serviceaccounts"] as const;

interface Meta {
    name?: unknown;
    namespace?: unknown;
    ownerReferences?: { kind?: unknown; name?: unknown; controller?: unknown }[];
}
interface PodSpec {
    serviceAccountName?: unknown;
    imagePullSecrets?: { name?: unknown }[];
    containers?: { name?: unknown; image?: unknown }[];
    initContainers?: { name?: unknown; image?: unknown }[];
}
interface Item {
    kind?: unknown;
    metadata?: Meta;
    spec?: PodSpec & { template?: { spec?: PodSpec }; jobTemplate?: { spec?: { template?: { spec?: PodSpec } } } };
    imagePullSecrets?: { name?: unknown }[];
}

/** One container's image in one workload. */
export interface WorkloadImage {
    namespace: string;
    /** `Kind/name`: a controller for its template, `Pod/name` for a pod no listed controller explains. */
    workload: string;
    container: string;
    image: string;
    serviceAccount: string;
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

const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const names = (refs: { name?: unknown }[] | undefined): string[] => (refs ?? []).flatMap((r) => (text(r.name) === undefined ? [] : [r.name as string]));

function controllerOf(meta: Meta | undefined): { kind: string; name: string } | undefined {
    const ref = (meta?.ownerReferences ?? []).find((o) => o.controller === true);
    const kind = text(ref?.kind);
    const name = text(ref?.name);
    return kind && name ? { kind, name } : undefined;
}

function podSpecOf(item: Item): PodSpec | undefined {
    switch (item.kind) {
        case "Pod":
            return item.spec;
        case "CronJob":
            return item.spec?.jobTemplate?.spec?.template?.spec;
        default:
            return item.spec?.template?.spec;
    }
}

/** Kinds whose pod template is read in place of the pods (or Jobs) they make. */
const TEMPLATE_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]);

/**
 * The images of the workloads in `kubectl get <WORKLOAD_KINDS> -o json`'s list, or undefined when
 * it is not a list. What a listed controller makes (a Deployment through its ReplicaSet, a
 * CronJob through its Job) is read from that controller's template; a pod is read as itself when
 * nothing listed made it, or when it lacks Secrets its account lists now, since that pod is what
 * the kubelet is pulling for.
 */
export function workloadImages(list: string): WorkloadImage[] | undefined {
    const items = listedItems<Item>(list);
    if (items === undefined) {
        return undefined;
    }
    const key = (kind: unknown, namespace: unknown, name: unknown) => `${String(kind)}/${String(namespace)}/${String(name)}`;
    const byKey = new Map(items.map((i) => [key(i.kind, i.metadata?.namespace, i.metadata?.name), i]));
    const accountSecrets = (namespace: string, account: string) => names(byKey.get(key("ServiceAccount", namespace, account))?.imagePullSecrets);
    /** The outermost listed controller with a template above this object, following up to three owners. */
    const templateOwner = (namespace: string, meta: Meta | undefined): string | undefined => {
        let found: string | undefined;
        let owner = controllerOf(meta);
        for (let hops = 0; owner !== undefined && hops < 3; hops++) {
            const item = byKey.get(key(owner.kind, namespace, owner.name));
            if (item === undefined) {
                break;
            }
            found = TEMPLATE_KINDS.has(owner.kind) ? `${owner.kind}/${owner.name}` : found;
            owner = controllerOf(item.metadata);
        }
        return found;
    };
    const out: WorkloadImage[] = [];
    for (const item of items) {
        const kind = text(item.kind);
        const namespace = text(item.metadata?.namespace);
        const name = text(item.metadata?.name);
        const spec = kind === "Pod" || TEMPLATE_KINDS.has(kind ?? "") ? podSpecOf(item) : undefined;
        if (!kind || !namespace || !name || spec === undefined) {
            continue;
        }
        const serviceAccount = text(spec.serviceAccountName) ?? "default";
        const accountNow = accountSecrets(namespace, serviceAccount);
        const own = names(spec.imagePullSecrets);
        const madeBy = templateOwner(namespace, item.metadata);
        let missingFromPod: string[] = [];
        if (kind === "Pod") {
            // Admission copies the account's whole list, and only onto a pod that lists none: a pod
            // listing a subset of it was made before the rest was added.
            const fromAdmission = own.every((s) => accountNow.includes(s));
            missingFromPod = fromAdmission ? accountNow.filter((s) => !own.includes(s)) : [];
            if (madeBy !== undefined && missingFromPod.length === 0) {
                continue;
            }
        } else if (madeBy !== undefined) {
            continue;
        }
        const pullSecrets = kind === "Pod" || own.length > 0 ? own : accountNow;
        for (const c of [...(spec.initContainers ?? []), ...(spec.containers ?? [])]) {
            const image = text(c.image);
            if (image !== undefined) {
                out.push({ namespace, workload: `${kind}/${name}`, container: text(c.name) ?? "", image, serviceAccount, ...(madeBy ? { madeBy } : {}), pullSecrets, missingFromPod });
            }
        }
    }
    return out;
}

/** A `kubernetes.io/dockerconfigjson` Secret's `.dockerconfigjson`, by `namespace/name`. */
export function dockerConfigs(secretList: string): Map<string, string> | undefined {
    const items = listedItems<{ metadata?: Meta; data?: Record<string, unknown> }>(secretList);
    if (items === undefined) {
        return undefined;
    }
    const out = new Map<string, string>();
    for (const s of items) {
        const data = s.data?.[".dockerconfigjson"];
        if (typeof data === "string" && text(s.metadata?.namespace) && text(s.metadata?.name)) {
            out.set(`${String(s.metadata!.namespace)}/${String(s.metadata!.name)}`, Buffer.from(data, "base64").toString("utf8"));
        }
    }
    return out;
}
