/**
 * What `pulumi up` and `pulumi destroy` of this program do on a real API server: the real engine
 * and the real Kubernetes provider (support/engine.ts), a real kube-apiserver with its admission
 * and controllers (scripts/local-cluster.sh, or any cluster in KUBECONFIG). Without a kubelet
 * here, the checks end at the API objects a kubelet reads.
 */
import * as assert from "node:assert/strict";
import { kubectlDockerConfig } from "../support/kubectl";
import {
    admitPod,
        getObject,
    type K8sObject,
    kubectl,
    kubectlNamespace,
    managers,
    pullSecretNames,
    secretBytes,
    serviceAccount,
} from "./support/cluster";
import { TestStack } from "./support/engine";
import { suiteNamespaces } from "./support/names";

const registry = (server: string, password: string) => ({ server, username: "puller", password, email: "ops@example.org" });

describe("pulumi up and destroy on a real API server", function () {
    this.timeout(600000);
    const namespace = suiteNamespaces();

    before(async () => {
        assert.ok(process.env.KUBECONFIG, "KUBECONFIG is not set: run `npm run test:cluster`, which starts a local control plane");
    });


    it("1. a pod with no pull secrets of its own is admitted with the stack's Secrets", async () => {
        const ns = namespace("admit");
        const stack = await TestStack.create(ns, { namespace: ns, registries: [registry("registry.example.org", "pw-one<&>"), registry("ghcr.io", "pw-two")] });
        const result = await stack.up();
        assert.deepEqual(result.summary.resourceChanges, { create: 6 }, "stack, component, Namespace, 2 Secrets, the patch");
        const pod = await admitPod(ns);
        assert.deepEqual(pod.spec.imagePullSecrets, [{ name: "regcred-registry-example-org" }, { name: "regcred-ghcr-io" }]);
        assert.deepEqual(result.outputs.pullSecretNames.value, ["regcred-registry-example-org", "regcred-ghcr-io"]);
    });

    it("2. the Secret holds exactly the bytes kubectl writes, with the dockerconfigjson type", async () => {
        const ns = namespace("bytes");
        const cred = { server: "https://registry.example.org:5000/v2/", username: "jürgen", password: "p<a>&s\u2028s:wörd", email: "j@example.org" };
        await (await TestStack.create(ns, { namespace: ns, registries: [cred] })).up();
        const secret = (await getObject("secret", ns, "regcred-registry-example-org-5000-v2")) as K8sObject & { type: string; data: Record<string, string> };
        assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
        assert.deepEqual(Object.keys(secret.data), [".dockerconfigjson"]);
        const expected = await kubectlDockerConfig(cred);
        assert.equal((await secretBytes(ns, "regcred-registry-example-org-5000-v2")).toString("hex"), expected.toString("hex"));
    });

    it("3. adding and removing a registry adds and removes its Secret and its entry", async () => {
        const ns = namespace("addrm");
        const one = { namespace: ns, registries: [registry("registry.example.org", "a")] };
        const two = { namespace: ns, registries: [registry("registry.example.org", "a"), registry("quay.io", "b")] };
        const stack = await TestStack.create(ns, one);
        await stack.up();
        await stack.setConfig(two);
        await stack.up();
        assert.ok(await getObject("secret", ns, "regcred-quay-io"));
        assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-registry-example-org", "regcred-quay-io"]);
        await stack.setConfig(one);
        await stack.up();
        assert.equal(await getObject("secret", ns, "regcred-quay-io"), undefined);
        assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-registry-example-org"]);
        assert.deepEqual((await admitPod(ns)).spec.imagePullSecrets, [{ name: "regcred-registry-example-org" }]);
    });

    it("4. adopts a namespace made by kubectl: Secrets and the patch go into it, no Namespace resource", async () => {
        const ns = namespace("adopt");
        await kubectlNamespace(ns);
        const stack = await TestStack.create(ns, { namespace: ns, createNamespace: false, registries: [registry("registry.example.org", "pw")] });
        const result = await stack.up();
        assert.deepEqual(result.summary.resourceChanges, { create: 4 }, "stack, component, Secret, patch");
        assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-registry-example-org"]);
        assert.deepEqual((await admitPod(ns)).spec.imagePullSecrets, [{ name: "regcred-registry-example-org" }]);
    });

    it("5. a second ServiceAccount in serviceAccounts is patched too, and created when missing", async () => {
        const ns = namespace("sa");
        const stack = await TestStack.create(ns, { namespace: ns, serviceAccounts: ["default", "xnat"], registries: [registry("registry.example.org", "pw")] });
        await stack.up();
        assert.deepEqual((await admitPod(ns, "xnat")).spec.imagePullSecrets, [{ name: "regcred-registry-example-org" }]);
        assert.deepEqual(managers(await serviceAccount(ns, "xnat")).filter((m) => m.startsWith("registry-access")), [`registry-access-${stack.name}/Apply`]);
    });

    describe("6. when another field manager owns imagePullSecrets (the manual recipe ran first)", () => {
        it("preview cannot see the conflict; up stops on it and keeps the other list", async () => {
            const ns = namespace("conflict");
            await kubectlNamespace(ns);
            await kubectl(["patch", "serviceaccount", "default", "-n", ns, "-p", '{"imagePullSecrets":[{"name":"vendor-pull"}]}']);
            const stack = await TestStack.create(ns, { namespace: ns, createNamespace: false, registries: [registry("registry.example.org", "pw")] });
            // The provider never dry-runs the create of a Patch resource, so preview is green.
            const preview = await stack.preview();
            assert.equal(preview.changeSummary.create, 4);
            await assert.rejects(stack.up(), /conflict with "[^"]+"( using v1)?: \.imagePullSecrets/);
            assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["vendor-pull"], "the other tool's entry was lost");
        });

        it("patchForce takes the list over, keeping the entries named in keepPullSecrets", async () => {
            const ns = namespace("force");
            await kubectlNamespace(ns);
            await kubectl(
                ["apply", "--server-side", "--field-manager=other-tool", "-f", "-"],
                JSON.stringify({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace: ns }, imagePullSecrets: [{ name: "vendor-pull" }] }),
            );
            const stack = await TestStack.create(ns, {
                namespace: ns,
                createNamespace: false,
                patchForce: true,
                keepPullSecrets: ["vendor-pull"],
                registries: [registry("registry.example.org", "pw")],
            });
            await stack.up();
            const sa = await serviceAccount(ns);
            assert.deepEqual(pullSecretNames(sa), ["regcred-registry-example-org", "vendor-pull"]);
            assert.ok(managers(sa).includes(`registry-access-${stack.name}/Apply`), managers(sa).join(", "));
        });
    });

    it("7a. destroy deletes the Namespace the stack created, with its Secrets", async () => {
        const ns = namespace("destroy");
        const stack = await TestStack.create(ns, { namespace: ns, registries: [registry("registry.example.org", "pw")] });
        await stack.up();
        const result = await stack.destroy();
        assert.equal(result.summary.resourceChanges?.delete, 5);
        assert.equal(await getObject("namespace", undefined, ns), undefined);
    });

    it("7b. destroy leaves an adopted namespace and its default ServiceAccount, without the stack's entries", async () => {
        const ns = namespace("keep");
        await kubectlNamespace(ns);
        const stack = await TestStack.create(ns, { namespace: ns, createNamespace: false, registries: [registry("registry.example.org", "pw"), registry("ghcr.io", "pw")] });
        await stack.up();
        await stack.destroy();
        assert.ok(await getObject("namespace", undefined, ns), "the adopted namespace was deleted");
        const sa = await serviceAccount(ns);
        assert.ok(sa, "the default ServiceAccount was deleted");
        assert.deepEqual(pullSecretNames(sa), []);
        assert.ok(!managers(sa).some((m) => m.startsWith("registry-access-")), managers(sa).join(", "));
        const secrets = JSON.parse(await kubectl(["get", "secrets", "-n", ns, "-o", "json"])) as { items: K8sObject[] };
        assert.deepEqual(secrets.items.filter((s) => s.metadata.name.startsWith("regcred-")), []);
    });

    it("7c. onPatchDelete: retain leaves the ServiceAccount's list as it is on destroy", async () => {
        const ns = namespace("retain");
        await kubectlNamespace(ns);
        const stack = await TestStack.create(ns, { namespace: ns, createNamespace: false, onPatchDelete: "retain", registries: [registry("registry.example.org", "pw")] });
        await stack.up();
        await stack.destroy();
        assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-registry-example-org"]);
    });

    it("tenants: three namespaces, exactly their own Secrets, no residue after destroy", async () => {
        const [a, b, c] = ["a", "b", "c"].map((t) => namespace(`tenant-${t}`));
        await kubectlNamespace(c);
        const stack = await TestStack.create(a, {
            sharedRegistries: [registry("tenants.example.org", "shared-pw")],
            tenants: [
                { namespace: a, registries: [registry("a.example.org", "pw-a")] },
                { namespace: b, registries: [registry("b.example.org", "pw-b")], serviceAccounts: ["default", "xnat"] },
                { namespace: c, createNamespace: false, registries: [registry("c.example.org", "pw-c")] },
            ],
        });
        await stack.up();
        for (const [ns, own] of [
            [a, "a"],
            [b, "b"],
            [c, "c"],
        ]) {
            const pod = await admitPod(ns);
            assert.deepEqual(pod.spec.imagePullSecrets, [{ name: "regcred-tenants-example-org" }, { name: `regcred-${own}-example-org` }], ns);
        }
        assert.deepEqual((await admitPod(b, "xnat")).spec.imagePullSecrets?.map((s) => s.name), ["regcred-tenants-example-org", "regcred-b-example-org"]);

        await stack.destroy();
        assert.equal(await getObject("namespace", undefined, a), undefined);
        assert.equal(await getObject("namespace", undefined, b), undefined);
        assert.ok(await getObject("namespace", undefined, c));
        const all = JSON.parse(await kubectl(["get", "secrets", "--all-namespaces", "-o", "json"])) as { items: K8sObject[] };
        const residue = all.items.filter((s) => [a, b, c].includes(s.metadata.namespace ?? "") && s.metadata.name.startsWith("regcred-"));
        assert.deepEqual(
            residue.map((s) => `${s.metadata.namespace}/${s.metadata.name}`),
            [],
        );
        assert.deepEqual(pullSecretNames(await serviceAccount(c)), []);
    });
});
