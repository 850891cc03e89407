/** The stack config as the program uses it, once validated, and the shape of a problem with it. */
import type { LabelSelector } from "../labelSelector";

/** The config namespace: keys are `registry-access:<key>` in the stack files. */
export const PROJECT = "registry-access";

/**
 * Stands in for a `secure:` value that cannot be decrypted (the offline check has no passphrase):
 * present and non-empty, content unknown, so rules that read a password's content skip it.
 */
// Passphrase ciphertexts are v1:<nonce>:<ciphertext>; cloud KMS providers write base64.
export const SECURE_VALUE = /^(v1:[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9+/]{16,}={0,2})$/;

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
    /** For a namespace a selector reached: the selector's key path (`tenants[1].namespaceSelector`). */
    selectedBy?: string;
    namespace: string;
    createNamespace: boolean;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    /** The shared registries first, then the tenant's own. */
    registries: RegistryConfig[];
    serviceAccounts: string[];
    /**
     * `serviceAccounts: "*"`: every ServiceAccount in the namespace at the time of the run but
     * these; serviceAccounts then holds `default` (which Kubernetes makes in every namespace), or nothing.
     */
    allServiceAccounts?: { except: string[] };
    /** Pull secrets other tools manage that must stay in the (atomic) imagePullSecrets list. */
    keepPullSecrets: string[];
    /** Keeper of the tenant's generated passwords: changing it regenerates them. */
    credentialRotation?: string;
    /** XNAT's Container Service identity in this namespace, when enabled. */
    containerService?: ContainerServiceConfig;
}

/** Namespaces chosen by their labels at each run (adopted: never created, labelled or deleted). */
export interface SelectorTenantConfig extends Omit<TenantConfig, "namespace" | "createNamespace" | "labels" | "annotations" | "containerService" | "credentialRotation"> {
    namespaceSelector: LabelSelector;
    excludeNamespaces: string[];
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
    /** The namespaces named in the config. */
    tenants: TenantConfig[];
    /** The namespaces chosen by label selectors, resolved against the cluster at each run. */
    selected: SelectorTenantConfig[];
    /** Take imagePullSecrets over from another field manager (pulumi.com/patchForce). */
    patchForce: boolean;
    /** On delete, relinquish the patch's fields (default) or leave the ServiceAccount as it is. */
    onPatchDelete: "relinquish" | "retain";
    /** Pulumi `protect` on every Namespace the stack creates. */
    protectNamespaces: boolean;
    /** Check every configured credential against its registry before declaring anything. */
    verifyCredentials: boolean;
    /** At up, delete the pods created before their ServiceAccount was patched that a controller remakes. */
    restartStuckPods: boolean;
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
