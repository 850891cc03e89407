/**
 * What a real kube-apiserver does with what the program declares: the API server, its admission
 * and its controllers are real (scripts/local-cluster.sh, or any cluster in KUBECONFIG); only the
 * Pulumi engine is replaced, by support/provider.ts. There is no kubelet: the checks end at the
 * API objects a kubelet would read.
 */
import * as assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { kubectlDockerConfig } from "../support/kubectl";
import { runProgram } from "../support/runProgram";
import { type DeclaredObject, declaredObjects, destroy, getObject, type K8sObject, kubectl, up } from "./support/provider";

interface ServiceAccount extends K8sObject {
    imagePullSecrets?: { name: string }[];
}

const created: string[] = [];
let counter = 0;
/** A fresh namespace name per test, so tests never see each other's objects. */
function freshNamespace(label: string): string {
    const name = `ra-${label}-${process.pid.toString(36)}${(counter++).toString(36)}`;
    created.push(name);
    return name;
}

async function declare(config: Record<string, unknown>, stack = "cluster"): Promise<DeclaredObject[]> {
    return declaredObjects(await runProgram(config, { stack }));
}

const registry = (server: string, password: string) => ({ server, username: "puller", password, email: "ops@example.org" });

async function serviceAccount(namespace: string, name = "default"): Promise<ServiceAccount | undefined> {
    return (await getObject("serviceaccount", namespace, name)) as ServiceAccount | undefined;
}

const pullSecretNames = (sa: ServiceAccount | undefined) => (sa?.imagePullSecrets ?? []).map((s) => s.name);

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
        try {
            const value = await probe();
            if (value !== undefined) {
                return value;
            }
        } catch (err) {
            last = err;
        }
        await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

/** A Pod with no imagePullSecrets of its own, as the API server admits it. */
async function admitPod(namespace: string, serviceAccountName = "default"): Promise<K8sObject & { spec: { imagePullSecrets?: { name: string }[] } }> {
    const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { generateName: "probe-", namespace },
        spec: { serviceAccountName, containers: [{ name: "app", image: "registry.example.org/team/app:1.0" }] },
    };
    // 1.20's ServiceAccount admission refuses pods until the account's token Secret exists.
    return eventually("the pod to be admitted", async () => JSON.parse(await kubectl(["create", "-f", "-", "-o", "json"], JSON.stringify(pod))));
}

/** Every field manager and the operation it used on an object. */
const managers = (o: K8sObject | undefined) =>
    ((o?.metadata.managedFields as { manager: string; operation: string }[] | undefined) ?? []).map((m) => `${m.manager}/${m.operation}`).sort();

/** The local control plane's controller-manager, when these tests started it (for pausing it). */
function localControllerManagerPid(): number | undefined {
    const dir = process.env.LOCAL_CLUSTER_DIR ?? "/tmp/registry-access-cluster";
    const pidFile = path.join(dir, "controller-manager.pid");
    if (process.env.KUBECONFIG === path.join(dir, "kubeconfig") && existsSync(pidFile)) {
        return Number(readFileSync(pidFile, "utf8").trim());
    }
    return undefined;
}

describe("on a real API server", function () {
    this.timeout(180000);

    before(async () => {
        assert.ok(process.env.KUBECONFIG, "KUBECONFIG is not set: run `npm run test:cluster`, which starts a local control plane");
        const version = JSON.parse(await kubectl(["version", "-o", "json"])) as { serverVersion?: { gitVersion: string } };
        assert.ok(version.serverVersion, "no API server answered");
    });

    after(async () => {
        // Namespaces deleted by destroy are gone already; the rest go without waiting.
        const left = [];
        for (const ns of created) {
            if (await getObject("namespace", undefined, ns)) {
                left.push(ns);
            }
        }
        if (left.length > 0) {
            await kubectl(["delete", "namespace", ...left, "--wait=false", "--ignore-not-found"]);
        }
    });

    it("1. admits a pod with no pull secrets of its own with the program's secrets injected", async () => {
        const namespace = freshNamespace("admit");
        await up(await declare({ namespace, registries: [registry("registry.example.org", "pw-one<&>"), registry("ghcr.io", "pw-two")] }));
        const pod = await admitPod(namespace);
        assert.deepEqual(pod.spec.imagePullSecrets, [{ name: "regcred-registry-example-org" }, { name: "regcred-ghcr-io" }]);
    });

    it("2. stores exactly the bytes kubectl writes, with the dockerconfigjson type", async () => {
        const namespace = freshNamespace("bytes");
        const cred = { server: "https://registry.example.org:5000/v2/", username: "jürgen", password: "p<a>&s\u2028s:wörd", email: "j@example.org" };
        await up(await declare({ namespace, registries: [cred] }));
        const secret = (await getObject("secret", namespace, "regcred-registry-example-org-5000-v2")) as K8sObject & { type: string; data: Record<string, string> };
        assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
        assert.deepEqual(Object.keys(secret.data), [".dockerconfigjson"]);
        const expected = await kubectlDockerConfig(cred);
        assert.equal(Buffer.from(secret.data[".dockerconfigjson"], "base64").toString("hex"), expected.toString("hex"));
    });

    it("3. applying the same program twice changes nothing", async () => {
        const namespace = freshNamespace("idem");
        const config = { namespace, registries: [registry("registry.example.org", "pw")] };
        const first = await declare(config);
        await up(first);
        const read = async () =>
            Promise.all([getObject("namespace", undefined, namespace), getObject("secret", namespace, "regcred-registry-example-org"), serviceAccount(namespace)]);
        const before = await read();
        const second = await declare(config);
        assert.equal(JSON.stringify(second), JSON.stringify(first), "the program declared something different");
        await up(second, first);
        const after = await read();
        for (const [i, o] of before.entries()) {
            // A Namespace applied with only its name owns no fields, so it has no managedFields.
            assert.ok(o?.kind === "Namespace" || o?.metadata.managedFields, `${o?.kind} has no managed fields to compare`);
            assert.equal(after[i]?.metadata.resourceVersion, o?.metadata.resourceVersion, `${o?.kind} changed`);
            assert.deepEqual(after[i]?.metadata.managedFields, o?.metadata.managedFields);
        }
        // Even sent again in full (a provider with lost state), the applies change no content.
        // (A 1.20 server still bumps resourceVersion and records a "before-first-apply" manager
        // on a re-applied Namespace, so only the objects' content is compared here.)
        await up(second);
        const resent = await read();
        for (const [i, o] of before.entries()) {
            assert.deepEqual({ ...resent[i], metadata: undefined }, { ...o, metadata: undefined }, `${o?.kind} content changed`);
        }
    });

    it("4. rotating a password updates the Secret in place and leaves the ServiceAccount untouched", async () => {
        const namespace = freshNamespace("rotate");
        const before = await declare({ namespace, registries: [registry("registry.example.org", "old-password")] });
        await up(before);
        const secret1 = await getObject("secret", namespace, "regcred-registry-example-org");
        const sa1 = await serviceAccount(namespace);
        await up(await declare({ namespace, registries: [registry("registry.example.org", "new-password")] }), before);
        const secret2 = (await getObject("secret", namespace, "regcred-registry-example-org")) as K8sObject & { data: Record<string, string> };
        const sa2 = await serviceAccount(namespace);
        assert.equal(secret2.metadata.uid, secret1?.metadata.uid, "the Secret was replaced, not updated");
        assert.notEqual(secret2.metadata.resourceVersion, secret1?.metadata.resourceVersion);
        assert.match(Buffer.from(secret2.data[".dockerconfigjson"], "base64").toString(), /"password":"new-password"/);
        assert.equal(sa2?.metadata.resourceVersion, sa1?.metadata.resourceVersion, "the ServiceAccount changed");
    });

    it("5. adding and removing a registry adds and removes its Secret and its entry", async () => {
        const namespace = freshNamespace("addrm");
        const one = await declare({ namespace, registries: [registry("registry.example.org", "a")] });
        const two = await declare({ namespace, registries: [registry("registry.example.org", "a"), registry("quay.io", "b")] });
        await up(one);
        await up(two, one);
        assert.ok(await getObject("secret", namespace, "regcred-quay-io"));
        assert.deepEqual(pullSecretNames(await serviceAccount(namespace)), ["regcred-registry-example-org", "regcred-quay-io"]);
        await up(one, two);
        assert.equal(await getObject("secret", namespace, "regcred-quay-io"), undefined);
        assert.deepEqual(pullSecretNames(await serviceAccount(namespace)), ["regcred-registry-example-org"]);
        const pod = await admitPod(namespace);
        assert.deepEqual(pod.spec.imagePullSecrets, [{ name: "regcred-registry-example-org" }]);
    });

    it("6a. adopts a namespace whose default ServiceAccount exists", async () => {
        const namespace = freshNamespace("adopt");
        await kubectl(["create", "namespace", namespace]);
        await eventually("the default ServiceAccount", () => serviceAccount(namespace));
        const declared = await declare({ namespace, createNamespace: false, registries: [registry("registry.example.org", "pw")] });
        assert.ok(!declared.some((d) => d.object.kind === "Namespace"));
        await up(declared);
        assert.deepEqual(pullSecretNames(await serviceAccount(namespace)), ["regcred-registry-example-org"]);
        assert.deepEqual((await admitPod(namespace)).spec.imagePullSecrets, [{ name: "regcred-registry-example-org" }]);
    });

    it("6b. adopts a namespace whose default ServiceAccount does not exist yet", async function () {
        const namespace = freshNamespace("early");
        const pid = localControllerManagerPid();
        // Pausing the serviceaccount controller makes the window real; on another cluster the
        // account is deleted right before the apply, which the controller may refill first.
        if (pid) {
            process.kill(pid, "SIGSTOP");
        }
        try {
            await kubectl(["create", "namespace", namespace]);
            if (!pid) {
                await kubectl(["delete", "serviceaccount", "default", "-n", namespace, "--ignore-not-found"]);
            } else {
                assert.equal(await serviceAccount(namespace), undefined, "default exists although the controller is paused");
            }
            await up(await declare({ namespace, createNamespace: false, registries: [registry("registry.example.org", "pw")] }));
            assert.deepEqual(pullSecretNames(await serviceAccount(namespace)), ["regcred-registry-example-org"]);
        } finally {
            if (pid) {
                process.kill(pid, "SIGCONT");
            }
        }
        // The controller finds the account present and leaves the list alone.
        const pod = await admitPod(namespace);
        assert.deepEqual(pod.spec.imagePullSecrets, [{ name: "regcred-registry-example-org" }]);
        if (!pid) {
            this.test!.title += " (controller not paused: another cluster)";
        }
    });

    describe("7. when another field manager owns imagePullSecrets", () => {
        it("stops with a clear conflict by default and keeps the other list", async () => {
            const namespace = freshNamespace("conflict");
            await kubectl(["create", "namespace", namespace]);
            await eventually("the default ServiceAccount", () => serviceAccount(namespace));
            // The manual recipe this project replaces.
            await kubectl(["patch", "serviceaccount", "default", "-n", namespace, "-p", '{"imagePullSecrets":[{"name":"vendor-pull"}]}']);
            const declared = await declare({ namespace, createNamespace: false, registries: [registry("registry.example.org", "pw")] });
            // The other manager is "kubectl-patch" on current servers, "before-first-apply" on 1.20.
            await assert.rejects(up(declared), /Apply failed with 1 conflict: conflict with "[^"]+"( using v1)?: \.imagePullSecrets/);
            assert.deepEqual(pullSecretNames(await serviceAccount(namespace)), ["vendor-pull"], "the other tool's entry was lost");
        });

        it("takes the list over when patchForce is set, keeping the entries named in keepPullSecrets", async () => {
            const namespace = freshNamespace("force");
            await kubectl(["create", "namespace", namespace]);
            await eventually("the default ServiceAccount", () => serviceAccount(namespace));
            await kubectl(
                ["apply", "--server-side", "--field-manager=other-tool", "-f", "-"],
                JSON.stringify({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "default", namespace }, imagePullSecrets: [{ name: "vendor-pull" }] }),
            );
            await up(
                await declare({
                    namespace,
                    createNamespace: false,
                    patchForce: true,
                    keepPullSecrets: ["vendor-pull"],
                    registries: [registry("registry.example.org", "pw")],
                }),
            );
            const sa = await serviceAccount(namespace);
            assert.deepEqual(pullSecretNames(sa), ["regcred-registry-example-org", "vendor-pull"]);
            assert.ok(managers(sa).includes("registry-access-cluster/Apply"), managers(sa).join(", "));
        });
    });

    it("8a. destroy removes the Secrets and the Namespace the program created", async () => {
        const namespace = freshNamespace("destroy");
        const declared = await declare({ namespace, registries: [registry("registry.example.org", "pw")] });
        await up(declared);
        await destroy(declared);
        assert.equal(await getObject("namespace", undefined, namespace), undefined);
    });

    it("8b. destroy leaves an adopted namespace and its default ServiceAccount, without the program's entries", async () => {
        const namespace = freshNamespace("keep");
        await kubectl(["create", "namespace", namespace]);
        await eventually("the default ServiceAccount", () => serviceAccount(namespace));
        const declared = await declare({ namespace, createNamespace: false, registries: [registry("registry.example.org", "pw"), registry("ghcr.io", "pw")] });
        await up(declared);
        await destroy(declared);
        assert.ok(await getObject("namespace", undefined, namespace), "the adopted namespace was deleted");
        const sa = await serviceAccount(namespace);
        assert.ok(sa, "the default ServiceAccount was deleted");
        assert.deepEqual(pullSecretNames(sa), []);
        assert.ok(!managers(sa).some((m) => m.startsWith("registry-access-")), managers(sa).join(", "));
        const secrets = JSON.parse(await kubectl(["get", "secrets", "-n", namespace, "-o", "json"])) as { items: K8sObject[] };
        assert.deepEqual(secrets.items.filter((s) => s.metadata.name.startsWith("regcred-")), []);
    });

    it("8c. destroy of a stack with protected namespaces stops before deleting anything", async () => {
        const namespace = freshNamespace("protect");
        const declared = await declare({ namespace, protectNamespaces: true, registries: [registry("registry.example.org", "pw")] });
        await up(declared);
        await assert.rejects(destroy(declared), /refusing to delete protected resources/);
        assert.ok(await getObject("secret", namespace, "regcred-registry-example-org"));
    });

    it("tenants: three namespaces with two registries each, exactly their own secrets, no residue after destroy", async () => {
        const [a, b, c] = ["a", "b", "c"].map((t) => freshNamespace(`tenant-${t}`));
        await kubectl(["create", "namespace", c]);
        await eventually("the default ServiceAccount", () => serviceAccount(c));
        const declared = await declare({
            sharedRegistries: [{ server: "tenants.example.org", generatePassword: true }],
            tenants: [
                { namespace: a, registries: [registry("a.example.org", "pw-a")] },
                { namespace: b, registries: [registry("b.example.org", "pw-b")], serviceAccounts: ["default", "xnat"] },
                { namespace: c, createNamespace: false, registries: [registry("c.example.org", "pw-c")] },
            ],
        });
        await up(declared);
        for (const [ns, own] of [[a, "a"], [b, "b"], [c, "c"]]) {
            const pod = await admitPod(ns);
            assert.deepEqual(pod.spec.imagePullSecrets, [{ name: "regcred-tenants-example-org" }, { name: `regcred-${own}-example-org` }], ns);
        }
        assert.deepEqual((await admitPod(b, "xnat")).spec.imagePullSecrets?.map((s) => s.name), ["regcred-tenants-example-org", "regcred-b-example-org"]);
        // Each tenant's generated credential is its own.
        const auth = async (ns: string) =>
            JSON.parse(Buffer.from(((await getObject("secret", ns, "regcred-tenants-example-org")) as unknown as { data: Record<string, string> }).data[".dockerconfigjson"], "base64").toString()).auths["tenants.example.org"];
        const [ca, cb] = [await auth(a), await auth(b)];
        assert.equal(ca.username, a);
        assert.notEqual(ca.password, cb.password);

        await destroy(declared);
        assert.equal(await getObject("namespace", undefined, a), undefined);
        assert.equal(await getObject("namespace", undefined, b), undefined);
        assert.ok(await getObject("namespace", undefined, c));
        const all = JSON.parse(await kubectl(["get", "secrets", "--all-namespaces", "-o", "json"])) as { items: K8sObject[] };
        const residue = all.items.filter((s) => [a, b, c].includes(s.metadata.namespace ?? "") && s.metadata.name.startsWith("regcred-"));
        assert.deepEqual(residue.map((s) => `${s.metadata.namespace}/${s.metadata.name}`), []);
        assert.deepEqual(pullSecretNames(await serviceAccount(c)), []);
    });
});
