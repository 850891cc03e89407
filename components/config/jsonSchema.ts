/**
 * The JSON Schema of a whole stack file, for editors (the YAML language server reads it through
 * the modeline of each file in stacks/), generated from the schema the program validates with:
 * `npm run schema` writes schema/stack.schema.json, and a test fails when the two differ.
 *
 * The stack file is not the program's input: Pulumi hands the program every top-level value as
 * text and structured ones as JSON, and a password stands in the file encrypted. So the zod
 * schema's input is widened where a file may spell a value otherwise, and narrowed where the
 * file must hold a secret.
 */
import { z } from "zod";
import {
    containerServiceAccount,
    booleanFromText,
    asText,
    numberFromDigits,
    registrySchema,
    selectorRequirementSchema,
    settingsFromSwitch,
    STRING_KEYS,
    stackSchema,
    TENANT_KEYS,
    textFromNumber,
} from "./schema";
import { PROJECT, SECURE_VALUE } from "./types";

type JsonSchema = Record<string, unknown>;

const SWITCH = [true, false, "true", "false"];

/** A `{secure: ...}` value as `pulumi config set --secret` writes it. */
const SECURE: JsonSchema = {
    title: "secure value",
    type: "object",
    description: "A secret, encrypted with the stack's secrets provider: set it with pulumi config set --secret --path '<key path>' <value>.",
    properties: { secure: { type: "string", pattern: SECURE_VALUE.source, description: "The ciphertext; never edit it by hand." } },
    required: ["secure"],
    additionalProperties: false,
};

// Rules across keys (rules.ts) that the JSON Schema carries too, so that an editor flags them.
export const CARRIED_ACROSS_KEYS = [
    "namespace, namespaceSelector or tenants; a tenant has one of namespace and namespaceSelector",
    "registries (not empty) unless sharedRegistries",
    "one of password and generatePassword; username unless generated",
    "no username on a shared generated registry",
    "labels and annotations only on a created namespace",
    "per-namespace keys at the top level only with namespace or namespaceSelector",
    "a namespaceSelector's requirements with values for In and NotIn only; its tenant without createNamespace true, labels, annotations, containerService or credentialRotation",
    "the Container Service's serviceAccount not default",
    "serviceAccounts, keepPullSecrets, excludeNamespaces and excludeServiceAccounts listed once each",
];

// What the JSON Schema cannot say, left to `npm run check` (and the program).
export const LEFT_TO_THE_CHECK = [
    "no two registries of a namespace (shared ones included) with the same server or Secret name, nor a default Secret name Kubernetes refuses",
    "no two tenants with the same namespace",
    "generated usernames unique per registry across the stack",
    "keepPullSecrets not naming the stack's own Secrets",
    "no pull Secret named like the Container Service's token Secret, and its serviceAccount not one of serviceAccounts",
    "createNamespace false for the namespaces Kubernetes makes itself",
    "with combinedPullSecret, a secretName only on a generated registry",
    "cloud registries' username conventions (ECR, Artifact Registry, ACR)",
    "secure values need encryptionsalt, secretsprovider or encryptedkey",
    "a key encrypted as a whole cannot be checked (its content is unknown)",
    "the content of a structured key written as a JSON string",
    "a namespaceSelector not empty as a whole",
    "a namespaceSelector tenant's registries without generated passwords",
    "excludeNamespaces only with a namespaceSelector, excludeServiceAccounts only with serviceAccounts \"*\"",
    "which namespaces a selector matches, and whether two tenants reach one namespace (the program asks the cluster)",
    "label and annotation key lengths (prefix at most 253, name at most 63)",
    "a number at the top level is read as its text (1.10 is 1.1): its text is not matched against the key's pattern",
];

const GENERATED = { required: ["generatePassword"], properties: { generatePassword: { not: { enum: [false, "false"] } } } };
const OFF = [false, "false"];

// One of password and generatePassword; a configured password needs a username.
const REGISTRY_RULES: JsonSchema[] = [
    { if: { required: ["password"] }, then: { properties: { generatePassword: { enum: OFF, description: "password is set: a registry has one or the other" } } } },
    { if: { not: GENERATED }, then: { required: ["password", "username"] } },
];

// A label selector requirement: values for In and NotIn, none for Exists and DoesNotExist.
const REQUIREMENT_RULES: JsonSchema[] = [
    { if: { required: ["operator"], properties: { operator: { enum: ["In", "NotIn"] } } }, then: { required: ["values"], properties: { values: { minItems: 1 } } } },
    { if: { required: ["operator"], properties: { operator: { enum: ["Exists", "DoesNotExist"] } } }, then: { properties: { values: { maxItems: 0, description: "Exists and DoesNotExist take no values" } } } },
];

/** Rewrites a node in place (zod hands the override its output object). */
function replace(target: JsonSchema, next: JsonSchema): void {
    for (const key of Object.keys(target)) {
        delete target[key];
    }
    Object.assign(target, next);
}

/** The spellings each of the program's preprocessors accepts besides its output's type. */
function widen(transform: unknown, json: JsonSchema): void {
    const { description, default: dflt, ...rest } = json;
    const doc = { ...(description !== undefined ? { description } : {}), ...(dflt !== undefined ? { default: dflt } : {}) };
    if (transform === asText) {
        // Safe integers and booleans read back as their text (`pulumi config set --path` stores them).
        replace(json, { ...doc, ...rest, type: ["string", "integer", "boolean"], minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER });
    } else if (transform === booleanFromText) {
        replace(json, { ...doc, enum: SWITCH });
    } else if (transform === numberFromDigits) {
        replace(json, { ...doc, ...rest, type: ["integer", "string"], pattern: "^\\d+$" });
    } else if (transform === textFromNumber) {
        replace(json, { ...doc, ...rest, type: ["string", "number"] });
    } else if (transform === settingsFromSwitch) {
        // `true` means every default: not enough when the settings have a required key.
        const required = Array.isArray(rest.required) && rest.required.length > 0;
        replace(json, { ...doc, anyOf: [{ enum: required ? [false, "false"] : SWITCH }, rest] });
    } else {
        throw new Error("a preprocessor the JSON Schema does not know: say in jsonSchema.ts which spellings it accepts");
    }
}

/** The program's schema as JSON Schema of the values the stack file holds. */
function valueSchemas(): { properties: Record<string, JsonSchema> } {
    const json = z.toJSONSchema(stackSchema, {
        io: "input",
        target: "draft-7",
        override: ({ zodSchema, jsonSchema }) => {
            const def = zodSchema._zod.def as { type: string; in?: z.ZodType };
            const inner = def.in?._zod.def as { type: string; transform?: unknown } | undefined;
            if (def.type === "pipe" && inner?.type === "transform") {
                widen(inner.transform, jsonSchema as JsonSchema);
            }
            // Zod drops a transforming key's default from its input: the hover text wants it.
            const dflt = (z.globalRegistry.get(zodSchema) as JsonSchema | undefined)?.default ?? (def as { defaultValue?: unknown }).defaultValue;
            if (dflt !== undefined) {
                const json = jsonSchema as JsonSchema;
                json.default = dflt;
                // Editors show the description on hover, not the default keyword.
                if (typeof json.description === "string") {
                    json.description = `${json.description} Default: ${JSON.stringify(dflt)}.`;
                }
            }
            if (zodSchema === registrySchema) {
                (jsonSchema as JsonSchema).allOf = REGISTRY_RULES;
            }
            if (zodSchema === selectorRequirementSchema) {
                (jsonSchema as JsonSchema).allOf = REQUIREMENT_RULES;
            }
            if (zodSchema === containerServiceAccount) {
                (jsonSchema as JsonSchema).not = { const: "default" };
            }
            if (zodSchema === registrySchema.shape.password) {
                // A password stands in the file encrypted: a plaintext one is refused.
                replace(jsonSchema as JsonSchema, { ...SECURE, description: (jsonSchema as JsonSchema).description });
            }
            if (zodSchema === registrySchema.shape.username || zodSchema === registrySchema.shape.email) {
                // Credentials may be encrypted too (an ECR or ACR username set with --secret).
                const { description, ...plain } = jsonSchema as JsonSchema;
                replace(jsonSchema as JsonSchema, { description, anyOf: [plain, { $ref: "#/definitions/secure" }] });
            }
        },
    }) as JsonSchema;
    return json as { properties: Record<string, JsonSchema> };
}

/**
 * A key at the top of `config:` as Pulumi hands it over: a scalar as its text, a list or map
 * also as a JSON string (`pulumi config set registries '[...]'`).
 */
function topLevel(key: string, value: JsonSchema): JsonSchema {
    const { description, default: dflt, ...rest } = value;
    const doc = { description, ...(dflt !== undefined ? { default: dflt } : {}) };
    if (STRING_KEYS.has(key)) {
        return rest.type === "string" ? { ...doc, ...rest, type: ["string", "number", "boolean"] } : value;
    }
    if (rest.type === "boolean" || rest.enum !== undefined) {
        return value;
    }
    const json = { type: "string", pattern: "^\\s*[[{]", description: "JSON text, as pulumi config set stores a list or map given whole: npm run check reads its content." };
    const alternatives = Array.isArray(rest.anyOf) && Object.keys(rest).length === 1 ? (rest.anyOf as JsonSchema[]) : [rest];
    return { ...doc, anyOf: [...alternatives, json] };
}

const kubernetes = (description: string, value: JsonSchema = { type: "string" }): JsonSchema => ({ ...value, description });

export function stackFileJsonSchema(): JsonSchema {
    const values = valueSchemas().properties;
    const definitions: Record<string, JsonSchema> = { secure: SECURE };
    const properties: Record<string, JsonSchema> = {};
    for (const [key, value] of Object.entries(values)) {
        definitions[key] = topLevel(key, value);
        properties[`${PROJECT}:${key}`] = { $ref: `#/definitions/${key}` };
    }
    // Keys without a namespace are the project's, as Pulumi reads them.
    for (const key of Object.keys(values)) {
        properties[key] = { $ref: `#/definitions/${key}` };
    }
    properties["kubernetes:kubeconfig"] = kubernetes(
        "The kubeconfig the Kubernetes provider deploys with (its text or a path), often set with --secret; the namespace and image isolation checks read it as the provider does.",
        { anyOf: [{ type: "string" }, { $ref: "#/definitions/secure" }] },
    );
    properties["kubernetes:context"] = kubernetes("The kubeconfig context the Kubernetes provider (and the namespace and image isolation checks) use.");
    properties["kubernetes:cluster"] = kubernetes("The kubeconfig cluster the Kubernetes provider (and the namespace and image isolation checks) use.");
    properties["kubernetes:enableSecretMutable"] = kubernetes("Update a Secret in place when its data changes (Pulumi.yaml sets it: a rotated password then never leaves a moment without the Secret).", {
        enum: SWITCH,
        default: true,
    });
    const either = (...keys: string[]) => keys.flatMap((k) => [{ required: [`${PROJECT}:${k}`] }, { required: [k] }]);
    const both = (key: string, schema: JsonSchema) => ({ [`${PROJECT}:${key}`]: schema, [key]: schema });
    const adopting = (keys: (k: string) => string) => ({ anyOf: [keys("createNamespace")].map((k) => ({ required: [k], properties: { [k]: { enum: OFF } } })) });
    const createdOnly = { not: {}, description: "only applies to a namespace this stack creates (createNamespace is false)" };
    const selected = { not: {}, description: "cannot be used with namespaceSelector: its namespaces are adopted and come and go" };
    const tenantRules: JsonSchema[] = [
        // One namespace, or the namespaces a selector matches.
        { anyOf: [{ required: ["namespace"] }, { required: ["namespaceSelector"] }] },
        { not: { required: ["namespace", "namespaceSelector"] } },
        { if: adopting((k) => k), then: { properties: { labels: createdOnly, annotations: createdOnly } } },
        {
            // A selector's namespaces are adopted and come and go.
            if: { required: ["namespaceSelector"] },
            then: { properties: { labels: selected, annotations: selected, containerService: selected, credentialRotation: selected, createNamespace: { enum: OFF } } },
        },
    ];
    const configRules: JsonSchema[] = [
        ...[(k: string) => `${PROJECT}:${k}`, (k: string) => k].map((name) => ({
            if: adopting(name),
            then: { properties: { [name("labels")]: createdOnly, [name("annotations")]: createdOnly } },
        })),
        {
            // Without namespace, the per-namespace keys at the top level apply to nothing.
            if: { allOf: [{ not: { anyOf: either("namespace", "namespaceSelector") } }, { anyOf: either("tenants") }] },
            then: { properties: Object.assign({}, ...TENANT_KEYS.filter((k) => k !== "namespace").map((k) => both(k, { not: {}, description: "applies to the top-level namespace, which is not set" }))) },
        },
        {
            if: { not: { anyOf: either("sharedRegistries") } },
            then: {
                properties: { ...both("registries", { minItems: 1 }), ...both("tenants", { items: { required: ["registries"], properties: { registries: { minItems: 1 } } } }) },
                if: { anyOf: either("namespace", "namespaceSelector") },
                then: { anyOf: either("registries") },
            },
        },
        // A username on a shared generated registry would be every tenant's.
        { properties: both("sharedRegistries", { items: { if: GENERATED, then: { properties: { username: { not: {}, description: "each tenant's username is its namespace" } } } } }) },
    ];
    for (const key of ["tenants"]) {
        const list = (definitions[key].anyOf as JsonSchema[])[0];
        list.items = { ...(list.items as JsonSchema), allOf: tenantRules };
    }
    for (const key of ["serviceAccounts", "keepPullSecrets", "excludeNamespaces", "excludeServiceAccounts"]) {
        const list = (definitions[key].anyOf as JsonSchema[]).find((alternative) => alternative.type === "array");
        list!.uniqueItems = true;
    }
    return {
        $schema: "http://json-schema.org/draft-07/schema#",
        title: "registry-access stack file (Pulumi.<stack>.yaml)",
        description: [
            `A stack file of the ${PROJECT} Pulumi program, generated from its config schema (npm run schema).`,
            `Rules across keys that JSON Schema cannot carry are left to npm run check: ${LEFT_TO_THE_CHECK.join("; ")}.`,
        ].join(" "),
        type: "object",
        properties: {
            encryptionsalt: { type: "string", description: "The passphrase secrets provider's salt, written by pulumi stack init: keep it with the stack's secure values." },
            secretsprovider: { type: "string", description: "The secrets provider (awskms://, azurekeyvault://, gcpkms://, hashivault://); absent for the passphrase." },
            encryptedkey: { type: "string", description: "The data key, encrypted by the secrets provider." },
            environment: { description: "Pulumi ESC environments the stack imports." },
            config: {
                type: "object",
                description: `The stack's settings: ${PROJECT}:<key> (or <key> alone) for the program, <namespace>:<key> for providers.`,
                properties,
                // Other namespaces (pulumi:, aws:, ...) belong to Pulumi and the providers.
                patternProperties: { [`^(?!${PROJECT}:)[^:]+:`]: {} },
                additionalProperties: false,
                anyOf: either("namespace", "namespaceSelector", "tenants"),
                allOf: configRules,
            },
        },
        required: ["config"],
        definitions,
    };
}
