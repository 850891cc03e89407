/**
 * A real pull with what the program declares: the Secret as the API server returns it, written
 * out unchanged, is the auth file skopeo (the containers/image client CRI-O and Podman pull
 * with) uses against a real CNCF Distribution registry with htpasswd auth behind TLS.
 * Real: the Pulumi engine and providers (support/engine.ts), the API server, the registry,
 * skopeo, the image.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { hashSync } from "bcryptjs";
import { secretBytes } from "./support/cluster";
import { TestStack } from "./support/engine";
import { suiteNamespaces } from "./support/names";
import { loadRegistryEnv, type RegistryEnv, replaceHtpasswd } from "./support/registryEnv";

interface PullResult {
    ok: boolean;
    output: string;
}

describe("pulling from a private registry with the program's Secrets", function () {
    this.timeout(120000);
    let env: RegistryEnv;
    let work: string;
    let originalHtpasswd: string;
    let counter = 0;
    const freshNamespace = suiteNamespaces();

    /** skopeo reads the manifest and copies the image, with the bytes as its --authfile. */
    async function pull(authfile: Buffer): Promise<PullResult> {
        const file = path.join(work, `auth-${counter++}.json`);
        await writeFile(file, authfile, { mode: 0o600 });
        const image = `docker://${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`;
        const skopeo = (args: string[]) =>
            new Promise<PullResult>((resolve) =>
                execFile("skopeo", args, (err, stdout, stderr) => resolve({ ok: !err, output: `${stdout}${stderr}` })),
            );
        const inspect = await skopeo(["inspect", "--authfile", file, "--cert-dir", env.REGISTRY_CERT_DIR, image]);
        if (!inspect.ok) {
            return inspect;
        }
        const dest = path.join(work, `copy-${counter++}`);
        return skopeo(["copy", "--quiet", "--authfile", file, "--src-cert-dir", env.REGISTRY_CERT_DIR, image, `oci:${dest}:pulled`]);
    }

    const stack = (namespace: string, password: string) => ({
        namespace,
        registries: [{ server: env.REGISTRY_BASIC_HOST, username: env.REGISTRY_USER, password }],
    });
    const secretName = () => `regcred-${env.REGISTRY_BASIC_HOST.replace(/[^0-9a-z]+/g, "-")}`;

    before(async () => {
        assert.ok(process.env.KUBECONFIG, "KUBECONFIG is not set: run `npm run test:cluster`");
        env = await loadRegistryEnv();
        work = await mkdtemp(path.join(tmpdir(), "registry-access-pull-"));
        originalHtpasswd = await readFile(env.REGISTRY_HTPASSWD, "utf8");
    });

    afterEach(async () => {
        await replaceHtpasswd(env, originalHtpasswd);
    });

    after(async () => {
        await rm(work, { recursive: true, force: true });
    });

    it("1. the Secret from the API server pulls the image; one with a wrong password is refused", async () => {
        const good = freshNamespace("pull-good");
        const bad = freshNamespace("pull-bad");
        await (await TestStack.create(good, stack(good, env.REGISTRY_PASSWORD))).up();
        await (await TestStack.create(bad, stack(bad, `${env.REGISTRY_PASSWORD}-wrong`))).up();

        const accepted = await pull(await secretBytes(good, secretName()));
        assert.ok(accepted.ok, accepted.output);
        const refused = await pull(await secretBytes(bad, secretName()));
        assert.ok(!refused.ok, "a wrong password pulled");
        assert.match(refused.output, /unauthorized/);
    });

    it("2. after rotating the registry's htpasswd and the stack's password together, the new Secret pulls and the old bytes are refused", async () => {
        const namespace = freshNamespace("pull-rotate");
        const deployed = await TestStack.create(namespace, stack(namespace, env.REGISTRY_PASSWORD));
        await deployed.up();
        const oldBytes = await secretBytes(namespace, secretName());
        assert.ok((await pull(oldBytes)).ok, "the first password does not pull");

        const rotated = "rotated-Pa55:word<&>";
        await replaceHtpasswd(env, `${env.REGISTRY_USER}:${hashSync(rotated, 10)}\n`);
        await deployed.setConfig(stack(namespace, rotated));
        await deployed.up();

        const newBytes = await secretBytes(namespace, secretName());
        const accepted = await pull(newBytes);
        assert.ok(accepted.ok, accepted.output);
        const refused = await pull(oldBytes);
        assert.ok(!refused.ok, "the old Secret still pulls");
        assert.match(refused.output, /unauthorized/);
    });

    it("3. the stack's exported htpasswd lines make each tenant's generated Secret pull, and nothing else", async () => {
        const tenants = ["a", "b", "c"].map((t) => freshNamespace(`pull-gen-${t}`));
        const deployed = await TestStack.create(tenants[0], {
            sharedRegistries: [{ server: env.REGISTRY_BASIC_HOST, generatePassword: { length: 24 } }],
            tenants: tenants.map((namespace) => ({ namespace })),
        });
        const result = await deployed.up();
        const htpasswd = (result.outputs.htpasswd.value as Record<string, string>)[env.REGISTRY_BASIC_HOST];
        assert.equal(htpasswd.trimEnd().split("\n").length, 3);
        await replaceHtpasswd(env, htpasswd);

        const bytes = await Promise.all(tenants.map((ns) => secretBytes(ns, secretName())));
        for (const [i, b] of bytes.entries()) {
            const accepted = await pull(b);
            assert.ok(accepted.ok, `tenant ${tenants[i]}: ${accepted.output}`);
        }
        // Nothing else: the registry's own user, and a tenant's name with another tenant's password.
        const other = JSON.parse(bytes[1].toString());
        const mixed = JSON.parse(bytes[0].toString());
        mixed.auths[env.REGISTRY_BASIC_HOST].password = other.auths[env.REGISTRY_BASIC_HOST].password;
        delete mixed.auths[env.REGISTRY_BASIC_HOST].auth;
        for (const [what, authfile] of [
            ["the registry's own user", JSON.stringify({ auths: { [env.REGISTRY_BASIC_HOST]: { username: env.REGISTRY_USER, password: env.REGISTRY_PASSWORD } } })],
            ["another tenant's password", JSON.stringify(mixed)],
        ]) {
            const refused = await pull(Buffer.from(authfile));
            assert.ok(!refused.ok, `${what} pulled`);
            assert.match(refused.output, /unauthorized/, `${what} failed for another reason`);
        }
    });
});
