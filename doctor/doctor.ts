/**
 * Would each workload of the given namespaces pull its images right now, with the credentials the
 * kubelet would use, and can any tenant's credentials pull another tenant's private images?
 * Read-only: one list of the workloads and one of the pull Secrets (cluster-wide when there are
 * several namespaces, per namespace when that is forbidden), then the registry probe.
 */
import { type Kubectl, kubectlFailure } from "../components/cluster";
import { type Credential, credentialsFor, PullSecretError } from "./credentialMatch";
import { type CredentialRef, type ProbeOptions, RegistryProber, type VerdictKind } from "./registryProbe";
import { dockerConfigs, WORKLOAD_KINDS, type WorkloadImage, workloadImages } from "./workloads";

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
export const failed = (f: Finding): boolean => !f.pulls || f.missingFromPod.length > 0;

async function list(kubectl: Kubectl, what: string, args: string[], namespaces: string[]): Promise<string[]> {
    const asked = async (scope: string[]): Promise<string> => {
        const r = await kubectl([...args, ...scope, "-o", "json"]);
        if (r.code !== 0) {
            throw new DoctorError(`cannot list ${what} ${scope[0] === "-A" ? "in all namespaces" : `in ${scope[1]}`} (${kubectlFailure(r)})`);
        }
        return r.stdout;
    };
    if (namespaces.length > 1) {
        const all = await asked(["-A"]).catch(() => undefined);
        if (all !== undefined) {
            return [all];
        }
    }
    const out: string[] = [];
    for (let i = 0; i < namespaces.length; i += 8) {
        out.push(...(await Promise.all(namespaces.slice(i, i + 8).map((ns) => asked(["-n", ns])))));
    }
    return out;
}

const LISTED = (what: string) => new DoctorError(`kubectl's answer for ${what} was not a list`);

/** The doctor's look at `scopes`, with `kubectl` for the cluster and `probe` for the registries. */
export async function diagnose(kubectl: Kubectl, scopes: Scope[], { crossTenant = false, probe = {} }: { crossTenant?: boolean; probe?: ProbeOptions } = {}): Promise<DoctorReport> {
    const namespaces = [...new Set(scopes.map((s) => s.namespace))].sort();
    const wanted = new Set(namespaces);
    const [workloadLists, secretLists] = await Promise.all([
        list(kubectl, "workloads", ["get", WORKLOAD_KINDS.join(",")], namespaces),
        list(kubectl, "pull Secrets", ["get", "secrets", "--field-selector", "type=kubernetes.io/dockerconfigjson"], namespaces),
    ]);
    const images = workloadLists.flatMap((l) => workloadImages(l) ?? (() => { throw LISTED("workloads"); })()).filter((w) => wanted.has(w.namespace));
    const configs = new Map<string, string>();
    for (const l of secretLists) {
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
        ...(absentSecrets.length > 0 ? [`pull Secret ${absentSecrets.join(", ")} is not in the namespace (or not of type kubernetes.io/dockerconfigjson): the kubelet pulls without it`] : []),
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
 * Each tenant's credentials (every pull Secret in its namespaces), as the kubelet would match them,
 * on the images of the other tenants that do not pull anonymously: any that pulls is a leak.
 */
async function crossTenantLeaks(prober: RegistryProber, scopes: Scope[], findings: Finding[], configs: Map<string, string>): Promise<Leak[]> {
    const tenantOf = new Map(scopes.map((s) => [s.namespace, s.tenant]));
    const held = new Map<string, { namespace: string; config: string }[]>();
    for (const [key, config] of configs) {
        const namespace = key.slice(0, key.indexOf("/"));
        const tenant = tenantOf.get(namespace);
        if (tenant !== undefined) {
            held.set(tenant, [...(held.get(tenant) ?? []), { namespace, config }]);
        }
    }
    // An image a tenant's own workloads use is its own, whoever else uses it too.
    const usedBy = new Map<string, Set<string>>();
    for (const f of findings) {
        usedBy.set(f.image, (usedBy.get(f.image) ?? new Set()).add(tenantOf.get(f.namespace)!));
    }
    const privateImages = new Map<string, Finding>();
    for (const f of findings) {
        if (f.verdict !== "invalid-image" && !privateImages.has(f.image)) {
            privateImages.set(f.image, f);
        }
    }
    const anonymous = await Promise.all([...privateImages.keys()].map(async (image) => [image, (await prober.verdict(image, [])).pulls] as const));
    for (const [image, pulls] of anonymous) {
        if (pulls) {
            privateImages.delete(image);
        }
    }
    const leaks: Leak[] = [];
    await Promise.all(
        [...held].flatMap(([tenant, secrets]) =>
            findings
                .filter((f) => privateImages.has(f.image) && !usedBy.get(f.image)!.has(tenant))
                .filter((f, i, all) => all.findIndex((g) => g.image === f.image) === i)
                .flatMap((f) =>
                    secrets.map(async ({ namespace, config }) => {
                        let credentials: Credential[];
                        try {
                            credentials = credentialsFor(f.image, [config]);
                        } catch {
                            return;
                        }
                        if (credentials.length === 0) {
                            return;
                        }
                        const v = await prober.verdict(f.image, credentials);
                        if (v.pulls && v.decisive?.credential) {
                            leaks.push({ tenant, namespace, credential: v.decisive.credential, image: f.image, imageTenant: tenantOf.get(f.namespace)!, imageNamespace: f.namespace });
                        }
                    }),
                ),
        ),
    );
    const order = (l: Leak) => `${l.tenant}\0${l.namespace}\0${l.image}\0${l.credential.key}`;
    return leaks.sort((a, b) => (order(a) < order(b) ? -1 : 1));
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
