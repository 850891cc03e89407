/**
 * `npm run doctor` on the local cluster and its two registries, held to the kubelet: every
 * workload below is started on the node with `imagePullPolicy: Always`, and the doctor's verdict
 * for it must be what the kubelet did (pulled, or ErrImagePull with 401, denied or not found).
 *
 * The token registry is real (Distribution 2.8 checks the token's `access` claim); the test token
 * issuer grants each tenant its own repository only, but tenant b's grant is deliberately too
 * broad (tenant a's repository too): the cross-tenant check must report it, naming both.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { DoctorReport, Finding } from "../../doctor/doctor";
import { leakForms } from "../support/secrets";
import type { TokenIssuer } from "../support/tokenIssuer";
import { eventually, kubectl, kubectlNamespace } from "./support/cluster";
import { suiteNamespaces } from "./support/names";
import { loadRegistryEnv, type RegistryEnv, startRegistryTokenIssuer } from "./support/registryEnv";

const CLI = path.resolve(__dirname, "../../doctor/cli.js");
/** scripts/crane.sh's binary (test-cluster.sh sets CRANE). */
const CRANE = process.env.CRANE ?? "crane";
const TENANT_A = { user: "tenant-a", password: `a-${randomBytes(8).toString("hex")}` };
const TENANT_B = { user: "tenant-b", password: `b-${randomBytes(8).toString("hex")}` };
const WRONG = "not-the-password-77c1";

/**
 * The workloads keep running (the image's busybox sleeps): the doctor skips finished pods and
 * Jobs, since nothing pulls for them again. No cluster DNS on the node; a quick stop at the end.
 */
const RUNNING = { restartPolicy: "Never", dnsPolicy: "Default", terminationGracePeriodSeconds: 1 };
/** The one container, pulled at every start as the issue's proof asks. */
const container = (image: string) => ({ name: "main", image, imagePullPolicy: "Always", args: ["sleep", "600"] });

type KubeletOutcome = "pulls" | "refused" | "denied" | "not-found";

/** The doctor's verdict as the kubelet's outcome would show it. */
function expectedOutcome(f: Finding): string {
    if (f.pulls) {
        return "pulls";
    }
    return f.verdict === "no-credential" ? "refused" : f.verdict;
}

/**
 * What the basic registry (its access log, LOG) last answered containerd's HEAD for the image an
 * event names. After a 404, containerd 1.6 asks the hosts.toml `server` again without the
 * `[host]` entry's CA, and the event reports that "x509: certificate signed by unknown
 * authority", not the registry's answer.
 */
async function answeredContainerd(log: string, event: string): Promise<string | undefined> {
    const [, repository, tag] = /Failed to pull image "[^/]+\/([^":]+):([^"]+)"/.exec(event) ?? [];
    const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    const head = new RegExp(`"HEAD /v2/${escape(repository ?? "")}/manifests/${escape(tag ?? "")} HTTP/1\\.1" (\\d+) \\d+ "[^"]*" "containerd/`, "g");
    return [...(await readFile(log, "utf8")).matchAll(head)].map((m) => m[1]).at(-1);
}

/** What the kubelet did with a pod's first container: pulled, or why the pull failed (its event). */
async function kubeletOutcome(env: RegistryEnv, namespace: string, pod: string): Promise<{ outcome: KubeletOutcome; event: string }> {
    return eventually(
        `the kubelet's pull for ${namespace}/${pod}`,
        async () => {
            const p = JSON.parse(await kubectl(["get", "pod", pod, "-n", namespace, "-o", "json"])) as {
                status: { containerStatuses?: { imageID?: string; state: { waiting?: { reason: string } } }[] };
            };
            const status = p.status.containerStatuses?.[0];
            if (status?.imageID) {
                return { outcome: "pulls" as const, event: "pulled" };
            }
            if (!["ErrImagePull", "ImagePullBackOff"].includes(status?.state.waiting?.reason ?? "")) {
                return undefined;
            }
            const events = JSON.parse(await kubectl(["get", "events", "-n", namespace, "--field-selector", `involvedObject.name=${pod},reason=Failed`, "-o", "json"])) as {
                items: { message: string }[];
            };
            const event = events.items.map((e) => e.message).find((m) => /Failed to pull image/.test(m));
            if (event === undefined) {
                return undefined;
            }
            // containerd's words: a token without the repository's scope is Distribution's insufficient_scope.
            const outcome: KubeletOutcome | undefined = /insufficient_scope|403 Forbidden|denied:/.test(event)
                ? "denied"
                : /401 Unauthorized/.test(event)
                  ? "refused"
                  : /not found/.test(event) || (/x509: certificate signed by unknown authority/.test(event) && (await answeredContainerd(env.REGISTRY_BASIC_LOG, event)) === "404")
                    ? "not-found"
                    : undefined;
            return outcome && { outcome, event };
        },
        120000,
    );
}

describe("npm run doctor, held to what the kubelet does", function () {
    this.timeout(600000);
    let env: RegistryEnv;
    let issuer: TokenIssuer;
    let work: string;
    const namespace = suiteNamespaces();
    let a: string;
    let b: string;
    let c: string;

    /** `npm run doctor` itself, with the registries' CA; its exit code and what it printed. */
    const doctor = (args: string[], cwd = process.cwd(), childEnv: NodeJS.ProcessEnv = process.env) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
            execFile(process.execPath, [CLI, ...args, "--ca-file", env.REGISTRY_CA], { cwd, env: childEnv }, (err, stdout, stderr) =>
                resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
            ),
        );

    /** Every credential the test put in a Secret, to give crane the one the doctor names. */
    const passwords = new Map<string, string>();
    const secret = (ns: string, name: string, server: string, username: string, password: string) => {
        passwords.set(`${ns}/${name}`, password);
        return kubectl(["create", "secret", "docker-registry", name, "-n", ns, "--docker-server", server, "--docker-username", username, "--docker-password", password]);
    };

    /**
     * crane's answer for the image with the credential the doctor says decided (none: anonymous),
     * as a docker config keyed by the registry's host: a second client, asking the same manifest.
     */
    async function craneOutcome(f: Finding): Promise<string> {
        const host = f.image.split("/")[0];
        // The credential's Secret: its index counts the pod's Secrets that exist.
        const secretName = f.credential && f.pullSecrets.filter((n) => !f.absentSecrets.includes(n))[f.credential.secretIndex];
        const password = secretName && passwords.get(`${f.namespace}/${secretName}`);
        assert.ok(!f.credential || password !== undefined, `no password for ${f.credential?.key} ${f.credential?.username}`);
        const dir = await mkdtemp(path.join(work, "crane-"));
        const auths = f.credential ? { [host]: { auth: Buffer.from(`${f.credential.username}:${password}`).toString("base64") } } : {};
        await writeFile(path.join(dir, "config.json"), JSON.stringify({ auths }), { mode: 0o600 });
        const result = await new Promise<{ ok: boolean; stderr: string }>((resolve) =>
            execFile(CRANE, ["manifest", f.image], { env: { PATH: process.env.PATH, DOCKER_CONFIG: dir, SSL_CERT_FILE: env.REGISTRY_CA, HOME: dir } }, (err, _stdout, stderr) =>
                resolve({ ok: !err, stderr }),
            ),
        );
        await rm(dir, { recursive: true, force: true });
        if (result.ok) {
            return "pulls";
        }
        // On the Bearer registry a wrong password is refused by the token service (crane names its
        // URL); a 401 from the registry to a token it issued means the token lacks the repository.
        if (/UNAUTHORIZED|401/.test(result.stderr)) {
            return host === env.REGISTRY_TOKEN_HOST && f.credential && !/\/token\?/.test(result.stderr) ? "denied" : "refused";
        }
        if (/DENIED|403/.test(result.stderr)) {
            return "denied";
        }
        if (/MANIFEST_UNKNOWN|NAME_UNKNOWN|404/.test(result.stderr)) {
            return "not-found";
        }
        return `unclassified: ${result.stderr.split("\n")[0].slice(0, 160)}`;
    }

    const pod = (ns: string, name: string, image: string, spec: Record<string, unknown> = {}) =>
        kubectl(
            ["create", "-f", "-"],
            JSON.stringify({
                apiVersion: "v1",
                kind: "Pod",
                metadata: { name, namespace: ns },
                spec: { ...RUNNING, containers: [container(image)], ...spec },
            }),
        );
    const job = (ns: string, name: string, image: string, backoffLimit = 0) =>
        kubectl(
            ["create", "-f", "-"],
            JSON.stringify({
                apiVersion: "batch/v1",
                kind: "Job",
                metadata: { name, namespace: ns },
                spec: { backoffLimit, template: { spec: { ...RUNNING, containers: [container(image)] } } },
            }),
        );
    const jobPod = async (ns: string, name: string) =>
        eventually(`the pod of job ${ns}/${name}`, async () => (await kubectl(["get", "pods", "-n", ns, "-l", `job-name=${name}`, "-o", "jsonpath={.items[0].metadata.name}"])).trim() || undefined);

    before(async function () {
        assert.ok(process.env.KUBECONFIG, "KUBECONFIG is not set: run `npm run test:cluster`");
        env = await loadRegistryEnv();
        const nodes = JSON.parse(await kubectl(["get", "nodes", "-o", "json"])) as { items: unknown[] };
        assert.ok(nodes.items.length > 0, "the cluster has no node: these tests need a kubelet (scripts/local-cluster.sh starts one)");
        assert.match(await readFile(process.env.LOCAL_REGISTRY_ENV!, "utf8"), /^REGISTRY_MORE_REPOS=.*tenant-a\/app/m, "the registries lack the tenants' repositories: scripts/local-registry.sh down && up");
        issuer = await startRegistryTokenIssuer(env, {
            users: new Map([
                [TENANT_A.user, TENANT_A.password],
                [TENANT_B.user, TENANT_B.password],
            ]),
            // Tenant b's grant is too broad on purpose: it reads tenant a's repository.
            access: new Map<string, string[]>([
                [TENANT_A.user, ["tenant-a/app"]],
                [TENANT_B.user, ["tenant-b/app", "tenant-a/app"]],
            ]),
            anonymous: ["public/hello"],
        });
        work = await mkdtemp(path.join(tmpdir(), "registry-access-doctor-"));
        [a, b, c] = [namespace("doc-a"), namespace("doc-b"), namespace("doc-c")];
        await Promise.all([a, b, c].map(kubectlNamespace));
        const basic = env.REGISTRY_BASIC_HOST;
        const token = env.REGISTRY_TOKEN_HOST;
        await Promise.all([
            secret(a, "regcred", token, TENANT_A.user, TENANT_A.password),
            secret(a, "wrong", basic, env.REGISTRY_USER, WRONG),
            secret(a, "basic", basic, env.REGISTRY_USER, env.REGISTRY_PASSWORD),
            secret(a, "team-prefix", `${basic}/team`, env.REGISTRY_USER, env.REGISTRY_PASSWORD),
            secret(a, "other-prefix", `${basic}/other`, env.REGISTRY_USER, env.REGISTRY_PASSWORD),
            secret(b, "regcred", token, TENANT_B.user, TENANT_B.password),
            secret(c, "basic", basic, env.REGISTRY_USER, env.REGISTRY_PASSWORD),
            kubectl(["create", "serviceaccount", "plain", "-n", a]),
        ]);
        await Promise.all([
            kubectl(["patch", "serviceaccount", "default", "-n", a, "-p", '{"imagePullSecrets":[{"name":"regcred"}]}']),
            kubectl(["patch", "serviceaccount", "default", "-n", b, "-p", '{"imagePullSecrets":[{"name":"regcred"}]}']),
        ]);
        const own = (...names: string[]) => ({ imagePullSecrets: names.map((name) => ({ name })) });
        const image = env.REGISTRY_IMAGE;
        await Promise.all([
            job(a, "right", `${token}/tenant-a/app:1.0`),
            pod(a, "wrong-password", `${basic}/${image}`, own("wrong")),
            pod(a, "not-allowed", `${token}/${image}`, own("regcred")),
            pod(a, "missing-tag", `${basic}/team/hello:no-such-tag`, own("basic")),
            pod(a, "public", `${token}/public/hello:1.0`, { serviceAccountName: "plain" }),
            pod(a, "prefix-match", `${basic}/${image}`, own("team-prefix")),
            pod(a, "prefix-other", `${basic}/${image}`, own("other-prefix")),
            job(b, "right", `${token}/tenant-b/app:1.0`),
            // Made before its ServiceAccount lists the Secret: admission gave its pod none.
            // Its pod is deleted later for a new one: the controller counts that as a failure.
            job(c, "early", `${basic}/${image}`, 2),
        ]);
        await jobPod(c, "early");
        await kubectl(["patch", "serviceaccount", "default", "-n", c, "-p", '{"imagePullSecrets":[{"name":"basic"}]}']);
    });

    after(async function () {
        await issuer?.close();
        if (work) {
            await rm(work, { recursive: true, force: true });
        }
    });

    it("gives every workload the verdict the kubelet's pull then has, reports the pod made too early, and tenant b reading tenant a's images", async function () {
        const run = await doctor(["--namespace", [a, b, c].join(","), "--cross-tenant", "--json"]);
        assert.equal(run.code, 1, run.stderr);
        const report = JSON.parse(run.stdout) as DoctorReport & { namespaces: string[]; seconds: number };
        const verdicts = Object.fromEntries(report.findings.map((f) => [`${f.namespace === a ? "a" : f.namespace === b ? "b" : "c"} ${f.workload.replace(/^Pod\/early-[a-z0-9]+$/, "Pod/early")}`, f]));
        assert.deepEqual(
            Object.fromEntries(Object.entries(verdicts).map(([k, f]) => [k, `${f.verdict}${f.pulls ? "" : " (fails)"}${f.missingFromPod.length > 0 ? ` lacks ${f.missingFromPod.join(",")}` : ""}`])),
            {
                "a Job/right": "pulls",
                "a Pod/wrong-password": "refused (fails)",
                "a Pod/not-allowed": "denied (fails)",
                "a Pod/missing-tag": "not-found (fails)",
                "a Pod/public": "no-credential",
                "a Pod/prefix-match": "pulls",
                "a Pod/prefix-other": "no-credential (fails)",
                "b Job/right": "pulls",
                "c Job/early": "pulls",
                "c Pod/early": "no-credential (fails) lacks basic",
            },
        );
        assert.equal(verdicts["c Pod/early"].madeBy, "Job/early");
        assert.deepEqual(
            report.leaks.map((l) => [l.namespace, l.credential.username, l.image, l.imageNamespace]),
            [[b, TENANT_B.user, `${env.REGISTRY_TOKEN_HOST}/tenant-a/app:1.0`, a]],
        );

        // The kubelet, for each: the pod itself, or the pod the Job made from its template.
        const rows: string[] = [];
        let craneAsked = 0;
        // Pods first: a Job's template is then held to a pod made from it now, after its stale one is gone.
        for (const f of [...report.findings].sort((x, y) => Number(x.workload.startsWith("Job/")) - Number(y.workload.startsWith("Job/")))) {
            let podName = f.workload.slice(4);
            if (f.workload.startsWith("Job/")) {
                const stale = report.findings.find((g) => g.namespace === f.namespace && g.madeBy === f.workload);
                if (stale !== undefined) {
                    await kubectl(["delete", "pod", "-n", f.namespace, stale.workload.slice(4)]);
                }
                podName = await eventually(`a pod of ${f.workload} made now`, async () => {
                    const name = await jobPod(f.namespace, f.workload.slice(4));
                    return name !== stale?.workload.slice(4) ? name : undefined;
                });
            }
            const kubelet = await kubeletOutcome(env, f.namespace, podName);
            // crane (since v0.21, go-containerregistry #2258) refuses a token realm at a private IP
            // literal, which the local token registry's is: it is asked on the Basic registry.
            const crane = f.image.startsWith(`${env.REGISTRY_BASIC_HOST}/`) ? await craneOutcome(f) : "(realm at 127.0.0.1)";
            rows.push(`${f.workload.padEnd(24)} ${`${f.verdict}${f.pulls ? " (pulls)" : ""}`.padEnd(24)} ${kubelet.outcome.padEnd(10)} ${crane}`);
            assert.equal(kubelet.outcome, expectedOutcome(f), `${f.namespace}/${f.workload}: the doctor said ${f.verdict}, the kubelet: ${kubelet.event}`);
            if (f.image.startsWith(`${env.REGISTRY_BASIC_HOST}/`)) {
                craneAsked++;
                assert.equal(crane, expectedOutcome(f), `${f.namespace}/${f.workload}: the doctor said ${f.verdict}, crane: ${crane}`);
            }
        }
        process.stdout.write(`      case / doctor's verdict / kubelet / crane:\n${rows.map((r) => `        ${r}`).join("\n")}\n`);
        assert.ok(craneAsked >= 5, `crane was asked only ${craneAsked} times`);

        // The same run for people: the table, and nothing of any credential.
        const table = await doctor(["--namespace", [a, b, c].join(","), "--cross-tenant"]);
        assert.equal(table.code, 1);
        assert.match(table.stdout, /^LEAK {2}tenant .*doc-b.*'s credential .* \(user tenant-b, in .*\) pulls .*tenant-a\/app:1\.0/m);
        assert.match(table.stdout, /^STALE|^FAIL/m);
        for (const out of [run.stdout, run.stderr, table.stdout, table.stderr]) {
            for (const [user, password] of [[TENANT_A.user, TENANT_A.password], [TENANT_B.user, TENANT_B.password], [env.REGISTRY_USER, env.REGISTRY_PASSWORD], [env.REGISTRY_USER, WRONG]]) {
                for (const form of leakForms({ username: user, password })) {
                    assert.ok(!out.includes(form), `a credential of ${user} in the doctor's output`);
                }
            }
        }
    });

    it("--stack: the stack's named namespace and those its selector matches now, through the stack's kubeconfig; exit 0 when all pull", async function () {
        const label = `doctor-${randomBytes(3).toString("hex")}`;
        await kubectl(["label", "namespace", b, `${label}=yes`]);
        await mkdir(path.join(work, "stacks"));
        await writeFile(path.join(work, "Pulumi.yaml"), "name: registry-access\nruntime: nodejs\nstackConfigDir: stacks\n");
        const registry = `{server: ${env.REGISTRY_TOKEN_HOST}, username: u, password: {secure: v1:AAAA}}`;
        await writeFile(
            path.join(work, "stacks", "Pulumi.doc.yaml"),
            [
                "config:",
                `  kubernetes:kubeconfig: ${process.env.KUBECONFIG}`,
                "  registry-access:tenants:",
                `    - namespace: ${c}`,
                `      createNamespace: false`,
                `      registries: [${registry}]`,
                `    - namespaceSelector: {matchLabels: {${label}: "yes"}}`,
                `      registries: [${registry}]`,
                "",
            ].join("\n"),
        );
        // Only the stack's kubernetes:kubeconfig says where the cluster is.
        const noKubeconfig = { ...process.env };
        delete noKubeconfig.KUBECONFIG;
        const run = await doctor(["--stack", "doc", "--json"], work, noKubeconfig);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        const report = JSON.parse(run.stdout) as DoctorReport & { namespaces: string[] };
        assert.deepEqual(report.namespaces, [b, c].sort());
        // b's Job, and c's made again from its template by the first test.
        assert.deepEqual(report.findings.map((f) => `${f.namespace} ${f.workload} ${f.verdict}`).sort(), [`${b} Job/right pulls`, `${c} Job/early pulls`].sort());
        const clean = await doctor(["--stack", "doc"], work, noKubeconfig);
        assert.equal(clean.code, 0, clean.stdout);
        assert.match(clean.stdout, /images, 0 failing, 0 leaks/);
    });
});
