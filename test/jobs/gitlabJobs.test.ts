/**
 * Each GitLab job passes with what its image has and what the job installs itself: its
 * before_script and script run by bash under a bare environment (`env -i`), with the job's
 * variables and scripts/image-path.sh's PATH (pulumi/pulumi-nodejs-22's tools; no Go, shellcheck,
 * kubectl or apt-get), in a copy of the checkout, as a runner runs them. `npm test` in the test
 * job is the README's test command, so it must pass there too.
 *
 * `pulumi` is a stand-in: the real CLI needs a cluster and a state backend, and `npm run
 * pipelines` runs it with this same PATH. It checks what the program then needs of the job's
 * environment: kubectl on PATH (the image-isolation probe's client; without it a stack with two
 * tenants warns "cannot tell" and `require` stops), KUBECONFIG and a shared backend. It answers
 * the drift job's `stack output` and the reconcile's `preview --json` (one resource to create) and
 * `stack history` (an approved up of this commit), so that the reconcile goes on to its `up`.
 *
 * npm run test:jobs (not in npm test, which its test job runs). Each job runs `npm ci` from the
 * npm cache (GitLab's cache of `.npm/`) and curl gets dl.k8s.io's kubectl from this machine's.
 */
import * as assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";

const ROOT = path.resolve(__dirname, "../../..");

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const lines = (v: unknown): string[] => (Array.isArray(v) ? v.flat(10).map(String) : v === undefined ? [] : [String(v)]);

/** GitLab's `extends`: mappings merge, everything else is replaced. */
function merge(base: Obj, over: Obj): Obj {
    const out: Obj = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? merge(out[k] as Obj, v) : v;
    return out;
}

function resolve(ci: Obj, name: string): Obj {
    const job = obj(ci[name]);
    let merged: Obj = {};
    for (const parent of lines(job.extends)) merged = merge(merged, resolve(ci, parent));
    const own = { ...job };
    delete own.extends;
    return merge(merged, own);
}

interface Job {
    name: string;
    variables: Record<string, string>;
    commands: string[];
}

/** Every job with its matrix expanded: its variables (global, own, matrix row) and its commands. */
function gitlabJobs(ci: Obj): Job[] {
    const reserved = new Set(["stages", "variables", "default", "workflow", "include", "image", "services", "cache", "before_script", "after_script"]);
    const jobs: Job[] = [];
    for (const name of Object.keys(ci).filter((k) => !reserved.has(k) && !k.startsWith("."))) {
        const job = resolve(ci, name);
        const before = "before_script" in job ? job.before_script : obj(ci.default).before_script;
        const commands = [...lines(before), ...lines(job.script)];
        const base = { ...obj(ci.variables), ...obj(job.variables) } as Record<string, string>;
        const rows: Record<string, string>[] = [];
        for (const entry of (obj(job.parallel).matrix as Obj[] | undefined) ?? []) {
            let partial: Record<string, string>[] = [{}];
            for (const [k, v] of Object.entries(entry)) partial = partial.flatMap((p) => lines(v).map((x) => ({ ...p, [k]: x })));
            rows.push(...partial);
        }
        for (const row of rows.length > 0 ? rows : [{}]) {
            const label = Object.values(row).length > 0 ? `${name}: [${Object.values(row).join(", ")}]` : name;
            jobs.push({ name: label, variables: { ...base, ...row }, commands });
        }
    }
    return jobs;
}

/** $X and ${X} as GitLab expands them in variable values. */
const expand = (value: string, vars: Record<string, string>) => value.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, v: string) => vars[v] ?? m);

/** The checkout as a clone of it would have it: tracked and new files, without what .gitignore drops. */
function copyCheckout(to: string) {
    const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, encoding: "utf8" }).split("\0").filter(Boolean);
    for (const f of files) {
        if (!fs.existsSync(path.join(ROOT, f))) continue; // deleted in the working tree
        fs.mkdirSync(path.dirname(path.join(to, f)), { recursive: true });
        fs.copyFileSync(path.join(ROOT, f), path.join(to, f));
        fs.chmodSync(path.join(to, f), fs.statSync(path.join(ROOT, f)).mode);
    }
}

const PULUMI_STAND_IN = (log: string) => `#!/bin/bash
# pulumi stand-in (test/jobs/gitlabJobs.test.ts): what the program needs of the job's environment.
fail() { echo "pulumi stand-in: $*" >&2; echo "FAILED $*" >>'${log}'; exit 1; }
backend() { case "\${PULUMI_BACKEND_URL:-}" in "" | file://*) fail "no shared backend" ;; esac; }
stack="$(sed -nE 's/.*--stack ([^ ]+).*/\\1/p' <<<"$*")"
case "$1 $2" in
  "plugin "*) exit 0 ;; # @pulumi/kubernetes's install script
  "stack output")
    backend
    echo "pulumi $*" >>'${log}'
    echo '[{"namespace": "xnat-jobs", "pullSecretNames": ["regcred"], "serviceAccounts": ["default"]}]'
    exit 0 ;;
  "stack history")
    backend
    echo "pulumi $*" >>'${log}'
    printf '[{"version": 2, "kind": "update", "result": "succeeded", "message": "", "environment": {"git.head": "%s"}}]\\n' "\${CI_COMMIT_SHA:-}"
    exit 0 ;;
esac
case "$1" in
  preview | up) ;;
  *) echo "pulumi stand-in: unexpected pulumi $*" >&2; exit 2 ;;
esac
kubectl="$(type -P kubectl)" || fail "image isolation: cannot tell (kubectl is not on PATH)"
"$kubectl" version --client >/dev/null || fail "$kubectl does not run"
[ -s "\${KUBECONFIG:-}" ] || fail "KUBECONFIG is not a file"
backend
echo "pulumi $* | kubectl $kubectl | recorded \${REGISTRY_ACCESS_RECORDED_TENANTS:+set}" >>'${log}'
if [ "$1" = preview ] && [[ " $* " == *" --json "* ]]; then
  printf '{"steps": [{"op": "same", "urn": "urn:pulumi:%s::registry-access::pulumi:pulumi:Stack::registry-access-%s", "newState": {"type": "pulumi:pulumi:Stack", "custom": false}}, {"op": "create", "urn": "urn:pulumi:%s::registry-access::registry-access:index:RegistryAccess$kubernetes:core/v1:Secret::team-new/regcred", "newState": {"type": "kubernetes:core/v1:Secret", "custom": true}}], "diagnostics": []}\\n' "$stack" "$stack" "$stack"
fi
`;

/** The CI/CD settings a team sets (docs/deploy.md, "Secrets"), with values for this test only. */
function settings(dir: string): Record<string, string> {
    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(kubeconfig, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n", { mode: 0o600 });
    // File variables: GitLab hands the job a path to the value.
    return {
        PULUMI_BACKEND_URL: "s3://registry-access-jobs-test",
        PULUMI_CONFIG_PASSPHRASE: "jobs-test-only",
        KUBECONFIG_DEV: kubeconfig,
        KUBECONFIG_STAGING: kubeconfig,
        KUBECONFIG_PROD: kubeconfig,
    };
}

function run(bash: string, script: string, cwd: string, env: Record<string, string>, logFile: string): Promise<number> {
    return new Promise((resolve, reject) => {
        const out = fs.openSync(logFile, "w");
        // GitLab's runner runs the lines in one bash with -e and pipefail; nothing inherited.
        const child = spawn(bash, ["-eo", "pipefail", "-c", script], { cwd, env, stdio: ["ignore", out, out] });
        child.on("error", reject);
        child.on("exit", (code, signal) => {
            fs.closeSync(out);
            resolve(code ?? (signal ? 128 : 1));
        });
    });
}

const NETWORK = ["NODE_EXTRA_CA_CERTS", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"];

const tail = (file: string, n = 40) => fs.readFileSync(file, "utf8").split("\n").slice(-n).join("\n");

describe("GitLab jobs with only their image's tools and what they install", function () {
    const ci = parse(fs.readFileSync(path.join(ROOT, ".gitlab-ci.yml"), "utf8")) as Obj;
    const all = gitlabJobs(ci);
    // Jobs with the same commands differ only in variables: one of each runs, the one for prod
    // (two tenants: the image-isolation probe runs) where there is one.
    const groups = new Map<string, Job[]>();
    for (const job of all) groups.set(JSON.stringify(job.commands), [...(groups.get(JSON.stringify(job.commands)) ?? []), job]);
    const picked = [...groups.values()].map((same) => ({ job: same.find((j) => /prod/.test(j.name)) ?? same[0], same }));

    let work: string;
    let bin: string;
    let standIns: string;
    let failed = false;
    before(function () {
        work = fs.mkdtempSync(path.join(tmpdir(), "registry-access-jobs-"));
        bin = execFileSync("bash", [path.join(ROOT, "scripts/image-path.sh"), path.join(work, "image")], { encoding: "utf8" }).trim();
        standIns = path.join(work, "pulumi-bin");
        fs.mkdirSync(standIns);
    });
    afterEach(function () {
        if (this.currentTest?.state === "failed") failed = true;
    });
    after(function () {
        if (failed) console.log(`    kept ${work} for a look`);
        else fs.rmSync(work, { recursive: true, force: true });
    });

    it("has the jobs it expects (test, preview, drift, doctor, the ups and the reconciles)", () => {
        const names = all.map((j) => j.name.replace(/:? \[.*$/, ""));
        for (const n of ["test", "preview", "drift", "doctor", "up:dev", "up:staging", "up:prod", "reconcile:dev", "reconcile:staging", "reconcile:prod"]) {
            assert.ok(names.includes(n), `no job ${n}`);
        }
    });

    for (const { job, same } of picked) {
        const others = same.filter((j) => j !== job).map((j) => j.name);
        const doctor = job.commands.some((c) => /\bnpm run doctor\b/.test(c));
        it(`${job.name}${others.length ? ` (and so ${others.join(", ")})` : ""} ${doctor ? "gets as far as asking the cluster" : "passes"}`, async function () {
            this.timeout(45 * 60 * 1000);
            const dir = path.join(work, job.name.replace(/[^A-Za-z0-9]+/g, "-"));
            const project = path.join(dir, "project");
            const home = path.join(dir, "home");
            fs.mkdirSync(project, { recursive: true });
            fs.mkdirSync(home);
            copyCheckout(project);
            // GitLab's cache of .npm/ (keyed on package-lock.json), here this machine's npm cache.
            fs.symlinkSync(execFileSync("npm", ["config", "get", "cache"], { encoding: "utf8" }).trim(), path.join(project, ".npm"));
            const log = path.join(dir, "pulumi.log");
            fs.writeFileSync(path.join(standIns, "pulumi"), PULUMI_STAND_IN(log), { mode: 0o755 });

            const predefined: Record<string, string> = {
                CI: "true",
                GITLAB_CI: "true",
                CI_PROJECT_DIR: project,
                CI_COMMIT_SHA: "0123456789abcdef0123456789abcdef01234567",
                CI_JOB_NAME: job.name,
                HOME: home,
                // The image's PATH; /pulumi/bin's CLI is the stand-in.
                PATH: `${bin}:${standIns}`,
                ...settings(dir),
                // This machine's way to the npm registry (a proxy, its CA), not a tool.
                ...Object.fromEntries(NETWORK.flatMap((k) => (process.env[k] ? [[k, process.env[k] as string]] : []))),
            };
            const env = { ...predefined };
            for (const [k, v] of Object.entries(job.variables)) env[k] = expand(String(v), env);
            const output = path.join(dir, "job.log");
            const code = await run(path.join(bin, "bash"), job.commands.join("\n"), project, env, output);
            if (doctor) {
                // No cluster here: the doctor must get as far as asking one for the stack's
                // namespaces, with the kubectl the job installed (npm run pipelines runs it on one).
                assert.equal(code, 2, `${job.name} exited ${code}; its output ends:\n${tail(output)}`);
                assert.match(tail(output), /^doctor: cannot list workloads in \S+ \(the API server refused the connection\)$/m);
                return;
            }
            assert.equal(code, 0, `${job.name} exited ${code}; its output ends:\n${tail(output)}`);

            const reconciles = job.commands.some((c) => /\bbuild\/deploy\/reconcile\.js\b/.test(c));
            if (reconciles || job.commands.some((c) => /\bpulumi\s+(preview|up)\b/.test(c))) {
                const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
                const runs = calls.filter((c) => /^pulumi (preview|up) /.test(c));
                for (const run of runs) {
                    assert.match(run, new RegExp(`^pulumi (preview|up) .*--stack "?${job.variables.STACK}"?\\b`));
                    // The kubectl the job installed, not one from the machine.
                    assert.ok(run.includes(`| kubectl ${project}/.ci-tools/kubectl |`), run);
                }
                if (reconciles) {
                    // Its preview, then the up of what it found (only that, with --only-add); never
                    // with the drift job's frozen selections.
                    assert.equal(runs.length, 2, `${job.name}: expected a preview and an up, got ${JSON.stringify(calls)}`);
                    assert.match(runs[0], /^pulumi preview --json /);
                    assert.match(runs[1], /^pulumi up --yes /);
                    const onlyAdd = job.commands.some((c) => /--only-add\b/.test(c));
                    assert.equal(/--target urn:pulumi:\S+::team-new\/regcred\b/.test(runs[1]), onlyAdd, runs[1]);
                    // Every reconcile first compares with the commit of its stack's last pipeline up.
                    assert.ok(calls.some((c) => c.startsWith("pulumi stack history ")), JSON.stringify(calls));
                    assert.ok(runs.every((r) => !r.endsWith("| recorded set")), `${job.name}: the reconcile ran with REGISTRY_ACCESS_RECORDED_TENANTS`);
                } else {
                    assert.equal(runs.length, 1, `${job.name}: expected one pulumi run, got ${JSON.stringify(calls)}`);
                    // The drift job previews the selections the last run recorded.
                    const drift = job.commands.some((c) => /--expect-no-changes\b/.test(c));
                    assert.equal(runs[0].endsWith("| recorded set"), drift, `${job.name}: ${runs[0]}`);
                    if (drift) assert.match(calls[0], new RegExp(`^pulumi stack output tenants --json --stack "?${job.variables.STACK}"?\\b`));
                }
            }
        });
    }
});
