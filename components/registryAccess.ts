import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { type ContainerServiceArgs, ContainerServiceAccess } from "./containerService";
import { dockerConfigData } from "./dockerConfig";
import { OWNER_ANNOTATION } from "./namespaceOwnership";

/** One registry's credential, as the component takes it. */
export interface PullSecretArgs {
    /** Registry host[:port][/path] or URL; the key under `auths` in `.dockerconfigjson`. */
    server: string;
    username: string;
    /** The configured password; made secret here whatever the caller passes. */
    password?: pulumi.Input<string>;
    /** Generate the password instead (random.RandomPassword, letters and digits). */
    generatePassword?: { length: number };
    /** Written into the docker config when set, as `kubectl --docker-email` does. */
    email?: string;
    /** Name of the `kubernetes.io/dockerconfigjson` Secret, unique in the namespace. */
    secretName: string;
}

/** A generated credential, for the registry's operator to load (all of it secret). */
export interface GeneratedCredential {
    server: string;
    username: string;
    password: string;
    /** `username:bcrypt-hash`, a line of the Docker registry's htpasswd file. */
    htpasswd: string;
}

export interface RegistryAccessArgs {
    /** The namespace pods run in (a DNS-1123 label). */
    namespace: string;
    /**
     * Create the Namespace (true) or adopt an existing one (false: no Namespace resource; the
     * Secrets and the patch go into it, and destroy leaves it in place).
     * @default true
     */
    createNamespace?: boolean;
    /** Labels and annotations of a created Namespace. */
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    /**
     * The stack's name, written on a created Namespace as its `registry-access/stack` annotation:
     * the program's proof, at its next run, that this stack made the namespace and may delete it
     * (components/namespaceOwnership.ts).
     */
    owner?: string;
    /**
     * Protect a created Namespace and everything in it from deletion (Pulumi `protect` on the
     * component, which its children inherit); an adopted namespace is never deleted anyway.
     * @default false
     */
    protectNamespace?: boolean;
    /** One Secret per registry, all listed in each ServiceAccount's imagePullSecrets. */
    registries: PullSecretArgs[];
    /**
     * Put every registry into one Secret of this name instead (one entry per registry under
     * `auths`, each as kubectl writes it); the registries' `secretName`s then only name their
     * generated passwords. One Secret per namespace whatever the number of registries.
     */
    combinedPullSecret?: string;
    /** The ServiceAccounts whose pods get the pull secrets. @default ["default"] */
    serviceAccounts?: string[];
    /**
     * Pull secrets other tools put on the ServiceAccounts. imagePullSecrets is an atomic list, so
     * the patch owns all of it: entries it does not list are dropped. These are listed after the
     * component's own.
     */
    keepPullSecrets?: string[];
    /** Keeper of the generated passwords: a new value regenerates them, nothing else does. */
    credentialRotation?: string;
    /**
     * Server-side apply field manager for the ServiceAccount patches. Stable across runs so that
     * an update or delete acts on the same managed fields.
     * @default "registry-access"
     */
    fieldManager?: string;
    /**
     * Take imagePullSecrets over from another field manager instead of failing with a conflict.
     * The list is atomic, so forcing replaces every entry the other manager put there.
     * @default false
     */
    forceConflicts?: boolean;
    /** Leave the ServiceAccounts as they are on delete, instead of relinquishing the list. @default false */
    retainPatchOnDelete?: boolean;
    /** XNAT's Container Service: its own ServiceAccount, Role, token and kubeconfig in this namespace. */
    containerService?: Omit<ContainerServiceArgs, "namespace">;
}

/**
 * Gives pods in one namespace authenticated pulls from private registries: the Namespace
 * (unless adopted), a docker-registry Secret per registry (or one for all, `combinedPullSecret`),
 * and a server-side apply patch of each
 * ServiceAccount listing exactly those Secrets in imagePullSecrets.
 *
 * `imagePullSecrets` on a ServiceAccount is an atomic list (Kubernetes API reference,
 * ServiceAccount v1): whoever applies it owns the whole list. So the patch declares the complete
 * list and, by default, fails on a conflict rather than silently dropping another tool's entries.
 * @see https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#add-imagepullsecrets-to-a-service-account
 */
export class RegistryAccess extends pulumi.ComponentResource {
    /** The namespace the Secrets and the patches live in. */
    readonly namespace: pulumi.Output<string>;
    /** The names of the docker-registry Secrets, in config order. */
    readonly pullSecretNames: pulumi.Output<string[]>;
    /** The ServiceAccounts whose imagePullSecrets list those Secrets. */
    readonly serviceAccounts: pulumi.Output<string[]>;
    /** Generated credentials, keyed by Secret name (secret). */
    readonly generatedCredentials: pulumi.Output<Record<string, GeneratedCredential>>;
    /** The kubeconfig XNAT's Container Service reads, when configured (secret). */
    readonly containerServiceKubeconfig?: pulumi.Output<string>;
    /** Resolves once every ServiceAccount patch is applied (for what must come after them). */
    readonly patched: pulumi.Output<string[]>;

    constructor(name: string, args: RegistryAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        // `protect` goes on the component, so that every child inherits it: the engine checks it
        // per delete step and deletes dependents first, so with only the Namespace protected a
        // destroy without a preview (--skip-preview, the Automation API) deleted the Secrets and
        // relinquished the ServiceAccounts before refusing at the Namespace.
        const protect = args.protectNamespace === true && args.createNamespace !== false;
        super("registry-access:index:RegistryAccess", name, {}, { protect, ...opts });

        // Children of an adopted namespace only need its name; a created one must also be
        // created before, and deleted after, everything in it.
        const ns =
            args.createNamespace === false
                ? undefined
                : new k8s.core.v1.Namespace(
                      name,
                      {
                          metadata: {
                              name: args.namespace,
                              labels: nonEmpty(args.labels),
                              annotations: nonEmpty({ ...args.annotations, ...(args.owner !== undefined ? { [OWNER_ANNOTATION]: args.owner } : {}) }),
                          },
                      },
                      { parent: this },
                  );
        const namespace = ns ? ns.metadata.name : pulumi.output(args.namespace);
        const inNamespace = { parent: this, dependsOn: ns ? [ns] : [] };

        // Child names join the namespace and the object's name with "/", which Kubernetes names
        // cannot contain: no two namespaces' children can collide (with "-", namespace "x" and
        // Secret "y-z" would name the same resource as namespace "x-y" and Secret "z").
        const generated: Record<string, pulumi.Output<GeneratedCredential>> = {};
        // Each registry's password, secret: a plain one made secret at once, a generated one from
        // its RandomPassword.
        const passwords = args.registries.map((registry): pulumi.Input<string> => {
            if (registry.generatePassword) {
                const random_ = new random.RandomPassword(
                    `${name}/${registry.secretName}`,
                    {
                        length: registry.generatePassword.length,
                        // Letters and digits: safe in shells, htpasswd files and URLs alike.
                        special: false,
                        keepers: { rotation: args.credentialRotation ?? "" },
                    },
                    { parent: this },
                );
                // The provider marks these secret in state; mark them here too so every value
                // derived from them stays secret in this program as well.
                const password = pulumi.secret(random_.result);
                generated[registry.secretName] = pulumi.secret(
                    pulumi.all([password, random_.bcryptHash]).apply(([pw, hash]) => ({
                        server: registry.server,
                        username: registry.username,
                        password: pw,
                        htpasswd: `${registry.username}:${hash}`,
                    })),
                );
                return password;
            }
            if (registry.password === undefined) {
                throw new Error(`registry ${registry.secretName} has neither a password nor generatePassword`);
            }
            return registry.password;
        });
        const pullSecret = (secretName: string, registries: PullSecretArgs[], pws: pulumi.Input<string>[]) => {
            // Known passwords make the document at once; any Output one inside Outputs.
            const dockerConfig = pws.every((pw) => typeof pw === "string")
                ? pulumi.secret(dockerConfigData(...registries.map((r, i) => ({ ...r, password: pws[i] as string }))))
                : pulumi.secret(pulumi.all(pws)).apply((known) => dockerConfigData(...registries.map((r, i) => ({ ...r, password: known[i] }))));
            return new k8s.core.v1.Secret(
                `${name}/${secretName}`,
                {
                    metadata: { name: secretName, namespace },
                    type: "kubernetes.io/dockerconfigjson",
                    data: { ".dockerconfigjson": dockerConfig },
                },
                inNamespace,
            );
        };
        const combined = args.combinedPullSecret;
        const secrets =
            combined !== undefined
                ? [pullSecret(combined, args.registries, passwords)]
                : args.registries.map((registry, i) => pullSecret(registry.secretName, [registry], [passwords[i]]));
        const pullSecretNames = combined !== undefined ? [combined] : args.registries.map((r) => r.secretName);

        const imagePullSecrets = [...pullSecretNames, ...(args.keepPullSecrets ?? [])].map(
            (secretName) => ({ name: secretName }),
        );
        const serviceAccounts = args.serviceAccounts ?? ["default"];
        const patches = serviceAccounts.map(
            (serviceAccount) =>
                new k8s.core.v1.ServiceAccountPatch(
                `${name}/${serviceAccount}`,
                {
                    metadata: {
                        name: serviceAccount,
                        namespace,
                        annotations: {
                            "pulumi.com/patchFieldManager": args.fieldManager ?? "registry-access",
                            "pulumi.com/patchForce": String(args.forceConflicts ?? false),
                        },
                    },
                    imagePullSecrets,
                },
                // After the Secrets, so no pod is admitted with a reference to a missing Secret.
                {
                    parent: this,
                    dependsOn: [...inNamespace.dependsOn, ...secrets],
                    retainOnDelete: args.retainPatchOnDelete ?? false,
                },
            ),
        );
        this.patched = pulumi.all(patches.map((p) => p.id));

        if (args.containerService) {
            const access = new ContainerServiceAccess(
                `${name}/${args.containerService.serviceAccount}`,
                { ...args.containerService, namespace },
                inNamespace,
            );
            this.containerServiceKubeconfig = access.kubeconfig;
        }

        // Known values are registered as plain values: every Output costs the SDK promises and
        // bookkeeping, which adds up over hundreds of namespaces (docs/benchmarks.md).
        this.namespace = namespace;
        this.pullSecretNames = pulumi.output(pullSecretNames);
        this.serviceAccounts = pulumi.output(serviceAccounts);
        this.generatedCredentials = pulumi.secret(pulumi.all(generated));
        this.registerOutputs({
            namespace: args.namespace,
            pullSecretNames,
            serviceAccounts,
            ...(Object.keys(generated).length > 0 ? { generatedCredentials: this.generatedCredentials } : {}),
            ...(this.containerServiceKubeconfig ? { containerServiceKubeconfig: this.containerServiceKubeconfig } : {}),
        });
    }
}

/** Undefined for an empty map, so that an unlabelled Namespace declares no labels at all. */
function nonEmpty(map: Record<string, string> | undefined): Record<string, string> | undefined {
    return map && Object.keys(map).length > 0 ? map : undefined;
}
