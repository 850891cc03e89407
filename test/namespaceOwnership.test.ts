/**
 * A namespace the stack would create that exists already and is not this stack's stops the run
 * before anything is declared (issue 33, item 15; components/namespaceOwnership.ts), and the
 * namespaces Kubernetes makes itself cannot be "created" at all (offline rule). kubectl's answers
 * here are what a real cluster gives; test/cluster/existingNamespace.test.ts asks a real one.
 */
import * as assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { validateStackConfig } from "../components/config";
import type { Kubectl, KubectlResult } from "../components/cluster";
import { namespaceOwnership, OWNER_ANNOTATION } from "../components/namespaceOwnership";
import { closedPort } from "./support/ports";
import { problemsFinder } from "./support/problems";
import { ofType, runProgram } from "./support/runProgram";
import { scratchDir } from "./support/scratch";

const TOKEN = "eyJhbGciOiJSUzI1NiJ9.owner-check-token-7c1";
const ok = (stdout: string): KubectlResult => ({ code: 0, stdout, stderr: "" });

/** `kubectl get namespaces -o json` as the API server answers it. */
const list = (namespaces: Record<string, string | undefined>) =>
    JSON.stringify({
        apiVersion: "v1",
        kind: "List",
        items: Object.entries(namespaces).map(([name, owner]) => ({
            apiVersion: "v1",
            kind: "Namespace",
            metadata: { name, ...(owner !== undefined ? { annotations: { [OWNER_ANNOTATION]: owner, "other/annotation": "x" } } : {}) },
        })),
    });

function recording(answer: KubectlResult): { kubectl: Kubectl; calls: string[][] } {
    const calls: string[][] = [];
    return {
        calls,
        kubectl: async (args) => {
            calls.push(args);
            return answer;
        },
    };
}

describe("namespace ownership: what the cluster's namespace list means", () => {
    const targets = [
        { path: "", namespace: "xnat-jobs" },
        { path: "tenants[0]", namespace: "team-a" },
    ];

    it("absent namespaces, or ones this stack marked, pass; the cluster is asked once", async () => {
        const c = recording(ok(list({ default: undefined, "xnat-jobs": "dev" })));
        assert.deepEqual(await namespaceOwnership(targets, "dev", c.kubectl), {});
        assert.deepEqual(c.calls, [["get", "namespaces", "-o", "json"]]);
    });

    it("an existing namespace without the mark stops, naming the key path, createNamespace: false and the mark", async () => {
        const answer = await namespaceOwnership(targets, "dev", recording(ok(list({ "team-a": undefined }))).kubectl);
        assert.equal(answer.warn, undefined);
        assert.equal(
            answer.stop,
            "existing namespaces, 1 problem:\n" +
                "  - registry-access:tenants[0].createNamespace: namespace 'team-a' exists and this stack did not create it: up would take it over, and destroy would delete it with everything in it " +
                "(fix: set createNamespace: false to use it and leave it on destroy (pulumi config set --path 'tenants[0].createNamespace' false); " +
                "or, if this stack is to own it (or holds it from before namespaces were marked), mark it: kubectl annotate --overwrite namespace team-a registry-access/stack=dev)",
        );
    });

    it("a namespace another stack marked stops, naming that stack", async () => {
        const answer = await namespaceOwnership(targets.slice(0, 1), "dev", recording(ok(list({ "xnat-jobs": "prod" }))).kubectl);
        assert.match(answer.stop!, /registry-access:createNamespace: namespace 'xnat-jobs' exists and belongs to stack 'prod' \(its registry-access\/stack annotation\)/);
        assert.match(answer.stop!, /a namespace belongs to one stack: remove it from this one, or set createNamespace: false/);
        const odd = await namespaceOwnership(targets.slice(0, 1), "dev", recording(ok(list({ "xnat-jobs": "x\n  - registry-access:forged: line" }))).kubectl);
        assert.match(odd.stop!, /belongs to stack 'x\\n {2}- registry-access:forged: line'/);
        assert.equal(odd.stop!.split("\n").length, 2, "the annotation added a line");
    });

    it("nothing to create: the cluster is not asked", async () => {
        const c = recording(ok(list({})));
        assert.deepEqual(await namespaceOwnership([], "dev", c.kubectl), {});
        assert.deepEqual(c.calls, []);
    });

    it("cannot tell: a cluster that does not answer warns; no kubectl, Forbidden, any other failure or an answer that is no list stops; kubectl's words never", async () => {
        const refused = { code: 1, stdout: "", stderr: "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?" };
        const down = await namespaceOwnership(targets, "dev", recording(refused).kubectl);
        assert.deepEqual(down, { warn: "cannot tell whether the namespaces this stack creates exist already (the cluster did not answer: the API server refused the connection): 'xnat-jobs', 'team-a'" });
        const cases: [KubectlResult, string][] = [
            [{ code: 127, stdout: "", stderr: "kubectl is not on PATH" }, "kubectl is not on PATH"],
            [{ code: 1, stdout: "", stderr: `Error from server (Forbidden): namespaces is forbidden: User "${TOKEN}" cannot list resource "namespaces"` }, "forbidden: may not list namespaces"],
            [{ code: 1, stdout: "", stderr: `error: stat {"users":[{"user":{"token":"${TOKEN}"}}]}: no such file or directory` }, "kubectl could not read the kubeconfig"],
            [ok(`<html>${TOKEN}</html>`), "kubectl's answer was not a namespace list"],
            [ok(JSON.stringify({ kind: "Status" })), "kubectl's answer was not a namespace list"],
        ];
        for (const [result, why] of cases) {
            const answer = await namespaceOwnership(targets, "dev", recording(result).kubectl);
            assert.equal(answer.warn, undefined);
            assert.ok(answer.stop!.startsWith("existing namespaces, 2 problems:\n"), answer.stop);
            assert.ok(answer.stop!.includes(`registry-access:tenants[0].createNamespace: cannot tell whether namespace 'team-a' exists already (${why})`), answer.stop);
            assert.ok(!answer.stop!.includes(TOKEN), "kubectl's text reached the message");
        }
    });
});

describe("namespace ownership in the program (mocks; a kubectl on PATH that lists namespaces)", function () {
    this.timeout(60000);
    let bin: string;
    const withNamespaces = (namespaces: Record<string, string | undefined>) => ({ PATH: bin, FAKE_NAMESPACES: list(namespaces) });
    const registries = [{ server: "registry.example.org", username: "puller", password: "pw-owner-check" }];

    before(() => {
        bin = scratchDir("registry-access-kubectl-");
        // sh builtins only: PATH holds this folder alone.
        writeFileSync(
            path.join(bin, "kubectl"),
            '#!/bin/sh\necho "$*" >> "${0%/*}/calls"\ncase "$*" in *"get namespaces -o json"*) printf \'%s\' "$FAKE_NAMESPACES"; exit 0;; esac\necho "unexpected kubectl $*" >&2\nexit 1\n',
            { mode: 0o755 },
        );
    });

    it("a namespace that exists and is not this stack's: stops before anything is declared", async () => {
        const r = await runProgram({ namespace: "xnat-jobs", registries }, { env: withNamespaces({ "xnat-jobs": undefined, default: undefined }) });
        assert.equal(r.error?.name, "RunError");
        assert.match(r.error!.message, /^existing namespaces, 1 problem:\n {2}- registry-access:createNamespace: namespace 'xnat-jobs' exists and this stack did not create it/);
        assert.match(r.error!.message, /fix: set createNamespace: false/);
        assert.deepEqual(r.resources, []);
    });

    it("a created Namespace carries the stack's mark beside its own annotations; the same stack's next run passes", async () => {
        const first = await runProgram({ namespace: "xnat-jobs", registries, annotations: { "example.org/owner": "lab" } }, { env: withNamespaces({}) });
        assert.equal(first.error, undefined, first.error?.message);
        const ns = ofType(first, "kubernetes:core/v1:Namespace")[0];
        assert.deepEqual((ns.inputs as { metadata: unknown }).metadata, { name: "xnat-jobs", annotations: { "example.org/owner": "lab", [OWNER_ANNOTATION]: "dev" } });
        const again = await runProgram({ namespace: "xnat-jobs", registries }, { env: withNamespaces({ "xnat-jobs": "dev" }) });
        assert.equal(again.error, undefined, again.error?.message);
        const other = await runProgram({ namespace: "xnat-jobs", registries }, { stack: "prod", env: withNamespaces({ "xnat-jobs": "dev" }) });
        assert.match(other.error!.message, /namespace 'xnat-jobs' exists and belongs to stack 'dev'/);
    });

    it("tenants: only those to create are checked; an adopted one is neither checked nor marked", async () => {
        const tenants = [
            { namespace: "team-a", registries },
            { namespace: "team-b", createNamespace: false, registries },
            { namespace: "team-c", registries },
        ];
        const r = await runProgram({ tenants }, { secretKeys: ["tenants"], env: withNamespaces({ "team-a": "dev", "team-b": undefined, "team-c": undefined }) });
        assert.equal(r.error?.name, "RunError");
        assert.match(r.error!.message, /^existing namespaces, 1 problem:\n {2}- registry-access:tenants\[2\]\.createNamespace: namespace 'team-c' exists/);
        const adopted = await runProgram({ tenants: tenants.slice(0, 2) }, { secretKeys: ["tenants"], env: withNamespaces({ "team-a": "dev", "team-b": undefined }) });
        assert.equal(adopted.error, undefined, adopted.error?.message);
        assert.deepEqual(
            ofType(adopted, "kubernetes:core/v1:Namespace").map((n) => n.name),
            ["team-a"],
        );
    });

    it("kubectl missing stops; a cluster that does not answer warns and declares", async () => {
        const missing = await runProgram({ namespace: "xnat-jobs", registries }, { env: { PATH: scratchDir("registry-access-empty-") } });
        assert.match(missing.error!.message, /registry-access:createNamespace: cannot tell whether namespace 'xnat-jobs' exists already \(kubectl is not on PATH\)/);
        assert.deepEqual(missing.resources, []);
        const dir = scratchDir("registry-access-owner-");
        const kubeconfig = path.join(dir, "kubeconfig");
        writeFileSync(
            kubeconfig,
            `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:${await closedPort()}"}}]\nusers: [{name: u, user: {token: ${TOKEN}}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n`,
        );
        const down = await runProgram({ namespace: "xnat-jobs", registries }, { env: { KUBECONFIG: kubeconfig } });
        assert.equal(down.error, undefined, down.error?.message);
        assert.match(down.log, /cannot tell whether the namespaces this stack creates exist already \(the cluster did not answer: [^)]*\): 'xnat-jobs'/);
        assert.ok(!down.log.includes(TOKEN));
    });

    it("createNamespace: false asks nothing", async () => {
        const before = readCalls();
        const r = await runProgram({ namespace: "xnat-jobs", createNamespace: false, registries }, { env: withNamespaces({ "xnat-jobs": undefined }) });
        assert.equal(r.error, undefined, r.error?.message);
        assert.equal(readCalls(), before);
    });

    const readCalls = () => {
        try {
            return readFileSync(path.join(bin, "calls"), "utf8");
        } catch {
            return "";
        }
    };
});

describe("namespaces Kubernetes makes itself (offline rule)", () => {
    const { problemAt } = problemsFinder("pw-system");
    const registries = [{ server: "registry.example.org", username: "puller", password: "pw-system" }];

    for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease"]) {
        it(`${ns} with createNamespace at its default is refused, naming the key and createNamespace: false`, () => {
            const p = problemAt({ namespace: ns, registries }, "createNamespace");
            assert.match(p.message, new RegExp(`^'${ns}' is a namespace Kubernetes makes itself`));
            assert.match(p.fix, /pulumi config set --path 'createNamespace' false/);
            const t = problemAt({ tenants: [{ namespace: "team-a", registries }, { namespace: ns, createNamespace: "true", registries }] }, "tenants[1].createNamespace");
            assert.match(t.fix, /pulumi config set --path 'tenants\[1\]\.createNamespace' false/);
        });
    }

    it("adopting them is fine; a namespace merely starting with kube- is not theirs", () => {
        for (const ns of ["default", "kube-system", "kube-public", "kube-node-lease"]) {
            assert.equal(validateStackConfig({ namespace: ns, createNamespace: false, registries }).tenants[0].createNamespace, false);
        }
        assert.equal(validateStackConfig({ namespace: "kube-jobs", registries }).tenants[0].createNamespace, true);
    });
});
