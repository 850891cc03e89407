/**
 * The stack config's schema: each key's type and its own rules, and how Pulumi's runtime config
 * (every value a string) becomes the raw input the schema reads.
 */
import { z } from "zod";
import { isDns1123Label, isDns1123Subdomain, serverKey } from "../names";
import { PROJECT } from "./types";

// `pulumi config set` writes plain values as strings ("false", "40"), in stack files and, with
// --path, inside lists: accept those spellings wherever a boolean or a number is expected.
const boolean = () => z.preprocess((v) => (v === "true" ? true : v === "false" ? false : v), z.boolean());
const wholeNumber = () => z.preprocess((v) => (typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v), z.number().int());

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

// A newline in a username would add a line of its own to a registry's htpasswd file.
const noControlCharacters = rule((s) => !/\p{Cc}/u.test(s), "must not contain control characters (a newline, a tab, ...)", "retype it without them");

// Kubernetes qualified names (label and annotation keys) and label values.
const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Kubernetes' qualified name: an optional DNS-subdomain prefix of at most 253, "/", a name of at most 63. */
const isQualifiedName = (k: string) => {
    const slash = k.indexOf("/");
    return QUALIFIED_NAME.test(k) && slash <= 253 && k.length - slash - 1 <= 63;
};

export const INVALID_METADATA_KEY = "is not a valid Kubernetes label or annotation key";
const metadataKey = z.string().refine(...rule(isQualifiedName, INVALID_METADATA_KEY));

const registrySchema = z.strictObject({
    server: textual(z.string().refine(...rule((s) => serverKey(s) !== undefined, "is not a host[:port][/path] or http(s):// URL"))).optional(),
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
            .refine(...noControlCharacters),
    ).optional(),
    password: textual(z.string().min(1)).optional(),
    generatePassword: z
        .preprocess(
            (v) => (v === true || v === "true" ? {} : v === false || v === "false" ? undefined : v),
            z.strictObject({ length: wholeNumber().pipe(z.number().min(16).max(72)).default(32) }).optional(),
        )
        .optional(),
    email: textual(z.string().refine(...noControlCharacters)).optional(),
    secretName: textual(z.string().refine(...rule(isDns1123Subdomain, "is not a DNS-1123 subdomain of at most 253 characters"))).optional(),
});

const dnsSubdomainList = z.array(textual(z.string().refine(...rule(isDns1123Subdomain, "is not a DNS-1123 subdomain"))));

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
            serviceAccount: textual(
                z
                    .string()
                    .refine(...rule((s) => isDns1123Subdomain(s) && s.length <= MAX_CONTAINER_SERVICE_ACCOUNT, `is not a DNS-1123 subdomain of at most ${MAX_CONTAINER_SERVICE_ACCOUNT} characters`)),
            ).optional(),
            tokenRotation: z.preprocess((v) => (typeof v === "number" ? String(v) : v), z.string().min(1)).optional(),
        })
        .optional(),
);

const tenantShape = {
    namespace: textual(
        z
            .string()
            .min(1)
            .refine(...rule(isDns1123Label, "is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)")),
    ),
    createNamespace: boolean().optional(),
    labels: z
        .record(metadataKey, textual(z.string().refine(...rule((v) => v.length <= 63 && LABEL_VALUE.test(v), "is not a valid label value"))))
        .optional(),
    annotations: z.record(metadataKey, textual(z.string())).optional(),
    registries: z.array(registrySchema).optional(),
    serviceAccounts: dnsSubdomainList.min(1).optional(),
    keepPullSecrets: dnsSubdomainList.optional(),
    credentialRotation: z.preprocess((v) => (typeof v === "number" ? String(v) : v), z.string().min(1)).optional(),
    containerService: containerServiceSchema,
};

export const stackSchema = z.strictObject({
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

export type RawRegistry = z.infer<typeof registrySchema>;
export type RawTenant = z.infer<z.ZodObject<typeof tenantShape>>;
export type RawStack = z.infer<typeof stackSchema>;

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
