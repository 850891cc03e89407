import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { tokenSecretName } from "./names";

export { tokenSecretName };

export interface ContainerServiceArgs {
    /** The namespace the Container Service runs its Jobs in. */
    namespace: pulumi.Input<string>;
    /** Its own ServiceAccount, created here (never `default`, where the Jobs run). */
    serviceAccount: string;
    /** The API server URL XNAT uses, written into the kubeconfig. */
    apiServer: string;
    /** Keeper of the token: a new value replaces it, and the old token stops working. */
    tokenRotation?: string;
}

/**
 * What XNAT's Container Service calls in its namespace, and nothing more (container-service
 * 3.7.3, KubernetesClientImpl and KubernetesInformerImpl): it creates each Job suspended, patches
 * it to start, deletes it, and follows Jobs and Pods with informers (list, watch); it reads logs.
 * XNAT's own docs also grant `get` and `update`, which no call uses. docs/xnat.md ("The config")
 * lists each verb's source.
 */
export const CONTAINER_SERVICE_RULES: k8s.types.input.rbac.v1.PolicyRule[] = [
    { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "patch", "delete", "list", "watch"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
    { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
];

/**
 * The Kubernetes side of XNAT's Container Service in one namespace: a ServiceAccount of its own,
 * a Role limited to {@link CONTAINER_SERVICE_RULES} bound to it, a long-lived token, and the
 * kubeconfig XNAT reads (secret).
 * @see https://wiki.xnat.org/container-service/setting-up-container-service-on-kubernetes
 */
export class ContainerServiceAccess extends pulumi.ComponentResource {
    /** A complete kubeconfig: server, cluster CA, token, and the namespace as the default (secret). */
    readonly kubeconfig: pulumi.Output<string>;

    constructor(name: string, args: ContainerServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("registry-access:index:ContainerServiceAccess", name, {}, opts);
        const inThis = { parent: this };
        const metadata = { name: args.serviceAccount, namespace: args.namespace };

        // No imagePullSecrets: the Jobs run as `default`, which the patch gives them.
        const account = new k8s.core.v1.ServiceAccount(name, { metadata }, inThis);
        const role = new k8s.rbac.v1.Role(name, { metadata, rules: CONTAINER_SERVICE_RULES }, inThis);
        new k8s.rbac.v1.RoleBinding(
            name,
            {
                metadata,
                roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role.metadata.name },
                subjects: [{ kind: "ServiceAccount", name: account.metadata.name, namespace: account.metadata.namespace }],
            },
            inThis,
        );

        // Kubernetes 1.24+ no longer makes a token Secret per ServiceAccount; the token controller
        // fills this one (the provider waits for it). A new name per keeper value makes rotation a
        // replacement: the new token exists before the old Secret, and with it the old token, goes.
        const token = new k8s.core.v1.Secret(
            name,
            {
                metadata: {
                    name: tokenSecretName(args.serviceAccount, args.tokenRotation),
                    namespace: args.namespace,
                    annotations: { "kubernetes.io/service-account.name": args.serviceAccount },
                },
                type: "kubernetes.io/service-account-token",
            },
            // The controller deletes a token Secret whose ServiceAccount does not exist yet.
            { parent: this, dependsOn: [account], additionalSecretOutputs: ["data"] },
        );

        this.kubeconfig = pulumi.secret(
            pulumi.all([token.data, account.metadata.namespace]).apply(([data, namespace]) =>
                kubeconfigYaml({
                    server: args.apiServer,
                    caData: data["ca.crt"] ?? "",
                    token: Buffer.from(data.token ?? "", "base64").toString("utf8"),
                    namespace,
                    user: args.serviceAccount,
                }),
            ),
        );
        this.registerOutputs({ kubeconfig: this.kubeconfig });
    }
}

export interface KubeconfigArgs {
    server: string;
    /** The cluster CA, base64 PEM as the token Secret's `ca.crt` holds it. */
    caData: string;
    token: string;
    namespace: string;
    user: string;
}

/** A kubeconfig with one cluster, user and context, the namespace being the context's default. */
export function kubeconfigYaml({ server, caData, token, namespace, user }: KubeconfigArgs): string {
    const context = `${user}@${namespace}`;
    // No folding: a long token stays on one line, as kubectl writes it.
    return stringify(
        {
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: namespace, cluster: { server, ...(caData ? { "certificate-authority-data": caData } : {}) } }],
            users: [{ name: user, user: { token } }],
            contexts: [{ name: context, context: { cluster: namespace, user, namespace } }],
            "current-context": context,
        },
        { lineWidth: 0 },
    );
}
