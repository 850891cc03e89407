/**
 * The user's outcome on a real node: the kubelet reads the pod's imagePullSecrets (injected from
 * the ServiceAccount the stack patched), containerd pulls from the private registry with them,
 * and the Job runs. Real: the engine and provider, the API server, the scheduler, the kubelet,
 * containerd and runc, the registry. The Jobs look like XNAT's Container Service's: batch/v1,
 * no pull secret of their own, running as `default` unless said otherwise.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { hashSync } from "bcryptjs";
import { getObject, kubectl, kubectlNamespace, secretBytes, serviceAccount } from "./support/cluster";
import { TestStack } from "./support/engine";
import { assertPulled, assertRefused, runImageJob } from "./support/jobs";
import { suiteNamespaces } from "./support/names";
import { loadRegistryEnv, type RegistryEnv, replaceHtpasswd } from "./support/registryEnv";

describe("on a real node: the kubelet pulls the private image with the stack's Secret", function () {
    this.timeout(600000);
    let env: RegistryEnv;
    let original: string;
    const users = new Map<string, string>();
    const namespace = suiteNamespaces();

    /** Lets USER in with PASSWORD (or changes their password): the registry re-reads the file. */
    async function registryUser(user: string, password: string): Promise<void> {
        users.set(user, hashSync(password, 8));
        await replaceHtpasswd(env, original + [...users].map(([u, h]) => `${u}:${h}\n`).join(""));
    }

    /** A stack user of its own for each test, so the registry's log tells them apart. */
    async function newUser(label: string): Promise<{ username: string; password: string }> {
        const cred = { username: `${label}-${randomBytes(3).toString("hex")}`, password: randomBytes(12).toString("base64url") };
        await registryUser(cred.username, cred.password);
        return cred;
    }

    const image = () => `${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`;

    /** How many manifest reads of the image the registry served to USER. */
    function pullsBy(user: string): number {
        return readFileSync(env.REGISTRY_BASIC_LOG, "utf8")
            .split("\n")
            .filter((l) => l.includes("msg=GetImageManifest") && l.includes(`auth.user.name=${user} `) && l.includes(`/manifests/${env.REGISTRY_IMAGE.split(":")[1]}`)).length;
    }

    const runJob = (ns: string, serviceAccountName = "default") => runImageJob(ns, image(), { serviceAccountName, pullPolicy: "Always" });

    const stackConfig = (ns: string, cred: { username: string; password: string }, extra: Record<string, unknown> = {}) => ({
        namespace: ns,
        registries: [{ server: env.REGISTRY_BASIC_HOST, ...cred }],
        ...extra,
    });

    before(async () => {
        assert.ok(process.env.KUBECONFIG, "KUBECONFIG is not set: run `npm run test:cluster`");
        env = await loadRegistryEnv();
        assert.ok(env.REGISTRY_BASIC_LOG, "the registry env names no access log; restart it: scripts/local-registry.sh down && up");
        original = readFileSync(env.REGISTRY_HTPASSWD, "utf8");
        const nodes = JSON.parse(await kubectl(["get", "nodes", "-o", "json"])) as { items: unknown[] };
        assert.ok(nodes.items.length > 0, "the cluster has no node: these tests need a kubelet (scripts/local-cluster.sh starts one)");
    });

    after(async () => {
        await replaceHtpasswd(env, original);
    });

    it("1. a Job in a namespace the stack manages pulls as the stack's user, completes, and its log is readable", async () => {
        const ns = namespace("job");
        const cred = await newUser("stack");
        await (await TestStack.create(ns, stackConfig(ns, cred))).up();
        const before = pullsBy(cred.username);
        const run = await runJob(ns);
        assertPulled(run, "the managed namespace");
        assert.ok(pullsBy(cred.username) > before, `the registry's log shows no pull by ${cred.username}`);
        process.stdout.write(`      (pull and run, end to end: ${run.seconds.toFixed(1)} s)\n`);
    });

    it("2. the same Job in a namespace the stack does not manage fails to pull with the registry's 401", async () => {
        const ns = namespace("unmanaged");
        await kubectlNamespace(ns);
        assertRefused(await runJob(ns), "the unmanaged namespace");
    });

    it("3. after rotating the registry's and the stack's password, a new pod pulls with the new one; the old Secret bytes are refused", async () => {
        const ns = namespace("rotate");
        const cred = await newUser("rotate");
        const stack = await TestStack.create(ns, stackConfig(ns, cred));
        await stack.up();
        assertPulled(await runJob(ns), "before the rotation");
        const secretName = `regcred-${env.REGISTRY_BASIC_HOST.replace(/[^0-9a-z]+/g, "-")}`;
        const oldBytes = await secretBytes(ns, secretName);

        const rotated = { ...cred, password: randomBytes(12).toString("base64url") };
        await registryUser(rotated.username, rotated.password);
        await stack.setConfig(stackConfig(ns, rotated));
        await stack.up();
        assertPulled(await runJob(ns), "after the rotation");

        // The old bytes, as a Secret of their own in another namespace, no longer pull.
        const other = namespace("old-bytes");
        await kubectlNamespace(other);
        await kubectl(["create", "secret", "generic", "old", "-n", other, "--type=kubernetes.io/dockerconfigjson", `--from-literal=.dockerconfigjson=${oldBytes.toString()}`]);
        await kubectl(["patch", "serviceaccount", "default", "-n", other, "-p", '{"imagePullSecrets":[{"name":"old"}]}']);
        assertRefused(await runJob(other), "the old Secret bytes");
    });

    it("4. tenants pull with their own credentials; removing a tenant's registry entry stops its pulls, not the others'", async () => {
        const [a, b] = [namespace("tenant-a"), namespace("tenant-b")];
        const [ca, cb] = [await newUser("tenant-a"), await newUser("tenant-b")];
        const tenants = (bRegistries: unknown[]) => ({
            tenants: [
                { namespace: a, registries: [{ server: env.REGISTRY_BASIC_HOST, ...ca }] },
                { namespace: b, registries: bRegistries },
            ],
        });
        const elsewhere = { server: "registry.example.org", username: "b-bot", password: "elsewhere-pw" };
        const stack = await TestStack.create(a, tenants([{ server: env.REGISTRY_BASIC_HOST, ...cb }, elsewhere]));
        await stack.up();
        const [pa, pb] = [pullsBy(ca.username), pullsBy(cb.username)];
        assertPulled(await runJob(a), "tenant a");
        assertPulled(await runJob(b), "tenant b");
        assert.ok(pullsBy(ca.username) > pa && pullsBy(cb.username) > pb, "a tenant pulled with another's credential");

        await stack.setConfig(tenants([elsewhere]));
        await stack.up();
        assertRefused(await runJob(b), "tenant b without its entry");
        assertPulled(await runJob(a), "tenant a, after b lost its entry");
    });

    it("4b. tenants' generated credentials pull once loaded into the registry", async () => {
        const [a, b] = [namespace("gen-a"), namespace("gen-b")];
        const stack = await TestStack.create(a, {
            sharedRegistries: [{ server: env.REGISTRY_BASIC_HOST, generatePassword: true }],
            tenants: [{ namespace: a }, { namespace: b }],
        });
        const result = await stack.up();
        const htpasswd = (result.outputs.htpasswd.value as Record<string, string>)[env.REGISTRY_BASIC_HOST];
        await replaceHtpasswd(env, original + htpasswd);
        assertPulled(await runJob(a), "tenant a");
        assertPulled(await runJob(b), "tenant b");
    });

    it("5. a pod running as a second ServiceAccount listed in serviceAccounts pulls too", async () => {
        const ns = namespace("second-sa");
        const cred = await newUser("xnat");
        await (await TestStack.create(ns, stackConfig(ns, cred, { serviceAccounts: ["default", "xnat"] }))).up();
        assertPulled(await runJob(ns, "xnat"), "as xnat");
    });

    it("6. in a namespace made by kubectl, a pod pulls after up; destroy leaves the namespace, default and the pods alone", async () => {
        const ns = namespace("adopted");
        await kubectlNamespace(ns);
        const cred = await newUser("adopt");
        const stack = await TestStack.create(ns, stackConfig(ns, cred, { createNamespace: false }));
        await stack.up();
        assertPulled(await runJob(ns), "the adopted namespace");
        const podsBefore = (await kubectl(["get", "pods", "-n", ns, "-o", "name"])).trim();
        await stack.destroy();
        assert.ok(await getObject("namespace", undefined, ns), "the namespace was deleted");
        assert.ok(await serviceAccount(ns), "the default ServiceAccount was deleted");
        assert.equal((await kubectl(["get", "pods", "-n", ns, "-o", "name"])).trim(), podsBefore, "the pods changed");
    });
});
