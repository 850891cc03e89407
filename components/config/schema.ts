/**
 * The stack config's schema: each key's type and its own rules, and how Pulumi's runtime config
 * (every value a string) becomes the raw input the schema reads.
 */
import { z } from "zod";
import { DNS1123_LABEL, DNS1123_SUBDOMAIN, isDns1123Label, isDns1123Subdomain, SERVER, serverKey } from "../names";
import { DEFAULT_CONTAINER_SERVICE_ACCOUNT, PROJECT } from "./types";

// `pulumi config set` writes plain values as strings ("false", "40"), in stack files and, with
// --path, inside lists: accept those spellings wherever a boolean or a number is expected.
// The preprocessors are named: the JSON Schema (jsonSchema.ts) knows each one's spellings.
export const booleanFromText = (v: unknown): unknown => (v === "true" ? true : v === "false" ? false : v);
export const numberFromDigits = (v: unknown): unknown => (typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v);
/** `true` asks for the settings with every default, `false` for none. */
export const settingsFromSwitch = (v: unknown): unknown => (v === true || v === "true" ? {} : v === false || v === "false" ? undefined : v);
/** A keeper: any string, a number written as its text. */
export const textFromNumber = (v: unknown): unknown => (typeof v === "number" ? String(v) : v);
const boolean = () => z.preprocess(booleanFromText, z.boolean());
const wholeNumber = (n = z.number().int()) => z.preprocess(numberFromDigits, n);

/**
 * A string key as Pulumi can hand it over: `pulumi config set --path` stores `100012345678` and
 * `true` as a number and a boolean, which the program reads back as what was typed. Other numbers
 * (1.10, 1e3, past 2^53) do not read back as typed: they stay numbers, refused with a fix.
 */
export const asText = (v: unknown): unknown => (typeof v === "boolean" || (typeof v === "number" && Number.isSafeInteger(v)) ? String(v) : v);
const textual = <T extends z.ZodType>(schema: T) => z.preprocess(asText, schema);

/** A refinement whose failure carries its fix. */
const rule = (ok: (s: string) => boolean, message: string, fix?: string) =>
    [ok, { message, params: fix ? { fix } : {} }] as const;

// A newline in a username would add a line of its own to a registry's htpasswd file; a line
// separator or a direction override would make a name print as another.
const CONTROL = "\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069\\ufeff";
const hasControlCharacter = (s: string) => new RegExp(`[${CONTROL}]`, "u").test(s);
const noControlCharacters = rule((s) => !hasControlCharacter(s), "must not contain control characters (a newline, a tab, ...)", "retype it without them");
/** The refinements as JSON Schema patterns, for editors: the same regular expressions where there is one. */
export const PATTERNS = {
    noControlCharacters: `^[^${CONTROL}]*$`,
    username: `^[^:${CONTROL}]*$`,
    dnsLabel: DNS1123_LABEL.source,
    dnsSubdomain: DNS1123_SUBDOMAIN.source,
    server: SERVER.source,
    httpsUrl: "^https://[^\\s/?#@]+(/[^\\s?#]*)?$",
    pem: "-----BEGIN CERTIFICATE-----",
};

// Kubernetes qualified names (label and annotation keys) and label values.
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Kubernetes' qualified name: an optional DNS-subdomain prefix of at most 253, "/", a name of at most 63. */
const isQualifiedName = (k: string) => {
    const slash = k.indexOf("/");
    return QUALIFIED_NAME.test(k) && slash <= 253 && k.length - slash - 1 <= 63;
};

export const INVALID_METADATA_KEY = "is not a valid Kubernetes label or annotation key";
const metadataKey = z.string().refine(...rule(isQualifiedName, INVALID_METADATA_KEY)).meta({ pattern: QUALIFIED_NAME.source });

const SECRET_NAME = { pattern: PATTERNS.dnsSubdomain, maxLength: 253 };

export const registrySchema = z.strictObject({
    server: textual(z.string().refine(...rule((s) => serverKey(s) !== undefined, "is not a host[:port][/path] or http(s):// URL")))
        .meta({ pattern: PATTERNS.server })
        .optional()
        .meta({
            description: "The registry: host[:port][/path] or an http(s):// URL, written into .dockerconfigjson as given.",
            default: "https://index.docker.io/v1/",
        }),
    username: textual(
        z
            .string()
            .min(1)
            .refine(
                ...rule(
                    (s) => !s.includes(":"),
                    "must not contain ':' (the kubelet splits the auth field at the first colon, so it could never log in)",
                    "use the registry's username without ':'; a ':' is fine in the password",
                ),
            )
            .refine(...noControlCharacters)
            .meta({ pattern: PATTERNS.username }),
    )
        .optional()
        .meta({ description: "The registry username, without ':' (the kubelet splits at the first colon). Required, but for a generated password: the tenant's namespace." }),
    password: textual(z.string().min(1))
        .optional()
        .meta({ description: "The password or token, a secret: pulumi config set --secret --path '<entry>.password' <password>. Required unless generatePassword." }),
    generatePassword: z
        .preprocess(settingsFromSwitch, z.strictObject({ length: wholeNumber(z.number().int().min(16).max(72)).default(32).meta({ description: "The generated password's length, 16 to 72 (bcrypt reads at most 72 bytes)." }) }).optional())
        .optional()
        .meta({ description: "true, or {length: 16..72}: a random password per tenant (random.RandomPassword) instead of password; the stack outputs it and an htpasswd line." }),
    email: textual(z.string().refine(...noControlCharacters).meta({ pattern: PATTERNS.noControlCharacters }))
        .optional()
        .meta({ description: "Written into the docker config when set, as kubectl's --docker-email." }),
    secretName: textual(z.string().refine(...rule(isDns1123Subdomain, "is not a DNS-1123 subdomain of at most 253 characters")).meta(SECRET_NAME))
        .optional()
        .meta({ description: "The Secret's name, a DNS-1123 subdomain. Default: regcred- and the server's host, port and path, other characters as '-' (Docker Hub: regcred-index-docker-io-v1)." }),
});

const dnsSubdomainList = z.array(textual(z.string().refine(...rule(isDns1123Subdomain, "is not a DNS-1123 subdomain")).meta(SECRET_NAME)));

const labelValue = textual(z.string().refine(...rule((v) => v.length <= 63 && LABEL_VALUE.test(v), "is not a valid label value")).meta({ pattern: LABEL_VALUE.source, maxLength: 63 }));

/** metav1.LabelSelector; which operators take values is a rule across keys (rules.ts). */
export const SELECTOR_OPERATORS = ["In", "NotIn", "Exists", "DoesNotExist"] as const;
export const selectorRequirementSchema = z.strictObject({
    key: metadataKey.meta({ description: "A label key." }),
    operator: z.enum(SELECTOR_OPERATORS, { error: "must be In, NotIn, Exists or DoesNotExist" }).meta({ description: "In, NotIn (with values), Exists or DoesNotExist (without)." }),
    values: z.array(labelValue).optional().meta({ description: "The values for In and NotIn." }),
});
const labelSelectorSchema = z.strictObject({
    matchLabels: z
        .record(metadataKey, labelValue)
        .optional()
        .meta({ description: "Labels a namespace must have, each with this value." }),
    matchExpressions: z
        .array(selectorRequirementSchema)
        .optional()
        .meta({ description: "Requirements a namespace's labels must all meet, as in a Kubernetes label selector." }),
});

/** An https:// URL with a host; a bearer token must not cross the network in the clear. */
function isHttpsUrl(s: string): boolean {
    try {
        const url = new URL(s);
        // An https: URL always has a host: the parser throws without one.
        // The parser drops tabs, newlines and outer spaces that XNAT's would refuse: none may be there.
        return url.protocol === "https:" && url.username === "" && url.password === "" && !url.search && !url.hash && !/\s/.test(s) && !hasControlCharacter(s);
    } catch {
        return false;
    }
}

// The token Secret is `<account>-token-<8 hex>`, which must stay within 253 characters.
const MAX_CONTAINER_SERVICE_ACCOUNT = 253 - "-token-".length - 8;

export const containerServiceAccount = textual(
    z
        .string()
        .refine(...rule((s) => isDns1123Subdomain(s) && s.length <= MAX_CONTAINER_SERVICE_ACCOUNT, `is not a DNS-1123 subdomain of at most ${MAX_CONTAINER_SERVICE_ACCOUNT} characters`))
        .meta({ pattern: PATTERNS.dnsSubdomain, maxLength: MAX_CONTAINER_SERVICE_ACCOUNT }),
);

const containerServiceSchema = z
    .preprocess(
        // `true` asks for it with every default, and then reports the missing apiServer.
        settingsFromSwitch,
        z
            .strictObject({
                apiServer: z
                    .string()
                    .refine(...rule(isHttpsUrl, "is not an https:// URL with a host (and no credentials, query or fragment)"))
                    .meta({
                        pattern: PATTERNS.httpsUrl,
                        description: "The https:// URL XNAT reaches the API server at, written into its kubeconfig; its certificate must be signed by the cluster's CA for that name. Required.",
                    }),
                serviceAccount: containerServiceAccount
                    .optional()
                    .meta({ description: "The Container Service's own ServiceAccount, created by the stack: not default, and not one of serviceAccounts.", default: DEFAULT_CONTAINER_SERVICE_ACCOUNT }),
                tokenRotation: z
                    .preprocess(textFromNumber, z.string().min(1))
                    .optional()
                    .meta({ description: "Keeper of its token: change it to replace the token; the old one stops working." }),
            })
            .optional(),
    )
    .meta({ description: "XNAT's Container Service in this namespace (its settings, or false): its own ServiceAccount, a Role with only the calls it makes, a token, and the containerServiceKubeconfig output. Default: off." });

const tenantShape = {
    namespace: textual(
        z
            .string()
            .min(1)
            .refine(...rule(isDns1123Label, "is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)"))
            .meta({ pattern: PATTERNS.dnsLabel, maxLength: 63 }),
    )
        .optional()
        .meta({ description: "The namespace pods run in, a DNS-1123 label. Required, unless namespaceSelector (at the top level: unless tenants)." }),
    namespaceSelector: labelSelectorSchema
        .optional()
        .meta({
            description:
                "Instead of namespace: every namespace whose labels match, found at each preview and up (a Rancher project: matchLabels: {field.cattle.io/projectId: <id>}). Matched namespaces are adopted, never created or deleted.",
        }),
    excludeNamespaces: z
        .array(textual(z.string().refine(...rule(isDns1123Label, "is not a DNS-1123 label")).meta({ pattern: PATTERNS.dnsLabel, maxLength: 63 })))
        .optional()
        .meta({ description: "Namespaces the namespaceSelector must not reach, by name." }),
    createNamespace: boolean()
        .optional()
        .meta({ description: "true creates the namespace, marked registry-access/stack: <stack> (destroy deletes it; preview stops when it exists without this stack's mark); false adopts an existing one, which destroy leaves (default, kube-system, kube-public and kube-node-lease take false only).", default: true }),
    labels: z
        .record(metadataKey, labelValue)
        .optional()
        .meta({ description: "Labels of a Namespace the stack creates (createNamespace true only)." }),
    annotations: z
        .record(metadataKey, textual(z.string()))
        .optional()
        .meta({ description: "Annotations of a Namespace the stack creates (createNamespace true only)." }),
    registries: z
        .array(registrySchema)
        .optional()
        .meta({ description: "The namespace's registries, one pull Secret each. Required unless sharedRegistries." }),
    serviceAccounts: z
        .union([z.literal("*"), dnsSubdomainList.min(1)])
        .optional()
        .meta({ description: "The ServiceAccounts whose imagePullSecrets list the Secrets, or \"*\": every ServiceAccount in the namespace at each preview and up.", default: ["default"] }),
    excludeServiceAccounts: dnsSubdomainList
        .optional()
        .meta({ description: "With serviceAccounts \"*\": the ServiceAccounts to leave alone." }),
    keepPullSecrets: dnsSubdomainList
        .optional()
        .meta({ description: "Pull secrets other tools put on those ServiceAccounts that must stay in the list (the list is replaced whole).", default: [] }),
    credentialRotation: z
        .preprocess(textFromNumber, z.string().min(1))
        .optional()
        .meta({ description: "Keeper of the namespace's generated passwords: change it to regenerate them." }),
    containerService: containerServiceSchema,
};

export const stackSchema = z.strictObject({
    ...tenantShape,
    namespace: tenantShape.namespace.meta({ description: "The namespace pods run in, a DNS-1123 label. Required, unless namespaceSelector or tenants." }),
    tenants: z
        .array(z.strictObject(tenantShape))
        .optional()
        .meta({ description: "More namespaces, each with the per-namespace keys (namespace or namespaceSelector required)." }),
    sharedRegistries: z
        .array(registrySchema)
        .optional()
        .meta({ description: "Registries every tenant gets, before its own." }),
    patchForce: boolean()
        .optional()
        .meta({ description: "Take imagePullSecrets over from another field manager instead of stopping on the conflict.", default: false }),
    onPatchDelete: z
        .enum(["relinquish", "retain"], { error: "must be relinquish or retain" })
        .optional()
        .meta({ description: "On destroy, remove this stack's entries from the ServiceAccounts (relinquish) or leave them as they are (retain).", default: "relinquish" }),
    protectNamespaces: boolean()
        .optional()
        .meta({ description: "Pulumi protect on every namespace the stack creates and everything it puts in it.", default: false }),
    verifyCredentials: boolean()
        .optional()
        .meta({ description: "Check every configured credential against its registry before declaring anything.", default: false }),
    imageIsolation: z
        .enum(["warn", "require", "off"], { error: "must be warn, require or off" })
        .optional()
        .meta({ description: "Whether to ask the cluster, at every preview and up, if one tenant's pod could run a private image another tenant pulled onto a shared node: warn (a multi-tenant stack), require (stop any stack before anything is declared) or off.", default: "warn" }),
    restartStuckPods: boolean()
        .optional()
        .meta({
            description:
                "At up, delete the pods of the reached namespaces that wait on a failed pull because they were created before the stack patched their ServiceAccount, once it has, when a controller will make them again (they are reported either way).",
            default: false,
        }),
    caBundle: z
        .string()
        .refine(...rule((s) => s.includes("-----BEGIN CERTIFICATE-----"), "is not PEM (no BEGIN CERTIFICATE line)"))
        .meta({ pattern: PATTERNS.pem })
        .optional()
        .meta({ description: "Extra PEM CA certificates for verifying registries behind a private CA: pulumi config set caBundle -- \"$(cat ca.pem)\"." }),
    combinedPullSecret: z
        .string()
        .refine(...rule(isDns1123Subdomain, "is not a DNS-1123 subdomain of at most 253 characters"))
        .meta(SECRET_NAME)
        .optional()
        .meta({ description: "Put every registry of a namespace into one Secret of this name instead of one per registry (less state and faster runs at hundreds of namespaces); registries then take no secretName but a generated one's, where it names the generated password." }),
});

export type RawRegistry = z.infer<typeof registrySchema>;
export type RawTenant = z.infer<z.ZodObject<typeof tenantShape>>;
export type RawStack = z.infer<typeof stackSchema>;

/** The keys each level accepts: for did-you-mean, and for the offline check. */
export const STACK_KEYS = Object.keys(stackSchema.shape);
export const TENANT_KEYS = Object.keys(tenantShape);
export const REGISTRY_KEYS = Object.keys(registrySchema.shape);
export const CONTAINER_SERVICE_KEYS = ["apiServer", "serviceAccount", "tokenRotation"];
export const SELECTOR_KEYS = ["matchLabels", "matchExpressions"];
export const REQUIREMENT_KEYS = ["key", "operator", "values"];
export const STRING_KEYS = new Set(["namespace", "onPatchDelete", "credentialRotation", "caBundle", "imageIsolation", "combinedPullSecret"]);
/** The keys holding one value, not a list or a map: encrypted whole, each is still one value. */
export const SCALAR_KEYS = new Set([...STRING_KEYS, "createNamespace", "patchForce", "protectNamespaces", "verifyCredentials", "restartStuckPods"]);

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
