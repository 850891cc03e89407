import * as assert from "node:assert/strict";
import { askingOnce, type KubectlResult } from "../components/cluster";
import { validateStackConfig } from "../components/config";
import { type ListedNamespace, listedNamespaces, listedServiceAccounts, selectNamespaces } from "../components/namespaceSelection";

const reg = { server: "registry.example.org", username: "puller", password: "pw" };
const ns = (name: string, labels: Record<string, string> = {}, extra: Partial<ListedNamespace> = {}): ListedNamespace => ({ name, labels, terminating: false, ...extra });
const project = { matchLabels: { "field.cattle.io/projectId": "p-abc" } };
const inProject = { "field.cattle.io/projectId": "p-abc" };

describe("namespaces chosen by label selectors, and serviceAccounts \"*\"", () => {
    const cluster = [ns("team-b", inProject), ns("team-a", inProject), ns("other", { "field.cattle.io/projectId": "p-xyz" }), ns("plain")];

    it("reaches each namespace the selector matches, adopted, in name order, with the tenant's registries", () => {
        const config = validateStackConfig({ namespaceSelector: project, registries: [reg] });
        const s = selectNamespaces(config, cluster, new Map(), "dev");
        assert.deepEqual(
            s.tenants.map((t) => [t.namespace, t.createNamespace, t.path, t.serviceAccounts, t.registries[0].secretName]),
            [
                ["team-a", false, "", ["default"], "regcred-registry-example-org"],
                ["team-b", false, "", ["default"], "regcred-registry-example-org"],
            ],
        );
        assert.deepEqual(s.problems, []);
        assert.deepEqual(s.report, ["namespaceSelector (field.cattle.io/projectId=p-abc) matches team-a, team-b"]);
        assert.deepEqual(s.warnings, []);
    });

    it("leaves out excluded and terminating namespaces", () => {
        const config = validateStackConfig({ namespaceSelector: project, excludeNamespaces: ["team-b"], registries: [reg] });
        const s = selectNamespaces(config, [...cluster, ns("team-c", inProject, { terminating: true })], new Map(), "dev");
        assert.deepEqual(s.tenants.map((t) => t.namespace), ["team-a"]);
    });

    it("warns when a selector matches nothing, and declares nothing for it", () => {
        const config = validateStackConfig({ tenants: [{ namespace: "xnat", registries: [reg] }, { namespaceSelector: { matchLabels: { team: "none" } }, registries: [reg] }] });
        const s = selectNamespaces(config, cluster, new Map(), "dev");
        assert.deepEqual(s.tenants.map((t) => t.namespace), ["xnat"]);
        assert.deepEqual(s.warnings, ["tenants[1].namespaceSelector (team=none) matches no namespace: this tenant reaches none until one is labelled"]);
    });

    it("refuses a namespace that is named and matched, or matched by two tenants, naming both", () => {
        const config = validateStackConfig({
            tenants: [
                { namespace: "team-a", createNamespace: false, registries: [reg] },
                { namespaceSelector: project, registries: [reg] },
                { namespaceSelector: { matchExpressions: [{ key: "field.cattle.io/projectId", operator: "Exists" }] }, registries: [reg] },
            ],
        });
        const s = selectNamespaces(config, cluster, new Map(), "dev");
        assert.deepEqual(
            s.problems.map((p) => [p.path, p.message]),
            [
                ["tenants[1].namespaceSelector", "matches namespace 'team-a', which tenants[0].namespace names too"],
                ["tenants[2].namespaceSelector", "matches namespace 'team-a', which tenants[0].namespace names too"],
                ["tenants[2].namespaceSelector", "matches namespace 'team-b', which tenants[1].namespaceSelector matches too"],
            ],
        );
        assert.match(s.problems[0].fix, /add 'team-a' to tenants\[1\]\.excludeNamespaces/);
    });

    it("refuses a namespace this stack created: adopting it would delete it", () => {
        const config = validateStackConfig({ namespaceSelector: project, registries: [reg] });
        const s = selectNamespaces(config, [ns("team-a", inProject, { owner: "dev" }), ns("team-b", inProject, { owner: "prod" })], new Map(), "dev");
        assert.equal(s.problems.length, 1);
        assert.match(s.problems[0].message, /'team-a', which this stack created .*up would delete it/);
        // Another stack's namespace is only adopted here: this stack never deletes it.
        assert.deepEqual(s.tenants.map((t) => t.namespace), ["team-b"]);
    });

    it("\"*\" reaches every ServiceAccount listed in the namespace and default, but the excluded and the Container Service's", () => {
        const config = validateStackConfig({
            tenants: [
                { namespace: "xnat", serviceAccounts: "*", excludeServiceAccounts: ["builder"], registries: [reg], containerService: { apiServer: "https://k8s.example.org" } },
                { namespaceSelector: project, serviceAccounts: "*", registries: [reg] },
            ],
        });
        const accounts = new Map([
            ["xnat", ["default", "builder", "xnat-container-service", "jobs"]],
            ["team-a", ["zeta", "alpha"]],
        ]);
        const s = selectNamespaces(config, cluster, accounts, "dev");
        assert.deepEqual(
            s.tenants.map((t) => [t.namespace, t.serviceAccounts]),
            [
                ["xnat", ["default", "jobs"]],
                // default before the serviceaccount controller made it: the patch creates it.
                ["team-a", ["alpha", "default", "zeta"]],
                ["team-b", ["default"]],
            ],
        );
        assert.ok(s.report.includes('tenants[0].serviceAccounts "*" in xnat: default, jobs'));
    });

    it("a fixed list stays as written, whatever the cluster holds", () => {
        const config = validateStackConfig({ namespace: "xnat", serviceAccounts: ["default", "ci"], registries: [reg] });
        assert.deepEqual(selectNamespaces(config, [], new Map([["xnat", ["other"]]]), "dev").tenants[0].serviceAccounts, ["default", "ci"]);
    });

    it("with the last run's tenants recorded (the drift job), reaches what was reached then and still exists, whatever the labels now", () => {
        const config = validateStackConfig({ tenants: [{ namespace: "xnat", serviceAccounts: "*", registries: [reg] }, { namespaceSelector: project, serviceAccounts: "*", registries: [reg] }] });
        const recorded = [
            { namespace: "xnat", serviceAccounts: ["default"] },
            { namespace: "team-a", serviceAccounts: ["alpha", "default"], selectedBy: "tenants[1].namespaceSelector" },
            { namespace: "gone", serviceAccounts: ["default"], selectedBy: "tenants[1].namespaceSelector" },
        ];
        // team-a left the project and team-b joined it since; a new account appeared in xnat.
        const now = [ns("team-a"), ns("team-b", inProject), ns("xnat")];
        const s = selectNamespaces(config, now, new Map([["xnat", ["default", "new"]], ["team-a", ["alpha", "beta", "default"]]]), "dev", recorded);
        assert.deepEqual(
            s.tenants.map((t) => [t.namespace, t.serviceAccounts, t.selectedBy]),
            [
                ["xnat", ["default"], undefined],
                ["team-a", ["alpha", "default"], "tenants[1].namespaceSelector"],
            ],
        );
    });

    it("reads kubectl's lists, and says undefined for anything else", () => {
        const namespaces = JSON.stringify({
            items: [
                { metadata: { name: "a", labels: { x: "1", n: 2 }, annotations: { "registry-access/stack": "dev" } }, status: { phase: "Active" } },
                { metadata: { name: "b" }, status: { phase: "Terminating" } },
                { metadata: {} },
            ],
        });
        assert.deepEqual(listedNamespaces(namespaces), [
            { name: "a", labels: { x: "1" }, owner: "dev", terminating: false },
            { name: "b", labels: {}, terminating: true },
        ]);
        const accounts = JSON.stringify({ items: [{ metadata: { name: "default", namespace: "a" } }, { metadata: { name: "ci", namespace: "a" } }, { metadata: { name: "x" } }] });
        assert.deepEqual([...listedServiceAccounts(accounts)!], [["a", ["default", "ci"]]]);
        for (const bad of ["", "not json", "{}", '{"items": 3}']) {
            assert.equal(listedNamespaces(bad), undefined, bad);
            assert.equal(listedServiceAccounts(bad), undefined, bad);
        }
    });

    it("asks kubectl each distinct question once per run", async () => {
        const asked: string[] = [];
        const kubectl = askingOnce(async (args, input) => {
            asked.push(`${args.join(" ")}|${input ?? ""}`);
            return { code: 0, stdout: String(asked.length), stderr: "" } satisfies KubectlResult;
        });
        const answers = await Promise.all([kubectl(["get", "ns"]), kubectl(["get", "ns"]), kubectl(["get", "ns"], "x"), kubectl(["get", "sa"])]);
        assert.deepEqual(answers.map((a) => a.stdout), ["1", "1", "2", "3"]);
        assert.deepEqual(asked, ["get ns|", "get ns|x", "get sa|"]);
    });
});
