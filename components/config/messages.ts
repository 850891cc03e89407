/**
 * What the config checks say: each problem's key path, its message and its fix, and the schema's
 * issues turned into problems. No message ever contains a config value that could be a password.
 */
import { closest, distance } from "fastest-levenshtein";
import type { z } from "zod";
import { CONTAINER_SERVICE_KEYS, REGISTRY_KEYS, REQUIREMENT_KEYS, SELECTOR_KEYS, STACK_KEYS, TENANT_KEYS } from "./schema";
import { type Problem, PROJECT } from "./types";

export const UNKNOWN_KEY = "is not a known key";
export const HIDDEN_KEY = "has a key that is not a known one (not shown: it may be part of a password)";

/** A value in a message: quoted, its control characters escaped, so it cannot forge a line. */
export const quote = (value: string): string => `'${JSON.stringify(value).slice(1, -1).replaceAll("'", "\\'")}'`;

/** Thrown with every problem found; its message lists them all. */
export class ConfigError extends Error {
    constructor(readonly problems: Problem[]) {
        super(formatProblems(problems));
        this.name = "ConfigError";
    }
}

export function formatProblems(problems: Problem[], title = "invalid stack config"): string {
    const lines = problems.map((p) => `  - ${PROJECT}:${p.path}: ${p.message} (fix: ${p.fix})`);
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    return `${title}, ${count}:\n${lines.join("\n")}`;
}

// What each key is for and how to set it: the "fix" half of most messages.
// {T} is replaced by the tenant prefix (`tenants[2].` or nothing), {R} by the registry entry's
// key path (`tenants[2].registries[0]`).
export const FIX: Record<string, string> = {
    namespace: "set a DNS-1123 label: pulumi config set --path '{T}namespace' <name>",
    createNamespace: "set true to create the namespace or false to adopt an existing one",
    registries: "list registries: pulumi config set --path '{T}registries[0].username' <user>",
    sharedRegistries: "list registries every tenant gets: pulumi config set --path 'sharedRegistries[0].server' <host>",
    tenants: "list tenants: pulumi config set --path 'tenants[0].namespace' <name>",
    server: "write host[:port][/path] or an http(s):// URL, e.g. registry.example.org:5000, or omit it for Docker Hub",
    username: "pulumi config set --path '{R}.username' <user>",
    password: "pulumi config set --secret --path '{R}.password' <password>",
    generatePassword: "set true, or {length: 16..72} (bcrypt reads at most 72 bytes)",
    length: "set a whole number from 16 to 72",
    email: "set a string, or remove the key",
    secretName: "set a DNS-1123 subdomain (lower-case letters, digits, '-' and '.'), or remove it to use the default",
    serviceAccounts: "list ServiceAccount names, e.g. [default], or set \"*\" for every ServiceAccount in the namespace",
    excludeServiceAccounts: "list the names of ServiceAccounts serviceAccounts \"*\" must leave alone",
    namespaceSelector: "set matchLabels (e.g. {field.cattle.io/projectId: p-abc12}) or matchExpressions",
    excludeNamespaces: "list the names of namespaces the namespaceSelector must not reach",
    matchLabels: "set a map of label keys to values, e.g. {team: a}",
    matchExpressions: "list requirements, e.g. [{key: team, operator: In, values: [a, b]}]",
    key: "set a label key, e.g. team or example.org/team",
    operator: "set In, NotIn, Exists or DoesNotExist",
    values: "list label values (at most 63 of letters, digits, '-', '_', '.')",
    keepPullSecrets: "list the names of pull secrets other tools put on the ServiceAccount",
    labels: "set a map of label keys to values (values: at most 63 of letters, digits, '-', '_', '.')",
    annotations: "set a map of annotation keys to string values",
    credentialRotation: "set any string; change it to regenerate this tenant's generated passwords",
    patchForce: "set true to take imagePullSecrets over from another field manager, false to stop on a conflict",
    onPatchDelete: "set relinquish (remove this stack's entries on destroy) or retain (leave the ServiceAccount as is)",
    protectNamespaces: "set true to protect created namespaces from pulumi destroy",
    verifyCredentials: "set true to check every credential against its registry before deploying",
    restartStuckPods: "set true to delete, at up, the pods created before their ServiceAccount was patched that a controller will make again",
    imageIsolation: "set warn (the default: warn a multi-tenant stack), require (stop the preview) or off",
    caBundle: "set PEM certificates: pulumi config set caBundle -- \"$(cat ca.pem)\"",
    containerService: "set the API server XNAT reaches: pulumi config set --path '{T}containerService.apiServer' https://<host>:<port>",
    apiServer: "set the https:// URL XNAT reaches the API server at: pulumi config set --path '{T}containerService.apiServer' https://<host>:<port>",
    serviceAccount: "set a DNS-1123 subdomain other than default and the serviceAccounts, or remove it for xnat-container-service",
    tokenRotation: "set any string; change it to replace the Container Service's token",
    combinedPullSecret: "set a DNS-1123 subdomain (e.g. regcred) to put every registry into one Secret of that name, or remove it for a Secret per registry",
};

/** `tenants[1].` for a tenant path, nothing for the top level. */
export const tenantPrefix = (tenantPath: string) => (tenantPath ? `${tenantPath}.` : "");

/** `registries[1].username` from ["registries", 1, "username"]. */
export function keyPath(path: readonly PropertyKey[]): string {
    return path
        .map((p, i) => {
            if (typeof p === "number") {
                return `[${p}]`;
            }
            // Keys like `example.org/team` are quoted, as `pulumi config set --path` takes them.
            const key = String(p);
            return /^[A-Za-z_][\w-]*$/.test(key) ? (i === 0 ? key : `.${key}`) : `[${JSON.stringify(key)}]`;
        })
        .join("");
}

/** The segments of a key path: `labels["example.org/team"]` -> ["labels", "example.org/team"]. */
export function parseKeyPath(path: string): (string | number)[] {
    return [...path.matchAll(/\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|([^.[\]]+)/g)].map(([, index, quoted, plain]) =>
        index !== undefined ? Number(index) : quoted !== undefined ? (JSON.parse(quoted) as string) : plain,
    );
}

/** The fix for a key path: the field's hint with the tenant and entry filled in. */
export function fixFor(path: readonly PropertyKey[]): string {
    // Own keys only: a label named `constructor` must not find Object's.
    const field = [...path].reverse().find((p): p is string => Object.hasOwn(FIX, p));
    const tenant = path[0] === "tenants" && typeof path[1] === "number" ? `tenants[${path[1]}].` : "";
    // Only the fixes of keys inside a registry entry name {R}.
    const registry = keyPath(path.slice(0, path.findIndex((p) => p === "registries" || p === "sharedRegistries") + 2));
    return (field !== undefined ? FIX[field] : "see the config reference in README.md").replace("{T}", tenant).replace("{R}", registry);
}

/** The raw value at a path, to tell a missing key from a wrong type (issues carry no input). */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
    return path.reduce<unknown>(
        (v, k) => (typeof v === "object" && v !== null && Object.hasOwn(v, k) ? (v as Record<PropertyKey, unknown>)[k] : undefined),
        raw,
    );
}

function typeName(input: unknown): string {
    return input === null ? "null" : Array.isArray(input) ? "a list" : typeof input === "object" ? "a map" : `a ${typeof input}`;
}

/** The keys allowed where an unknown key was found. */
function knownKeysAt(path: readonly PropertyKey[]): string[] {
    const last = [...path].reverse().find((p) => typeof p === "string");
    if (last === "registries" || last === "sharedRegistries") {
        return REGISTRY_KEYS;
    }
    if (last === "generatePassword") {
        return ["length"];
    }
    if (last === "containerService") {
        return CONTAINER_SERVICE_KEYS;
    }
    if (last === "namespaceSelector") {
        return SELECTOR_KEYS;
    }
    if (last === "matchExpressions") {
        return REQUIREMENT_KEYS;
    }
    return last === "tenants" ? TENANT_KEYS : STACK_KEYS;
}

export function toProblems(raw: unknown, issue: z.core.$ZodIssue): Problem[] {
    const path = issue.path;
    const at = keyPath(path);
    switch (issue.code) {
        case "unrecognized_keys":
            return issue.keys.map((key) => {
                const known = knownKeysAt(path);
                const guess = closest(key, known);
                const plausible = distance(key.toLowerCase(), guess.toLowerCase()) <= Math.max(2, Math.floor(guess.length / 3));
                if (!plausible && known === REGISTRY_KEYS) {
                    // In `{..., password: Tr0ub4,dor}` the comma starts a key: a registry entry's
                    // stray key can be the tail of a password, so it is not named.
                    return { path: at, message: HIDDEN_KEY, fix: `quote a value holding a comma or a colon; known keys: ${known.join(", ")}` };
                }
                return {
                    path: keyPath([...path, key]),
                    message: UNKNOWN_KEY,
                    fix: plausible ? `did you mean '${guess}'?` : `remove it; known keys: ${known.join(", ")}`,
                };
            });
        case "invalid_type": {
            const input = valueAt(raw, path);
            const expected =
                issue.expected === "array" ? "a list" : issue.expected === "object" || issue.expected === "record" ? "a map of keys" : `a ${issue.expected}`;
            const message = input === undefined ? "is required" : `must be ${expected}, not ${typeName(input)}`;
            if (issue.expected === "string" && typeof input === "number") {
                // `pulumi config set --path` stores a number unless told otherwise.
                // --secret stores a string already, and the CLI takes no --type with it.
                const fix = path.at(-1) === "password" ? `pulumi config set --secret --path '${at}' <password>` : `quote it in the stack file, or: pulumi config set --type string --path '${at}' <value>`;
                return [{ path: at, message, fix }];
            }
            return [{ path: at, message, fix: fixFor(path) }];
        }
        case "too_small":
            return [
                {
                    path: at,
                    message:
                        issue.origin === "array"
                            ? "must not be an empty list"
                            : issue.origin === "string"
                              ? "must not be empty"
                              : `must be at least ${String(issue.minimum)}`,
                    fix: fixFor(path),
                },
            ];
        case "too_big":
            return [{ path: at, message: `must be at most ${String(issue.maximum)}`, fix: fixFor(path) }];
        case "custom":
            return [{ path: at, message: issue.message, fix: (issue.params?.fix as string | undefined) ?? fixFor(path) }];
        case "invalid_union": {
            // serviceAccounts: "*" or a list. A list is held to the list's own rules.
            const input = valueAt(raw, path);
            if (Array.isArray(input)) {
                const list = issue.errors.find((errors) => !errors.some((e) => e.path.length === 0 && (e.code === "invalid_type" || e.code === "invalid_value")));
                return (list ?? []).flatMap((e) => toProblems(raw, { ...e, path: [...path, ...e.path] }));
            }
            return [{ path: at, message: input === undefined ? "is required" : `must be "*" or a list of names, not ${typeof input === "string" ? quote(input) : typeName(input)}`, fix: fixFor(path) }];
        }
        case "invalid_key":
            // A bad map key: report it at the key itself.
            return issue.issues.map((inner) => ({ path: at, message: inner.message, fix: fixFor(path) }));
        default:
            // Zod's own wording names expectations, never the input (reportInput is off).
            return [{ path: at, message: issue.message, fix: fixFor(path) }];
    }
}
