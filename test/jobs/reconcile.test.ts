/**
 * deploy/reconcile.ts, the scheduled reconcile jobs' script, run as the jobs run it (node
 * build/deploy/reconcile.js) against stand-ins for pulumi and kubectl that answer from files and
 * record every call: what it refreshes, what it deploys, when --only-add stops or waits, and that
 * it prints no secret. The real CLI, provider and cluster: `npm run pipelines`.
 *
 * npm run test:jobs.
 */
import * as assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { deployReads, shortUrn } from "../../deploy/reconcile";

const SCRIPT = path.resolve(__dirname, "../../deploy/reconcile.js");
const SECRET = "s3cr3t-marker-7f1c";

// Answers from $FAKE/preview-N.json (N counts the previews; the last one repeats), history.json,
// config.json and kubeconfig; each call logged with whether the drift job's variable reached it.
const PULUMI = `#!/bin/bash
echo "pulumi $* | recorded \${REGISTRY_ACCESS_RECORDED_TENANTS:+set}" >>"$FAKE/calls"
case "$1 $2" in
  "preview --json")
    n=$(( $(cat "$FAKE/previews" 2>/dev/null || echo 0) + 1 )); echo "$n" >"$FAKE/previews"
    f="$FAKE/preview-$n.json"; [ -f "$f" ] || f="$(ls "$FAKE"/preview-*.json | sort -V | tail -1)"
    cat "$f"; exit "$(cat "$FAKE/preview.rc" 2>/dev/null || echo 0)" ;;
  "stack history") cat "$FAKE/history.json" ;;
  "config --json") cat "$FAKE/config.json" 2>/dev/null || echo '{}' ;;
  "config get") cat "$FAKE/kubeconfig" ;;
  "refresh --yes" | "up --yes") exit 0 ;;
  *) echo "unexpected pulumi $*" >&2; exit 2 ;;
esac
`;

// Namespaces from $FAKE/namespaces (kubectl fails when $FAKE/namespaces.rc says so), accounts
// from $FAKE/serviceaccounts (NS/NAME lines).
const KUBECTL = `#!/bin/bash
echo "kubectl $*" >>"$FAKE/calls"
while [[ "$1" == --* ]]; do shift; done
case "$1 $2" in
  "get namespaces")
    rc="$(cat "$FAKE/namespaces.rc" 2>/dev/null || echo 0)"
    if [ "$rc" != 0 ]; then echo "Error from server (Forbidden): namespaces is forbidden: User cannot list resource \\"namespaces\\"" >&2; exit "$rc"; fi
    printf '{"apiVersion":"v1","kind":"List","items":['; sed 's|.*|{"metadata":{"name":"&"}}|' "$FAKE/namespaces" | paste -sd, -; printf ']}\n' ;;
  "get serviceaccount")
    if grep -qx "$5/$3" "$FAKE/serviceaccounts" 2>/dev/null; then echo "serviceaccount/$3"; exit 0; fi
    echo "Error from server (NotFound): serviceaccounts \\"$3\\" not found" >&2; exit 1 ;;
  *) echo "unexpected kubectl $*" >&2; exit 2 ;;
esac
`;

const urn = (type: string, name: string, parent = "registry-access:index:RegistryAccess") =>
    `urn:pulumi:prod::registry-access::${parent}$${type}::${name}`;
const STACK_URN = "urn:pulumi:prod::registry-access::pulumi:pulumi:Stack::registry-access-prod";

/** A step of `pulumi preview --json`, as the CLI writes it (a delete carries its old state). */
function step(op: string, type: string, name: string, metadata?: { namespace: string; name: string }) {
    const custom = type.startsWith("kubernetes:");
    const state = {
        type,
        custom,
        // Secret outputs as the CLI's JSON carries them; never to be printed.
        outputs: metadata ? { metadata, data: { ".dockerconfigjson": SECRET } } : {},
    };
    const u = type === "registry-access:index:RegistryAccess" ? `urn:pulumi:prod::registry-access::${type}::${name}` : urn(type, name);
    return op === "delete" ? { op, urn: u, oldState: state } : { op, urn: u, newState: state };
}

const SECRET_TYPE = "kubernetes:core/v1:Secret";
const PATCH_TYPE = "kubernetes:core/v1:ServiceAccountPatch";
const COMPONENT = "registry-access:index:RegistryAccess";
const same = { op: "same", urn: STACK_URN, oldState: { type: "pulumi:pulumi:Stack", custom: false }, newState: { type: "pulumi:pulumi:Stack", custom: false } };

interface Result {
    code: number;
    out: string;
    calls: string[];
}

describe("the reconcile (deploy/reconcile.ts) against stand-ins for pulumi and kubectl", function () {
    this.timeout(60000);
    let work: string;
    let bin: string;
    let head: string;
    let dir: string;

    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.org", ...args], { cwd: dir, encoding: "utf8" }).trim();
    const commit = (file: string, text = `${Date.now()}-${Math.random()}\n`) => {
        fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        fs.writeFileSync(path.join(dir, file), text);
        git("add", "-A");
        git("commit", "-qm", file);
        return git("rev-parse", "HEAD");
    };
    const write = (name: string, value: unknown) =>
        fs.writeFileSync(path.join(dir, ".fake", name), typeof value === "string" ? value : JSON.stringify(value));
    const approved = (commitSha: string | undefined, extra: object[] = []) =>
        write("history.json", [...extra, { version: 7, kind: "update", result: "succeeded", message: "", environment: commitSha === undefined ? {} : { "git.head": commitSha } }]);
    const previews = (...steps: object[][]) => steps.forEach((s, i) => write(`preview-${i + 1}.json`, { steps: [same, ...s], diagnostics: [] }));

    function reconcile(stack: string, ...flags: string[]): Result {
        fs.rmSync(path.join(dir, ".fake", "calls"), { force: true });
        const r = spawnSync(process.execPath, [SCRIPT, "--stack", stack, ...flags], {
            cwd: dir,
            encoding: "utf8",
            // The drift job's variable, set as if by mistake: the reconcile must not pass it on.
            env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE: path.join(dir, ".fake"), REGISTRY_ACCESS_RECORDED_TENANTS: "[]" },
        });
        const callsFile = path.join(dir, ".fake", "calls");
        const calls = fs.existsSync(callsFile) ? fs.readFileSync(callsFile, "utf8").trim().split("\n") : [];
        const out = `${r.stdout}${r.stderr}`;
        assert.ok(!out.includes(SECRET), `the reconcile printed a secret:\n${out}`);
        return { code: r.status ?? 1, out, calls };
    }
    const pulumiCalls = (r: Result, verb: string) => r.calls.filter((c) => c.startsWith(`pulumi ${verb} `));
    const targets = (call: string) => [...call.matchAll(/--target (\S+)/g)].map((m) => m[1]);

    before(() => {
        work = fs.mkdtempSync(path.join(tmpdir(), "registry-access-reconcile-"));
        bin = path.join(work, "bin");
        fs.mkdirSync(bin);
        fs.writeFileSync(path.join(bin, "pulumi"), PULUMI, { mode: 0o755 });
        fs.writeFileSync(path.join(bin, "kubectl"), KUBECTL, { mode: 0o755 });
    });
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(work, "repo-"));
        fs.mkdirSync(path.join(dir, ".fake"));
        git("init", "-q");
        fs.writeFileSync(path.join(dir, ".gitignore"), ".fake/\n");
        head = commit("index.ts");
        write("namespaces", "default\nxnat-jobs\nteam-a\nteam-b\n");
        write("serviceaccounts", "team-a/default\nteam-b/default\nxnat-jobs/default\n");
        approved(head);
    });
    after(() => fs.rmSync(work, { recursive: true, force: true }));

    it("runs nothing but its preview when the cluster and the stack agree, and never with the drift job's variable", () => {
        previews([]);
        const r = reconcile("dev");
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /nothing to do/);
        assert.deepEqual(r.calls.map((c) => c.split(" ").slice(0, 2).join(" ")), ["pulumi stack", "pulumi preview"]);
        assert.ok(r.calls.every((c) => !c.endsWith("| recorded set")), r.calls.join("\n"));
    });

    it("drops from the state exactly what the up would delete and the cluster has lost, then runs a plain up", () => {
        const gone = [
            step("delete", SECRET_TYPE, "team-gone/regcred", { namespace: "team-gone", name: "regcred" }),
            step("delete", PATCH_TYPE, "team-gone/default", { namespace: "team-gone", name: "default" }),
            step("delete", PATCH_TYPE, "team-a/helm-sa", { namespace: "team-a", name: "helm-sa" }),
        ];
        // Unlabelled but still there: the up removes these itself.
        const kept = [
            step("delete", SECRET_TYPE, "team-b/regcred", { namespace: "team-b", name: "regcred" }),
            step("delete", PATCH_TYPE, "team-b/default", { namespace: "team-b", name: "default" }),
            step("delete", COMPONENT, "team-gone"),
            step("create", SECRET_TYPE, "team-new/regcred"),
        ];
        previews([...gone, ...kept], [...kept]);
        const r = reconcile("dev");
        assert.equal(r.code, 0, r.out);
        const [refresh] = pulumiCalls(r, "refresh");
        assert.deepEqual(targets(refresh).sort(), gone.map((s) => s.urn).sort(), refresh);
        assert.match(r.out, /namespace team-gone no longer exists/);
        assert.match(r.out, /ServiceAccount team-a\/helm-sa no longer exists/);
        const ups = pulumiCalls(r, "up");
        assert.equal(ups.length, 1);
        assert.deepEqual(targets(ups[0]), [], "dev's up is a plain one");
        assert.doesNotMatch(ups[0], /--refresh/);
        assert.match(ups[0], /--message registry-access reconcile/);
        // The refresh comes before the up, and the namespaces were listed once.
        assert.ok(r.calls.indexOf(refresh) < r.calls.indexOf(ups[0]));
        assert.equal(r.calls.filter((c) => / get namespaces /.test(c)).length, 1);
    });

    it("stops before changing anything when kubectl cannot tell which namespaces exist", () => {
        previews([step("delete", SECRET_TYPE, "team-gone/regcred", { namespace: "team-gone", name: "regcred" })]);
        write("namespaces.rc", "1");
        const r = reconcile("dev");
        assert.equal(r.code, 1);
        assert.match(r.out, /stopped: cannot list the cluster's namespaces \(forbidden: may not list namespaces\)/);
        assert.deepEqual([...pulumiCalls(r, "refresh"), ...pulumiCalls(r, "up")], []);
    });

    it("stops on a failed preview, printing its diagnostics, and changes nothing", () => {
        write("preview-1.json", {
            steps: [],
            diagnostics: [
                { severity: "warning", message: "warning: tenants[1].namespaceSelector matches no namespace\n" },
                { severity: "error", message: "tenants[2].namespaceSelector: cannot list the cluster's namespaces\n" },
            ],
        });
        write("preview.rc", "255");
        const r = reconcile("dev");
        assert.equal(r.code, 1);
        assert.match(r.out, /error: tenants\[2\]\.namespaceSelector: cannot list/);
        assert.match(r.out, /dev: warning: tenants\[1\]/, "the CLI's own \"warning: \" said twice, or not at all");
        assert.match(r.out, /stopped: pulumi preview failed \(exit 255\)/);
        assert.deepEqual(pulumiCalls(r, "up"), []);
    });

    describe("--only-add (prod)", () => {
        it("never takes a delete without the CLI's custom: false for a component's", () => {
            const secret = step("delete", SECRET_TYPE, "team-b/regcred", { namespace: "team-b", name: "regcred" }) as { oldState: { custom?: boolean } };
            delete secret.oldState.custom;
            const provider = step("delete", "pulumi:providers:kubernetes", "default_4_25_0") as { oldState: { custom?: boolean } };
            provider.oldState.custom = false;
            previews([secret, provider]);
            const r = reconcile("prod", "--only-add");
            assert.equal(r.code, 1, r.out);
            assert.match(r.out, /delete kubernetes:core\/v1:Secret team-b\/regcred/);
            assert.match(r.out, /delete pulumi:providers:kubernetes default_4_25_0/);
            assert.deepEqual(pulumiCalls(r, "up"), []);
        });

        it("deploys exactly the previewed creates, and drops the records of components whose objects are gone", () => {
            const adds = [step("create", COMPONENT, "team-new"), step("create", SECRET_TYPE, "team-new/regcred"), step("create", PATCH_TYPE, "team-new/default"), step("create", PATCH_TYPE, "team-a/helm-sa")];
            const gone = step("delete", COMPONENT, "team-gone");
            previews([...adds, gone]);
            const r = reconcile("prod", "--only-add");
            assert.equal(r.code, 0, r.out);
            const [up] = pulumiCalls(r, "up");
            assert.deepEqual(targets(up), [...adds, gone].map((s) => s.urn));
            assert.match(up, /--message registry-access reconcile \(only adding\)/);
            assert.equal(pulumiCalls(r, "stack").length, 1, "the history was not asked");
        });

        it("stops on an update, a replacement or the delete of an object, naming each, and changes nothing", () => {
            previews([
                step("create", SECRET_TYPE, "team-new/regcred"),
                step("update", SECRET_TYPE, "xnat-jobs/regcred"),
                step("replace", PATCH_TYPE, "xnat-jobs/default"),
                step("delete", PATCH_TYPE, "team-b/default", { namespace: "team-b", name: "default" }),
            ]);
            const r = reconcile("prod", "--only-add");
            assert.equal(r.code, 1, r.out);
            assert.match(r.out, /may only add to this stack/);
            const named = r.out.slice(r.out.indexOf("may only add"));
            for (const what of ["update kubernetes:core/v1:Secret xnat-jobs/regcred", "replace kubernetes:core/v1:ServiceAccountPatch xnat-jobs/default", "delete kubernetes:core/v1:ServiceAccountPatch team-b/default"]) {
                assert.ok(named.includes(what), `${what} not named:\n${r.out}`);
            }
            assert.ok(!named.includes("team-new"), `a create is named as needing approval:\n${r.out}`);
            assert.match(r.out, /manual up:prod \(GitLab\)/);
            assert.match(r.out, /up-prod approved in the production environment \(GitHub\)/);
            assert.deepEqual([...pulumiCalls(r, "up"), ...pulumiCalls(r, "refresh")], []);
        });

        it("drops what is gone from the cluster first, then judges the preview after it", () => {
            const gone = [
                step("delete", SECRET_TYPE, "team-gone/regcred", { namespace: "team-gone", name: "regcred" }),
                step("delete", PATCH_TYPE, "team-gone/default", { namespace: "team-gone", name: "default" }),
            ];
            const component = step("delete", COMPONENT, "team-gone");
            previews([...gone, component], [component]);
            const r = reconcile("prod", "--only-add");
            assert.equal(r.code, 0, r.out);
            assert.deepEqual(targets(pulumiCalls(r, "refresh")[0]).sort(), gone.map((s) => s.urn).sort());
            assert.deepEqual(targets(pulumiCalls(r, "up")[0]), [component.urn]);
        });

        it("waits (exit 0, nothing asked of the cluster) while main changes what prod deploys since its last approved up", () => {
            commit("components/registryAccess.ts");
            previews([step("create", SECRET_TYPE, "team-new/regcred")]);
            const r = reconcile("prod", "--only-add");
            assert.equal(r.code, 0, r.out);
            assert.match(r.out, new RegExp(`waiting: \\w{12} changes what the stack deploys since ${head.slice(0, 12)}[^\\n]*components/registryAccess\\.ts`));
            assert.deepEqual(r.calls.filter((c) => !c.startsWith("pulumi stack history ")), []);

            // Only its own stack file counts among the stacks' files.
            commit("stacks/Pulumi.prod.yaml");
            assert.match(reconcile("prod", "--only-add").out, /waiting: [^\n]*components\/registryAccess\.ts, stacks\/Pulumi\.prod\.yaml/);
        });

        it("goes on when the commits since the approved up change nothing a deploy reads", () => {
            for (const file of ["docs/deploy.md", "README.md", "test/x.test.ts", ".gitlab-ci.yml", ".github/workflows/deploy.yml", "stacks/Pulumi.dev.yaml", "deploy/reconcile.ts"]) {
                commit(file);
            }
            previews([step("create", SECRET_TYPE, "team-new/regcred")]);
            const r = reconcile("prod", "--only-add");
            assert.equal(r.code, 0, r.out);
            assert.equal(pulumiCalls(r, "up").length, 1, r.out);
        });

        it("counts only approved ups: its own updates and failed ones are passed over", () => {
            const later = commit("index.ts");
            approved(head, [
                { version: 9, kind: "update", result: "succeeded", message: "registry-access reconcile (only adding)", environment: { "git.head": later } },
                { version: 8, kind: "update", result: "failed", message: "", environment: { "git.head": later } },
                { version: 8, kind: "refresh", result: "succeeded", message: "", environment: { "git.head": later } },
            ]);
            previews([step("create", SECRET_TYPE, "team-new/regcred")]);
            assert.match(reconcile("prod", "--only-add").out, /waiting: /);
            approved(later);
            assert.equal(pulumiCalls(reconcile("prod", "--only-add"), "up").length, 1);
        });

        it("waits when prod has no approved up yet; stops when the last one recorded no commit", () => {
            previews([step("create", SECRET_TYPE, "team-new/regcred")]);
            write("history.json", []);
            const none = reconcile("prod", "--only-add");
            assert.equal(none.code, 0);
            assert.match(none.out, /waiting: no up on record but the reconcile's/);
            approved(undefined);
            const unknown = reconcile("prod", "--only-add");
            assert.equal(unknown.code, 1);
            assert.match(unknown.out, /recorded no commit \(git\.head\)/);
            assert.deepEqual([...pulumiCalls(none, "up"), ...pulumiCalls(unknown, "up")], []);
        });

        it("stops when it cannot compare with the approved commit (a shallow clone)", () => {
            commit("index.ts");
            approved("0123456789abcdef0123456789abcdef01234567");
            const r = reconcile("prod", "--only-add");
            assert.equal(r.code, 1);
            assert.match(r.out, /cannot compare [^\n]*needs the whole history/);
        });
    });

    it("waits, on any stack, while main changes what the stack deploys since its last pipeline up (a merge that failed its tests)", () => {
        commit("index.ts");
        previews([step("create", SECRET_TYPE, "team-new/regcred")]);
        const r = reconcile("dev");
        assert.equal(r.code, 0, r.out);
        assert.match(r.out, /waiting: [^\n]*index\.ts[^\n]*until the pipeline's up deploys it/);
        assert.deepEqual(r.calls.filter((c) => !c.startsWith("pulumi stack history ")), []);
    });

    it("sees a deployed file moved out of what a deploy reads as a change (no renames)", () => {
        commit("components/moved.ts", "the same text\n");
        approved(git("rev-parse", "HEAD"));
        fs.mkdirSync(path.join(dir, "docs"), { recursive: true });
        git("mv", "components/moved.ts", "docs/moved.ts");
        git("commit", "-qm", "move");
        previews([step("create", SECRET_TYPE, "team-new/regcred")]);
        assert.match(reconcile("prod", "--only-add").out, /waiting: [^\n]*components\/moved\.ts/);
    });

    it("stops, naming git, when git cannot be run to compare the commits", () => {
        commit("index.ts");
        previews([]);
        // The stand-ins and the tools they use, but no git; the commit is the CI system's.
        const tools = path.join(work, "no-git");
        fs.mkdirSync(tools, { recursive: true });
        for (const tool of ["cat", "sed", "ls", "sort", "tail"]) {
            const target = execFileSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
            if (!fs.existsSync(path.join(tools, tool))) fs.symlinkSync(target, path.join(tools, tool));
        }
        const r = spawnSync(process.execPath, [SCRIPT, "--stack", "prod"], {
            cwd: dir,
            encoding: "utf8",
            env: { PATH: `${bin}:${tools}`, FAKE: path.join(dir, ".fake"), CI_COMMIT_SHA: git("rev-parse", "HEAD") },
        });
        assert.equal(r.status, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /stopped: cannot run git [^\n]*the job needs git/);
    });

    it("reads the provider's kubeconfig setting, a secret, into kubectl without printing it", () => {
        write("config.json", { "kubernetes:context": { value: "prod-admin", secret: false }, "kubernetes:kubeconfig": { secret: true } });
        write("kubeconfig", `apiVersion: v1\nkind: Config\n# ${SECRET}\n`);
        previews([step("delete", SECRET_TYPE, "team-gone/regcred", { namespace: "team-gone", name: "regcred" })], []);
        const r = reconcile("dev");
        assert.equal(r.code, 0, r.out);
        const listing = r.calls.find((c) => / get namespaces /.test(c)) ?? "";
        assert.match(listing, /--kubeconfig=\/dev\/fd\/3 --context=prod-admin/);
        assert.ok(!r.calls.join("\n").includes(SECRET), "the kubeconfig reached a command line");
    });

    it("tells what a deploy reads, and names resources shortly", () => {
        for (const f of ["index.ts", "components/x.ts", "package-lock.json", "Pulumi.yaml", "stacks/Pulumi.prod.yaml", "lib/new.ts", ".npmrc"]) assert.ok(deployReads(f, "prod"), f);
        // A fully qualified stack name (Pulumi Cloud's org/project/stack) reads its own file.
        assert.ok(deployReads("stacks/Pulumi.prod.yaml", "acme/registry-access/prod"));
        assert.ok(!deployReads("stacks/Pulumi.dev.yaml", "acme/prod"));
        for (const f of ["docs/x.md", "README.md", "test/a.ts", "stacks/Pulumi.dev.yaml", ".github/workflows/deploy.yml", ".gitlab-ci.yml", "deploy/reconcile.ts", "scripts/pipelines.sh"]) {
            assert.ok(!deployReads(f, "prod"), f);
        }
        assert.equal(shortUrn(urn(SECRET_TYPE, "team-a/regcred")), "kubernetes:core/v1:Secret team-a/regcred");
    });
});
