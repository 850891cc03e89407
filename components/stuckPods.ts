/**
 * Pods that cannot pull because they were created before the stack reached their namespace or
 * ServiceAccount: ServiceAccount admission copies `imagePullSecrets` onto a pod only when it is
 * created, so such a pod stays in ImagePullBackOff after the Secrets exist. Found in one list of
 * the cluster's pending pods; deleted on request when a controller will make them again.
 */
import { listedItems } from "./cluster";
import type { TenantConfig } from "./config";

export interface StuckPod {
    namespace: string;
    pod: string;
    /** `Kind/name` of the controller that made it, or "none". */
    owner: string;
}

const PULL_FAILURES = new Set(["ErrImagePull", "ImagePullBackOff"]);

interface Pod {
    metadata?: { name?: unknown; namespace?: unknown; ownerReferences?: { kind?: unknown; name?: unknown; controller?: unknown }[] };
    spec?: { serviceAccountName?: unknown; imagePullSecrets?: { name?: unknown }[] };
    status?: { initContainerStatuses?: { state?: { waiting?: { reason?: unknown } } }[]; containerStatuses?: { state?: { waiting?: { reason?: unknown } } }[] };
}

/**
 * The pods of the tenants' namespaces that run as a ServiceAccount the stack patches, list none of
 * the stack's pull Secrets, and wait on a failed pull: created before the patch.
 */
export function stuckPods(podList: string, tenants: TenantConfig[], pullSecretNames: (t: TenantConfig) => string[]): StuckPod[] | undefined {
    const items = listedItems<Pod>(podList);
    if (items === undefined) {
        return undefined;
    }
    const byNamespace = new Map(tenants.map((t) => [t.namespace, t]));
    return items.flatMap((pod) => {
        const { name, namespace, ownerReferences = [] } = pod.metadata ?? {};
        const tenant = typeof namespace === "string" ? byNamespace.get(namespace) : undefined;
        if (tenant === undefined || typeof name !== "string") {
            return [];
        }
        const account = typeof pod.spec?.serviceAccountName === "string" ? pod.spec.serviceAccountName : "default";
        const listed = new Set((pod.spec?.imagePullSecrets ?? []).map((s) => s.name));
        const waiting = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])].some((c) => PULL_FAILURES.has(c.state?.waiting?.reason as string));
        if (!tenant.serviceAccounts.includes(account) || pullSecretNames(tenant).some((s) => listed.has(s)) || !waiting) {
            return [];
        }
        const controller = ownerReferences.find((o) => o.controller === true);
        const owner = controller && typeof controller.kind === "string" && typeof controller.name === "string" ? `${controller.kind}/${controller.name}` : "none";
        return [{ namespace: tenant.namespace, pod: name, owner }];
    });
}

/** How a stuck pod reads in a message: namespace/pod (owner). */
export const describeStuckPod = (p: StuckPod): string => `${p.namespace}/${p.pod} (${p.owner === "none" ? "no controller: delete and create it again" : p.owner})`;
