/**
 * A destroy must not take what the stack did not make (issue 33, item 15 and the suspected cases):
 * a namespace with a workload that exists before the first `up`, the namespaces Kubernetes makes
 * itself, and the pull secrets `keepPullSecrets` keeps when `patchForce` takes a ServiceAccount's
 * list over. The real CLI and Kubernetes provider 4.25 (support/engine.ts) on a real API server; a
 * control plane without a node is enough (the pod stays Pending, which is all it has to do).
 */
import * as assert from "node:assert/strict";
import { getObject, type K8sObject, kubectl, kubectlNamespace, managers, pullSecretNames, serviceAccount } from "./support/cluster";
import { TestStack } from "./support/engine";
import { suiteNamespaces } from "./support/names";

const registries = [{ server: "registry.example.org", username: "puller", password: "pw-existing-ns" }];

/** A pod as a workload someone else runs in the namespace. */
async function workload(namespace: string): Promise<K8sObject> {
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "app", namespace }, spec: { containers: [{ name: "app", image: "registry.example.org/team/app:1.0" }] } };
    return JSON.parse(await kubectl(["create", "-f", "-", "-o", "json"], JSON.stringify(pod))) as K8sObject;
}

/** What a stack's state holds beyond the stack itself (a failed up records its Stack resource). */
async function declared(stack: TestStack): Promise<string[]> {
    const state = JSON.parse(await stack.exportText()) as { deployment: { resources?: { type: string }[] } };
    return (state.deployment.resources ?? []).map((r) => r.type).filter((t) => t !== "pulumi:pulumi:Stack");
}

const uidOf = async (kind: string, namespace: string | undefined, name: string) => (await getObject(kind, namespace, name))?.metadata.uid;

/** The error of a run that must fail, with everything the engine printed for it. */
async function failure(stack: TestStack, run: () => Promise<unknown>): Promise<string> {
    const from = stack.log.length;
    const err = await run().then(
        () => undefined,
        (e: unknown) => e as Error,
    );
    assert.ok(err, "the run passed");
    return `${err.message}\n${stack.log.slice(from).join("")}`;
}

describe("what a destroy must not take", function () {
    this.timeout(600000);
    const namespace = suiteNamespaces();

    it("a namespace with a pod, made before the first up: preview and up stop naming createNamespace: false; adopted, destroy leaves it and its pod", async () => {
        const ns = namespace("preexisting");
        await kubectlNamespace(ns);
        const pod = await workload(ns);
        const nsUid = await uidOf("namespace", undefined, ns);
        const stack = await TestStack.create(ns, { namespace: ns, registries });

        for (const [run, go] of [
            ["preview", () => stack.preview()],
            ["up", () => stack.up()],
        ] as const) {
            const text = await failure(stack, go);
            assert.match(text, new RegExp(`registry-access:createNamespace: namespace '${ns}' exists and this stack did not create it`), `${run}: ${text}`);
            assert.match(text, /fix: set createNamespace: false/, run);
            console.log(`      ${run}: ${text.split("\n").find((l) => l.includes("registry-access:createNamespace"))?.trim()}`);
        }
        assert.deepEqual(await declared(stack), [], "up declared something");
        const untouched = await getObject("namespace", undefined, ns);
        assert.equal(untouched?.metadata.annotations?.["registry-access/stack"], undefined, "the namespace was applied to");

        // The fix the message names: adopt it. destroy then leaves the namespace and the pod.
        await stack.setConfig({ namespace: ns, createNamespace: false, registries });
        await stack.up();
        assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-registry-example-org"]);
        await stack.destroy();
        assert.equal(await uidOf("namespace", undefined, ns), nsUid, "destroy deleted the namespace");
        const after = await getObject("pod", ns, "app");
        assert.equal(after?.metadata.uid, pod.metadata.uid, "destroy deleted the pod");
        assert.equal(after?.metadata.deletionTimestamp, undefined, "the pod is being deleted");
    });

    it("a namespace the stack created: a second up, up --refresh and preview pass; destroy deletes it", async () => {
        const ns = namespace("created");
        const stack = await TestStack.create(ns, { namespace: ns, registries });
        await stack.up();
        const created = await getObject("namespace", undefined, ns);
        assert.equal((created?.metadata.annotations ?? {})["registry-access/stack"], stack.name);
        const again = await stack.up();
        assert.deepEqual(Object.keys(again.summary.resourceChanges ?? {}), ["same"]);
        const refreshed = await stack.up({ refresh: true });
        assert.deepEqual(Object.keys(refreshed.summary.resourceChanges ?? {}), ["same"]);
        await stack.preview({ expectNoChanges: true });
        assert.equal(await uidOf("namespace", undefined, ns), created?.metadata.uid);

        // Another stack listing it by mistake stops before declaring anything, naming the owner.
        const other = await TestStack.create(`${ns}-b`, { namespace: ns, registries });
        const text = await failure(other, () => other.up());
        assert.match(text, new RegExp(`namespace '${ns}' exists and belongs to stack '${stack.name}'`));
        assert.deepEqual(await declared(other), [], "the other stack holds something");

        await stack.destroy();
        const gone = await getObject("namespace", undefined, ns);
        assert.ok(gone === undefined || gone.metadata.deletionTimestamp !== undefined, "destroy left the namespace it created");
    });

    it("default, kube-system, kube-public, kube-node-lease: what a destroy would meet, and the stack refuses to create them", async () => {
        // A server-side dry run goes through admission (NamespaceLifecycle) and deletes nothing.
        const answers: Record<string, string> = {};
        for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease"]) {
            answers[ns] = await kubectl(["delete", "namespace", ns, "--dry-run=server"]).then(
                (out) => `deleted: ${out.trim()}`,
                (err: Error) => `refused: ${err.message}`,
            );
        }
        console.log(`      API server on delete: ${JSON.stringify(answers, null, 2).replace(/\n/g, "\n      ")}`);
        for (const ns of ["default", "kube-system", "kube-public"]) {
            assert.match(answers[ns], /^refused: .*may not be deleted/, ns);
        }
        const stack = await TestStack.create(namespace("system"), { namespace: "kube-node-lease", registries });
        const text = await failure(stack, () => stack.preview());
        assert.match(text, /registry-access:createNamespace: 'kube-node-lease' is a namespace Kubernetes makes itself/);
        assert.match(text, /fix: adopt it: pulumi config set --path 'createNamespace' false/);
    });

    it("keepPullSecrets after a patchForce up, then destroy: what remains on the ServiceAccount", async () => {
        const ns = namespace("keep-force");
        await kubectlNamespace(ns);
        // The manual recipe ran first: kubectl patch owns the list.
        await kubectl(["patch", "serviceaccount", "default", "-n", ns, "-p", '{"imagePullSecrets":[{"name":"vendor-pull"}]}']);
        const config = { namespace: ns, createNamespace: false, patchForce: true, keepPullSecrets: ["vendor-pull"], registries };
        const stack = await TestStack.create(ns, config);
        await stack.up();
        const taken = await serviceAccount(ns);
        assert.deepEqual(pullSecretNames(taken), ["regcred-registry-example-org", "vendor-pull"]);
        console.log(`      after up: ${JSON.stringify(pullSecretNames(taken))}, managers ${managers(taken).join(", ")}`);
        await stack.destroy();
        const left = await serviceAccount(ns);
        console.log(`      after destroy: ${JSON.stringify(left?.imagePullSecrets)}, managers ${managers(left).join(", ")}, annotations ${JSON.stringify(left?.metadata.annotations ?? {})}`);
        // The list is atomic and, once forced, only this stack's: relinquishing it removes it whole.
        assert.deepEqual(pullSecretNames(left), [], "destroy left the list");
        assert.ok(!managers(left).some((m) => m.startsWith("registry-access-")), managers(left).join(", "));

        // With onPatchDelete: retain the list stays as the stack left it, kept entries included.
        const retained = namespace("keep-retain");
        await kubectlNamespace(retained);
        await kubectl(["patch", "serviceaccount", "default", "-n", retained, "-p", '{"imagePullSecrets":[{"name":"vendor-pull"}]}']);
        const r = await TestStack.create(retained, { ...config, namespace: retained, onPatchDelete: "retain" });
        await r.up();
        await r.destroy();
        assert.deepEqual(pullSecretNames(await serviceAccount(retained)), ["regcred-registry-example-org", "vendor-pull"]);
    });
});
