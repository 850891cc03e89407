/**
 * The stack config schema: its TypeScript types, its validation and its messages.
 *
 * One source of truth for the program (index.ts) and the offline stack check. Validation collects
 * every problem before anything is declared; each names the key path and the fix, and no message
 * ever contains a config value (a password must never reach a log).
 */
import { closest, distance } from "fastest-levenshtein";
import { createHash } from "node:crypto";
import { z } from "zod";
import { DOCKER_HUB_SERVER } from "./dockerConfig";

/** The config namespace: keys are `registry-access:<key>` in the stack files. */
export const PROJECT = "registry-access";

export interface RegistryConfig {
    /** Registry host[:port][/path] or URL, exactly as written into `.dockerconfigjson`. */
    server: string;
    username: string;
    /** Plain here only until the program wraps it with pulumi.secret(). */
    password: string;
    email?: string;
    /** The Secret's name: given, or {@link defaultSecretName} of the server. */
    secretName: string;
}

export interface StackConfig {
    namespace: string;
    createNamespace: boolean;
    registries: RegistryConfig[];
}

/** One thing wrong with the config: where, what, and how to fix it. */
export interface Problem {
    /** Key path under `registry-access:`, as `pulumi config set --path` takes it. */
    path: string;
    message: string;
    fix: string;
}

/** Thrown with every problem found; its message lists them all. */
export class ConfigError extends Error {
    constructor(readonly problems: Problem[]) {
        super(formatProblems(problems));
        this.name = "ConfigError";
    }
}

export function formatProblems(problems: Problem[]): string {
    const lines = problems.map((p) => `  - ${PROJECT}:${p.path}: ${p.message} (fix: ${p.fix})`);
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    return `invalid stack config, ${count}:\n${lines.join("\n")}`;
}

// Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation).
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const isDns1123Label = (s: string): boolean => s.length <= 63 && DNS1123_LABEL.test(s);
export const isDns1123Subdomain = (s: string): boolean => s.length <= 253 && DNS1123_SUBDOMAIN.test(s);

// host[:port][/path] with an optional http(s):// scheme; host is a DNS name, IPv4 or [IPv6].
const SERVER =
    /^(?:(https?):\/\/)?((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?((?:\/[A-Za-z0-9._-]+)*)\/?$/;

/**
 * The identity of a registry server, for finding duplicates and naming Secrets: lower-case
 * host[:port][/path] without scheme or trailing slash. Undefined when the server is malformed.
 */
export function serverKey(server: string): string | undefined {
    const m = SERVER.exec(server);
    if (!m) {
        return undefined;
    }
    const [, , host, port, path] = m;
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
        return undefined;
    }
    return `${host.toLowerCase()}${port ? `:${port}` : ""}${path}`;
}

/**
 * The Secret name used when `secretName` is not given: `regcred-` and the server's host, port and
 * path with every other character turned into `-`; names over 63 characters are cut and end in a
 * hash of the full name, so they stay unique and fit a label value.
 * Docker Hub's `https://index.docker.io/v1/` gives `regcred-index-docker-io-v1`.
 */
export function defaultSecretName(server: string): string {
    const key = serverKey(server) ?? server.toLowerCase();
    const name = `regcred-${key.replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "")}`;
    if (name.length <= 63) {
        return name;
    }
    const hash = createHash("sha256").update(name).digest("hex").slice(0, 8);
    return `${name.slice(0, 54).replace(/-+$/, "")}-${hash}`;
}

// What each key is for and how to set it: the "fix" half of every message.
const FIX: Record<string, string> = {
    namespace: "set a DNS-1123 label: pulumi config set namespace <name>",
    createNamespace: "set true to create the namespace or false to adopt an existing one",
    registries:
        "set a list of {server, username, password}: pulumi config set --path 'registries[0].username' <user>",
    server: "write host[:port][/path] or an http(s):// URL, e.g. registry.example.org:5000, or omit it for Docker Hub",
    username: "pulumi config set --path 'registries[N].username' <user>",
    password: "pulumi config set --secret --path 'registries[N].password' <password>",
    email: "set a string, or remove the key",
    secretName: "set a DNS-1123 subdomain (lower-case letters, digits, '-' and '.'), or remove it to use the default",
};

/** A refinement whose failure carries the fix in its params. */
const rule = (ok: (s: string) => boolean, message: string, fix?: string) =>
    [ok, { message, params: fix ? { fix } : {} }] as const;

const registrySchema = z.strictObject({
    server: z
        .string()
        .refine(...rule((s) => serverKey(s) !== undefined, "is not a host[:port][/path] or http(s):// URL"))
        .optional(),
    username: z
        .string()
        .min(1)
        .refine(
            ...rule(
                (s) => !s.includes(":"),
                "must not contain ':' (the kubelet splits the auth field at the first colon, so it could never log in)",
                "use the registry's username without ':'; a ':' is fine in the password",
            ),
        ),
    password: z.string().min(1),
    email: z.string().optional(),
    secretName: z
        .string()
        .refine(...rule(isDns1123Subdomain, "is not a DNS-1123 subdomain of at most 253 characters"))
        .optional(),
});

const stackSchema = z.strictObject({
    namespace: z
        .string()
        .min(1)
        .refine(...rule(isDns1123Label, "is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)")),
    createNamespace: z.boolean().default(true),
    registries: z.array(registrySchema).min(1),
});

/** Keys the program reads, with the JSON type the stack file gives them. */
export const STACK_KEYS = Object.keys(stackSchema.shape);
export const REGISTRY_KEYS = Object.keys(registrySchema.shape);

/**
 * Turns Pulumi's runtime config (every value a string, structured values as JSON) into typed
 * values: booleans and structured keys are parsed, anything unparseable is left as the string
 * so that validation reports it against its key.
 */
export function fromPulumiConfig(entries: Record<string, string>): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const [fullKey, value] of Object.entries(entries)) {
        if (!fullKey.startsWith(`${PROJECT}:`)) {
            continue;
        }
        const key = fullKey.slice(PROJECT.length + 1);
        raw[key] = parseConfigValue(key, value);
    }
    return raw;
}

function parseConfigValue(key: string, value: string): unknown {
    if (key === "createNamespace") {
        return value === "true" ? true : value === "false" ? false : value;
    }
    if (key !== "namespace" && /^\s*[[{]/.test(value)) {
        try {
            return JSON.parse(value);
        } catch {
            return value;
        }
    }
    return value;
}

/** Validates raw config (already typed, see {@link fromPulumiConfig}); throws ConfigError listing every problem. */
export function validateStackConfig(raw: unknown): StackConfig {
    const parsed = stackSchema.safeParse(raw);
    const problems = [...(parsed.success ? [] : parsed.error.issues.flatMap((issue) => toProblems(raw, issue))), ...duplicateProblems(raw)];
    if (!parsed.success || problems.length > 0) {
        throw new ConfigError(problems);
    }
    const { namespace, createNamespace, registries } = parsed.data;
    return {
        namespace,
        createNamespace,
        registries: registries.map((r) => {
            const server = r.server ?? DOCKER_HUB_SERVER;
            return {
                server,
                username: r.username,
                password: r.password,
                ...(r.email ? { email: r.email } : {}),
                secretName: r.secretName ?? defaultSecretName(server),
            };
        }),
    };
}

/** `registries[1].username` from ["registries", 1, "username"]. */
export function keyPath(path: readonly PropertyKey[]): string {
    return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
}

function fixFor(path: readonly PropertyKey[]): string {
    const field = [...path].reverse().find((p): p is string => typeof p === "string") ?? "";
    const index = path.find((p): p is number => typeof p === "number");
    return (FIX[field] ?? "see the config reference in README.md").replace("[N]", `[${index ?? 0}]`);
}

function typeName(input: unknown): string {
    return input === null ? "null" : Array.isArray(input) ? "a list" : `a ${typeof input}`;
}

/** The raw value at a path, to tell a missing key from a wrong type (issues carry no input). */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
    return path.reduce<unknown>((v, k) => (typeof v === "object" && v !== null ? (v as Record<PropertyKey, unknown>)[k] : undefined), raw);
}

function toProblems(raw: unknown, issue: z.core.$ZodIssue): Problem[] {
    const path = issue.path;
    switch (issue.code) {
        case "unrecognized_keys":
            return issue.keys.map((key) => {
                const known = path.length === 0 ? STACK_KEYS : REGISTRY_KEYS;
                const guess = closest(key, known);
                return {
                    path: keyPath([...path, key]),
                    message: "is not a known key",
                    fix: guess && distanceOk(key, guess) ? `did you mean '${guess}'?` : `remove it; known keys: ${known.join(", ")}`,
                };
            });
        case "invalid_type": {
            const input = valueAt(raw, path);
            const missing = input === undefined;
            const expected = issue.expected === "array" ? "a list" : issue.expected === "object" ? "a map of keys" : `a ${issue.expected}`;
            return [
                {
                    path: keyPath(path),
                    message: missing ? "is required" : `must be ${expected}, not ${typeName(input)}`,
                    fix: fixFor(path),
                },
            ];
        }
        case "too_small":
            return [
                {
                    path: keyPath(path),
                    message: issue.origin === "array" ? "must list at least one registry" : "must not be empty",
                    fix: fixFor(path),
                },
            ];
        case "custom":
            return [{ path: keyPath(path), message: issue.message, fix: issue.params?.fix ?? fixFor(path) }];
        default:
            // Zod's own wording carries no input value (reportInput is off).
            return [{ path: keyPath(path), message: issue.message, fix: fixFor(path) }];
    }
}

/** Suggest a known key only when it is a plausible typo of the unknown one. */
function distanceOk(typo: string, guess: string): boolean {
    return distance(typo.toLowerCase(), guess.toLowerCase()) <= Math.max(2, Math.floor(guess.length / 3));
}

/**
 * Duplicate servers and Secret names, checked on the raw input so that they are reported along
 * with every other problem (schema refinements only run once everything else is valid).
 */
function duplicateProblems(raw: unknown): Problem[] {
    const registries = (raw as { registries?: unknown } | null)?.registries;
    if (!Array.isArray(registries)) {
        return [];
    }
    const problems: Problem[] = [];
    const servers = new Map<string, number>();
    const names = new Map<string, number>();
    registries.forEach((entry: unknown, i) => {
        if (typeof entry !== "object" || entry === null) {
            return;
        }
        const { server, secretName } = entry as { server?: unknown; secretName?: unknown };
        const effectiveServer = server === undefined ? DOCKER_HUB_SERVER : server;
        if (typeof effectiveServer !== "string") {
            return;
        }
        const key = serverKey(effectiveServer);
        let duplicateServer = false;
        if (key !== undefined) {
            const first = servers.get(key);
            if (first === undefined) {
                servers.set(key, i);
            } else {
                duplicateServer = true;
                problems.push({
                    path: keyPath(["registries", i, "server"]),
                    message: `is the same registry as registries[${first}].server`,
                    fix: "merge the two entries; one Secret per registry",
                });
            }
        }
        // A duplicate server's default name is necessarily a duplicate too: report the cause once.
        const name =
            typeof secretName === "string"
                ? secretName
                : key !== undefined && !duplicateServer
                  ? defaultSecretName(effectiveServer)
                  : undefined;
        if (name !== undefined && isDns1123Subdomain(name)) {
            const first = names.get(name);
            if (first === undefined) {
                names.set(name, i);
            } else {
                problems.push({
                    path: keyPath(["registries", i, "secretName"]),
                    message: `'${name}' is already the Secret name of registries[${first}]`,
                    fix: "give each registry its own secretName",
                });
            }
        }
    });
    return problems;
}
