import * as assert from "node:assert/strict";
import { parse } from "yaml";
import { CONTAINER_SERVICE_RULES, kubeconfigYaml, tokenSecretName } from "../components/containerService";
import { mockTokenData } from "./support/mocks";
import { ofType, runProgram, type RunResult } from "./support/runProgram";
import { isSecretWrapper, plaintextStrings, unwrapSecrets } from "./support/secrets";

const ACCOUNT = "kubernetes:core/v1:ServiceAccount";
const ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role";
const BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding";
const SECRET = "kubernetes:core/v1:Secret";
const PATCH = "kubernetes:core/v1:ServiceAccountPatch";
const COMPONENT = "registry-access:index:ContainerServiceAccess";

const REGISTRY = { server: "registry.example.org", username: "xnat-puller", password: "pull-Pa55word" };
const API = "https://k8s.example.org:6443";
const single = (containerService: unknown) => ({ namespace: "xnat-jobs", registries: [REGISTRY], containerService });

interface Kubeconfig {
    clusters: { name: string; cluster: { server: string; "certificate-authority-data"?: string } }[];
    users: { name: string; user: { token: string } }[];
    contexts: { name: string; context: { cluster: string; user: string; namespace: string } }[];
    "current-context": string;
}

const tokenOf = (secretName: string) => Buffer.from(mockTokenData(secretName).token, "base64").toString();

describe("XNAT's Container Service (mocks)", function () {
    this.timeout(60000);
    let on: RunResult;
    let rotated: RunResult;
    let named: RunResult;
    let off: RunResult;
    let tenants: RunResult;

    before(async () => {
        [on, rotated, named, off, tenants] = await Promise.all([
            runProgram(single({ apiServer: API })),
            runProgram(single({ apiServer: API, tokenRotation: "2026-11" })),
            runProgram(single({ apiServer: API, serviceAccount: "cs" })),
            runProgram(single(false)),
            runProgram({
                sharedRegistries: [REGISTRY],
                tenants: [
                    { namespace: "xnat-a", containerService: { apiServer: API } },
                    { namespace: "xnat-b", containerService: { apiServer: "https://10.0.0.5:6443", serviceAccount: "cs-b" } },
                    { namespace: "plain" },
                ],
            }, { secretKeys: ["sharedRegistries"] }),
        ]);
        for (const r of [on, rotated, named, off, tenants]) {
            assert.equal(r.error, undefined, r.error?.message);
        }
    });

    it("declares its objects as children of its component, itself a child of the namespace's", () => {
        const [component] = ofType(on, COMPONENT);
        const [registryAccess] = ofType(on, "registry-access:index:RegistryAccess");
        assert.equal(component.parent, registryAccess.urn);
        const children = on.resources.filter((r) => r.parent === component.urn).map((r) => r.type);
        assert.deepEqual(children.sort(), [ACCOUNT, ROLE, BINDING, SECRET].sort());
    });

    it("creates its ServiceAccount with no pull secrets, and patches only default", () => {
        const [account] = ofType(on, ACCOUNT);
        assert.deepEqual(account.inputs.metadata, { name: "xnat-container-service", namespace: "xnat-jobs" });
        assert.equal(account.inputs.imagePullSecrets, undefined);
        assert.deepEqual(
            ofType(on, PATCH).map((p) => (p.inputs.metadata as { name: string }).name),
            ["default"],
        );
    });

    it("binds a Role in its namespace with exactly the Container Service's rules", () => {
        const [role] = ofType(on, ROLE);
        const [binding] = ofType(on, BINDING);
        assert.deepEqual(role.inputs.metadata, { name: "xnat-container-service", namespace: "xnat-jobs" });
        // Written out, not read from the component: the list is the point (README.md lists each verb's source).
        assert.deepEqual(role.inputs.rules, [
            { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "patch", "delete", "list", "watch"] },
            { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
            { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
        ]);
        // Nothing about Secrets, and nothing beyond Jobs, Pods and their logs.
        const granted = CONTAINER_SERVICE_RULES.flatMap((r) => (r.resources as string[]).flatMap((res) => (r.verbs as string[]).map((v) => `${res}:${v}`)));
        assert.ok(granted.every((g) => /^(jobs|pods|pods\/log):/.test(g)), granted.join(" "));
        assert.ok(!granted.some((g) => /^pods(\/log)?:(create|update|patch|delete)/.test(g)), "pods are read-only");
        assert.ok(!granted.some((g) => g.endsWith(":*") || g.startsWith("*:")), "no wildcards");
        assert.deepEqual(binding.inputs.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "xnat-container-service" });
        assert.deepEqual(binding.inputs.subjects, [{ kind: "ServiceAccount", name: "xnat-container-service", namespace: "xnat-jobs" }]);
        assert.equal(ofType(on, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole").length, 0);
        assert.equal(ofType(on, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding").length, 0);
    });

    it("asks for a long-lived token after the ServiceAccount exists", () => {
        const token = ofType(on, SECRET).find((s) => s.inputs.type === "kubernetes.io/service-account-token")!;
        assert.deepEqual(token.inputs.metadata, {
            name: "xnat-container-service-token",
            namespace: "xnat-jobs",
            annotations: { "kubernetes.io/service-account.name": "xnat-container-service" },
        });
        const [account] = ofType(on, ACCOUNT);
        assert.ok(token.dependsOn.includes(account.urn), "the token Secret depends on the ServiceAccount");
        const [component] = ofType(on, COMPONENT);
        const namespace = ofType(on, "kubernetes:core/v1:Namespace")[0];
        assert.ok(component.dependsOn.includes(namespace.urn), "everything waits for the Namespace");
    });

    it("exports a complete kubeconfig, as a secret, for the namespace", () => {
        assert.ok(isSecretWrapper(on.outputs.containerServiceKubeconfig), "containerServiceKubeconfig is secret");
        assert.ok(isSecretWrapper(on.outputs.containerServiceKubeconfigs), "containerServiceKubeconfigs is secret");
        const config = parse(unwrapSecrets(on.outputs.containerServiceKubeconfig) as string) as Kubeconfig;
        const data = mockTokenData("xnat-container-service-token");
        assert.equal(config.clusters[0].cluster.server, API);
        assert.equal(config.clusters[0].cluster["certificate-authority-data"], data["ca.crt"]);
        assert.equal(config.users[0].user.token, tokenOf("xnat-container-service-token"));
        const context = config.contexts.find((c) => c.name === config["current-context"])!;
        assert.deepEqual(context.context, { cluster: config.clusters[0].name, user: config.users[0].name, namespace: "xnat-jobs" });
        assert.deepEqual(unwrapSecrets(on.outputs.containerServiceKubeconfigs), { "xnat-jobs": unwrapSecrets(on.outputs.containerServiceKubeconfig) });
    });

    it("never shows the token outside a secret: outputs, the component's outputs, the log", () => {
        const token = tokenOf("xnat-container-service-token");
        const places = { outputs: on.outputs, inputs: on.resources.map((r) => r.inputs) };
        for (const { path, value } of plaintextStrings(places)) {
            assert.ok(!value.includes(token), `token in plaintext at ${path}`);
        }
        assert.ok(!on.log.includes(token));
    });

    it("names the account's summary in the non-secret outputs", () => {
        assert.equal((on.outputs.tenants as { containerServiceAccount?: string }[])[0].containerServiceAccount, "xnat-container-service");
        assert.equal((named.outputs.tenants as { containerServiceAccount?: string }[])[0].containerServiceAccount, "cs");
    });

    it("a rotation keeper renames the token Secret, so a new value replaces the token", () => {
        const name = (r: RunResult) => (ofType(r, SECRET).find((s) => s.inputs.type === "kubernetes.io/service-account-token")!.inputs.metadata as { name: string }).name;
        assert.equal(name(rotated), tokenSecretName("xnat-container-service", "2026-11"));
        assert.match(name(rotated), /^xnat-container-service-token-[0-9a-f]{8}$/);
        assert.notEqual(tokenSecretName("a", "1"), tokenSecretName("a", "2"));
        const config = parse(unwrapSecrets(rotated.outputs.containerServiceKubeconfig) as string) as Kubeconfig;
        assert.equal(config.users[0].user.token, tokenOf(name(rotated)));
    });

    it("declares nothing for it when off", () => {
        for (const type of [ACCOUNT, ROLE, BINDING, COMPONENT]) {
            assert.equal(ofType(off, type).length, 0, type);
        }
        assert.equal(off.outputs.containerServiceKubeconfig, undefined);
        assert.equal(off.outputs.containerServiceKubeconfigs, undefined);
    });

    it("with tenants, one kubeconfig per enabled namespace, each for its own server and account", () => {
        const byNamespace = unwrapSecrets(tenants.outputs.containerServiceKubeconfigs) as Record<string, string>;
        assert.deepEqual(Object.keys(byNamespace).sort(), ["xnat-a", "xnat-b"]);
        assert.equal(tenants.outputs.containerServiceKubeconfig, undefined, "no single kubeconfig when there are several");
        const b = parse(byNamespace["xnat-b"]) as Kubeconfig;
        assert.equal(b.clusters[0].cluster.server, "https://10.0.0.5:6443");
        assert.equal(b.contexts[0].context.namespace, "xnat-b");
        assert.equal(b.users[0].user.token, tokenOf("cs-b-token"));
        assert.deepEqual(
            ofType(tenants, ACCOUNT).map((a) => a.inputs.metadata),
            [
                { name: "xnat-container-service", namespace: "xnat-a" },
                { name: "cs-b", namespace: "xnat-b" },
            ],
        );
    });

    it("refuses bad settings with every problem at once, each naming its key", async () => {
        const r = await runProgram({
            tenants: [
                { namespace: "a", registries: [REGISTRY], containerService: true },
                { namespace: "b", registries: [REGISTRY], containerService: { apiServer: "http://k8s.example.org:6443", serviceAccount: "default" } },
                { namespace: "c", registries: [REGISTRY], serviceAccounts: ["default", "xnat"], containerService: { apiServer: API, serviceAccount: "xnat" } },
                { namespace: "d", registries: [REGISTRY], containerService: { apiserver: API } },
                { namespace: "e", registries: [REGISTRY], containerService: { apiServer: "https://user:pw@k8s.example.org", serviceAccount: "Bad_Name" } },
            ],
        }, { secretKeys: ["tenants"] });
        assert.equal(r.resources.filter((x) => x.type !== "pulumi:pulumi:Stack").length, 0, "nothing declared");
        const message = r.error?.message ?? "";
        for (const expected of [
            /tenants\[0\]\.containerService\.apiServer: is required \(fix: set the https:\/\/ URL/,
            /tenants\[1\]\.containerService\.apiServer: is not an https:\/\/ URL/,
            /tenants\[1\]\.containerService\.serviceAccount: 'default' is the namespace's default ServiceAccount/,
            /tenants\[2\]\.containerService\.serviceAccount: 'xnat' is a ServiceAccount this stack patches/,
            /tenants\[3\]\.containerService\.apiserver: is not a known key \(fix: did you mean 'apiServer'\?\)/,
            /tenants\[4\]\.containerService\.apiServer: is not an https:\/\/ URL/,
            /tenants\[4\]\.containerService\.serviceAccount: is not a DNS-1123 subdomain/,
        ]) {
            assert.match(message, expected);
        }
        assert.ok(!message.includes("user:pw"), "a URL's credentials are not echoed");
    });
});

describe("kubeconfigYaml", () => {
    it("is a kubeconfig kubectl reads: one cluster, user and context", () => {
        const yaml = kubeconfigYaml({ server: API, caData: "Q0E=", token: "t0k", namespace: "ns", user: "cs" });
        const config = parse(yaml) as Kubeconfig & { apiVersion: string; kind: string };
        assert.equal(config.apiVersion, "v1");
        assert.equal(config.kind, "Config");
        assert.deepEqual(config.contexts, [{ name: "cs@ns", context: { cluster: "ns", user: "cs", namespace: "ns" } }]);
        assert.equal(config["current-context"], "cs@ns");
    });
});
