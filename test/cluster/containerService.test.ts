/**
 * XNAT's Container Service on a real cluster: the stack's kubeconfig, and only it, lets XNAT do
 * what it does (create, start, follow and delete Jobs; read Pods and logs) and nothing else; its
 * Jobs run as `default` and pull the private image; a token rotation locks the old kubeconfig out.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { hashSync } from "bcryptjs";
import { eventually, getObject, kubectl, kubectlNamespace, serviceAccount } from "./support/cluster";
import { backendFiles, TestStack } from "./support/engine";
import { suiteNamespaces } from "./support/names";
import { loadRegistryEnv, type RegistryEnv, replaceHtpasswd } from "./support/registryEnv";
import { XnatClient } from "./support/xnatClient";

const ACCOUNT = "xnat-container-service";

/** `kubectl auth can-i` as the kubeconfig's user: true for yes, false for no. */
function canI(kubeconfig: string, args: string[]): Promise<boolean> {
    return new Promise((resolve, reject) =>
        execFile("kubectl", ["--kubeconfig", kubeconfig, "auth", "can-i", ...args], (err, stdout, stderr) => {
            const answer = stdout.trim();
            if (answer === "yes" || answer === "no") {
                resolve(answer === "yes");
            } else {
                reject(new Error(`kubectl auth can-i ${args.join(" ")}: ${stdout}${stderr}${err ? ` (${err.message})` : ""}`));
            }
        }),
    );
}

describe("XNAT's Container Service: its own identity, from the stack's kubeconfig", function () {
    this.timeout(600000);
    const namespace = suiteNamespaces();
    const dir = mkdtempSync(path.join(tmpdir(), "registry-access-xnat-"));
    let env: RegistryEnv;
    let original: string;
    let apiServer: string;
    const cred = { username: `xnat-${randomBytes(3).toString("hex")}`, password: randomBytes(12).toString("base64url") };
    let ns: string;
    let stack: TestStack;
    let kubeconfig: string;
    const tokens: string[] = [];

    /** The stack's kubeconfig output, written to a file only this user reads, as XNAT's admin would. */
    async function fetchKubeconfig(name: string): Promise<{ file: string; text: string }> {
        const outputs = await stack.stack.outputs();
        const output = outputs.containerServiceKubeconfig;
        assert.equal(output.secret, true, "the kubeconfig output is a secret");
        const text = output.value as string;
        const file = path.join(dir, name);
        writeFileSync(file, text, { mode: 0o600 });
        const token = /token: (\S+)/.exec(text)?.[1];
        assert.ok(token && token.length > 100, "the kubeconfig holds a service-account token");
        tokens.push(token);
        return { file, text };
    }

    before(async () => {
        assert.ok(process.env.KUBECONFIG, "KUBECONFIG is not set: run `npm run test:cluster`");
        env = await loadRegistryEnv();
        original = readFileSync(env.REGISTRY_HTPASSWD, "utf8");
        await replaceHtpasswd(env, `${original}${cred.username}:${hashSync(cred.password, 8)}\n`);
        apiServer = (await kubectl(["config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}"])).trim();
        ns = namespace("xnat");
        stack = await TestStack.create(ns, {
            namespace: ns,
            registries: [{ server: env.REGISTRY_BASIC_HOST, ...cred }],
            containerService: { apiServer },
        });
        await stack.up();
        ({ file: kubeconfig } = await fetchKubeconfig("xnat.kubeconfig"));
    });

    after(async () => {
        await replaceHtpasswd(env, original);
        rmSync(dir, { recursive: true, force: true });
    });

    it("1. kubectl auth can-i: yes to what the Container Service does in its namespace, no to Secrets, other namespaces and the cluster", async () => {
        const yes = [
            ["create", "jobs.batch"],
            ["patch", "jobs.batch"],
            ["delete", "jobs.batch"],
            ["list", "jobs.batch"],
            ["watch", "jobs.batch"],
            ["list", "pods"],
            ["watch", "pods"],
            ["get", "pods", "--subresource=log"],
        ];
        const no = [
            ["get", "secrets"],
            ["list", "secrets"],
            ["create", "secrets"],
            ["create", "pods"],
            ["delete", "pods"],
            ["create", "pods", "--subresource=exec"],
            ["update", "jobs.batch"],
            ["create", "cronjobs.batch"],
            ["patch", "serviceaccounts"],
            ["create", "rolebindings.rbac.authorization.k8s.io"],
            ["create", "jobs.batch", "-n", "default"],
            ["list", "pods", "-n", "kube-system"],
            ["list", "pods", "--all-namespaces"],
            ["list", "namespaces"],
            ["list", "nodes"],
            ["create", "clusterrolebindings.rbac.authorization.k8s.io"],
            ["*", "*"],
        ];
        const answers = await Promise.all([...yes, ...no].map((args) => canI(kubeconfig, args)));
        const wrong = [...yes, ...no].filter((_, i) => answers[i] !== i < yes.length).map((args) => args.join(" "));
        assert.deepEqual(wrong, [], `wrong answers for: ${wrong.join("; ")}`);
        // The context's namespace is the default: can-i without -n asked about the stack's namespace.
        assert.equal(new XnatClient(readFileSync(kubeconfig, "utf8")).namespace, ns);
    });

    it("2. as XNAT: a suspended Job created and started with the kubeconfig runs as default, pulls the private image, completes, and its log reads back", async () => {
        const xnat = new XnatClient(readFileSync(kubeconfig, "utf8"));
        const name = `xnat-job-${randomBytes(3).toString("hex")}`;
        const job = {
            apiVersion: "batch/v1",
            kind: "Job",
            metadata: { name },
            spec: {
                suspend: true,
                backoffLimit: 0,
                template: {
                    spec: {
                        restartPolicy: "Never",
                        dnsPolicy: "Default",
                        containers: [{ name: "main", image: `${env.REGISTRY_BASIC_HOST}/${env.REGISTRY_IMAGE}`, imagePullPolicy: "Always" }],
                    },
                },
            },
        };
        assert.equal((await xnat.createJob(job)).status, 201);
        assert.equal((await xnat.startJob(name)).status, 200);
        const pod = await eventually(
            `job ${name} to complete`,
            async () => {
                const jobs = JSON.parse((await xnat.listJobs()).body) as { items: { metadata: { name: string }; status: { succeeded?: number } }[] };
                if (jobs.items.find((j) => j.metadata.name === name)?.status.succeeded !== 1) {
                    return undefined;
                }
                const pods = JSON.parse((await xnat.listPods(`job-name=${name}`)).body) as {
                    items: { metadata: { name: string }; spec: { serviceAccountName: string; imagePullSecrets?: { name: string }[] } }[];
                };
                return pods.items[0];
            },
            120000,
        );
        assert.equal(pod.spec.serviceAccountName, "default");
        assert.deepEqual(pod.spec.imagePullSecrets?.map((s) => s.name), [`regcred-${env.REGISTRY_BASIC_HOST.replace(/[^0-9a-z]+/g, "-")}`]);
        const log = await xnat.podLog(pod.metadata.name);
        assert.equal(log.status, 200);
        assert.equal(log.body, "hello from registry-access\n");
        const pulls = readFileSync(env.REGISTRY_BASIC_LOG, "utf8").split("\n").filter((l) => l.includes("msg=GetImageManifest") && l.includes(`auth.user.name=${cred.username} `));
        assert.ok(pulls.length > 0, `the registry's log shows no pull by ${cred.username}`);
        // And what it may not do, with the same token: read the Secret holding it, or run elsewhere.
        assert.equal((await xnat.call("GET", `/api/v1/namespaces/${ns}/secrets`)).status, 403);
        assert.equal((await xnat.call("POST", "/apis/batch/v1/namespaces/default/jobs", { ...job, metadata: { name } })).status, 403);
        assert.equal((await xnat.deleteJob(name)).status, 200);
    });

    it("3. a new tokenRotation replaces the token: the old kubeconfig gets 401, the new one works; then no drift", async () => {
        const old = new XnatClient(readFileSync(kubeconfig, "utf8"));
        assert.equal((await old.listPods("app=none")).status, 200);
        await stack.setConfig({
            namespace: ns,
            registries: [{ server: env.REGISTRY_BASIC_HOST, ...cred }],
            containerService: { apiServer, tokenRotation: "2" },
        });
        const result = await stack.up();
        assert.equal(result.summary.resourceChanges?.replace, 1, JSON.stringify(result.summary.resourceChanges));
        const rotated = await fetchKubeconfig("xnat-rotated.kubeconfig");
        const fresh = new XnatClient(rotated.text);
        assert.equal((await fresh.listPods("app=none")).status, 200);
        // The API server caches a successful token check for 10 s (TokenSuccessCacheTTL), and the
        // old token was checked at this test's start: the 401 must come once that has passed.
        await eventually("the old token to be refused with 401", async () => ((await old.listPods("app=none")).status === 401 ? true : undefined), 30000);
        assert.notEqual(tokens[0], tokens[1]);
        assert.equal(await getObject("secret", ns, `${ACCOUNT}-token`), undefined, "the old token Secret is gone");
        kubeconfig = rotated.file;
        // What the token controller adds (the token, the account's uid) is no drift for CI's checks.
        await stack.preview({ expectNoChanges: true });
        await stack.refresh({ expectNoChanges: true });
    });

    it("4. no token or kubeconfig content in the engine's output, the state's files or non-secret outputs", async () => {
        const outputs = await stack.stack.outputs();
        const plain = JSON.stringify(Object.fromEntries(Object.entries(outputs).filter(([, o]) => !o.secret)));
        const places = { "engine output": stack.log.join("\n"), "backend files": backendFiles().map((f) => f.text).join("\n"), "non-secret outputs": plain };
        for (const token of tokens) {
            // The token, its base64 (as the Secret's data holds it), and any run of 16 of its characters.
            const forms = [token, Buffer.from(token).toString("base64"), ...[0, 40, 80].map((i) => token.slice(i, i + 16))];
            for (const [where, text] of Object.entries(places)) {
                for (const form of forms) {
                    assert.ok(!text.includes(form), `token material in the ${where}`);
                }
            }
        }
        assert.ok(!places["engine output"].includes("certificate-authority-data"), "kubeconfig content in the engine's output");
        assert.match(plain, new RegExp(`"containerServiceAccount":"${ACCOUNT}"`), "the account's name is a plain output");
    });

    it("5. destroy removes the Container Service's identity; in an adopted namespace the namespace's own objects stay", async () => {
        const adopted = namespace("xnat-adopted");
        await kubectlNamespace(adopted);
        await kubectl(["create", "configmap", "own", "-n", adopted, "--from-literal=k=v"]);
        await kubectl(["create", "serviceaccount", "other", "-n", adopted]);
        const s = await TestStack.create(adopted, {
            namespace: adopted,
            createNamespace: false,
            registries: [{ server: env.REGISTRY_BASIC_HOST, ...cred }],
            containerService: { apiServer },
        });
        await s.up();
        for (const [kind, name] of [["serviceaccount", ACCOUNT], ["role", ACCOUNT], ["rolebinding", ACCOUNT], ["secret", `${ACCOUNT}-token`]]) {
            assert.ok(await getObject(kind, adopted, name), `${kind}/${name} was not created`);
        }
        await s.destroy();
        for (const [kind, name] of [["serviceaccount", ACCOUNT], ["role", ACCOUNT], ["rolebinding", ACCOUNT], ["secret", `${ACCOUNT}-token`]]) {
            assert.equal(await getObject(kind, adopted, name), undefined, `${kind}/${name} is left after destroy`);
        }
        assert.ok(await getObject("namespace", undefined, adopted), "the adopted namespace was deleted");
        assert.ok(await getObject("configmap", adopted, "own"), "the namespace's own ConfigMap was deleted");
        assert.ok(await serviceAccount(adopted, "other"), "the namespace's own ServiceAccount was deleted");
        assert.ok(await serviceAccount(adopted), "default was deleted");

        // The created namespace goes with everything in it.
        await stack.destroy();
        const gone = await eventually(`namespace ${ns} to go`, async () => ((await getObject("namespace", undefined, ns)) === undefined ? true : undefined), 60000);
        assert.ok(gone);
    });
});
