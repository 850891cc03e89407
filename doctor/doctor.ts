/**
 * Would each workload of the given namespaces pull its images right now, with the credentials the
 * kubelet would use, and can any tenant's credentials pull another tenant's private images?
 * Read-only: one list of the workloads and one of the pull Secrets (cluster-wide when there are
 * several namespaces, per namespace when that is forbidden), then the registry probe.
 */
import { type Kubectl, kubectlFailure } from "../components/cluster";
import { type Credential, credentialsFor, keyringKey, parseImage, PullSecretError, readDockerConfigJson } from "./credentialMatch";
import { type CredentialRef, type ProbeOptions, RegistryProber, type VerdictKind } from "./registryProbe";
import { dockerConfigs, PULL_SECRET_TYPES, readWorkloads, WORKLOAD_KINDS, type WorkloadImage } from "./workloads";

/** A namespace to look at, and the tenant it belongs to (a stack tenant; a selector's namespaces are one). */
export interface Scope {
    namespace: string;
    tenant: string;
}

/** One container's image, and what the kubelet would make of it. */
export interface Finding extends WorkloadImage {
    verdict: VerdictKind | "unreadable-secret";
    pulls: boolean;
    /** The credential that decided (none: anonymous, or nothing tried). */
    credential?: CredentialRef;
    /** One line for people: the verdict's, then what else is wrong. */
    message: string;
    /** Pull Secrets listed but not in the namespace: the kubelet pulls without them. */
    absentSecrets: string[];
}

/** A tenant's credential that pulls another tenant's private image. */
export interface Leak {
    tenant: string;
    namespace: string;
    credential: CredentialRef;
    image: string;
    /** Whose image it is, and where it runs. */
    imageTenant: string;
    imageNamespace: string;
}

export interface DoctorReport {
    findings: Finding[];
    leaks: Leak[];
    /** Requests sent to registries. */
    requests: number;
}

/** The doctor could not look (the cluster refused a list): exit 2, not a verdict. */
export class DoctorError extends Error {}

/** A finding is a failure when the pull would fail, or a pod lacks what its account lists now. */
export const failed = (f: Finding): boolean => !f.pulls || f.missingFromPod.length > 0 || f.accountMissing === true;

/** Every promise's value; when some fail, the first failure in list order, not in time, so that a run says the same each time. */
async function allInOrder<T>(promises: Promise<T>[]): Promise<T[]> {
    const settled = await Promise.allSettled(promises);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failure) {
        throw failure.reason;
    }
    return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

async function list(kubectl: Kubectl, what: string, args: string[], namespaces: string[]): Promise<string[]> {
    const asked = async (scope: string[]): Promise<string> => {
        const r = await kubectl([...args, ...scope, "-o", "json"]);
        if (r.code !== 0) {
            throw new DoctorError(`cannot list ${what} ${scope[0] === "-A" ? "in all namespaces" : `in ${scope[1]}`} (${kubectlFailure(r)})`);
        }
        return r.stdout;
    };
    // Cluster-wide only for many namespaces: a few are asked one by one, so that a large cluster's
    // other namespaces are never read.
    if (namespaces.length > PER_NAMESPACE_UP_TO) {
        const all = await asked(["-A"]).catch(() => undefined);
        if (all !== undefined) {
            return [all];
        }
    }
    const out: string[] = [];
    for (let i = 0; i < namespaces.length; i += 8) {
        out.push(...(await allInOrder(namespaces.slice(i, i + 8).map((ns) => asked(["-n", ns])))));
    }
    return out;
}

const LISTED = (what: string) => new DoctorError(`kubectl's answer for ${what} was not a list`);
const PER_NAMESPACE_UP_TO = 10;

/** The doctor's look at `scopes`, with `kubectl` for the cluster and `probe` for the registries. */
export async function diagnose(kubectl: Kubectl, scopes: Scope[], { crossTenant = false, probe = {} }: { crossTenant?: boolean; probe?: ProbeOptions } = {}): Promise<DoctorReport> {
    const namespaces = [...new Set(scopes.map((s) => s.namespace))].sort();
    const wanted = new Set(namespaces);
    const [workloadLists, ...secretLists] = await allInOrder([
        list(kubectl, "workloads", ["get", WORKLOAD_KINDS.join(",")], namespaces),
        ...Object.keys(PULL_SECRET_TYPES).map((type) => list(kubectl, "pull Secrets", ["get", "secrets", "--field-selector", `type=${type}`], namespaces)),
    ]);
    const read = workloadLists.map((l) => readWorkloads(l) ?? (() => { throw LISTED("workloads"); })());
    const existing = new Set(read.flatMap((r) => [...r.namespaces]));
    const absent = namespaces.filter((ns) => !existing.has(ns));
    if (absent.length > 0) {
        throw new DoctorError(`no namespace ${absent.join(", ")} (it has no ServiceAccount): check the name`);
    }
    const images = read.flatMap((r) => r.images).filter((w) => wanted.has(w.namespace));
    const configs = new Map<string, string>();
    for (const l of secretLists.flat()) {
        for (const [k, v] of dockerConfigs(l) ?? (() => { throw LISTED("pull Secrets"); })()) {
            configs.set(k, v);
        }
    }
    const prober = new RegistryProber(probe);
    const findings = await Promise.all(images.map((w) => examine(prober, w, configs)));
    const leaks = crossTenant ? await crossTenantLeaks(prober, scopes, findings, configs) : [];
    const { registryChecks, tokenRequests, manifestRequests } = prober.stats;
    return { findings: sortWorstFirst(findings), leaks, requests: registryChecks + tokenRequests + manifestRequests };
}

async function examine(prober: RegistryProber, w: WorkloadImage, configs: Map<string, string>): Promise<Finding> {
    const absentSecrets = w.pullSecrets.filter((s) => !configs.has(`${w.namespace}/${s}`));
    const present = w.pullSecrets.filter((s) => configs.has(`${w.namespace}/${s}`));
    const held = present.map((s) => configs.get(`${w.namespace}/${s}`)!);
    const notes = [
        ...(w.accountMissing ? [`ServiceAccount ${w.serviceAccount} does not exist, so no pod of ${w.workload} can be made (fix: create it, or add it to the stack's serviceAccounts)`] : []),
        ...(w.pullSecrets.length === 0 && !w.accountMissing && w.missingFromPod.length === 0
            ? [`${w.workload.startsWith("Pod/") ? "the pod" : `ServiceAccount ${w.serviceAccount}`} lists no pull Secret (fix: add ${w.serviceAccount} to the stack's serviceAccounts, or give the ${w.workload.startsWith("Pod/") ? "pod" : "template"} imagePullSecrets)`]
            : []),
        ...(absentSecrets.length > 0 ? [`pull Secret ${absentSecrets.join(", ")} is not in the namespace (or not a docker config Secret): the kubelet pulls without it`] : []),
        ...(w.missingFromPod.length > 0
            ? [`made before ${w.serviceAccount} listed ${w.missingFromPod.join(", ")}: delete the pod${w.madeBy ? ` so that ${w.madeBy} makes it again` : " and create it again"}`]
            : []),
    ];
    let credentials: Credential[];
    try {
        credentials = credentialsFor(w.image, held);
    } catch (err) {
        if (err instanceof PullSecretError) {
            return { ...w, verdict: "unreadable-secret", pulls: false, absentSecrets, message: [`the kubelet cannot read pull Secret ${present[err.secretIndex]}, so it pulls nothing for this pod (fix: recreate it from the stack, or remove it from the pod's list)`, ...notes].join("; ") };
        }
        credentials = [];
    }
    const v = await prober.verdict(w.image, credentials);
    const credential = v.decisive?.credential ?? undefined;
    return { ...w, verdict: v.kind, pulls: v.pulls, ...(credential ? { credential } : {}), absentSecrets, message: [v.message, ...notes].join("; ") };
}

/**
 * Each tenant's credentials (every entry of every pull Secret in its namespaces), tried on the
 * repositories only other tenants' workloads use that do not pull anonymously: any that pulls is
 * a leak. A credential is tried on every repository of its registry, whatever path its key names:
 * whoever can read the Secret can use the password anywhere. One the repository's own tenants hold
 * too (a shared registry account) is not a leak.
 */
async function crossTenantLeaks(prober: RegistryProber, scopes: Scope[], findings: Finding[], configs: Map<string, string>): Promise<Leak[]> {
    const tenantOf = new Map(scopes.map((s) => [s.namespace, s.tenant]));
    // In memory only: which tenant holds which (registry, user, password).
    const identity = (host: string, c: { username: string; password: string }) => JSON.stringify([host, c.username, c.password]);
    const held: { tenant: string; namespace: string; host: string; credential: Credential }[] = [];
    for (const [key, config] of configs) {
        const namespace = key.slice(0, key.indexOf("/"));
        const tenant = tenantOf.get(namespace);
        let entries: ReturnType<typeof readDockerConfigJson> = [];
        try {
            entries = tenant === undefined ? [] : readDockerConfigJson(config);
        } catch {
            // An unreadable Secret: its finding already says so.
        }
        for (const [loc, entry] of entries) {
            const host = keyringKey(loc)?.split("/")[0];
            if (tenant !== undefined && host) {
                held.push({ tenant, namespace, host, credential: { key: loc, indexKey: host, ...entry, secretIndex: 0 } });
            }
        }
    }
    const holders = new Map<string, Set<string>>();
    for (const h of held) {
        holders.set(identity(h.host, h.credential), (holders.get(identity(h.host, h.credential)) ?? new Set()).add(h.tenant));
    }
    // Each repository (registry/repository), the tenants whose workloads use it, and one image of it.
    const repositories = new Map<string, { registry: string; image: string; namespace: string; tenants: Set<string> }>();
    for (const f of findings) {
        let name: ReturnType<typeof parseImage>;
        try {
            name = parseImage(f.image);
        } catch {
            continue;
        }
        const repo = repositories.get(name.name) ?? { registry: name.registry, image: f.image, namespace: f.namespace, tenants: new Set<string>() };
        repositories.set(name.name, repo.tenants.add(tenantOf.get(f.namespace)!) && repo);
    }
    const publicRepos = await Promise.all([...repositories].map(async ([name, r]) => ((await prober.verdict(r.image, [])).pulls ? name : undefined)));
    for (const name of publicRepos) {
        if (name !== undefined) {
            repositories.delete(name);
        }
    }
    const leaks: Leak[] = [];
    const tried = held.flatMap((h) =>
        [...repositories.values()]
            .filter((r) => r.registry === h.host && !r.tenants.has(h.tenant) && ![...r.tenants].some((t) => holders.get(identity(h.host, h.credential))!.has(t)))
            .map(async (r) => {
                const v = await prober.verdict(r.image, [h.credential]);
                if (v.pulls && v.decisive?.credential) {
                    leaks.push({ tenant: h.tenant, namespace: h.namespace, credential: v.decisive.credential, image: r.image, imageTenant: [...r.tenants].sort()[0], imageNamespace: r.namespace });
                }
            }),
    );
    await Promise.all(tried);
    const order = (l: Leak) => `${l.tenant}\0${l.namespace}\0${l.image}\0${l.credential.key}\0${l.credential.username}`;
    return leaks.sort((a, b) => (order(a) < order(b) ? -1 : 1)).filter((l, i, all) => i === 0 || order(all[i - 1]) !== order(l));
}

/** Namespaces with the most failures first, then by name; in each, failures first, then by workload. */
export function sortWorstFirst(findings: Finding[]): Finding[] {
    const failures = new Map<string, number>();
    for (const f of findings) {
        failures.set(f.namespace, (failures.get(f.namespace) ?? 0) + (failed(f) ? 1 : 0));
    }
    const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    return [...findings].sort(
        (a, b) =>
            failures.get(b.namespace)! - failures.get(a.namespace)! ||
            cmp(a.namespace, b.namespace) ||
            Number(failed(b)) - Number(failed(a)) ||
            cmp(a.workload, b.workload) ||
            cmp(a.container, b.container),
    );
}

/** Kept short for the table: the verdict words people read. */
const SHOWN: Record<Finding["verdict"], string> = {
    pulls: "pulls",
    "no-credential": "no credential",
    refused: "refused (401)",
    denied: "denied (403)",
    "not-found": "not found",
    unreachable: "unreachable",
    tls: "TLS failed",
    timeout: "timed out",
    unexpected: "unexpected answer",
    "invalid-image": "invalid image",
    "unreadable-secret": "bad pull Secret",
};

/** The report for people: one line per image, a line under each failure, then the leaks. */
export function table(report: DoctorReport): string {
    const status = (f: Finding) => (failed(f) ? (f.pulls ? "STALE" : "FAIL") : "ok");
    const rows = report.findings.map((f) => [status(f), f.namespace, f.workload, f.container, f.image, f.verdict === "no-credential" && f.pulls ? "pulls (anonymous)" : SHOWN[f.verdict]]);
    const head = ["", "NAMESPACE", "WORKLOAD", "CONTAINER", "IMAGE", "VERDICT"];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
    const out = [line(head)];
    report.findings.forEach((f, i) => {
        out.push(line(rows[i]));
        if (failed(f)) {
            out.push(`      ${f.message}`);
        }
    });
    if (report.findings.length === 0) {
        out.push("(no workload in these namespaces)");
    }
    for (const l of report.leaks) {
        out.push(`LEAK  tenant ${l.tenant}'s credential ${l.credential.key} (user ${l.credential.username}, in ${l.namespace}) pulls ${l.image}, tenant ${l.imageTenant}'s image in ${l.imageNamespace}`);
    }
    const failures = report.findings.filter(failed).length;
    out.push(`${report.findings.length} images, ${failures} failing, ${report.leaks.length} leaks; ${report.requests} registry requests`);
    return `${out.join("\n")}\n`;
}

/** 0: every image pulls and no leak; 1: a failure or a leak. */
export const exitCode = (report: DoctorReport): number => (report.findings.some(failed) || report.leaks.length > 0 ? 1 : 0);
