/**
 * Rules across keys. They run on the raw input, whatever else is wrong, so that every problem is
 * reported at once (zod refinements only run once everything else is valid). Values that are
 * malformed are skipped here: their own rule already reports them.
 */
import { DOCKER_HUB_SERVER } from "../dockerConfig";
import { cloudUsernameProblem, defaultSecretName, isDns1123Subdomain, serverKey, tokenSecretName } from "../names";
import { FIX, fixFor, quote, tenantPrefix } from "./messages";
import { asText, INVALID_METADATA_KEY, TENANT_KEYS, textFromNumber } from "./schema";
import { DEFAULT_CONTAINER_SERVICE_ACCOUNT, ENCRYPTED_PLACEHOLDER, type Problem } from "./types";

/** Namespaces the API server makes and keeps; no stack may own (and on destroy delete) them. */
const SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];

interface RawEntry {
    path: string;
    value: Record<string, unknown>;
    shared: boolean;
}

const asRecord = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** A tenant as written, with its own registry entries, read once. */
interface TenantEntry {
    path: string;
    value: Record<string, unknown>;
    own: RawEntry[];
}

/** The server an entry gets (Docker Hub when omitted) and its identity; undefined when malformed. */
function entryServer(value: Record<string, unknown>): { server: string; key: string } | undefined {
    const server = value.server === undefined ? DOCKER_HUB_SERVER : value.server;
    const key = typeof server === "string" ? serverKey(server) : undefined;
    return key === undefined ? undefined : { server: server as string, key };
}

/** Whether an entry asks for a generated password (`false` and "false" do not). */
const isGenerated = (value: Record<string, unknown>): boolean =>
    ![undefined, false, "false"].includes(value.generatePassword as string | boolean | undefined);

/** The maps in a list, with their key paths; anything else is reported by the schema. */
const mapsAt = (list: unknown, path: string): { path: string; value: Record<string, unknown> }[] =>
    Array.isArray(list)
        ? list.flatMap((v, i) => {
              const value = asRecord(v);
              return value ? [{ path: `${path}[${i}]`, value }] : [];
          })
        : [];

const entriesAt = (list: unknown, path: string, shared: boolean): RawEntry[] => mapsAt(list, path).map((entry) => ({ ...entry, shared }));

export function crossProblems(raw: unknown): Problem[] {
    const top = asRecord(raw);
    if (!top) {
        return []; // the schema reports it
    }
    const problems: Problem[] = [];
    const combined = typeof top.combinedPullSecret === "string" ? top.combinedPullSecret : undefined;
    const shared = entriesAt(top.sharedRegistries, "sharedRegistries", true);
    const tenants: TenantEntry[] = [
        ...(top.namespace !== undefined || top.namespaceSelector !== undefined ? [{ path: "", value: top }] : []),
        ...mapsAt(top.tenants, "tenants"),
    ].map(({ path, value }) => ({ path, value, own: entriesAt(value.registries, `${tenantPrefix(path)}registries`, false) }));

    const topLevel = top.namespace !== undefined || top.namespaceSelector !== undefined;
    if (!topLevel && top.tenants === undefined) {
        problems.push({ path: "namespace", message: "is required (or set namespaceSelector, or list tenants)", fix: fixFor(["namespace"]) });
    }
    if (!topLevel && top.tenants !== undefined) {
        for (const key of TENANT_KEYS.filter((k) => top[k] !== undefined)) {
            problems.push({
                path: key,
                message: "applies to the top-level namespace, which is not set",
                fix: "set namespace, or move this key into a tenants[] entry",
            });
        }
    }
    if (Array.isArray(top.tenants) && top.tenants.length === 0 && !topLevel) {
        problems.push({ path: "tenants", message: "must not be an empty list", fix: fixFor(["tenants"]) });
    }

    const namespaces = new Map<string, string>();
    for (const tenant of tenants) {
        const at = (key: string) => `${tenantPrefix(tenant.path)}${key}`;
        const ns = asText(tenant.value.namespace);
        if (typeof ns === "string") {
            const first = namespaces.get(ns);
            if (first !== undefined) {
                problems.push({ path: at("namespace"), message: `${quote(ns)} is already the namespace of ${first || "the top level"}`, fix: "give each tenant its own namespace" });
            } else {
                namespaces.set(ns, tenant.path);
            }
        }
        const registries = [...shared, ...tenant.own];
        if (registries.length === 0 && (tenant.value.registries === undefined || Array.isArray(tenant.value.registries))) {
            problems.push({
                path: at("registries"),
                message: tenant.value.registries === undefined ? "is required (or set sharedRegistries)" : "must list at least one registry (or set sharedRegistries)",
                fix: `list registries: pulumi config set --path '${at("registries")}[0].username' <user>`,
            });
        }
        problems.push(...selectorProblems(tenant, [...shared, ...tenant.own]));
        const selecting = tenant.value.namespaceSelector !== undefined;
        const adopting = selecting || tenant.value.createNamespace === false || tenant.value.createNamespace === "false";
        if (!adopting && typeof ns === "string" && SYSTEM_NAMESPACES.includes(ns)) {
            problems.push({
                path: at("createNamespace"),
                message: `${quote(ns)} is a namespace Kubernetes makes itself: the stack cannot create it, and its destroy would try to delete it`,
                fix: `adopt it: pulumi config set --path '${at("createNamespace")}' false`,
            });
        }
        for (const key of ["labels", "annotations"]) {
            const map = tenant.value[key];
            // Zod's record skips a `__proto__` key without a word; it is no valid key either.
            if (typeof map === "object" && map !== null && Object.hasOwn(map, "__proto__")) {
                problems.push({ path: `${at(key)}.__proto__`, message: INVALID_METADATA_KEY, fix: FIX[key] });
            }
            if (adopting && map !== undefined) {
                problems.push({
                    path: at(key),
                    message: `only applies to a namespace this stack creates (${selecting ? "a namespaceSelector's namespaces are adopted" : "createNamespace is false"})`,
                    fix: selecting ? "remove it" : "remove it, or set createNamespace: true",
                });
            }
        }
        problems.push(...duplicateProblems(registries, tenant.path, combined));
        problems.push(...tokenNameProblems(tenant.value, registries, tenant.path, combined));
        problems.push(...keepListProblems(tenant.value.keepPullSecrets, registries, at("keepPullSecrets"), combined));
        problems.push(...uniqueListProblems(tenant.value.serviceAccounts, at("serviceAccounts")));
        problems.push(...uniqueListProblems(tenant.value.excludeNamespaces, at("excludeNamespaces")));
        problems.push(...uniqueListProblems(tenant.value.excludeServiceAccounts, at("excludeServiceAccounts")));
        if (tenant.value.excludeServiceAccounts !== undefined && tenant.value.serviceAccounts !== "*") {
            problems.push({ path: at("excludeServiceAccounts"), message: "only applies with serviceAccounts: \"*\"", fix: "remove it, or set serviceAccounts to \"*\"" });
        }
        problems.push(...containerServiceProblems(tenant.value, at("containerService")));
    }
    problems.push(...generatedUsernameProblems(shared, tenants));
    if (combined !== undefined) {
        problems.push(...combinedSecretNameProblems([...shared, ...tenants.flatMap((t) => t.own)], combined));
    }
    // Shared entries are checked once here, whatever the number of tenants.
    for (const entry of [...shared, ...tenants.flatMap((t) => t.own)]) {
        problems.push(...credentialProblems(entry));
    }
    return problems;
}

/**
 * A tenant is one namespace or the namespaces a selector matches, which are adopted (never created
 * or deleted) and come and go between runs: what needs a fixed namespace is refused with one. Each
 * requirement is checked as the API server checks a LabelSelector (values for In and NotIn only).
 */
function selectorProblems(tenant: TenantEntry, registries: RawEntry[]): Problem[] {
    const at = (key: string) => `${tenantPrefix(tenant.path)}${key}`;
    const selector = tenant.value.namespaceSelector;
    if (selector === undefined) {
        if (tenant.path !== "" && tenant.value.namespace === undefined) {
            return [{ path: at("namespace"), message: "is required (or set namespaceSelector)", fix: FIX.namespace.replace("{T}", tenantPrefix(tenant.path)) }];
        }
        return tenant.value.excludeNamespaces === undefined ? [] : [{ path: at("excludeNamespaces"), message: "only applies with a namespaceSelector", fix: "remove it" }];
    }
    const problems: Problem[] = [];
    if (tenant.value.namespace !== undefined) {
        problems.push({ path: at("namespaceSelector"), message: "is set together with namespace", fix: "keep one: a tenant is one namespace, or the namespaces a selector matches" });
    }
    const named = (key: string, why: string) => (tenant.value[key] === undefined ? [] : [{ path: at(key), message: `cannot be used with namespaceSelector: ${why}`, fix: "remove it, or name the namespace in a tenants entry of its own" }]);
    const created = ![undefined, false, "false"].includes(tenant.value.createNamespace as string | boolean | undefined);
    problems.push(
        ...(created ? named("createNamespace", "the namespaces a selector matches are adopted, never created") : []),
        ...named("containerService", "its ServiceAccount, Role and kubeconfig are made for one namespace XNAT is configured with"),
        ...named("credentialRotation", "it rotates generated passwords, which a selector's namespaces cannot have"),
    );
    for (const { path, value } of registries) {
        if (isGenerated(value)) {
            problems.push({
                path: `${path}.generatePassword`,
                message: `cannot reach the namespaces of ${at("namespaceSelector")}: a generated credential is one per namespace, and those come and go between runs`,
                fix: "set the password the registry issued (--secret), or name the namespaces in tenants entries",
            });
        }
    }
    const map = asRecord(selector);
    if (map === undefined) {
        return problems; // the schema reports it
    }
    const expressions = Array.isArray(map.matchExpressions) ? map.matchExpressions : [];
    const labels = asRecord(map.matchLabels) ?? {};
    if (Object.keys(labels).length === 0 && expressions.length === 0) {
        problems.push({
            path: at("namespaceSelector"),
            message: "selects every namespace of the cluster, kube-system included",
            fix: "set matchLabels or matchExpressions; for every namespace, say so: matchExpressions: [{key: kubernetes.io/metadata.name, operator: Exists}]",
        });
    }
    expressions.forEach((e, i) => {
        const requirement = asRecord(e);
        const path = at(`namespaceSelector.matchExpressions[${i}].values`);
        const values = requirement?.values;
        if (requirement?.operator === "In" || requirement?.operator === "NotIn") {
            if (!Array.isArray(values) || values.length === 0) {
                problems.push({ path, message: `is required for ${requirement.operator}`, fix: `list the label values: ${path}: [a, b]` });
            }
        } else if ((requirement?.operator === "Exists" || requirement?.operator === "DoesNotExist") && Array.isArray(values) && values.length > 0) {
            problems.push({ path, message: `must be empty for ${requirement.operator}`, fix: "remove values" });
        }
    });
    return problems;
}

/** Exactly one of password or generatePassword; cloud registries' username conventions. */
function credentialProblems({ path, value, shared }: RawEntry): Problem[] {
    const problems: Problem[] = [];
    const generated = isGenerated(value);
    if (generated && value.password !== undefined) {
        problems.push({ path: `${path}.generatePassword`, message: "is set together with password", fix: "keep one: a configured password, or generatePassword" });
    } else if (!generated && value.password === undefined) {
        problems.push({
            path: `${path}.password`,
            message: "is required (or set generatePassword: true)",
            fix: `pulumi config set --secret --path '${path}.password' <password>`,
        });
    }
    if (!generated && value.username === undefined) {
        problems.push({ path: `${path}.username`, message: "is required", fix: `pulumi config set --path '${path}.username' <user>` });
    }
    if (generated && shared && value.username !== undefined) {
        problems.push({
            path: `${path}.username`,
            message: "would give every tenant the same username for its own generated password",
            fix: "remove it: each tenant's username is its namespace",
        });
    }
    const server = entryServer(value)?.server;
    if (server !== undefined) {
        const text = asText(value.username);
        const username = typeof text === "string" ? text : undefined;
        const password = typeof value.password === "string" && value.password !== ENCRYPTED_PLACEHOLDER ? value.password : undefined;
        const cloud = cloudUsernameProblem(server, username, password, generated);
        if (cloud) {
            problems.push({ path: `${path}.${cloud.key}`, message: cloud.message, fix: cloud.fix.replace("<entry>", path) });
        }
    }
    return problems;
}

/**
 * Generated credentials become lines of one htpasswd file per registry: their usernames (the
 * tenant's namespace unless given) must be unique per registry across the stack.
 */
function generatedUsernameProblems(shared: RawEntry[], tenants: TenantEntry[]): Problem[] {
    const problems: Problem[] = [];
    const seen = new Map<string, string>();
    for (const tenant of tenants) {
        for (const { path, value } of [...shared, ...tenant.own]) {
            const key = entryServer(value)?.key;
            const username = asText(value.username ?? tenant.value.namespace);
            if (!isGenerated(value) || key === undefined || typeof username !== "string") {
                continue;
            }
            const first = seen.get(`${key}\n${username}`);
            if (first !== undefined && first !== path) {
                problems.push({
                    path: `${path}.username`,
                    message: `${quote(username)} already has a generated password on this registry (${first})`,
                    fix: "give each generated credential its own username",
                });
            } else {
                seen.set(`${key}\n${username}`, path);
            }
        }
    }
    return problems;
}

/**
 * Duplicate servers and object names among one tenant's registries (shared ones included). Each
 * entry's Secret name (given, or its server's default) must be valid and unique; with a combined
 * Secret, servers must still differ (`auths` is a map), and the names left are those of the
 * generated passwords, which must differ too (each names its RandomPassword and its output).
 */
function duplicateProblems(registries: RawEntry[], tenantPath: string, combined: string | undefined): Problem[] {
    const problems: Problem[] = [];
    const servers = new Map<string | undefined, string>();
    const names = new Map<string, string>();
    const inTenant = tenantPath ? ` (in ${tenantPath})` : "";
    for (const { path, value } of registries) {
        const key = entryServer(value)?.key;
        const firstServer = servers.get(key);
        if (firstServer !== undefined) {
            problems.push({
                path: `${path}.server`,
                message: `is the same registry as ${firstServer}.server${inTenant}`,
                fix: combined === undefined ? "merge the two entries; one Secret per registry" : "merge the two entries; one entry per registry in the combined Secret",
            });
        } else if (key !== undefined) {
            servers.set(key, path);
        }
        // A duplicate server's default name is necessarily a duplicate too: report the cause once.
        const named = combined === undefined ? firstServer === undefined || value.secretName !== undefined : isGenerated(value);
        const name = named ? entrySecretName(value) : undefined;
        if (name === undefined) {
            continue;
        }
        if (combined === undefined && value.secretName === undefined && !isDns1123Subdomain(name)) {
            problems.push({ path: `${path}.server`, message: `gives the default Secret name ${quote(name)}, which Kubernetes refuses`, fix: "set a secretName for this registry" });
            continue;
        }
        const first = names.get(name);
        if (first !== undefined && isDns1123Subdomain(name)) {
            problems.push(
                combined === undefined
                    ? { path: `${path}.${value.secretName === undefined ? "server" : "secretName"}`, message: `${quote(name)} is already the Secret name of ${first}${inTenant}`, fix: "give each registry its own secretName" }
                    : {
                          path: `${path}.${value.secretName === undefined ? "server" : "secretName"}`,
                          message: `${quote(name)} is already the name of ${first}'s generated password${inTenant}`,
                          fix: "give one of them a secretName: with combinedPullSecret it names the generated password",
                      },
            );
        } else {
            names.set(name, path);
        }
    }
    return problems;
}

/** A Secret the stack declares for XNAT's Container Service must not share a pull Secret's name. */
function tokenNameProblems(tenant: Record<string, unknown>, registries: RawEntry[], tenantPath: string, combined: string | undefined): Problem[] {
    const settings = asRecord(tenant.containerService);
    const account = asText(settings?.serviceAccount ?? DEFAULT_CONTAINER_SERVICE_ACCOUNT);
    // Read as the schema reads it (any number as its text): the name the token Secret will have.
    const rotation = textFromNumber(settings?.tokenRotation);
    if (!settings || typeof account !== "string" || (rotation !== undefined && typeof rotation !== "string")) {
        return [];
    }
    const token = tokenSecretName(account, rotation as string | undefined);
    const message = `${quote(token)} is the Container Service's token Secret in this namespace`;
    const fix = `choose another name, or another ${tenantPrefix(tenantPath)}containerService.serviceAccount`;
    if (combined !== undefined) {
        return combined === token ? [{ path: "combinedPullSecret", message, fix }] : [];
    }
    return registries.flatMap(({ path, value }) =>
        entrySecretName(value) === token ? [{ path: `${path}.${value.secretName === undefined ? "server" : "secretName"}`, message, fix }] : [],
    );
}

/** The Secret name a raw entry gets: given, or its server's default; undefined when malformed. */
function entrySecretName(value: Record<string, unknown>): string | undefined {
    if (value.secretName !== undefined) {
        const name = asText(value.secretName);
        return typeof name === "string" ? name : undefined;
    }
    const server = entryServer(value)?.server;
    return server === undefined ? undefined : defaultSecretName(server);
}

function uniqueListProblems(list: unknown, path: string): Problem[] {
    if (!Array.isArray(list)) {
        return [];
    }
    return list.flatMap((v, i) =>
        typeof v === "string" && list.indexOf(v) !== i ? [{ path: `${path}[${i}]`, message: `${quote(v)} is listed twice`, fix: "list each name once" }] : [],
    );
}

/** Kept pull secrets must be other tools' Secrets, not this stack's own. */
function keepListProblems(list: unknown, registries: RawEntry[], path: string, combined: string | undefined): Problem[] {
    if (!Array.isArray(list)) {
        return [];
    }
    const own = new Set(combined !== undefined ? [combined] : registries.map(({ value }) => entrySecretName(value)));
    return [
        ...uniqueListProblems(list, path),
        ...list.flatMap((v, i) =>
            own.has(v)
                ? [{ path: `${path}[${i}]`, message: `${quote(v)} is a Secret this stack manages`, fix: "remove it: the stack lists its own Secrets already" }]
                : [],
        ),
    ];
}


/**
 * With one combined Secret, a configured registry's own secretName would name nothing: it is
 * refused, not ignored. A generated one's names its password (RandomPassword and output key).
 */
function combinedSecretNameProblems(entries: RawEntry[], combined: string): Problem[] {
    return entries.flatMap(({ path, value }) =>
        value.secretName === undefined || isGenerated(value)
            ? []
            : [
                  {
                      path: `${path}.secretName`,
                      message: `names no Secret: combinedPullSecret puts every registry into the Secret ${quote(combined)}`,
                      fix: "remove it, or remove combinedPullSecret for a Secret per registry",
                  },
              ],
    );
}

/** The Container Service's account is created by the stack: it cannot be one the stack patches. */
function containerServiceProblems(tenant: Record<string, unknown>, path: string): Problem[] {
    const settings = asRecord(tenant.containerService);
    if (!settings) {
        return [];
    }
    const account = asText(settings.serviceAccount ?? DEFAULT_CONTAINER_SERVICE_ACCOUNT);
    // `default` exists in every namespace, so the stack could not create it either.
    const taken = account === "default" || (Array.isArray(tenant.serviceAccounts) && tenant.serviceAccounts.map(asText).includes(account));
    if (typeof account !== "string" || !taken) {
        return [];
    }
    return [
        {
            path: `${path}.serviceAccount`,
            message: `${quote(account)} is ${account === "default" ? "the namespace's default ServiceAccount" : "a ServiceAccount this stack patches with pull secrets"}; the Container Service needs one of its own, which the stack creates`,
            fix: FIX.serviceAccount,
        },
    ];
}
