/**
 * The doctor (doctor/workloads.ts, doctor/doctor.ts, doctor/cli.ts): which images each workload
 * pulls with which Secrets, as ServiceAccount admission and the kubelet see them; the verdicts
 * from a local registry; the cross-tenant leak; the table, the JSON and the exit code, none of
 * which may hold a credential.
 */
import * as assert from "node:assert/strict";
import * as http from "node:http";
import type * as net from "node:net";
import type { Kubectl } from "../components/cluster";
import { dockerConfigJson } from "../components/dockerConfig";
import { parseArgs } from "../doctor/cli";
import { diagnose, exitCode, failed, type Finding, sortWorstFirst, table } from "../doctor/doctor";
import { dockerConfigs, readWorkloads } from "../doctor/workloads";
import { findEcho } from "./support/echo";
import { leakForms } from "./support/secrets";

const HOST = "registry.doctor.test";
const USERS: Record<string, { password: string; repos: string[] }> = {
    "a-puller": { password: "A-pa55:<word>\u00e9", repos: ["a/app"] },
    "b-puller": { password: "B-pa55-word-77f1", repos: ["b/app"] },
    // Deliberately over-broad: reads tenant a's repository too.
    "c-puller": { password: "C-pa55-word-03aa", repos: ["c/app", "a/app"] },
};
const TAGS = new Set(["a/app:1.0", "b/app:1.0", "c/app:1.0", "public/app:1.0"]);

/** A Basic-auth registry: each user reads its repositories, anyone reads public/. */
async function registry(): Promise<{ origin: string; close(): Promise<void> }> {
    const server = http.createServer((req, res) => {
        const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(req.url ?? "");
        const [user, password] = Buffer.from((req.headers.authorization ?? "").replace(/^Basic /, ""), "base64").toString("utf8").split(/:(.*)/s);
        const known = Object.hasOwn(USERS, user) && USERS[user].password === password;
        if (m === null) {
            res.writeHead(known || !req.headers.authorization ? 200 : 401, { "www-authenticate": 'Basic realm="t"' }).end();
        } else if (m[1].startsWith("public/") && !req.headers.authorization) {
            res.writeHead(TAGS.has(`${m[1]}:${m[2]}`) ? 200 : 404).end();
        } else if (!known) {
            res.writeHead(401, { "www-authenticate": 'Basic realm="t"' }).end();
        } else if (!USERS[user].repos.includes(m[1]) && !m[1].startsWith("public/")) {
            res.writeHead(403).end();
        } else {
            res.writeHead(TAGS.has(`${m[1]}:${m[2]}`) ? 200 : 404, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end();
        }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { origin: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const meta = (kind: string, namespace: string, name: string, owner?: [string, string]) => ({
    kind,
    metadata: { namespace, name, ...(owner ? { ownerReferences: [{ kind: owner[0], name: owner[1], controller: true }] } : {}) },
});
const podSpec = (image: string, extra: Record<string, unknown> = {}) => ({ containers: [{ name: "main", image }], ...extra });
const pod = (ns: string, name: string, image: string, extra: Record<string, unknown> = {}, owner?: [string, string]) => ({ ...meta("Pod", ns, name, owner), spec: podSpec(image, extra) });
const deployment = (ns: string, name: string, image: string, extra: Record<string, unknown> = {}) => ({ ...meta("Deployment", ns, name), spec: { template: { spec: podSpec(image, extra) } } });
const account = (ns: string, name: string, secrets: string[]) => ({ ...meta("ServiceAccount", ns, name), imagePullSecrets: secrets.map((s) => ({ name: s })) });
const listOf = (...items: object[]) => JSON.stringify({ kind: "List", items });
const secret = (ns: string, name: string, user: string, server = HOST) => ({
    ...meta("Secret", ns, name),
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": Buffer.from(dockerConfigJson({ server, username: user, password: USERS[user]?.password ?? "wrong" })).toString("base64") },
});

describe("doctor: the workloads' images and the Secrets the kubelet would use", () => {
    it("reads a template's Secrets as ServiceAccount admission would copy them now; the template's own list wins", () => {
        const images = readWorkloads(
            listOf(
                account("a", "default", ["regcred"]),
                account("a", "builder", ["other"]),
                deployment("a", "web", `${HOST}/a/app:1.0`),
                deployment("a", "own", `${HOST}/a/app:1.0`, { imagePullSecrets: [{ name: "mine" }] }),
                { ...meta("StatefulSet", "a", "db"), spec: { template: { spec: podSpec("db:1", { serviceAccountName: "builder", initContainers: [{ name: "init", image: "busybox" }] }) } } },
                { ...meta("CronJob", "a", "nightly"), spec: { jobTemplate: { spec: { template: { spec: podSpec("cron:1") } } } } },
                { ...meta("Job", "a", "nightly-1", ["CronJob", "nightly"]), spec: { template: { spec: podSpec("cron:1") } } },
                { ...meta("ReplicaSet", "a", "web-1", ["Deployment", "web"]), spec: { template: { spec: podSpec(`${HOST}/a/app:1.0`) } } },
                pod("a", "web-1-x", `${HOST}/a/app:1.0`, { imagePullSecrets: [{ name: "regcred" }] }, ["ReplicaSet", "web-1"]),
            ),
        )!.images;
        assert.deepEqual(
            images.map((i) => [i.workload, i.container, i.image, i.pullSecrets.join(",")]),
            [
                ["Deployment/web", "main", `${HOST}/a/app:1.0`, "regcred"],
                ["Deployment/own", "main", `${HOST}/a/app:1.0`, "mine"],
                ["StatefulSet/db", "init", "busybox", "other"],
                ["StatefulSet/db", "main", "db:1", "other"],
                ["CronJob/nightly", "main", "cron:1", "regcred"],
            ],
        );
    });

    it("reads a pod made before its account listed a Secret as itself, naming what it lacks and who makes it again", () => {
        const images = readWorkloads(
            listOf(
                account("a", "default", ["old", "regcred"]),
                deployment("a", "web", "x:1"),
                { ...meta("ReplicaSet", "a", "web-1", ["Deployment", "web"]) },
                pod("a", "web-1-early", "x:1", { imagePullSecrets: [{ name: "old" }] }, ["ReplicaSet", "web-1"]),
                pod("a", "bare", "x:1"),
                pod("a", "own", "x:1", { imagePullSecrets: [{ name: "private" }] }),
            ),
        )!.images;
        const early = images.find((i) => i.workload === "Pod/web-1-early")!;
        assert.deepEqual([early.pullSecrets, early.missingFromPod, early.madeBy], [["old"], ["regcred"], "Deployment/web"]);
        assert.deepEqual(images.find((i) => i.workload === "Pod/bare")!.missingFromPod, ["old", "regcred"]);
        // Its own list: admission did not touch it, so nothing is missing.
        assert.deepEqual(images.find((i) => i.workload === "Pod/own")!.missingFromPod, []);
    });

    it("takes only .dockerconfigjson Secrets, and answers undefined for what is not a list", () => {
        assert.equal(readWorkloads("{}"), undefined);
        const configs = dockerConfigs(listOf(secret("a", "regcred", "a-puller"), { ...meta("Secret", "a", "opaque"), data: { x: "eA==" } }))!;
        assert.deepEqual([...configs.keys()], ["a/regcred"]);
        assert.match(configs.get("a/regcred")!, /"auths"/);
    });
});

describe("doctor: verdicts, leaks and output against a local registry", () => {
    let reg: Awaited<ReturnType<typeof registry>>;
    before(async () => (reg = await registry()));
    after(() => reg.close());

    /** kubectl's answers from these objects: `-n` narrows to a namespace, a type field selector to that type. */
    const cluster = (workloads: object[], secrets: object[], calls: string[][] = []): Kubectl => async (args) => {
        calls.push(args);
        const ns = args.includes("-n") ? args[args.indexOf("-n") + 1] : undefined;
        const type = /^type=(.+)$/.exec(args[args.indexOf("--field-selector") + 1] ?? "")?.[1];
        const items = (args[1] === "secrets" ? secrets : workloads).filter(
            (o) => (ns === undefined || (o as { metadata: { namespace: string } }).metadata.namespace === ns) && (type === undefined || (o as { type?: string }).type === type),
        );
        return { code: 0, stderr: "", stdout: listOf(...items) };
    };
    const scopes = [
        { namespace: "a", tenant: "a" },
        { namespace: "b", tenant: "b" },
        { namespace: "c", tenant: "c" },
    ];
    const workloads = [
        account("a", "default", ["regcred"]),
        account("b", "default", ["regcred"]),
        account("c", "default", ["regcred"]),
        deployment("a", "right", `${HOST}/a/app:1.0`),
        deployment("a", "gone-tag", `${HOST}/a/app:2.0`),
        deployment("a", "other-tenant", `${HOST}/b/app:1.0`),
        deployment("a", "public", `${HOST}/public/app:1.0`, { imagePullSecrets: [{ name: "absent" }] }),
        deployment("b", "right", `${HOST}/b/app:1.0`),
        deployment("b", "wrong-password", `${HOST}/b/app:1.0`, { imagePullSecrets: [{ name: "stale" }] }),
        deployment("c", "right", `${HOST}/c/app:1.0`),
        pod("elsewhere", "ignored", `${HOST}/a/app:1.0`),
    ];
    const secrets = [secret("a", "regcred", "a-puller"), secret("b", "regcred", "b-puller"), secret("b", "stale", "nobody"), secret("c", "regcred", "c-puller")];
    const run = (crossTenant = false, calls: string[][] = []) => diagnose(cluster(workloads, secrets, calls), scopes, { crossTenant, probe: { endpoints: { [HOST]: reg.origin } } });

    it("gives each image the kubelet's verdict, worst namespace first, one list call per kind", async () => {
        const calls: string[][] = [];
        const report = await run(false, calls);
        // A few namespaces are asked one by one: one list of the workloads and one per pull Secret type each.
        assert.deepEqual(
            calls.map((c) => [c[1], c[c.indexOf("-n") + 1], c.includes("--field-selector") ? c[c.indexOf("--field-selector") + 1] : ""].join(" ")).sort(),
            ["a", "b", "c"]
                .flatMap((ns) => [
                    `pods,deployments.apps,statefulsets.apps,daemonsets.apps,jobs.batch,cronjobs.batch,replicasets.apps,serviceaccounts ${ns} `,
                    `secrets ${ns} type=kubernetes.io/dockerconfigjson`,
                    `secrets ${ns} type=kubernetes.io/dockercfg`,
                ])
                .sort(),
        );
        const seen = report.findings.map((f) => `${f.namespace} ${f.workload} ${f.verdict} ${f.pulls}`);
        assert.deepEqual(seen, [
            "a Deployment/gone-tag not-found false",
            "a Deployment/other-tenant denied false",
            "a Deployment/public no-credential true",
            "a Deployment/right pulls true",
            "b Deployment/wrong-password refused false",
            "b Deployment/right pulls true",
            "c Deployment/right pulls true",
        ]);
        const pub = report.findings.find((f) => f.workload === "Deployment/public")!;
        assert.deepEqual(pub.absentSecrets, ["absent"]);
        assert.match(pub.message, /pull Secret absent is not in the namespace/);
        assert.equal(report.findings.find((f) => f.workload === "Deployment/right" && f.namespace === "a")!.credential?.username, "a-puller");
        assert.equal(exitCode(report), 1);
        assert.deepEqual(report.leaks, []);
    });

    it("--cross-tenant: a credential that reads another tenant's private image is a leak naming both", async () => {
        const report = await run(true);
        assert.deepEqual(
            report.leaks.map((l) => [l.tenant, l.credential.username, l.image, l.imageTenant]),
            [["c", "c-puller", `${HOST}/a/app:1.0`, "a"]],
        );
        assert.match(table(report), /^LEAK {2}tenant c's credential .* pulls registry\.doctor\.test\/a\/app:1\.0, tenant a's image in a$/m);
    });

    it("never shows a password, Basic header or docker config, in the table or the JSON", async () => {
        const report = await run(true);
        const out = table(report) + JSON.stringify(report);
        for (const [username, { password }] of Object.entries(USERS)) {
            for (const form of leakForms({ server: HOST, username, password })) {
                assert.ok(!out.includes(form), `${username}'s credential in the output`);
            }
            assert.equal(findEcho(out, [password]), undefined);
        }
    });

    it("asks cluster-wide for more than ten namespaces, one by one when that is forbidden, and stops when that is too", async () => {
        const many = Array.from({ length: 11 }, (_, i) => ({ namespace: `n${i}`, tenant: `n${i}` }));
        const calls: string[][] = [];
        const forbidden: Kubectl = async (args) => {
            calls.push(args);
            return args.includes("-A") || args.includes("n7")
                ? { code: 1, stdout: "", stderr: 'Error from server (Forbidden): secrets is forbidden: User "u" cannot list resource "secrets"' }
                : { code: 0, stderr: "", stdout: listOf(account(args[args.indexOf("-n") + 1], "default", [])) };
        };
        await assert.rejects(diagnose(forbidden, many), /cannot list (workloads|pull Secrets) in n7 \(forbidden: may not list secrets\)/);
        assert.ok(calls.some((c) => c.includes("-A")) && calls.some((c) => c.includes("-n") && c.includes("n0")));
    });

    it("stops naming a namespace that does not exist (no ServiceAccount in it)", async () => {
        await assert.rejects(diagnose(cluster(workloads, secrets), [...scopes, { namespace: "typo", tenant: "typo" }]), /no namespace typo \(it has no ServiceAccount\): check the name/);
    });

    it("--cross-tenant: a shared account is no leak, nor another tag of a repository the tenant uses; a key's path does not hide a leak", async () => {
        const shared = [
            account("a", "default", ["regcred"]),
            account("b", "default", ["regcred"]),
            account("c", "default", ["regcred"]),
            deployment("a", "web", `${HOST}/a/app:1.0`),
            deployment("b", "web", `${HOST}/a/app:2.0`),
            deployment("c", "web", `${HOST}/c/app:1.0`),
        ];
        // a and b share a-puller; c's key names a path that is not a/app, but c-puller reads a/app.
        const report = await diagnose(cluster(shared, [secret("a", "regcred", "a-puller"), secret("b", "regcred", "a-puller"), secret("c", "regcred", "c-puller", `${HOST}/c`)]), scopes, {
            crossTenant: true,
            probe: { endpoints: { [HOST]: reg.origin } },
        });
        assert.deepEqual(
            report.leaks.map((l) => [l.tenant, l.credential.key, l.image.replace(/:.*/, "")]),
            [["c", `${HOST}/c`, `${HOST}/a/app`]],
        );
    });

    it("reads legacy .dockercfg Secrets, skips finished pods and Jobs, and says when an account lists nothing or does not exist", async () => {
        const legacy = {
            ...meta("Secret", "a", "legacy"),
            type: "kubernetes.io/dockercfg",
            data: { ".dockercfg": Buffer.from(JSON.stringify({ [HOST]: { auth: Buffer.from(`a-puller:${USERS["a-puller"].password}`).toString("base64") } })).toString("base64") },
        };
        const list = [
            account("a", "default", ["legacy"]),
            account("a", "bare", []),
            deployment("a", "old-style", `${HOST}/a/app:1.0`),
            deployment("a", "bare", `${HOST}/a/app:1.0`, { serviceAccountName: "bare" }),
            deployment("a", "ghost", `${HOST}/public/app:1.0`, { serviceAccountName: "ghost" }),
            { ...pod("a", "done", `${HOST}/a/app:9.9`), status: { phase: "Succeeded" } },
            { ...meta("Job", "a", "migrated"), spec: { template: { spec: podSpec(`${HOST}/a/app:9.9`) } }, status: { conditions: [{ type: "Complete", status: "True" }] } },
        ];
        const report = await diagnose(cluster(list, [legacy]), [{ namespace: "a", tenant: "a" }], { probe: { endpoints: { [HOST]: reg.origin } } });
        const by = Object.fromEntries(report.findings.map((f) => [f.workload, f]));
        assert.deepEqual(Object.keys(by).sort(), ["Deployment/bare", "Deployment/ghost", "Deployment/old-style"]);
        assert.equal(by["Deployment/old-style"].verdict, "pulls");
        assert.match(by["Deployment/bare"].message, /ServiceAccount bare lists no pull Secret \(fix: add bare to the stack's serviceAccounts/);
        assert.ok(by["Deployment/ghost"].pulls && failed(by["Deployment/ghost"]));
        assert.match(by["Deployment/ghost"].message, /ServiceAccount ghost does not exist, so no pod of Deployment\/ghost can be made/);
    });
});

describe("doctor: what kubectl's lists may hold", () => {
    it("takes a field of an unexpected type as absent, and a pod whose template lists its own Secrets as not made too early", () => {
        const images = readWorkloads(
            JSON.stringify({
                items: [
                    null,
                    account("a", "default", ["old", "regcred"]),
                    { ...meta("Pod", "a", "odd"), metadata: { namespace: "a", name: "odd", ownerReferences: [null] }, spec: { imagePullSecrets: "regcred", containers: [{ name: "m", image: "x:1" }, null] } },
                    deployment("a", "own", "x:1", { imagePullSecrets: [{ name: "regcred" }] }),
                    { ...meta("ReplicaSet", "a", "own-1", ["Deployment", "own"]) },
                    pod("a", "own-1-x", "x:1", { imagePullSecrets: [{ name: "regcred" }] }, ["ReplicaSet", "own-1"]),
                ],
            }),
        )!.images;
        assert.deepEqual(
            images.map((i) => [i.workload, i.pullSecrets.join(","), i.missingFromPod.join(",")]),
            [
                ["Pod/odd", "", "old,regcred"],
                ["Deployment/own", "regcred", ""],
            ],
        );
    });
});

describe("doctor: the table, the exit code and the arguments", () => {
    const finding = (namespace: string, workload: string, pulls: boolean, missingFromPod: string[] = []): Finding => ({
        namespace,
        workload,
        container: "main",
        image: "r/x:1",
        serviceAccount: "default",
        pullSecrets: [],
        missingFromPod,
        absentSecrets: [],
        verdict: pulls ? "pulls" : "refused",
        pulls,
        message: pulls ? "pulls" : "refused: HTTP 401",
    });

    it("counts a pod that pulls but lacks its account's Secrets as a failure (STALE), and orders worst first", () => {
        const sorted = sortWorstFirst([finding("z", "Pod/a", true), finding("m", "Pod/b", true, ["regcred"]), finding("m", "Pod/c", false), finding("a", "Pod/d", true)]);
        assert.deepEqual(
            sorted.map((f) => `${f.namespace}/${f.workload}`),
            ["m/Pod/b", "m/Pod/c", "a/Pod/d", "z/Pod/a"],
        );
        assert.ok(failed(sorted[0]));
        const out = table({ findings: sorted, leaks: [], requests: 3 });
        assert.match(out, /^STALE {2}m/m);
        assert.match(out, /^FAIL {3}m/m);
        assert.match(out, /4 images, 2 failing, 0 leaks; 3 registry requests\n$/);
        assert.equal(exitCode({ findings: [finding("a", "Pod/d", true)], leaks: [], requests: 1 }), 0);
    });

    it("takes --stack or --namespace, never both or neither, and refuses what it does not know", () => {
        assert.deepEqual(parseArgs(["--namespace", "a,b", "--namespace", "c", "--json", "--endpoint", "r:5000=http://r:5000/"]), {
            namespaces: ["a", "b", "c"],
            crossTenant: false,
            json: true,
            endpoints: { "r:5000": "http://r:5000" },
        });
        assert.equal(parseArgs(["--stack", "dev", "--cross-tenant"]).crossTenant, true);
        for (const bad of [[], ["--stack", "dev", "--namespace", "a"], ["--stack"], ["--bogus"], ["--namespace", "a", "--timeout", "0"], ["--namespace", "a", "--endpoint", "r=ftp://r"]]) {
            assert.throws(() => parseArgs(bad), Error, bad.join(" "));
        }
    });
});
