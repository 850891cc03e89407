/**
 * How the program reads the cluster's answers about image isolation (components/imageIsolation.ts),
 * given kubectl's answers as a real cluster gives them (test/cluster/isolation.test.ts asks a
 * real one), and what the program does with each imageIsolation setting.
 */
import * as assert from "node:assert/strict";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import * as path from "node:path";
import { clusterKubectl, type Kubectl, type KubectlResult } from "../components/cluster";
import { imageIsolation, isolationMessage } from "../components/imageIsolation";
import { closedPort } from "./support/ports";
import { runProgram } from "./support/runProgram";
import { scratchDir } from "./support/scratch";

/** A token in the kubeconfig: it must never appear in a message. */
const TOKEN = "eyJhbGciOiJSUzI1NiJ9.kubeconfig-token-3f9a";
const ok = (stdout: string): KubectlResult => ({ code: 0, stdout, stderr: "" });
const fail = (stderr: string): KubectlResult => ({ code: 1, stdout: "", stderr });
const configz = (gate: boolean, policy?: string) => ok(JSON.stringify({ kubeletconfig: { featureGates: gate ? { KubeletEnsureSecretPulledImages: true } : {}, ...(policy ? { imagePullCredentialsVerificationPolicy: policy } : {}) } }));

/** A cluster as kubectl sees it: its namespaces, what admission does to the probe pod, each node's kubelet. */
function cluster(opts: { namespaces?: string[]; pullPolicy?: string; refuse?: string; refuseIn?: string[]; nodes?: Record<string, KubectlResult>; down?: string }) {
    const calls: { args: string[]; input?: string }[] = [];
    const kubectl: Kubectl = async (args, input) => {
        calls.push({ args, input });
        if (opts.down) {
            return fail(opts.down);
        }
        if (args[0] === "get" && args[1] === "namespaces") {
            return ok((opts.namespaces ?? []).join(" "));
        }
        if (args[0] === "create") {
            type Pod = { metadata: { name?: string; namespace: string }; spec: { containers: { imagePullPolicy?: string }[] } };
            const doc = JSON.parse(input!) as Pod | { kind: "List"; items: Pod[] };
            const refused = (pod: Pod) => opts.refuse !== undefined && (opts.refuseIn === undefined || opts.refuseIn.includes(pod.metadata.namespace));
            if (!("items" in doc)) {
                if (refused(doc)) {
                    return fail(opts.refuse!);
                }
                doc.spec.containers[0].imagePullPolicy = opts.pullPolicy ?? "IfNotPresent";
                return ok(JSON.stringify(doc));
            }
            // As kubectl does with a List: every item tried, a line per created one, errors on stderr, exit 1 if any failed.
            const lines = doc.items.filter((pod) => !refused(pod)).map((pod) => `${pod.metadata.name} ${opts.pullPolicy ?? "IfNotPresent"}\n`);
            const failed = doc.items.filter(refused).length;
            return { code: failed ? 1 : 0, stdout: lines.join(""), stderr: failed ? `${opts.refuse}\n`.repeat(failed) : "" };
        }
        if (args[0] === "get" && args[1] === "nodes") {
            return ok(Object.keys(opts.nodes ?? {}).join(" "));
        }
        const node = /\/nodes\/([^/]+)\/proxy\/configz$/.exec(args[2] ?? "")?.[1];
        if (node && opts.nodes?.[node]) {
            return opts.nodes[node];
        }
        throw new Error(`unexpected kubectl ${args.join(" ")}`);
    };
    return { kubectl, calls };
}

const probes = [
    { namespace: "team-a", server: "registry.example.org:5000" },
    { namespace: "team-b", server: "ghcr.io/team-b" },
];

describe("image isolation: what the cluster's answers mean", () => {
    it("AlwaysPullImages (the pod comes back with Always) isolates every namespace; the kubelets are not asked", async () => {
        const c = cluster({ namespaces: ["team-a", "team-b"], pullPolicy: "Always" });
        const answers = await imageIsolation(probes, c.kubectl);
        assert.deepEqual(answers.map((a) => "isolated" in a && a.isolated), [true, true]);
        assert.equal(isolationMessage(answers), undefined);
        assert.ok(!c.calls.some((x) => x.args.includes("nodes")));
    });

    it("the probe is a dry run with a tagged image of the tenant's registry, no pull policy, no pull secret and no token", async () => {
        const c = cluster({ namespaces: ["team-a"], pullPolicy: "Always" });
        await imageIsolation(probes, c.kubectl);
        const creates = c.calls.filter((x) => x.args[0] === "create");
        assert.equal(creates.length, 1, "one kubectl for every probe");
        assert.ok(creates[0].args.includes("--dry-run=server"));
        type Pod = { metadata: { namespace: string }; spec: Record<string, unknown> & { containers: Record<string, unknown>[] } };
        const pods = (JSON.parse(creates[0].input!) as { kind: string; items: Pod[] }).items;
        assert.deepEqual(
            pods.map((p) => [p.metadata.namespace, p.spec.containers[0].image]),
            [
                ["team-a", "registry.example.org:5000/registry-access-isolation-probe:dry-run"],
                // team-b does not exist yet (the stack creates it): cluster-wide admission is asked in default.
                ["default", "ghcr.io/team-b/registry-access-isolation-probe:dry-run"],
            ],
        );
        for (const p of pods) {
            assert.equal(p.spec.containers[0].imagePullPolicy, undefined);
            assert.equal(p.spec.imagePullSecrets, undefined);
            assert.equal(p.spec.automountServiceAccountToken, false);
        }
    });

    it("asks every namespace in one kubectl; new namespaces with one registry are one probe; a refused one is asked again alone", async () => {
        const many = Array.from({ length: 300 }, (_, i) => ({ namespace: `team-${i}`, server: "registry.example.org" }));
        const fresh = cluster({ namespaces: ["default"], pullPolicy: "Always" });
        assert.ok((await imageIsolation(many, fresh.kubectl)).every((a) => "isolated" in a && a.isolated));
        const batch = fresh.calls.filter((x) => x.args[0] === "create");
        assert.equal(batch.length, 1);
        assert.equal((JSON.parse(batch[0].input!) as { items: unknown[] }).items.length, 1, "300 new namespaces, one registry: one probe in default");

        const existing = many.slice(0, 3).map((p) => p.namespace);
        const c = cluster({ namespaces: existing, refuse: 'Error from server (Forbidden): admission webhook "pull-policy" denied the request', refuseIn: ["team-1"], nodes: { n1: configz(false) } });
        const answers = await imageIsolation(many.slice(0, 3), c.kubectl);
        assert.deepEqual(answers.map((a) => ("by" in a ? "isolated" : "why" in a ? "open" : "unknown")), ["open", "isolated", "open"]);
        assert.ok("by" in answers[1] && /admission refuses the pod/.test(answers[1].by));
        const creates = c.calls.filter((x) => x.args[0] === "create");
        assert.equal(creates.length, 2, "the batch, then the refused probe alone");
        assert.equal((JSON.parse(creates[1].input!) as { metadata: { namespace: string } }).metadata.namespace, "team-1");
    });

    it("a refusal by an admission webhook or policy isolates; a failure of another kind is 'cannot tell'; both in the program's own words", async () => {
        const denials = [
            'Error from server (Forbidden): error when creating "STDIN": admission webhook "pull-policy" denied the request: imagePullPolicy must be Always',
            "Error from server (Forbidden): error when creating \"STDIN\": pods \"p\" is forbidden: ValidatingAdmissionPolicy 'always-pull' with binding 'b' denied request: failed expression",
        ];
        for (const denial of denials) {
            const refused = await imageIsolation(probes.slice(0, 1), cluster({ namespaces: ["team-a"], refuse: `${denial} ${TOKEN}` }).kubectl);
            assert.deepEqual(refused, [{ namespace: "team-a", isolated: true, by: "admission refuses the pod (a webhook or policy denied it)" }]);
        }
        const broken = await imageIsolation(probes.slice(0, 1), cluster({ namespaces: ["team-a"], refuse: "error: unable to recognize STDIN: no matches for kind Pod" }).kubectl);
        assert.deepEqual(broken, [{ namespace: "team-a", unknown: "the dry run failed: the API server does not have what kubectl asked for (not found)" }]);
        // RBAC's Forbidden is not admission's refusal.
        const rbac = await imageIsolation(probes.slice(0, 1), cluster({ namespaces: ["team-a"], refuse: 'Error from server (Forbidden): error when creating "STDIN": pods "p" is forbidden: User "ci" cannot create resource "pods" in API group "" in the namespace "team-a"' }).kubectl);
        assert.deepEqual(rbac, [{ namespace: "team-a", unknown: "the dry run failed: forbidden: may not create pods" }]);
    });

    it("IfNotPresent with every kubelet re-checking credentials isolates; one node without the gate does not, and is named", async () => {
        const all = await imageIsolation(probes, cluster({ namespaces: ["team-a", "team-b"], nodes: { n1: configz(true), n2: configz(true, "AlwaysVerify") } }).kubectl);
        assert.ok(all.every((a) => "isolated" in a && a.isolated));
        const some = await imageIsolation(probes, cluster({ namespaces: ["team-a", "team-b"], nodes: { n1: configz(true), n2: configz(false), n3: configz(true, "NeverVerify") } }).kubectl);
        assert.deepEqual(
            some.map((a) => ("why" in a ? a.why : a)),
            ["no AlwaysPullImages, and no KubeletEnsureSecretPulledImages on node n2, n3", "no AlwaysPullImages, and no KubeletEnsureSecretPulledImages on node n2, n3"],
        );
        const message = isolationMessage(some)!;
        assert.match(message, /^image isolation: 2 namespaces are not known to keep tenants' pulled images apart on shared nodes:\n {2}- team-a: a pod without credentials runs/);
        assert.match(message, /\(fix: enable the AlwaysPullImages admission plugin or the kubelet's KubeletEnsureSecretPulledImages gate/);
        assert.match(message, /set registry-access:imageIsolation off\)$/);
    });

    it("a cluster that does not answer, or kubelets it may not read, give 'cannot tell' with the reason in the program's words", async () => {
        const down = await imageIsolation(probes, cluster({ down: "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?" }).kubectl);
        assert.deepEqual(down.map((a) => ("unknown" in a ? a.unknown : "")), Array(2).fill("the cluster did not answer: the API server refused the connection"));
        const forbidden = await imageIsolation(probes.slice(0, 1), cluster({ namespaces: ["team-a"], nodes: { n1: fail('Error from server (Forbidden): nodes "n1" is forbidden: User "ci" cannot get resource "nodes/proxy" in API group "" at the cluster scope') } }).kubectl);
        assert.match(isolationMessage(forbidden)!, /team-a: cannot tell \(no AlwaysPullImages, and reading node n1's kubelet configuration failed: forbidden: may not get nodes\/proxy\)/);
    });

    it("kubectl's error text never reaches a message: each failure is told in the program's own words, whatever kubectl quotes", async () => {
        // What kubectl prints for each kind of failure (the real lines, with a token of the kubeconfig where kubectl may quote it).
        const failures: [string, string][] = [
            [`error: stat {"users":[{"name":"u","user":{"token":"${TOKEN}"}}]}: no such file or directory`, "kubectl could not read the kubeconfig"],
            [`error: error loading config file "/dev/fd/3": couldn't get version/kind; json parse error: "${TOKEN}"`, "kubectl could not read the kubeconfig"],
            [`error: error loading config file "/dev/fd/3": yaml: line 1: did not find expected ',' or ']' near ${TOKEN}`, "kubectl could not read the kubeconfig"],
            [`Error in configuration: context was not found for specified context: ${TOKEN}`, "the kubeconfig has no such context or cluster"],
            [`error: no server found for cluster "${TOKEN}"`, "the kubeconfig has no such context or cluster"],
            [
                'E1205 03:41:19.224097 12159 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: Get \\"http://127.0.0.1:1/api?timeout=10s\\": dial tcp 127.0.0.1:1: connect: connection refused"\nThe connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?',
                "the API server refused the connection",
            ],
            ["Unable to connect to the server: dial tcp: lookup cluster.invalid on 10.0.0.53:53: no such host", "cannot reach the API server"],
            ["Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority", "TLS with the API server failed (its certificate is not trusted, or not for that name)"],
            ["error: You must be logged in to the server (Unauthorized)", "the API server refused the credentials (Unauthorized)"],
            ['Error from server (Forbidden): namespaces is forbidden: User "system:serviceaccount:ci:deploy" cannot list resource "namespaces" in API group "" at the cluster scope', "forbidden: may not list namespaces"],
            [`Error from server (Forbidden): ${TOKEN} cannot list resource "${TOKEN}"`, "forbidden"],
            ["Unable to connect to the server: net/http: request canceled (Client.Timeout exceeded while awaiting headers)", "the API server did not answer in time"],
            ["Unable to connect to the server: dial tcp 10.0.0.1:6443: i/o timeout", "the API server did not answer in time"],
            ['Error from server (NotFound): the server could not find the requested resource', "the API server does not have what kubectl asked for (not found)"],
            [`a failure never seen before, quoting ${TOKEN}`, "kubectl failed (exit 1)"],
        ];
        for (const [stderr, words] of failures) {
            const answers = await imageIsolation(probes.slice(0, 1), cluster({ down: `${stderr}\n${TOKEN}\n` }).kubectl);
            assert.deepEqual(answers, [{ namespace: "team-a", unknown: `the cluster did not answer: ${words}` }], stderr);
            assert.ok(!isolationMessage(answers)!.includes(TOKEN));
        }
    });

    it("kubectl answering exit 0 with something that is not JSON gives 'cannot tell', never an exception", async () => {
        const garbled: Kubectl = async (args) => {
            if (args[0] === "get" && args[1] === "namespaces") return ok("team-a");
            if (args[0] === "get" && args[1] === "nodes") return ok("n1");
            // The batch's lines are missing, the probe alone and the kubelet answer with a page of text.
            return ok(`<html>${TOKEN}</html>`);
        };
        const admission = await imageIsolation(probes.slice(0, 1), garbled);
        assert.deepEqual(admission, [{ namespace: "team-a", unknown: "the dry run's answer is not JSON" }]);
        const kubelet = await imageIsolation(probes.slice(0, 1), cluster({ namespaces: ["team-a"], nodes: { n1: ok(`Error: ${TOKEN}`) } }).kubectl);
        assert.deepEqual(kubelet, [{ namespace: "team-a", unknown: "no AlwaysPullImages, and node n1's kubelet configuration is not JSON" }]);
        const notAnObject = await imageIsolation(probes.slice(0, 1), async (args) => (args[0] === "get" ? ok("team-a") : ok("null")));
        assert.deepEqual(notAnObject, [{ namespace: "team-a", unknown: "the dry run's answer is not JSON" }]);
        const names = await imageIsolation(probes.slice(0, 1), cluster({ namespaces: ["team-a"], nodes: { [`not a node name ${TOKEN}`]: configz(true) } }).kubectl);
        assert.deepEqual(names, [{ namespace: "team-a", unknown: "no AlwaysPullImages, and kubectl's list of nodes is not a list of node names" }]);
    });
});

describe("image isolation: the kubectl it asks with (a recording kubectl on PATH)", () => {
    let bin: string;
    let path0: string | undefined;
    /** What the recording kubectl saw at each call: its arguments, stdin, and the --kubeconfig file's text (read twice) and mode. */
    const calls = () =>
        readFileSync(path.join(bin, "calls"), "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as { args: string[]; stdin: string; kubeconfig?: string; reread?: string; mode?: string });
    const json = JSON.stringify({ apiVersion: "v1", kind: "Config", users: [{ name: "u", user: { token: TOKEN } }] });

    before(() => {
        bin = scratchDir("registry-access-kubectl-");
        // Like kubectl: a --kubeconfig that does not exist is an error quoting it; one that does is
        // read (twice, as the gcloud kubectl dispatcher does: once itself, once the kubectl it runs).
        const script = `#!/usr/bin/env node
const fs = require("fs");
const args = process.argv.slice(2);
const k = args.find((a) => a.startsWith("--kubeconfig="));
const file = k && k.slice("--kubeconfig=".length);
const seen = { args, stdin: fs.readFileSync(0, "utf8") };
if (file && fs.existsSync(file) && fs.statSync(file).isFile()) { seen.kubeconfig = fs.readFileSync(file, "utf8"); seen.reread = fs.readFileSync(file, "utf8"); seen.mode = (fs.statSync(file).mode & 0o777).toString(8); }
fs.appendFileSync(require("path").join(__dirname, "calls"), JSON.stringify(seen) + "\\n");
if (file && !fs.existsSync(file)) { process.stderr.write("error: stat " + file + ": no such file or directory\\n"); process.exit(1); }
if (process.env.FAKE_QUOTE_CONFIG) { process.stderr.write('error: error loading config file "' + file + '": couldn\\'t get version/kind; json parse error: ' + seen.kubeconfig + "\\n"); process.exit(1); }
process.stdout.write("out:" + args[args.length - 1]);
process.stderr.write(process.env.FAKE_STDERR || "");
process.exit(Number(process.env.FAKE_CODE || 0));
`;
        writeFileSync(path.join(bin, "kubectl"), script);
        chmodSync(path.join(bin, "kubectl"), 0o755);
        path0 = process.env.PATH;
        process.env.PATH = `${bin}:${path0}`;
    });
    after(() => {
        process.env.PATH = path0;
        delete process.env.FAKE_CODE;
        delete process.env.FAKE_STDERR;
        delete process.env.FAKE_QUOTE_CONFIG;
    });

    it("a kubeconfig's content, on one line (JSON) or many, reaches every call as /dev/fd/3, readable again, for this user only, with the context and the cluster", async () => {
        const yaml = `apiVersion: v1\nkind: Config\nusers: [{name: u, user: {token: ${TOKEN}}}]\n`;
        for (const content of [json, yaml]) {
            const settings = { kubeconfig: content, context: "prod", cluster: "blue" };
            const kubectl = clusterKubectl(settings);
            const first = await kubectl(["get", "namespaces"], "stdin-one");
            await kubectl(["get", "nodes"]);
            assert.deepEqual(first, { code: 0, stdout: "out:namespaces", stderr: "" });
            const [a, b] = calls().slice(-2);
            assert.deepEqual(a.args, ["--request-timeout=10s", "--kubeconfig=/dev/fd/3", "--context=prod", "--cluster=blue", "get", "namespaces"]);
            assert.equal(a.stdin, "stdin-one");
            assert.equal(b.stdin, "");
            for (const call of [a, b]) {
                assert.equal(call.kubeconfig, content);
                assert.equal(call.reread, content, "kubectl reading the kubeconfig a second time");
                assert.equal(call.mode, "600");
            }
        }
    });

    it("as the provider reads it: an existing file after ~ expansion (the user's home) is a path, anything else is content", async () => {
        const file = path.join(bin, "kubeconfig.yaml");
        writeFileSync(file, "apiVersion: v1\nkind: Config\n");
        const home = userInfo().homedir;
        const flagFor = async (kubeconfig: string) => {
            await clusterKubectl({ kubeconfig })(["version"]);
            const [call] = calls().slice(-1);
            return { flag: call.args.find((a) => a.startsWith("--kubeconfig=")), read: call.kubeconfig };
        };
        assert.deepEqual(await flagFor(file), { flag: `--kubeconfig=${file}`, read: "apiVersion: v1\nkind: Config\n" });
        assert.deepEqual(await flagFor(`~/${path.relative(home, file)}`), { flag: `--kubeconfig=${file}`, read: "apiVersion: v1\nkind: Config\n" });
        assert.deepEqual((await flagFor("~")).flag, `--kubeconfig=${home}`);
        // A path that does not exist is the provider's content, as is anything not a path.
        assert.deepEqual(await flagFor("/etc/no-such-dir/kubeconfig"), { flag: "--kubeconfig=/dev/fd/3", read: "/etc/no-such-dir/kubeconfig" });
        assert.deepEqual(await flagFor("~/no-such-dir/kubeconfig"), { flag: "--kubeconfig=/dev/fd/3", read: path.join(home, "no-such-dir/kubeconfig") });
        await clusterKubectl({})(["version"]);
        assert.deepEqual(calls().slice(-1)[0].args, ["--request-timeout=10s", "version"], "no setting: kubectl's own KUBECONFIG");
    });

    it("kubectl's error quoting the kubeconfig never reaches the message", async () => {
        process.env.FAKE_QUOTE_CONFIG = "1";
        try {
            for (const kubeconfig of [json, `apiVersion: v1\nusers: [{name: u, user: {token: ${TOKEN}}}]\n`]) {
                const raw = await clusterKubectl({ kubeconfig })(["get", "namespaces"]);
                assert.ok(raw.stderr.includes(TOKEN), "the fake kubectl quotes the kubeconfig, as kubectl may");
                const answers = await imageIsolation(probes, clusterKubectl({ kubeconfig }));
                const message = isolationMessage(answers)!;
                assert.ok(!message.includes(TOKEN), message);
                assert.match(message, /team-a: cannot tell \(the cluster did not answer: kubectl could not read the kubeconfig\)/);
            }
        } finally {
            delete process.env.FAKE_QUOTE_CONFIG;
        }
    });

    it("kubectl's exit code and error text come back; a missing kubectl is code 127, and says so", async () => {
        process.env.FAKE_CODE = "3";
        process.env.FAKE_STDERR = "error: the server doesn't have a resource type";
        assert.deepEqual(await clusterKubectl({})(["get", "x"]), { code: 3, stdout: "out:x", stderr: "error: the server doesn't have a resource type" });
        delete process.env.FAKE_CODE;
        delete process.env.FAKE_STDERR;
        process.env.PATH = scratchDir("registry-access-empty-");
        try {
            const missing = await clusterKubectl({ kubeconfig: json })(["version"]);
            assert.equal(missing.code, 127);
            assert.equal(missing.stderr, "kubectl is not on PATH");
            const answers = await imageIsolation(probes.slice(0, 1), clusterKubectl({}));
            assert.deepEqual(answers, [{ namespace: "team-a", unknown: "the cluster did not answer: kubectl is not on PATH" }]);
        } finally {
            process.env.PATH = `${bin}:${path0}`;
        }
    });

    it("a temp dir it cannot write to is an answer too ('cannot tell'), never an exception", async () => {
        const tmp0 = process.env.TMPDIR;
        process.env.TMPDIR = path.join(bin, "no-such-dir");
        try {
            const answers = await imageIsolation(probes.slice(0, 1), clusterKubectl({ kubeconfig: json }));
            assert.deepEqual(answers, [{ namespace: "team-a", unknown: "the cluster did not answer: kubectl could not be run" }]);
        } finally {
            if (tmp0 === undefined) delete process.env.TMPDIR;
            else process.env.TMPDIR = tmp0;
        }
    });
});

describe("image isolation in the program (mocks; kubectl against a cluster that does not answer)", function () {
    this.timeout(60000);
    let env: Record<string, string>;

    before(async () => {
        // A kubeconfig whose server is a closed port on this machine: kubectl's connection is refused.
        const dir = scratchDir("registry-access-isolation-");
        const kubeconfig = path.join(dir, "kubeconfig");
        const server = `https://127.0.0.1:${await closedPort()}`;
        writeFileSync(
            kubeconfig,
            `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`,
        );
        env = { KUBECONFIG: kubeconfig };
    });

    const tenants = [
        { namespace: "team-a", registries: [{ server: "registry.example.org", username: "a", password: "pw-a" }] },
        { namespace: "team-b", registries: [{ server: "registry.example.org", username: "b", password: "pw-b" }] },
    ];

    it("require: stops before anything is declared, listing every namespace with the reason and the fix", async () => {
        const r = await runProgram({ tenants, imageIsolation: "require" }, { secretKeys: ["tenants"], env });
        assert.deepEqual(r.resources, []);
        assert.equal(r.error?.name, "RunError");
        assert.match(r.error!.message, /^image isolation: 2 namespaces are not known to keep tenants' pulled images apart on shared nodes:\n {2}- team-a: cannot tell \(the cluster did not answer: .*refused/);
        assert.match(r.error!.message, /\n {2}- team-b: cannot tell/);
        assert.ok(!/pw-a|pw-b/.test(r.error!.message + r.log));
    });

    it("warn (the default): a multi-tenant stack is warned and deployed; a one-namespace stack is not asked", async () => {
        const multi = await runProgram({ tenants, imageIsolation: "warn" }, { secretKeys: ["tenants"], env });
        assert.equal(multi.error, undefined, multi.error?.message);
        assert.ok(multi.resources.length > 0);
        assert.match(multi.log, /image isolation: 2 namespaces are not known/);
        const single = await runProgram({ namespace: "solo", registries: [tenants[0].registries[0]], imageIsolation: "warn" }, { env });
        assert.equal(single.error, undefined);
        assert.doesNotMatch(single.log, /image isolation/);
    });

    it("kubernetes:kubeconfig given as content on one line is what kubectl uses (not KUBECONFIG), and its token is in no message", async () => {
        const server = `https://127.0.0.1:${await closedPort()}`;
        const content = JSON.stringify({
            apiVersion: "v1",
            kind: "Config",
            clusters: [{ name: "c", cluster: { server } }],
            users: [{ name: "u", user: { token: TOKEN } }],
            contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
            "current-context": "c",
        });
        // KUBECONFIG names a file kubectl cannot read: were it used, the reason would say so.
        const unreadable = path.join(scratchDir("registry-access-isolation-"), "kubeconfig");
        writeFileSync(unreadable, "{ not a kubeconfig");
        const r = await runProgram({ tenants, imageIsolation: "require", "kubernetes:kubeconfig": content }, { secretKeys: ["tenants"], env: { KUBECONFIG: unreadable } });
        assert.match(r.error!.message, /team-a: cannot tell \(the cluster did not answer: the API server refused the connection\)/);
        assert.ok(!(r.error!.message + r.log).includes(TOKEN));
    });

    it("kubernetes:context and kubernetes:cluster pick the context and the cluster kubectl uses", async () => {
        const bin = scratchDir("registry-access-kubectl-");
        // Records its arguments; lists no namespaces for whoever asks in JSON, fails the rest.
        writeFileSync(path.join(bin, "kubectl"), `#!/bin/sh\necho "$@" >> "${bin}/args"\ncase "$*" in *"get namespaces -o json") echo '{"items":[]}'; exit 0;; esac\nexit 1\n`, { mode: 0o755 });
        const r = await runProgram({ tenants, imageIsolation: "warn", "kubernetes:context": "prod", "kubernetes:cluster": "blue" }, { secretKeys: ["tenants"], env: { ...env, PATH: `${bin}:${process.env.PATH}` } });
        assert.equal(r.error, undefined, r.error?.message);
        const first = readFileSync(path.join(bin, "args"), "utf8").split("\n")[0].split(" ");
        assert.ok(first.includes("--context=prod") && first.includes("--cluster=blue"), first.join(" "));
    });

    it("off: says nothing", async () => {
        const r = await runProgram({ tenants, imageIsolation: "off" }, { secretKeys: ["tenants"], env });
        assert.equal(r.error, undefined);
        assert.doesNotMatch(r.log, /image isolation/);
    });

    it("a value other than warn, require or off is a config problem naming the key and the fix", async () => {
        const r = await runProgram({ tenants, imageIsolation: "always" }, { secretKeys: ["tenants"], env });
        assert.match(r.error!.message, /registry-access:imageIsolation: must be warn, require or off \(fix: set warn/);
    });
});
