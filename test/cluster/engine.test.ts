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
import { deleteNamespaces, eventually, getObject, kubectl, pullSecretNames, secretBytes, serviceAccount } from "./support/cluster";
import { backendFiles, TestStack } from "./support/engine";
import { freshName } from "./support/names";

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
});
