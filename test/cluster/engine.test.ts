/**
 * What only the real engine shows: no-op runs and refresh, state and log secrecy, rotation in
 * place, bad config, adoption, protection under every way of running destroy, existing objects
 * and import, credential verification, an interrupted deploy. The real Pulumi CLI and Kubernetes
 * provider (support/engine.ts) on a real API server.
 */
import * as assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { leakForms } from "../support/secrets";
import { deleteNamespaces, eventually, getObject, kubectl, kubectlNamespace, pullSecretNames, secretBytes, serviceAccount } from "./support/cluster";
import { backendFiles, randomProviderMissing, TestStack } from "./support/engine";
import { freshName } from "./support/names";
import { loadRegistryEnv } from "./support/registryEnv";

const registry = (server: string, password: string) => ({ server, username: "puller", password });

/** Watches a namespace's Secrets for the length of a test: every event kubectl reports. */
function watchSecrets(namespace: string): { events: () => string[]; stop: () => void } {
    const lines: string[] = [];
    const child: ChildProcess = spawn("kubectl", ["get", "secrets", "-n", namespace, "--watch-only", "--output-watch-events", "-o", "jsonpath={.type} {.object.metadata.name}{\"\\n\"}"]);
    child.stdout?.on("data", (d: Buffer) => lines.push(...d.toString().split("\n").filter(Boolean)));
    return { events: () => lines, stop: () => child.kill() };
}

/** The local control plane's controller-manager, when the suite started it (for pausing it). */
function localControllerManagerPid(): number | undefined {
    const dir = process.env.LOCAL_CLUSTER_DIR ?? "/tmp/registry-access-cluster";
    const pidFile = path.join(dir, "controller-manager.pid");
    if (process.env.KUBECONFIG === path.join(dir, "kubeconfig") && existsSync(pidFile)) {
        return Number(readFileSync(pidFile, "utf8").trim());
    }
    return undefined;
}

describe("what only the real engine shows", function () {
    this.timeout(600000);
    const namespaces: string[] = [];
    const namespace = (label: string) => {
        const ns = freshName(label);
        namespaces.push(ns);
        return ns;
    };

    after(async () => {
        await deleteNamespaces(namespaces);
    });

    it("1. a second up changes nothing; preview --expect-no-changes and refresh find nothing, after the controllers touched the ServiceAccount", async () => {
        const ns = namespace("noop");
        const stack = await TestStack.create(ns, { namespace: ns, registries: [registry("registry.example.org", "pw")] });
        await stack.up();
        // The serviceaccount and token controllers have written to `default` by now.
        await eventually("the token controller", async () => ((await serviceAccount(ns))?.secrets ? true : undefined), 10000).catch(() => undefined);
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
        const revealed = await stack.cli(["stack", "export", "--show-secrets"]);
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

    it("7. createNamespace: true on a namespace that exists: preview and up say so, import adopts it with no diff", async () => {
        const ns = namespace("exists");
        await kubectlNamespace(ns);
        const stack = await TestStack.create(ns, { namespace: ns, registries: [registry("registry.example.org", "pw")] });
        const preview = await stack.preview();
        const upError = await stack.up().then(
            () => undefined,
            (e: unknown) => e as Error,
        );
        report("createNamespace on an existing namespace", { previewCreates: preview.changeSummary.create, up: upError ? firstLines(upError.message) : "succeeded" });
        assert.ok(upError, "up took an existing namespace over without a word");
        assert.match(upError.message, /already exists/);
        const urn = await componentUrn(stack);
        const imported = await stack.cli(["import", "kubernetes:core/v1:Namespace", ns, ns, "--parent", urn, "--yes", "--generate-code=false"]);
        assert.equal(imported.code, 0, imported.output);
        await stack.up();
        await stack.preview({ expectNoChanges: true });
    });

    it("8. a Secret made by kubectl create secret docker-registry with the same inputs imports with no diff", async () => {
        const ns = namespace("import");
        await kubectlNamespace(ns);
        const cred = { server: "registry.example.org", username: "puller", password: "Imp0rt-me-pw", email: "ops@example.org" };
        await kubectl(["create", "secret", "docker-registry", "regcred-registry-example-org", "-n", ns, `--docker-server=${cred.server}`, `--docker-username=${cred.username}`, `--docker-password=${cred.password}`, `--docker-email=${cred.email}`]);
        const uid = (await getObject("secret", ns, "regcred-registry-example-org"))?.metadata.uid;
        const stack = await TestStack.create(ns, { namespace: ns, createNamespace: false, registries: [cred] });
        const upError = await stack.up().then(
            () => undefined,
            (e: unknown) => e as Error,
        );
        report("a kubectl-made Secret of the same name", { up: upError ? firstLines(upError.message) : "succeeded" });
        assert.ok(upError, "up took the kubectl-made Secret over without a word");
        const urn = await componentUrn(stack);
        const imported = await stack.cli(["import", "kubernetes:core/v1:Secret", `${ns}/regcred-registry-example-org`, `${ns}/regcred-registry-example-org`, "--parent", urn, "--yes", "--generate-code=false"]);
        assert.equal(imported.code, 0, imported.output);
        await stack.preview({ expectNoChanges: true });
        await stack.up();
        assert.equal((await getObject("secret", ns, "regcred-registry-example-org"))?.metadata.uid, uid, "the Secret was replaced");
        for (const form of leakForms(cred)) {
            assert.ok(!(await stack.exportText()).includes(form), "the imported Secret's data is in plaintext in the state");
        }
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

    it("10. generated credentials: the random provider makes the password and its bcrypt hash", async function () {
        const missing = await randomProviderMissing();
        if (missing) {
            this.test!.title += ` (not run: ${missing})`;
            this.skip();
        }
        const ns = namespace("generated");
        const stack = await TestStack.create(ns, { namespace: ns, registries: [{ server: "registry.example.org", generatePassword: true }] });
        const result = await stack.up();
        const generated = result.outputs.generatedCredentials;
        assert.ok(generated.secret, "generatedCredentials is not secret");
        const credential = (generated.value as Record<string, Record<string, { password: string; htpasswd: string }>>)[ns]["regcred-registry-example-org"];
        assert.match(credential.password, /^[A-Za-z0-9]{32}$/);
        assert.match(credential.htpasswd, new RegExp(`^${ns}:\\$2[aby]\\$`));
    });
});

/** The URN of the stack's one RegistryAccess component. */
async function componentUrn(stack: TestStack): Promise<string> {
    const state = JSON.parse(await stack.exportText()) as { deployment: { resources?: { urn: string; type: string }[] } };
    const component = state.deployment.resources?.find((r) => r.type === "registry-access:index:RegistryAccess");
    assert.ok(component, "the component is not in the state");
    return component.urn;
}

const firstLines = (text: string) =>
    text
        .split("\n")
        .filter((l) => /error|already exists|protected/i.test(l))
        .slice(0, 3)
        .join(" | ");

/** What the real engine did where the docs had to be told, printed with the test results. */
function report(what: string, details: Record<string, unknown>): void {
    process.stdout.write(`      [engine] ${what}: ${JSON.stringify(details)}\n`);
}
