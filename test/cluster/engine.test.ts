/**
 * What only the real engine shows: no-op runs and refresh, state and log secrecy, rotation in
 * place, bad config, adoption, protection under every way of running destroy, existing objects
 * and import, credential verification, an interrupted deploy. The real Pulumi CLI and Kubernetes
 * provider (support/engine.ts) on a real API server.
 */
import * as assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { leakForms } from "../support/secrets";
import { getObject, kubectl, kubectlNamespace, LOCAL_CLUSTER_DIR, pullSecretNames, secretBytes, serviceAccount } from "./support/cluster";
import { backendFiles, TestStack } from "./support/engine";
import { suiteNamespaces } from "./support/names";
import { loadRegistryEnv } from "./support/registryEnv";

const registry = (server: string, password: string) => ({ server, username: "puller", password });

/** Watches a namespace's Secrets for the length of a test: every event kubectl reports. */
function watchSecrets(namespace: string): { events: () => string[]; stop: () => void } {
    const lines: string[] = [];
    const child: ChildProcess = spawn("kubectl", ["get", "secrets", "-n", namespace, "--watch-only", "--output-watch-events", "-o", "jsonpath={.type} {.object.metadata.name}{\"\\n\"}"]);
    child.stdout?.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean)));
    return { events: () => lines, stop: () => child.kill() };
}

/** The pids of the processes whose command line matches PATTERN. */
function pgrep(pattern: string): number[] {
    return spawnSync("pgrep", ["-f", pattern], { encoding: "utf8" })
        .stdout.split("\n")
        .filter(Boolean)
        .map(Number);
}

/** The local control plane's controller-manager, when the suite started it (for pausing it). */
function localControllerManagerPid(): number | undefined {
    const pidFile = path.join(LOCAL_CLUSTER_DIR, "controller-manager.pid");
    if (process.env.KUBECONFIG === path.join(LOCAL_CLUSTER_DIR, "kubeconfig") && existsSync(pidFile)) {
        return Number(readFileSync(pidFile, "utf8").trim());
    }
    return undefined;
}

describe("what only the real engine shows", function () {
    this.timeout(600000);
    const namespace = suiteNamespaces();


    it("1. a second up changes nothing; preview --expect-no-changes and refresh find nothing, the ServiceAccount patch included", async () => {
        const ns = namespace("noop");
        const stack = await TestStack.create(ns, { namespace: ns, registries: [registry("registry.example.org", "pw")] });
        await stack.up();
        // `default` is the serviceaccount controller's too (it makes it, or finds the patch's); on
        // Kubernetes 1.24 and later no token controller writes to it afterwards.
        const read = async () => Promise.all([getObject("namespace", undefined, ns), getObject("secret", ns, "regcred-registry-example-org"), serviceAccount(ns)]);
        const before = await read();
        const second = await stack.up();
        assert.deepEqual(Object.keys(second.summary.resourceChanges ?? {}), ["same"]);
        await stack.preview({ expectNoChanges: true });
        await stack.refresh({ expectNoChanges: true });
        const after = await read();
        for (const [i, o] of before.entries()) {
            assert.equal(after[i]?.metadata.resourceVersion, o?.metadata.resourceVersion, `${o?.kind} changed`);
        }
    });

    it("2. state, outputs and every line the engine printed hold no password in any form; only --show-secrets reveals it", async () => {
        const ns = namespace("secrecy");
        const cred = { server: "registry.example.org", username: "puller", password: "Sup3r-s3cret-pw-Zq9" };
        const stack = await TestStack.create(ns, { namespace: ns, registries: [cred] });
        await stack.preview({ diff: true });
        await stack.up();
        await stack.setConfig({ namespace: ns, registries: [{ ...cred, password: "R0tated-s3cret-Xk4" }] });
        await stack.preview({ diff: true });
        await stack.up();
        await stack.refresh();
        const exported = await stack.exportText();
        const outputs = await stack.cli(["stack", "output", "--json"]);
        const forms = [...leakForms(cred), ...leakForms({ ...cred, password: "R0tated-s3cret-Xk4" })];
        const places: [string, string][] = [
            ["pulumi stack export", exported],
            ["pulumi stack output", outputs.output],
            ["the engine's output", stack.log.join("")],
            ...backendFiles().map((f): [string, string] => [`backend file ${f.file}`, f.text]),
        ];
        for (const [where, text] of places) {
            for (const form of forms) {
                assert.ok(!text.includes(form), `${where} holds a plaintext form of the password`);
            }
        }
        assert.match(stack.log.join(""), /\[secret\]/, "the diff does not show the data as [secret]");
        const revealed = await stack.cli(["stack", "export", "--show-secrets"], { record: false });
        const rotatedForms = leakForms({ ...cred, password: "R0tated-s3cret-Xk4" });
        assert.ok(revealed.output.includes(rotatedForms[rotatedForms.length - 1]), "--show-secrets does not reveal the Secret's data");
    });

    it("3. a password rotated with pulumi config set --secret --path updates the Secret in place: same uid, never absent", async () => {
        const ns = namespace("rotate");
        const stack = await TestStack.create(ns, { namespace: ns, registries: [registry("registry.example.org", "old-password")] });
        await stack.up();
        const before = await getObject("secret", ns, "regcred-registry-example-org");
        const saBefore = await serviceAccount(ns);
        const watch = watchSecrets(ns);
        try {
            await stack.cli(["config", "set", "--secret", "--path", "registry-access:registries[0].password", "new-password"]);
            const result = await stack.up();
            assert.deepEqual(result.summary.resourceChanges, { same: 4, update: 1 });
        } finally {
            watch.stop();
        }
        const after = await getObject("secret", ns, "regcred-registry-example-org");
        assert.equal(after?.metadata.uid, before?.metadata.uid, "the Secret was replaced");
        assert.match((await secretBytes(ns, "regcred-registry-example-org")).toString(), /"password":"new-password"/);
        assert.ok(!watch.events().some((e) => e.startsWith("DELETED")), `the Secret was deleted: ${watch.events().join("; ")}`);
        assert.equal((await serviceAccount(ns))?.metadata.resourceVersion, saBefore?.metadata.resourceVersion, "the ServiceAccount changed");
    });

    it("4. bad config: preview fails with the key paths, no stack trace, no password, nothing created", async () => {
        const ns = namespace("bad");
        const password = "Bad-config-pw-77x";
        const stack = await TestStack.create(ns, { namespace: ns, createNamspace: true, registries: [{ server: "registry.example.org", username: "a:b", password }] });
        const err = (await stack.preview().then(
            () => undefined,
            (e: unknown) => e,
        )) as Error | undefined;
        assert.ok(err, "preview passed");
        const text = `${err.message}\n${stack.log.join("")}`;
        assert.match(text, /registry-access:registries\[0\]\.username: must not contain ':'/);
        assert.match(text, /registry-access:createNamspace: is not a known key \(fix: did you mean 'createNamespace'\?\)/);
        assert.doesNotMatch(text, /\n\s+at .+\(.+:\d+:\d+\)/, "a stack trace was printed");
        for (const form of leakForms({ ...registry("registry.example.org", password), username: "a:b" })) {
            assert.ok(!text.includes(form), "the password was printed");
        }
        assert.equal(await getObject("namespace", undefined, ns), undefined);
        const state = JSON.parse(await stack.exportText()) as { deployment: { resources?: unknown[] } };
        assert.deepEqual(state.deployment.resources ?? [], []);
    });

    it("5. adopts a namespace whose default ServiceAccount does not exist yet", async function () {
        const ns = namespace("early");
        const pid = localControllerManagerPid();
        if (!pid) {
            this.skip(); // needs the local control plane, whose serviceaccount controller it pauses
        }
        process.kill(pid, "SIGSTOP");
        try {
            await kubectl(["create", "namespace", ns]);
            assert.equal(await serviceAccount(ns), undefined, "default exists although the controller is paused");
            const stack = await TestStack.create(ns, { namespace: ns, createNamespace: false, registries: [registry("registry.example.org", "pw")] });
            await stack.up();
            assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-registry-example-org"]);
        } finally {
            process.kill(pid, "SIGCONT");
        }
    });

    describe("6. a protected stack refuses to destroy before deleting anything", () => {
        const ways: [string, (stack: TestStack) => Promise<unknown>][] = [
            ["pulumi destroy (with its preview)", (stack) => stack.cli(["destroy", "--yes"]).then((r) => (r.code === 0 ? r : Promise.reject(new Error(r.output))))],
            ["pulumi destroy --skip-preview", (stack) => stack.cli(["destroy", "--yes", "--skip-preview"]).then((r) => (r.code === 0 ? r : Promise.reject(new Error(r.output))))],
            ["the Automation API's destroy", (stack) => stack.destroy()],
        ];
        for (const [way, destroy] of ways) {
            it(`through ${way}`, async () => {
                const ns = namespace("protect");
                const stack = await TestStack.create(ns, { namespace: ns, protectNamespaces: true, registries: [registry("registry.example.org", "pw")] });
                await stack.up();
                const before = await getObject("secret", ns, "regcred-registry-example-org");
                await assert.rejects(destroy(stack), /protected/);
                const after = await getObject("secret", ns, "regcred-registry-example-org");
                assert.equal(after?.metadata.uid, before?.metadata.uid, "the Secret was deleted");
                assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-registry-example-org"], "the ServiceAccount's list was relinquished");
                assert.ok(await getObject("namespace", undefined, ns));
            });
        }
    });

    it("7. createNamespace: true on a namespace that exists: preview stops before declaring anything, naming createNamespace: false", async () => {
        const ns = namespace("exists");
        await kubectlNamespace(ns);
        const stack = await TestStack.create(ns, { namespace: ns, registries: [registry("registry.example.org", "pw")] });
        // Provider 4.25 would take it over (server-side apply, an upsert) and destroy would delete
        // it: the program asks the cluster first (test/cluster/existingNamespace.test.ts).
        await assert.rejects(stack.preview(), /createNamespace: namespace '[^']+' exists and this stack did not create it/);
        assert.deepEqual(JSON.parse(await stack.exportText()).deployment.resources ?? [], []);
    });

    describe("8. a Secret made by kubectl create secret docker-registry with the same inputs", () => {
        const cred = { server: "registry.example.org", username: "puller", password: "Imp0rt-me-pw", email: "ops@example.org" };
        const kubectlSecret = (ns: string) =>
            kubectl(["create", "secret", "docker-registry", "regcred-registry-example-org", "-n", ns, `--docker-server=${cred.server}`, `--docker-username=${cred.username}`, `--docker-password=${cred.password}`, `--docker-email=${cred.email}`]);

        it("is taken over by the first up, unchanged, and then shows no diff", async () => {
            const ns = namespace("takeover");
            await kubectlNamespace(ns);
            await kubectlSecret(ns);
            const before = await getObject("secret", ns, "regcred-registry-example-org");
            const stack = await TestStack.create(ns, { namespace: ns, createNamespace: false, registries: [cred] });
            await stack.up();
            const after = await getObject("secret", ns, "regcred-registry-example-org");
            assert.equal(after?.metadata.uid, before?.metadata.uid, "the Secret was replaced");
            assert.deepEqual(after?.data, before?.data, "the Secret's data changed");
            await stack.preview({ expectNoChanges: true });
        });

        it("is taken over, unchanged, when a deployed stack gains its registry", async () => {
            const ns = namespace("adopt-secret");
            await kubectlNamespace(ns);
            const other = registry("ghcr.io", "other-pw");
            const stack = await TestStack.create(ns, { namespace: ns, createNamespace: false, registries: [other] });
            await stack.up();
            await kubectlSecret(ns);
            const before = await getObject("secret", ns, "regcred-registry-example-org");
            await stack.setConfig({ namespace: ns, createNamespace: false, registries: [other, cred] });
            const result = await stack.up();
            assert.deepEqual(result.summary.resourceChanges, { create: 1, same: 3, update: 1 }, "the Secret, and the ServiceAccount's list");
            const after = await getObject("secret", ns, "regcred-registry-example-org");
            assert.equal(after?.metadata.uid, before?.metadata.uid, "the Secret was replaced");
            assert.deepEqual(after?.data, before?.data, "the Secret's data changed");
            assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-ghcr-io", "regcred-registry-example-org"]);
            const state = await stack.exportText();
            for (const form of leakForms(cred)) {
                assert.ok(!state.includes(form), "the adopted Secret's data is in plaintext in the state");
            }
        });
    });

    it("9. verifyCredentials: a real preview with a wrong password fails before anything is declared", async () => {
        const env = await loadRegistryEnv();
        const ns = namespace("verify");
        const wrong = `${env.REGISTRY_PASSWORD}-wrong`;
        const stack = await TestStack.create(ns, {
            namespace: ns,
            verifyCredentials: true,
            caBundle: readFileSync(env.REGISTRY_CA, "utf8"),
            registries: [{ server: env.REGISTRY_BASIC_HOST, username: env.REGISTRY_USER, password: wrong }],
        });
        await assert.rejects(stack.preview(), /registry credentials failed verification/);
        const text = stack.log.join("");
        assert.match(text, /registry-access:registries\[0\]: 127\.0\.0\.1:\d+: credentials rejected \(HTTP 401/);
        assert.match(text, /Resources:\s+\+ 1 to create\s+1 errored/, "something besides the stack was declared");
        for (const form of leakForms({ server: env.REGISTRY_BASIC_HOST, username: env.REGISTRY_USER, password: wrong })) {
            assert.ok(!text.includes(form), "the password was printed");
        }
        // The right password passes the same preview.
        await stack.setConfig({
            namespace: ns,
            verifyCredentials: true,
            caBundle: readFileSync(env.REGISTRY_CA, "utf8"),
            registries: [{ server: env.REGISTRY_BASIC_HOST, username: env.REGISTRY_USER, password: env.REGISTRY_PASSWORD }],
        });
        const preview = await stack.preview();
        assert.equal(preview.changeSummary.create, 5);
    });

    // PULUMI_SKIP_CHECKPOINTS writes the state once, at the end: a killed run leaves the objects it
    // made in the cluster and none in the state, and the next up must adopt them.
    for (const [title, env] of [
        ["", {}],
        [" with PULUMI_SKIP_CHECKPOINTS=true (no state written before the kill): the rerun adopts what the killed run made", { PULUMI_SKIP_CHECKPOINTS: "true" }],
    ] as const) {
        it(`11. an engine killed mid-up (SIGKILL): pulumi cancel, refresh and up converge, nothing lost or duplicated${title}`, async () => {
            const skipped = "PULUMI_SKIP_CHECKPOINTS" in env;
            const ns = namespace(skipped ? "killed-unsaved" : "killed");
            const registries = [1, 2, 3, 4, 5, 6].map((i) => registry(`r${i}.example.org`, `pw-${i}`));
            const stack = await TestStack.create(ns, { namespace: ns, registries }, { env });
            let killed: number[] = [];
            const up = stack.stack.up({
                color: "never",
                onOutput: (out) => {
                    // Once the first Secret exists, the engine (and the provider it started) dies at once.
                    if (killed.length === 0 && /Secret \S+ created/.test(out)) {
                        killed = pgrep(`pulumi up .*--stack ${ns} `);
                        for (const pid of killed) {
                            spawnSync("pkill", ["-KILL", "-P", String(pid)]);
                            process.kill(pid, "SIGKILL");
                        }
                    }
                },
            });
            await assert.rejects(up, /SIGKILL/);
            assert.ok(killed.length > 0, "the engine was never killed");
            const made = JSON.parse(await kubectl(["get", "namespace", ns, "-o", "json"])) as { metadata: { uid: string } };
            if (skipped) {
                const saved = JSON.parse(await stack.exportText()) as { deployment: { resources?: unknown[] } };
                assert.deepEqual(saved.deployment.resources ?? [], [], "a checkpoint was written before the kill");
            }
            // The lock the dead engine held stops the next run, saying what to do.
            await assert.rejects(stack.up(), /the stack is currently locked[\s\S]*pulumi cancel/);
            // The recovery the README gives.
            for (const args of [["cancel", "--yes"], ["refresh", "--yes", "--clear-pending-creates"]]) {
                const r = await stack.cli(args);
                assert.equal(r.code, 0, r.output);
            }
            await stack.up();
            await stack.preview({ expectNoChanges: true });
            const after = JSON.parse(await kubectl(["get", "namespace", ns, "-o", "json"])) as { metadata: { uid: string } };
            assert.equal(after.metadata.uid, made.metadata.uid, "the namespace the killed run made was replaced, not adopted");
            const secrets = JSON.parse(await kubectl(["get", "secrets", "-n", ns, "-o", "json"])) as { items: { metadata: { name: string } }[] };
            const names = registries.map((r) => `regcred-${r.server.replaceAll(".", "-")}`);
            assert.deepEqual(secrets.items.map((x) => x.metadata.name).filter((n) => n.startsWith("regcred-")).sort(), [...names].sort());
            assert.deepEqual(pullSecretNames(await serviceAccount(ns)), names);
            const state = JSON.parse(await stack.exportText()) as { deployment: { resources: { type: string }[]; pending_operations?: unknown[] } };
            assert.equal(state.deployment.resources.filter((r) => r.type === "kubernetes:core/v1:Secret").length, 6, "Secrets lost or duplicated in the state");
            assert.deepEqual(state.deployment.pending_operations ?? [], []);
        });
    }

    it("10. generated credentials: the random provider makes the password and its bcrypt hash", async () => {
        const ns = namespace("generated");
        const stack = await TestStack.create(ns, { namespace: ns, registries: [{ server: "registry.example.org", generatePassword: true }] });
        const result = await stack.up();
        const generated = result.outputs.generatedCredentials;
        assert.ok(generated.secret, "generatedCredentials is not secret");
        const credential = (generated.value as Record<string, Record<string, { password: string; htpasswd: string }>>)[ns]["regcred-registry-example-org"];
        assert.match(credential.password, /^[A-Za-z0-9]{32}$/);
        assert.match(credential.htpasswd, new RegExp(`^${ns}:\\$2[aby]\\$`));
    });

    it("10b. credentialRotation regenerates one tenant's password in place, the other's stays; no generated password or hash in state, backend or output", async () => {
        const [a, b] = [namespace("gen-rot-a"), namespace("gen-rot-b")];
        const secret = "regcred-tenants-example-org";
        const config = (rotation: string) => ({
            sharedRegistries: [{ server: "tenants.example.org", generatePassword: true }],
            tenants: [{ namespace: a, credentialRotation: rotation }, { namespace: b }],
        });
        type Generated = Record<string, Record<string, { password: string; htpasswd: string }>>;
        const stack = await TestStack.create(a, config("2026-11"));
        const first = (await stack.up()).outputs.generatedCredentials.value as Generated;
        const [uidA, bytesB] = [(await getObject("secret", a, secret))?.metadata.uid, await secretBytes(b, secret)];
        const watch = watchSecrets(a);
        let second: Generated;
        try {
            await stack.setConfig(config("2026-12"));
            second = (await stack.up()).outputs.generatedCredentials.value as Generated;
        } finally {
            watch.stop();
        }
        assert.notEqual(second[a][secret].password, first[a][secret].password, "tenant a's password was not regenerated");
        assert.equal(second[b][secret].password, first[b][secret].password, "tenant b's password changed");
        assert.equal((await getObject("secret", a, secret))?.metadata.uid, uidA, "tenant a's Secret was replaced");
        assert.ok(!watch.events().some((e) => e.startsWith("DELETED")), `tenant a's Secret was deleted: ${watch.events().join("; ")}`);
        assert.deepEqual(await secretBytes(b, secret), bytesB, "tenant b's Secret changed");
        assert.match((await secretBytes(a, secret)).toString(), new RegExp(`"password":"${second[a][secret].password}"`));

        const exported = await stack.exportText();
        const texts = [exported, ...backendFiles().map((f) => f.text), stack.log.join("")];
        for (const c of [first[a][secret], first[b][secret], second[a][secret]]) {
            const hash = c.htpasswd.slice(c.htpasswd.indexOf(":") + 1);
            const forms = [...leakForms({ server: "tenants.example.org", username: c.htpasswd.split(":")[0], password: c.password }), hash, hash.slice(7)];
            for (const text of texts) {
                assert.ok(!forms.some((f) => text.includes(f)), "a generated password or its hash is in plaintext");
            }
        }
    });
});


