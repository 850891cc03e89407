/**
 * The baseline: the same Namespaces, Secrets and ServiceAccount patches as index.ts declares for
 * the benchmark's config (same names, same inputs), registered directly with @pulumi/kubernetes,
 * without the component, the config validation or the program's helpers. What the program costs
 * over this is what its structure and checks cost.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { BenchTenant } from "./scenario";

export = async () => {
    const tenants = new pulumi.Config().requireObject<BenchTenant[]>("tenants");
    const fieldManager = `registry-access-${pulumi.getStack()}`;
    for (const tenant of tenants) {
        const name = tenant.namespace;
        const ns = new k8s.core.v1.Namespace(name, { metadata: { name: tenant.namespace } });
        const secretNames: string[] = [];
        const secrets = tenant.registries.map((r) => {
            // The program's default Secret name for a plain host, and kubectl's document for
            // ASCII credentials, written out inline.
            const secretName = `regcred-${r.server.replace(/[^a-z0-9]+/g, "-")}`;
            secretNames.push(secretName);
            const auth = Buffer.from(`${r.username}:${r.password}`).toString("base64");
            const document = JSON.stringify({ auths: { [r.server]: { username: r.username, password: r.password, auth } } });
            return new k8s.core.v1.Secret(
                `${name}/${secretName}`,
                {
                    metadata: { name: secretName, namespace: ns.metadata.name },
                    type: "kubernetes.io/dockerconfigjson",
                    data: { ".dockerconfigjson": pulumi.secret(Buffer.from(document).toString("base64")) },
                },
                { dependsOn: [ns] },
            );
        });
        new k8s.core.v1.ServiceAccountPatch(
            `${name}/default`,
            {
                metadata: {
                    name: "default",
                    namespace: ns.metadata.name,
                    annotations: { "pulumi.com/patchFieldManager": fieldManager, "pulumi.com/patchForce": "false" },
                },
                imagePullSecrets: secretNames.map((secretName) => ({ name: secretName })),
            },
            { dependsOn: [ns, ...secrets] },
        );
    }
    return {};
};
