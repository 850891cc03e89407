/**
 * Whether the cluster keeps one tenant's pulled private images from the other tenants' pods
 * (docs/tenants.md, "Tenants on a shared node"). Without a protection, an image one namespace pulled is
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
import { type Kubectl, kubectlFailure, type KubectlResult, parsed } from "./cluster";
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

/** A webhook's or a ValidatingAdmissionPolicy's denial, as the API server words it (RBAC's Forbidden says "cannot"). */
const refusedByAdmission = (r: KubectlResult) => r.stderr.split("\n").some((line) => line.startsWith("Error from server") && /denied (the )?request/.test(line));

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
    "enable the AlwaysPullImages admission plugin or the kubelet's KubeletEnsureSecretPulledImages gate (docs/tenants.md), or set registry-access:imageIsolation off";

/** The warning or error for the namespaces that are not (or not known to be) isolated; undefined when all are. */
export function isolationMessage(answers: IsolationAnswer[]): string | undefined {
    const open = answers.filter((a): a is Exclude<IsolationAnswer, { isolated: true }> => !("isolated" in a && a.isolated));
    if (open.length === 0) {
        return undefined;
    }
    const lines = open.map((a) => `  - ${a.namespace}: ${"why" in a ? `a pod without credentials runs the images other tenants pulled (${a.why})` : `cannot tell (${a.unknown})`}`);
    return `image isolation: ${open.length === 1 ? "1 namespace is" : `${open.length} namespaces are`} not known to keep tenants' pulled images apart on shared nodes:\n${lines.join("\n")}\n(fix: ${ISOLATION_FIX})`;
}
