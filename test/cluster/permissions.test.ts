/**
 * The deploying identity's rights as docs/permissions.md gives them: its ClusterRole, applied as
 * the page writes it, bound to a ServiceAccount whose token is the only credential the CLI and the
 * provider get. A stack that follows a label selector deploys, follows and destroys with it; an
 * identity without the namespace list stops before anything is declared, saying why.
 */
import * as assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parseAllDocuments } from "yaml";
import { ROOT } from "../../deploy/engine";
import { getObject, kubectl, kubectlNamespace, pullSecretNames, serviceAccount } from "./support/cluster";
import { TestStack } from "./support/engine";
import { suiteNamespaces } from "./support/names";
import { scratchDir } from "../support/scratch";

type Doc = { kind: string; metadata: { name: string }; rules?: { resources: string[]; verbs: string[] }[]; subjects?: { name: string; namespace: string }[]; roleRef?: { name: string } };

/** The page's first YAML block: the ClusterRole for the common case and its binding. */
function documentedRole(): Doc[] {
    const page = readFileSync(path.join(ROOT, "docs", "permissions.md"), "utf8");
    const block = /```yaml\n([\s\S]*?)```/.exec(page);
    assert.ok(block, "docs/permissions.md has no yaml block");
    return parseAllDocuments(block[1]).map((d) => d.toJS() as Doc);
}

/** A kubeconfig for the ServiceAccount NAME of NAMESPACE: this cluster's server and CA, its token. */
async function kubeconfigOf(namespace: string, name: string, dir: string): Promise<string> {
    const token = (await kubectl(["create", "token", name, "-n", namespace, "--duration=1h"])).trim();
    const admin = JSON.parse(await kubectl(["config", "view", "--raw", "--minify", "-o", "json"])) as { clusters: { cluster: Record<string, string> }[] };
    const file = path.join(dir, `${name}.kubeconfig`);
    const config = {
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: admin.clusters[0].cluster }],
        users: [{ name: name, user: { token } }],
        contexts: [{ name: "c", context: { cluster: "c", user: name } }],
        "current-context": "c",
    };
    writeFileSync(file, JSON.stringify(config), { mode: 0o600 });
    return file;
}

describe("the deploying identity with docs/permissions.md's rights only", function () {
    this.timeout(600000);
    const namespace = suiteNamespaces();
    const suffix = randomBytes(3).toString("hex");
    const registries = [{ server: "registry.example.org", username: "puller", password: "pw-permissions" }];
    let home: string;
    const made: string[][] = [];

    before(async () => {
        home = namespace("deployer");
        await kubectlNamespace(home);
        const docs = documentedRole();
        // The page's role, under this run's names; its rules exactly as written there.
        for (const doc of docs) {
            doc.metadata.name = `${doc.metadata.name}-${suffix}`;
            if (doc.roleRef) {
                doc.roleRef.name = `${doc.roleRef.name}-${suffix}`;
            }
            for (const s of doc.subjects ?? []) {
                s.namespace = home;
            }
        }
        const account = docs.find((d) => d.kind === "ClusterRoleBinding")!.subjects![0].name;
        await kubectl(["create", "serviceaccount", account, "-n", home]);
        await kubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }));
        made.push(...docs.map((d) => [d.kind.toLowerCase(), d.metadata.name]));
        // Without the namespace list, nothing else changed.
        const blind = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: `registry-access-blind-${suffix}` }, rules: (docs[0].rules ?? []).map((r) => ({ ...r, verbs: r.resources.includes("namespaces") ? r.verbs.filter((v) => v !== "list") : r.verbs })) };
        await kubectl(["create", "serviceaccount", "blind", "-n", home]);
        await kubectl(["apply", "-f", "-"], JSON.stringify(blind));
        await kubectl(["create", "clusterrolebinding", blind.metadata.name, `--clusterrole=${blind.metadata.name}`, `--serviceaccount=${home}:blind`]);
        made.push(["clusterrole", blind.metadata.name], ["clusterrolebinding", blind.metadata.name]);
    });

    after(async () => {
        for (const [kind, name] of made) {
            await kubectl(["delete", kind, name, "--ignore-not-found"]);
        }
    });

    it("deploys a stack that follows a label selector, follows it, and destroys it", async () => {
        const dir = scratchDir("permissions-");
        const account = documentedRole().find((d) => d.kind === "ClusterRoleBinding")!.subjects![0].name;
        const kubeconfig = await kubeconfigOf(home, account, dir);
        const team = `t-${suffix}`;
        const [a, b] = [namespace("perm-a"), namespace("perm-b")];
        for (const ns of [a, b]) {
            await kubectlNamespace(ns);
        }
        await kubectl(["label", "namespace", a, `team=${team}`]);
        const stack = await TestStack.create(namespace("perm-stack"), { namespaceSelector: { matchLabels: { team } }, registries }, { env: { KUBECONFIG: kubeconfig } });
        await stack.preview();
        await stack.up();
        assert.deepEqual(pullSecretNames(await serviceAccount(a)), ["regcred-registry-example-org"]);
        assert.equal(await getObject("secret", b, "regcred-registry-example-org"), undefined);

        await kubectl(["label", "namespace", b, `team=${team}`]);
        await kubectl(["label", "namespace", a, "team-"]);
        await stack.up();
        assert.deepEqual(pullSecretNames(await serviceAccount(b)), ["regcred-registry-example-org"]);
        assert.equal(await getObject("secret", a, "regcred-registry-example-org"), undefined);
        await stack.destroy();
        assert.equal(await getObject("secret", b, "regcred-registry-example-org"), undefined);
    });

    it("without the namespace list, preview stops before declaring anything, naming the list it could not read", async () => {
        const kubeconfig = await kubeconfigOf(home, "blind", scratchDir("permissions-"));
        const stack = await TestStack.create(namespace("perm-blind"), { namespaceSelector: { matchLabels: { team: "x" } }, registries }, { env: { KUBECONFIG: kubeconfig } });
        const from = stack.log.length;
        await assert.rejects(stack.preview());
        const said = stack.log.slice(from).join("");
        assert.match(said, /cannot list the cluster's namespaces \(forbidden: may not list namespaces\)/, said);
        assert.ok(!said.includes("eyJ"), "a token reached the output");
    });
});
