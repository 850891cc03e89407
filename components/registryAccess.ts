import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { dockerConfigData } from "./dockerConfig";

/** One registry's credential, as the component takes it. */
export interface RegistryCredentialArgs {
    /** Registry host[:port][/path] or URL; the key under `auths` in `.dockerconfigjson`. */
    server: string;
    username: string;
    /** Kept secret: wrapped with pulumi.secret() whatever the caller passes. */
    password: pulumi.Input<string>;
    /** Written into the docker config when set, as `kubectl --docker-email` does. */
    email?: string;
    /** Name of the `kubernetes.io/dockerconfigjson` Secret, unique in the namespace. */
    secretName: string;
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
    /** One Secret per registry, all listed in the ServiceAccount's imagePullSecrets. */
    registries: RegistryCredentialArgs[];
    /** The ServiceAccount whose pods get the pull secrets. @default "default" */
    serviceAccountName?: string;
    /**
     * Server-side apply field manager for the ServiceAccount patch. Stable across runs so that an
     * update or delete acts on the same managed fields.
     * @default "registry-access"
     */
    fieldManager?: string;
    /**
     * Take imagePullSecrets over from another field manager instead of failing with a conflict.
     * The list is atomic, so forcing replaces every entry the other manager put there.
     * @default false
     */
    forceConflicts?: boolean;
}

/**
 * Gives pods in one namespace authenticated pulls from private registries: the Namespace
 * (unless adopted), a docker-registry Secret per registry, and a server-side apply patch of the
 * ServiceAccount listing exactly those Secrets in imagePullSecrets.
 *
 * `imagePullSecrets` on a ServiceAccount is an atomic list (Kubernetes API reference,
 * ServiceAccount v1): whoever applies it owns the whole list. So the patch declares the complete
 * list and, by default, fails on a conflict rather than silently dropping another tool's entries.
 * @see https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#add-imagepullsecrets-to-a-service-account
 */
export class RegistryAccess extends pulumi.ComponentResource {
    /** The namespace the Secrets and the patch live in. */
    readonly namespace: pulumi.Output<string>;
    /** The names of the docker-registry Secrets, in config order. */
    readonly pullSecretNames: pulumi.Output<string[]>;
    /** The ServiceAccounts whose imagePullSecrets list those Secrets. */
    readonly serviceAccounts: pulumi.Output<string[]>;

    constructor(name: string, args: RegistryAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("registry-access:index:RegistryAccess", name, {}, opts);

        const serviceAccountName = args.serviceAccountName ?? "default";
        // Children of an adopted namespace only need its name; a created one must also be
        // created before, and deleted after, everything in it.
        const ns =
            args.createNamespace === false
                ? undefined
                : new k8s.core.v1.Namespace(name, { metadata: { name: args.namespace } }, { parent: this });
        const namespace = ns ? ns.metadata.name : pulumi.output(args.namespace);
        const inNamespace = { parent: this, dependsOn: ns ? [ns] : [] };

        const secrets = args.registries.map(
            (registry) =>
                new k8s.core.v1.Secret(
                    `${name}-${registry.secretName}`,
                    {
                        metadata: { name: registry.secretName, namespace },
                        type: "kubernetes.io/dockerconfigjson",
                        data: {
                            ".dockerconfigjson": pulumi
                                .secret(registry.password)
                                .apply((password) => dockerConfigData({ ...registry, password })),
                        },
                    },
                    inNamespace,
                ),
        );

        const patch = new k8s.core.v1.ServiceAccountPatch(
            `${name}-${serviceAccountName}`,
            {
                metadata: {
                    name: serviceAccountName,
                    namespace,
                    annotations: {
                        "pulumi.com/patchFieldManager": args.fieldManager ?? "registry-access",
                        "pulumi.com/patchForce": String(args.forceConflicts ?? false),
                    },
                },
                imagePullSecrets: args.registries.map((r) => ({ name: r.secretName })),
            },
            // After the Secrets, so no pod is admitted with a reference to a missing Secret.
            { parent: this, dependsOn: [...inNamespace.dependsOn, ...secrets] },
        );

        this.namespace = namespace;
        this.pullSecretNames = pulumi.output(args.registries.map((r) => r.secretName));
        this.serviceAccounts = patch.metadata.name.apply((n) => [n ?? serviceAccountName]);
        this.registerOutputs({
            namespace: this.namespace,
            pullSecretNames: this.pullSecretNames,
            serviceAccounts: this.serviceAccounts,
        });
    }
}
