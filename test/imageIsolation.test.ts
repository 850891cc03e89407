/**
 * How the program reads the cluster's answers about image isolation (components/imageIsolation.ts),
 * given kubectl's answers as a real cluster gives them (test/cluster/isolation.test.ts asks a
 * real one), and what the program does with each imageIsolation setting.
 */
import * as assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { clusterKubectl, imageIsolation, isolationMessage, type Kubectl, type KubectlResult } from "../components/imageIsolation";
import { closedPort } from "./support/ports";
import { runProgram } from "./support/runProgram";

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
        assert.ok("by" in answers[1] && /denied the request/.test(answers[1].by));
        const creates = c.calls.filter((x) => x.args[0] === "create");
        assert.equal(creates.length, 2, "the batch, then the refused probe alone");
        assert.equal((JSON.parse(creates[1].input!) as { metadata: { namespace: string } }).metadata.namespace, "team-1");
    });

    it("a refusal by an admission policy isolates; a failure of another kind is 'cannot tell', quoted", async () => {
        const refused = await imageIsolation(probes.slice(0, 1), cluster({ namespaces: ["team-a"], refuse: 'Error from server (Forbidden): admission webhook "pull-policy" denied the request: imagePullPolicy must be Always' }).kubectl);
        assert.ok("by" in refused[0] && /denied the request/.test(refused[0].by));
        const broken = await imageIsolation(probes.slice(0, 1), cluster({ namespaces: ["team-a"], refuse: "error: unable to recognize STDIN: no matches for kind Pod" }).kubectl);
        assert.deepEqual(broken, [{ namespace: "team-a", unknown: "the dry run failed: unable to recognize STDIN: no matches for kind Pod" }]);
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

    it("a cluster that does not answer, or kubelets it may not read, give 'cannot tell' with kubectl's reason", async () => {
        const down = await imageIsolation(probes, cluster({ down: "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?" }).kubectl);
        assert.deepEqual(down.map((a) => ("unknown" in a ? a.unknown : "")), Array(2).fill("the cluster did not answer: The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?"));
        const forbidden = await imageIsolation(probes.slice(0, 1), cluster({ namespaces: ["team-a"], nodes: { n1: fail('Error from server (Forbidden): nodes "n1" is forbidden: User "ci" cannot get resource "nodes/proxy"') } }).kubectl);
        assert.match(isolationMessage(forbidden)!, /team-a: cannot tell \(no AlwaysPullImages, and reading node n1's kubelet configuration failed: Error from server \(Forbidden\)/);
    });
});

describe("image isolation: the kubectl it asks with (a recording kubectl on PATH)", () => {
    let bin: string;
    let path0: string | undefined;
    /** What the recording kubectl saw at each call: its arguments, stdin, and the --kubeconfig file's text and mode. */
    const calls = () =>
        readFileSync(path.join(bin, "calls"), "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as { args: string[]; stdin: string; kubeconfig?: string; mode?: string });

    before(() => {
        bin = mkdtempSync(path.join(tmpdir(), "registry-access-kubectl-"));
        const script = `#!/usr/bin/env node
const fs = require("fs");
const args = process.argv.slice(2);
const k = args.find((a) => a.startsWith("--kubeconfig="));
const file = k && k.slice("--kubeconfig=".length);
const seen = { args, stdin: fs.readFileSync(0, "utf8") };
if (file && fs.existsSync(file)) { seen.kubeconfig = fs.readFileSync(file, "utf8"); seen.mode = (fs.statSync(file).mode & 0o777).toString(8); }
fs.appendFileSync(require("path").join(__dirname, "calls"), JSON.stringify(seen) + "\\n");
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
    });

    it("a kubeconfig given as text is written once, for this user only, and named with the context on every call", async () => {
        const text = "apiVersion: v1\nkind: Config\n";
        const kubectl = clusterKubectl({ kubeconfig: text, context: "prod" });
        const first = await kubectl(["get", "namespaces"], "stdin-one");
        await kubectl(["get", "nodes"]);
        assert.deepEqual(first, { code: 0, stdout: "out:namespaces", stderr: "" });
        const [a, b] = calls();
        assert.deepEqual(a.args.slice(0, 1), ["--request-timeout=10s"]);
        assert.ok(a.args.includes("--context=prod"));
        assert.equal(a.stdin, "stdin-one");
        assert.equal(b.stdin, "");
        assert.equal(a.kubeconfig, text);
        assert.equal(a.mode, "600");
        const file = (x: { args: string[] }) => x.args.find((s) => s.startsWith("--kubeconfig="));
        assert.equal(file(a), file(b), "the kubeconfig was written again");
    });

    it("a kubeconfig given as a path is passed as it is; none and no context pass neither flag", async () => {
        const before = calls().length;
        await clusterKubectl({ kubeconfig: "/etc/cluster/kubeconfig" })(["version"]);
        await clusterKubectl({})(["version"]);
        const [withPath, bare] = calls().slice(before);
        assert.deepEqual(withPath.args, ["--request-timeout=10s", "--kubeconfig=/etc/cluster/kubeconfig", "version"]);
        assert.deepEqual(bare.args, ["--request-timeout=10s", "version"]);
    });

    it("kubectl's exit code and error text come back; a missing kubectl is code 127 with its reason", async () => {
        process.env.FAKE_CODE = "3";
        process.env.FAKE_STDERR = "error: the server doesn't have a resource type";
        assert.deepEqual(await clusterKubectl({})(["get", "x"]), { code: 3, stdout: "out:x", stderr: "error: the server doesn't have a resource type" });
        delete process.env.FAKE_CODE;
        delete process.env.FAKE_STDERR;
        process.env.PATH = mkdtempSync(path.join(tmpdir(), "registry-access-empty-"));
        try {
            const missing = await clusterKubectl({})(["version"]);
            assert.equal(missing.code, 127);
            assert.equal(missing.stderr, "kubectl is not on PATH");
        } finally {
            process.env.PATH = `${bin}:${path0}`;
        }
    });
});

describe("image isolation in the program (mocks; kubectl against a cluster that does not answer)", function () {
    this.timeout(60000);
    let env: Record<string, string>;

    before(async () => {
        // A kubeconfig whose server is a closed port on this machine: kubectl's connection is refused.
        const dir = mkdtempSync(path.join(tmpdir(), "registry-access-isolation-"));
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
