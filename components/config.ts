/**
 * The stack config schema: its TypeScript types, its validation and its messages.
 *
 * One source of truth for the program (index.ts) and the offline stack check (scripts/check.ts).
 * Validation collects every problem before anything is declared; each names the key path and
 * the fix, and no message ever contains a config value that could be a password.
 */
import { closest, distance } from "fastest-levenshtein";
import { z } from "zod";
import { DOCKER_HUB_SERVER } from "./dockerConfig";
import { cloudUsernameProblem, defaultSecretName, isDns1123Label, isDns1123Subdomain, serverKey } from "./names";

export { defaultSecretName, isDns1123Label, isDns1123Subdomain, serverKey } from "./names";

/** The config namespace: keys are `registry-access:<key>` in the stack files. */
export const PROJECT = "registry-access";

/**
 * Stands in for a `secure:` value that cannot be decrypted (the offline check has no passphrase):
 * present and non-empty, content unknown, so rules that read a password's content skip it.
 */
export const ENCRYPTED_PLACEHOLDER = "\u0000encrypted";

interface RegistryBase {
    /** Key path of the entry, e.g. `tenants[1].registries[0]`, for messages. */
    path: string;
    /** Registry host[:port][/path] or URL, exactly as written into `.dockerconfigjson`. */
    server: string;
    username: string;
    email?: string;
    /** The Secret's name: given, or {@link defaultSecretName} of the server. */
    secretName: string;
}

/** A registry whose password comes from config (plain here until the program makes it secret). */
export interface ConfiguredRegistry extends RegistryBase {
    password: string;
}

/** A registry whose password the stack generates per tenant (random.RandomPassword). */
export interface GeneratedRegistry extends RegistryBase {
    generatePassword: { length: number };
}

export type RegistryConfig = ConfiguredRegistry | GeneratedRegistry;

export interface TenantConfig {
    /** Key path of the tenant (`tenants[2]`), or "" for the top-level namespace. */
    path: string;
    namespace: string;
    createNamespace: boolean;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    /** The shared registries first, then the tenant's own. */
    registries: RegistryConfig[];
    serviceAccounts: string[];
    /** Pull secrets other tools manage that must stay in the (atomic) imagePullSecrets list. */
    keepPullSecrets: string[];
    /** Keeper of the tenant's generated passwords: changing it regenerates them. */
    credentialRotation?: string;
    /** XNAT's Container Service identity in this namespace, when enabled. */
    containerService?: ContainerServiceConfig;
}

export interface ContainerServiceConfig {
    /** Its own ServiceAccount (created; the Jobs themselves run as `default`). */
    serviceAccount: string;
    /** The API server URL XNAT uses, for its kubeconfig. */
    apiServer: string;
    /** Keeper of its token: changing it replaces the token. */
    tokenRotation?: string;
}

/** The Container Service's ServiceAccount unless configured. */
export const DEFAULT_CONTAINER_SERVICE_ACCOUNT = "xnat-container-service";

export interface StackConfig {
    tenants: TenantConfig[];
    /** Take imagePullSecrets over from another field manager (pulumi.com/patchForce). */
    patchForce: boolean;
    /** On delete, relinquish the patch's fields (default) or leave the ServiceAccount as it is. */
    onPatchDelete: "relinquish" | "retain";
    /** Pulumi `protect` on every Namespace the stack creates. */
    protectNamespaces: boolean;
    /** Check every configured credential against its registry before declaring anything. */
    verifyCredentials: boolean;
    /** Extra PEM CA certificates for verifying registries behind a private CA. */
    caBundle?: string;
    /** What the program does when tenants' pulled images are not kept apart on shared nodes. */
    imageIsolation: "warn" | "require" | "off";
    /** One Secret of this name per namespace, holding every registry, instead of one per registry. */
    combinedPullSecret?: string;
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

export function formatProblems(problems: Problem[], title = "invalid stack config"): string {
    const lines = problems.map((p) => `  - ${PROJECT}:${p.path}: ${p.message} (fix: ${p.fix})`);
    const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
    return `${title}, ${count}:\n${lines.join("\n")}`;
}

// What each key is for and how to set it: the "fix" half of most messages.
// {T} is replaced by the tenant prefix (`tenants[2].` or nothing), {R} by the registry entry's
// key path (`tenants[2].registries[0]`).
const FIX: Record<string, string> = {
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
    serviceAccounts: "list ServiceAccount names, e.g. [default]",
    keepPullSecrets: "list the names of pull secrets other tools put on the ServiceAccount",
    labels: "set a map of label keys to values (values: at most 63 of letters, digits, '-', '_', '.')",
    annotations: "set a map of annotation keys to string values",
    credentialRotation: "set any string; change it to regenerate this tenant's generated passwords",
    patchForce: "set true to take imagePullSecrets over from another field manager, false to stop on a conflict",
    onPatchDelete: "set relinquish (remove this stack's entries on destroy) or retain (leave the ServiceAccount as is)",
    protectNamespaces: "set true to protect created namespaces from pulumi destroy",
    verifyCredentials: "set true to check every credential against its registry before deploying",
    imageIsolation: "set warn (the default: warn a multi-tenant stack), require (stop the preview) or off",
    caBundle: "set PEM certificates: pulumi config set caBundle -- \"$(cat ca.pem)\"",
    containerService: "set the API server XNAT reaches: pulumi config set --path '{T}containerService.apiServer' https://<host>:<port>",
    apiServer: "set the https:// URL XNAT reaches the API server at: pulumi config set --path '{T}containerService.apiServer' https://<host>:<port>",
    serviceAccount: "set a DNS-1123 subdomain other than default and the serviceAccounts, or remove it for xnat-container-service",
    tokenRotation: "set any string; change it to replace the Container Service's token",
    combinedPullSecret: "set a DNS-1123 subdomain (e.g. regcred) to put every registry into one Secret of that name, or remove it for a Secret per registry",
};

// `pulumi config set` writes plain values as strings ("false", "40"), in stack files and, with
// --path, inside lists: accept those spellings wherever a boolean or a number is expected.
const boolean = () => z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean());
const wholeNumber = () => z.preprocess((v) => (typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v), z.number().int());

/** A refinement whose failure carries its fix. */
const rule = (ok: (s: string) => boolean, message: string, fix?: string) =>
    [ok, { message, params: fix ? { fix } : {} }] as const;

// Kubernetes qualified names (label and annotation keys) and label values.
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Kubernetes' qualified name: an optional DNS-subdomain prefix of at most 253, "/", a name of at most 63. */
const isQualifiedName = (k: string) => {
    const slash = k.indexOf("/");
    return QUALIFIED_NAME.test(k) && slash <= 253 && k.length - slash - 1 <= 63;
};

const INVALID_METADATA_KEY = "is not a valid Kubernetes label or annotation key";
const metadataKey = z.string().refine(...rule(isQualifiedName, INVALID_METADATA_KEY));

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
        )
        .optional(),
    password: z.string().min(1).optional(),
    generatePassword: z
        .preprocess(
            (v) => (v === true || v === "true" ? {} : v === false || v === "false" ? undefined : v),
            z.strictObject({ length: wholeNumber().pipe(z.number().min(16).max(72)).default(32) }).optional(),
        )
        .optional(),
    email: z.string().optional(),
    secretName: z
        .string()
        .refine(...rule(isDns1123Subdomain, "is not a DNS-1123 subdomain of at most 253 characters"))
        .optional(),
});

const dnsSubdomainList = z.array(z.string().refine(...rule(isDns1123Subdomain, "is not a DNS-1123 subdomain")));

/** An https:// URL with a host; a bearer token must not cross the network in the clear. */
function isHttpsUrl(s: string): boolean {
    try {
        const url = new URL(s);
        // An https: URL always has a host: the parser throws without one.
        return url.protocol === "https:" && url.username === "" && url.password === "" && !url.search && !url.hash;
    } catch {
        return false;
    }
}

// The token Secret is `<account>-token-<8 hex>`, which must stay within 253 characters.
const MAX_CONTAINER_SERVICE_ACCOUNT = 253 - "-token-".length - 8;

const containerServiceSchema = z.preprocess(
    // `true` asks for it with every default, and then reports the missing apiServer.
    (v) => (v === true || v === "true" ? {} : v === false || v === "false" ? undefined : v),
    z
        .strictObject({
            apiServer: z.string().refine(...rule(isHttpsUrl, "is not an https:// URL with a host (and no credentials, query or fragment)")),
            serviceAccount: z
                .string()
                .refine(...rule((s) => isDns1123Subdomain(s) && s.length <= MAX_CONTAINER_SERVICE_ACCOUNT, `is not a DNS-1123 subdomain of at most ${MAX_CONTAINER_SERVICE_ACCOUNT} characters`))
                .optional(),
            tokenRotation: z.preprocess((v) => (typeof v === "number" ? String(v) : v), z.string().min(1)).optional(),
        })
        .optional(),
);

const tenantShape = {
    namespace: z
        .string()
        .min(1)
        .refine(...rule(isDns1123Label, "is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)")),
    createNamespace: boolean().optional(),
    labels: z
        .record(metadataKey, z.string().refine(...rule((v) => v.length <= 63 && LABEL_VALUE.test(v), "is not a valid label value")))
        .optional(),
    annotations: z.record(metadataKey, z.string()).optional(),
    registries: z.array(registrySchema).optional(),
    serviceAccounts: dnsSubdomainList.min(1).optional(),
    keepPullSecrets: dnsSubdomainList.optional(),
    credentialRotation: z.preprocess((v) => (typeof v === "number" ? String(v) : v), z.string().min(1)).optional(),
    containerService: containerServiceSchema,
};

const stackSchema = z.strictObject({
    ...tenantShape,
    namespace: tenantShape.namespace.optional(),
    tenants: z.array(z.strictObject(tenantShape)).optional(),
    sharedRegistries: z.array(registrySchema).optional(),
    patchForce: boolean().optional(),
    onPatchDelete: z.enum(["relinquish", "retain"], { error: "must be relinquish or retain" }).optional(),
    protectNamespaces: boolean().optional(),
    verifyCredentials: boolean().optional(),
    imageIsolation: z.enum(["warn", "require", "off"], { error: "must be warn, require or off" }).optional(),
    caBundle: z
        .string()
        .refine(...rule((s) => s.includes("-----BEGIN CERTIFICATE-----"), "is not PEM (no BEGIN CERTIFICATE line)"))
        .optional(),
    combinedPullSecret: z
        .string()
        .refine(...rule(isDns1123Subdomain, "is not a DNS-1123 subdomain of at most 253 characters"))
        .optional(),
});

type RawRegistry = z.infer<typeof registrySchema>;
type RawTenant = z.infer<z.ZodObject<typeof tenantShape>>;
type RawStack = z.infer<typeof stackSchema>;

/** The keys each level accepts: for did-you-mean, and for the offline check. */
export const STACK_KEYS = Object.keys(stackSchema.shape);
export const TENANT_KEYS = Object.keys(tenantShape);
export const REGISTRY_KEYS = Object.keys(registrySchema.shape);
export const CONTAINER_SERVICE_KEYS = ["apiServer", "serviceAccount", "tokenRotation"];
const STRING_KEYS = new Set(["namespace", "onPatchDelete", "credentialRotation", "caBundle", "imageIsolation", "combinedPullSecret"]);

/**
 * Turns Pulumi's runtime config (every value a string, structured values as JSON) into raw config:
 * structured keys are parsed, anything else is left as the string (validation reads "true" and
 * "40" where a boolean or a number is expected, and reports the rest against its key).
 */
export function fromPulumiConfig(entries: Record<string, string>): Record<string, unknown> {
    const raw: Record<string, unknown> = {};
    for (const [fullKey, value] of Object.entries(entries)) {
        if (fullKey.startsWith(`${PROJECT}:`)) {
            const key = fullKey.slice(PROJECT.length + 1);
            setOwn(raw, key, parseConfigValue(key, value));
        }
    }
    return raw;
}

/** raw[key] = value, as an own property even for `__proto__` (an assignment would set the prototype). */
export function setOwn(raw: Record<string, unknown>, key: string, value: unknown): void {
    Object.defineProperty(raw, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A config value as the program reads it: structured keys' JSON strings parsed as Pulumi's
 * getObject does (`pulumi config set registries '[...]'` stores the list as a string).
 */
export function parseConfigValue(key: string, value: string): unknown {
    if (!STRING_KEYS.has(key) && /^\s*[[{]/.test(value)) {
        try {
            return JSON.parse(value);
        } catch {
            // Not JSON: left as the string, which validation reports against its key.
        }
    }
    return value;
}

/** Validates raw config (typed, see {@link fromPulumiConfig}); throws ConfigError listing every problem. */
export function validateStackConfig(raw: unknown): StackConfig {
    const parsed = stackSchema.safeParse(raw);
    const problems = parsed.success ? [] : parsed.error.issues.flatMap((issue) => toProblems(raw, issue));
    problems.push(...crossProblems(raw));
    if (!parsed.success || problems.length > 0) {
        throw new ConfigError(problems);
    }
    return toStackConfig(parsed.data);
}

function toStackConfig(data: RawStack): StackConfig {
    const shared = data.sharedRegistries ?? [];
    const tenants: { path: string; tenant: RawTenant }[] = [
        ...(data.namespace !== undefined ? [{ path: "", tenant: { ...data, namespace: data.namespace } }] : []),
        ...(data.tenants ?? []).map((tenant, i) => ({ path: `tenants[${i}]`, tenant })),
    ];
    return {
        tenants: tenants.map(({ path, tenant }) => ({
            path,
            namespace: tenant.namespace,
            createNamespace: tenant.createNamespace ?? true,
            labels: tenant.labels ?? {},
            annotations: tenant.annotations ?? {},
            registries: [
                ...shared.map((r, i) => toRegistry(r, `sharedRegistries[${i}]`, tenant.namespace)),
                ...(tenant.registries ?? []).map((r, i) => toRegistry(r, `${prefix(path)}registries[${i}]`, tenant.namespace)),
            ],
            serviceAccounts: tenant.serviceAccounts ?? ["default"],
            keepPullSecrets: tenant.keepPullSecrets ?? [],
            ...(tenant.credentialRotation !== undefined ? { credentialRotation: tenant.credentialRotation } : {}),
            ...(tenant.containerService
                ? {
                      containerService: {
                          serviceAccount: tenant.containerService.serviceAccount ?? DEFAULT_CONTAINER_SERVICE_ACCOUNT,
                          apiServer: tenant.containerService.apiServer,
                          ...(tenant.containerService.tokenRotation !== undefined ? { tokenRotation: tenant.containerService.tokenRotation } : {}),
                      },
                  }
                : {}),
        })),
        patchForce: data.patchForce ?? false,
        onPatchDelete: data.onPatchDelete ?? "relinquish",
        protectNamespaces: data.protectNamespaces ?? false,
        verifyCredentials: data.verifyCredentials ?? false,
        imageIsolation: data.imageIsolation ?? "warn",
        ...(data.caBundle !== undefined ? { caBundle: data.caBundle } : {}),
        ...(data.combinedPullSecret !== undefined ? { combinedPullSecret: data.combinedPullSecret } : {}),
    };
}

function toRegistry(r: RawRegistry, path: string, namespace: string): RegistryConfig {
    const server = r.server ?? DOCKER_HUB_SERVER;
    const base = {
        path,
        server,
        // A generated credential is per tenant, so its default username is the tenant's namespace.
        username: r.username ?? namespace,
        ...(r.email ? { email: r.email } : {}),
        secretName: r.secretName ?? defaultSecretName(server),
    };
    return r.generatePassword ? { ...base, generatePassword: r.generatePassword } : { ...base, password: r.password! };
}

/** `tenants[1].` for a tenant path, nothing for the top level. */
const prefix = (tenantPath: string) => (tenantPath ? `${tenantPath}.` : "");

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
function fixFor(path: readonly PropertyKey[]): string {
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
    return last === "tenants" ? TENANT_KEYS : STACK_KEYS;
}

function toProblems(raw: unknown, issue: z.core.$ZodIssue): Problem[] {
    const path = issue.path;
    const at = keyPath(path);
    switch (issue.code) {
        case "unrecognized_keys":
            return issue.keys.map((key) => {
                const known = knownKeysAt(path);
                const guess = closest(key, known);
                const plausible = distance(key.toLowerCase(), guess.toLowerCase()) <= Math.max(2, Math.floor(guess.length / 3));
                return {
                    path: keyPath([...path, key]),
                    message: "is not a known key",
                    fix: plausible ? `did you mean '${guess}'?` : `remove it; known keys: ${known.join(", ")}`,
                };
            });
        case "invalid_type": {
            const input = valueAt(raw, path);
            const expected =
                issue.expected === "array" ? "a list" : issue.expected === "object" || issue.expected === "record" ? "a map of keys" : `a ${issue.expected}`;
            const message = input === undefined ? "is required" : `must be ${expected}, not ${typeName(input)}`;
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
        case "invalid_key":
            // A bad map key: report it at the key itself.
            return issue.issues.map((inner) => ({ path: at, message: inner.message, fix: fixFor(path) }));
        default:
            // Zod's own wording names expectations, never the input (reportInput is off).
            return [{ path: at, message: issue.message, fix: fixFor(path) }];
    }
}

// ---------------------------------------------------------------------------------------------
// Rules across keys. They run on the raw input, whatever else is wrong, so that every problem is
// reported at once (zod refinements only run once everything else is valid). Values that are
// malformed are skipped here: their own rule already reports them.

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

function crossProblems(raw: unknown): Problem[] {
    const top = asRecord(raw);
    if (!top) {
        return []; // the schema reports it
    }
    const problems: Problem[] = [];
    const combined = typeof top.combinedPullSecret === "string" ? top.combinedPullSecret : undefined;
    const shared = entriesAt(top.sharedRegistries, "sharedRegistries", true);
    const tenants: TenantEntry[] = [
        ...(top.namespace !== undefined ? [{ path: "", value: top }] : []),
        ...mapsAt(top.tenants, "tenants"),
    ].map(({ path, value }) => ({ path, value, own: entriesAt(value.registries, `${prefix(path)}registries`, false) }));

    if (top.namespace === undefined && top.tenants === undefined) {
        problems.push({ path: "namespace", message: "is required (or list tenants)", fix: fixFor(["namespace"]) });
    }
    if (top.namespace === undefined && top.tenants !== undefined) {
        for (const key of TENANT_KEYS.filter((k) => top[k] !== undefined)) {
            problems.push({
                path: key,
                message: "applies to the top-level namespace, which is not set",
                fix: "set namespace, or move this key into a tenants[] entry",
            });
        }
    }
    if (Array.isArray(top.tenants) && top.tenants.length === 0 && top.namespace === undefined) {
        problems.push({ path: "tenants", message: "must not be an empty list", fix: fixFor(["tenants"]) });
    }

    const namespaces = new Map<string, string>();
    for (const tenant of tenants) {
        const at = (key: string) => `${prefix(tenant.path)}${key}`;
        const ns = tenant.value.namespace;
        if (typeof ns === "string") {
            const first = namespaces.get(ns);
            if (first !== undefined) {
                problems.push({ path: at("namespace"), message: `'${ns}' is already the namespace of ${first || "the top level"}`, fix: "give each tenant its own namespace" });
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
        const adopting = tenant.value.createNamespace === false || tenant.value.createNamespace === "false";
        for (const key of ["labels", "annotations"]) {
            const map = tenant.value[key];
            // Zod's record skips a `__proto__` key without a word; it is no valid key either.
            if (typeof map === "object" && map !== null && Object.hasOwn(map, "__proto__")) {
                problems.push({ path: `${at(key)}.__proto__`, message: INVALID_METADATA_KEY, fix: FIX[key] });
            }
            if (adopting && map !== undefined) {
                problems.push({
                    path: at(key),
                    message: "only applies to a namespace this stack creates (createNamespace is false)",
                    fix: "remove it, or set createNamespace: true",
                });
            }
        }
        problems.push(...duplicateProblems(registries, tenant.path, combined));
        problems.push(...keepListProblems(tenant.value.keepPullSecrets, registries, at("keepPullSecrets"), combined));
        problems.push(...uniqueListProblems(tenant.value.serviceAccounts, at("serviceAccounts")));
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
        const username = typeof value.username === "string" ? value.username : undefined;
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
            const username = value.username ?? tenant.value.namespace;
            if (!isGenerated(value) || key === undefined || typeof username !== "string") {
                continue;
            }
            const first = seen.get(`${key}\n${username}`);
            if (first !== undefined && first !== path) {
                problems.push({
                    path: `${path}.username`,
                    message: `'${username}' already has a generated password on this registry (${first})`,
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
 * Duplicate servers and Secret names among one tenant's registries (shared ones included). With
 * a combined Secret, servers must still differ (`auths` is a map); names do not matter.
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
        const name = combined !== undefined || (firstServer !== undefined && value.secretName === undefined) ? undefined : entrySecretName(value);
        if (name !== undefined && isDns1123Subdomain(name)) {
            const first = names.get(name);
            if (first !== undefined) {
                problems.push({ path: `${path}.secretName`, message: `'${name}' is already the Secret name of ${first}${inTenant}`, fix: "give each registry its own secretName" });
            } else {
                names.set(name, path);
            }
        }
    }
    return problems;
}

/** The Secret name a raw entry gets: given, or its server's default; undefined when malformed. */
function entrySecretName(value: Record<string, unknown>): string | undefined {
    if (value.secretName !== undefined) {
        return typeof value.secretName === "string" ? value.secretName : undefined;
    }
    const server = entryServer(value)?.server;
    return server === undefined ? undefined : defaultSecretName(server);
}

function uniqueListProblems(list: unknown, path: string): Problem[] {
    if (!Array.isArray(list)) {
        return [];
    }
    return list.flatMap((v, i) =>
        typeof v === "string" && list.indexOf(v) !== i ? [{ path: `${path}[${i}]`, message: `'${v}' is listed twice`, fix: "list each name once" }] : [],
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
                ? [{ path: `${path}[${i}]`, message: `'${v}' is a Secret this stack manages`, fix: "remove it: the stack lists its own Secrets already" }]
                : [],
        ),
    ];
}


/** With one combined Secret, a registry's own secretName would name nothing: it is refused, not ignored. */
function combinedSecretNameProblems(entries: RawEntry[], combined: string): Problem[] {
    return entries.flatMap(({ path, value }) =>
        value.secretName === undefined
            ? []
            : [
                  {
                      path: `${path}.secretName`,
                      message: `names no Secret: combinedPullSecret puts every registry into the Secret '${combined}'`,
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
    const account = settings.serviceAccount ?? DEFAULT_CONTAINER_SERVICE_ACCOUNT;
    // `default` exists in every namespace, so the stack could not create it either.
    const taken = account === "default" || (Array.isArray(tenant.serviceAccounts) && tenant.serviceAccounts.includes(account));
    if (typeof account !== "string" || !taken) {
        return [];
    }
    return [
        {
            path: `${path}.serviceAccount`,
            message: `'${account}' is ${account === "default" ? "the namespace's default ServiceAccount" : "a ServiceAccount this stack patches with pull secrets"}; the Container Service needs one of its own, which the stack creates`,
            fix: FIX.serviceAccount,
        },
    ];
}
