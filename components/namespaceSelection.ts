/**
 * What the config reaches in the cluster as it is now: the namespaces each namespaceSelector
 * matches (labelSelector.ts, the API server's semantics) and, for `serviceAccounts: "*"`, the
 * ServiceAccounts there. Resolved at every preview and up, so a namespace or ServiceAccount made
 * since the last run is reached by the next one, and one that stopped matching is let go.
 */
import { listedItems } from "./cluster";
import { type Problem, quote, type StackConfig, type TenantConfig } from "./config";
import { matchesSelector, selectorString } from "./labelSelector";
import { OWNER_ANNOTATION } from "./namespaceOwnership";

/** A namespace as listed: its name, labels, owner mark, and whether it is being deleted. */
export interface ListedNamespace {
    name: string;
    labels: Record<string, string>;
    owner?: string;
    terminating: boolean;
}

/** What a previous run reached, from its `tenants` output: to compare the cluster with it. */
export interface RecordedTenant {
    namespace: string;
    serviceAccounts: string[];
    /** The selector that reached the namespace, by key path; absent for a named namespace. */
    selectedBy?: string;
}

export interface Selection {
    /** The named tenants, then each selector's namespaces in name order, ServiceAccounts resolved. */
    tenants: TenantConfig[];
    /** Two tenants reaching one namespace, or a namespace this stack created: nothing may be declared. */
    problems: Problem[];
    /** What each selector and `"*"` reached, for the preview. */
    report: string[];
    /** A selector that matches nothing. */
    warnings: string[];
}

const prefix = (path: string) => (path ? `${path}.` : "");

/**
 * The tenants the stack serves now. `serviceAccounts` of a `"*"` tenant is every ServiceAccount
 * listed in its namespace, and `default` (made in every namespace, perhaps not yet), but the
 * excluded ones and the Container Service's own.
 */
export function selectNamespaces(
    config: StackConfig,
    namespaces: ListedNamespace[],
    serviceAccounts: Map<string, string[]>,
    stack: string,
    recorded?: RecordedTenant[],
): Selection {
    const problems: Problem[] = [];
    const report: string[] = [];
    const warnings: string[] = [];
    const reachedBy = new Map(config.tenants.map((t) => [t.namespace, `${prefix(t.path)}namespace names`]));
    const selected: TenantConfig[] = [];
    const byName = [...namespaces].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const s of config.selected) {
        const at = `${prefix(s.path)}namespaceSelector`;
        // Recorded: what this selector reached last time and still exists, whatever the labels now.
        const reached = recorded && new Set(recorded.filter((r) => r.selectedBy === at).map((r) => r.namespace));
        const matches = byName.filter((ns) =>
            reached ? reached.has(ns.name) : !ns.terminating && !s.excludeNamespaces.includes(ns.name) && matchesSelector(s.namespaceSelector, ns.labels),
        );
        const shown = `${at} (${selectorString(s.namespaceSelector)})`;
        if (matches.length === 0) {
            warnings.push(`${shown} matches no namespace: this tenant reaches none until one is labelled`);
        } else {
            report.push(`${shown} matches ${matches.map((ns) => ns.name).join(", ")}`);
        }
        for (const ns of matches) {
            const other = reachedBy.get(ns.name);
            if (other !== undefined) {
                problems.push({ path: at, message: `matches namespace ${quote(ns.name)}, which ${other} too`, fix: `one tenant per namespace: add ${quote(ns.name)} to ${prefix(s.path)}excludeNamespaces, or narrow one of the two` });
                continue;
            }
            if (ns.owner === stack) {
                problems.push({
                    path: at,
                    message: `matches namespace ${quote(ns.name)}, which this stack created (its ${OWNER_ANNOTATION} annotation): a selector adopts, so up would delete it with everything in it`,
                    fix: `keep it a named tenant, or add it to ${prefix(s.path)}excludeNamespaces`,
                });
                continue;
            }
            reachedBy.set(ns.name, `${at} matches`);
            selected.push({
                path: s.path,
                registries: s.registries,
                serviceAccounts: s.serviceAccounts,
                ...(s.allServiceAccounts ? { allServiceAccounts: s.allServiceAccounts } : {}),
                keepPullSecrets: s.keepPullSecrets,
                selectedBy: at,
                namespace: ns.name,
                createNamespace: false,
                labels: {},
                annotations: {},
            });
        }
    }
    const tenants = [...config.tenants, ...selected].map((t) => {
        if (t.allServiceAccounts === undefined) {
            return t;
        }
        const except = new Set([...t.allServiceAccounts.except, ...(t.containerService ? [t.containerService.serviceAccount] : [])]);
        const before = recorded?.find((r) => r.namespace === t.namespace)?.serviceAccounts;
        const all = before ?? [...new Set(["default", ...(serviceAccounts.get(t.namespace) ?? [])])].filter((a) => !except.has(a)).sort();
        report.push(`${prefix(t.path)}serviceAccounts "*" in ${t.namespace}: ${all.length > 0 ? all.join(", ") : "none"}`);
        return { ...t, serviceAccounts: all };
    });
    return { tenants, problems, report, warnings };
}

/** `kubectl get namespaces -o json`'s items, or undefined when the answer is no namespace list. */
export function listedNamespaces(stdout: string): ListedNamespace[] | undefined {
    type Item = { metadata?: { name?: unknown; labels?: Record<string, unknown>; annotations?: Record<string, unknown> }; status?: { phase?: unknown } };
    const items = listedItems<Item>(stdout);
    return items?.flatMap((item) => {
        const name = item.metadata?.name;
        if (typeof name !== "string") {
            return [];
        }
        const labels = Object.fromEntries(Object.entries(item.metadata?.labels ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"));
        const owner = item.metadata?.annotations?.[OWNER_ANNOTATION];
        return [{ name, labels, ...(typeof owner === "string" ? { owner } : {}), terminating: item.status?.phase === "Terminating" }];
    });
}

/** `kubectl get serviceaccounts -A -o json`'s names by namespace, or undefined when no list. */
export function listedServiceAccounts(stdout: string): Map<string, string[]> | undefined {
    type Item = { metadata?: { name?: unknown; namespace?: unknown } };
    const items = listedItems<Item>(stdout);
    if (items === undefined) {
        return undefined;
    }
    const byNamespace = new Map<string, string[]>();
    for (const { metadata } of items) {
        if (typeof metadata?.name === "string" && typeof metadata.namespace === "string") {
            byNamespace.set(metadata.namespace, [...(byNamespace.get(metadata.namespace) ?? []), metadata.name]);
        }
    }
    return byNamespace;
}
