/**
 * The deploy pipelines (.github/workflows/deploy.yml, .gitlab-ci.yml) and the operator example
 * (deploy/operator/) against the repository they deploy: npm scripts that exist, stacks that
 * exist, previews on pull requests, dev → staging → prod on main with prod gated, no secret
 * values in the files, and operator RBAC that matches each stack's namespaces.
 */
import * as assert from "node:assert/strict";
import { stackConfigOf } from "../check/stackFile";
import * as fs from "node:fs";
import * as path from "node:path";
import { parse, parseAllDocuments } from "yaml";

const ROOT = path.resolve(__dirname, "../..");
const GITHUB_WORKFLOW = ".github/workflows/deploy.yml";
const GITLAB_CI = ".gitlab-ci.yml";
const OPERATOR_DIR = "deploy/operator";
const ORDER = ["dev", "staging", "prod"] as const;

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const obj = (v: unknown): Obj => (isObj(v) ? v : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const strings = (v: unknown): string[] => arr(v).flat(10).filter((s): s is string => typeof s === "string");

function readText(rel: string): string {
    return fs.readFileSync(path.join(ROOT, rel), "utf8");
}

/** One YAML document; a syntax error fails the test instead of being read as something else. */
function readYaml(rel: string): Obj {
    const docs = parseAllDocuments(readText(rel));
    assert.equal(docs.length, 1, `${rel}: expected one YAML document`);
    const doc = docs[0];
    assert.deepEqual(doc.errors.map(String), [], `${rel}: YAML errors`);
    const value: unknown = doc.toJS();
    assert.ok(isObj(value), `${rel}: not a mapping`);
    return value;
}

/** Stack names with a config file in Pulumi.yaml's stackConfigDir. */
/** The environments' stacks: every stack file but `local`, which only `npm run up:local` deploys. */
function stackFiles(): Map<string, string> {
    const project = obj(parse(readText("Pulumi.yaml")));
    const dir = str(project.stackConfigDir) ?? ".";
    const found = new Map<string, string>();
    for (const file of fs.readdirSync(path.join(ROOT, dir))) {
        const m = /^Pulumi\.(.+)\.ya?ml$/.exec(file);
        if (m && m[1] !== "local") found.set(m[1], path.join(dir, file));
    }
    return found;
}

const STACKS = stackFiles();

/** "org/project/dev" and "dev" both name the stack "dev". */
const stackBaseName = (name: string) => name.split("/").pop() ?? name;

function assertStackExists(name: string, where: string) {
    assert.ok(STACKS.has(stackBaseName(name)), `${where} names stack "${name}" but there is no stacks/Pulumi.${stackBaseName(name)}.yaml`);
}

// ---------------------------------------------------------------- npm scripts

const NPM_LIFECYCLE: Record<string, string> = { test: "test", t: "test", tst: "test", start: "start", stop: "stop", restart: "restart" };
const NPM_BUILTINS = new Set(["ci", "install", "i", "exec", "x", "config", "cache", "version", "ls", "prune", "audit"]);

/** The package.json scripts that shell commands run through npm. */
function npmScriptsInvoked(commands: string[]): string[] {
    const scripts: string[] = [];
    for (const command of commands) {
        for (const m of command.matchAll(/(?:^|[\s;&|(])npm\s+([^\s;&|)]+)(?:\s+([^\s;&|)]+))?/g)) {
            const [, verb, arg] = m;
            if (verb === "run" || verb === "run-script") {
                assert.ok(arg && !arg.startsWith("-"), `cannot tell which script "${m[0].trim()}" runs`);
                scripts.push(arg);
            } else if (verb in NPM_LIFECYCLE) {
                scripts.push(NPM_LIFECYCLE[verb]);
            } else {
                assert.ok(NPM_BUILTINS.has(verb), `unexpected npm command "${m[0].trim()}"`);
            }
        }
    }
    return scripts;
}

function assertScriptsExist(commands: string[], pipeline: string) {
    const pkg = obj(JSON.parse(readText("package.json")));
    const defined = new Set(Object.keys(obj(pkg.scripts)));
    const invoked = npmScriptsInvoked(commands);
    assert.ok(invoked.includes("test"), `${pipeline} never runs npm test`);
    assert.ok(invoked.includes("check"), `${pipeline} never runs npm run check`);
    assert.ok(!invoked.includes("test:cluster"), `${pipeline} runs test:cluster, which needs a cluster`);
    const missing = [...new Set(invoked)].filter((s) => !defined.has(s));
    assert.deepEqual(missing, [], `${pipeline} runs npm scripts that package.json does not define`);
}

// ---------------------------------------------------------------- secrets

/** Key names whose values are credentials (or where credentials live). */
const SENSITIVE_KEY = /PASSPHRASE|PASSWORD|TOKEN|SECRET|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL|KUBECONFIG|BACKEND_URL/i;

/** Secret material that must never be in a committed pipeline or manifest. */
function assertNoSecretMaterial(text: string, file: string) {
    const patterns: [RegExp, string][] = [
        [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "a private key"],
        [/\b(client-key-data|client-certificate-data|certificate-authority-data)\s*:/, "kubeconfig credentials"],
        [/\bsecure:\s*v1:/, "a Pulumi ciphertext"],
        [/\bpul-[0-9a-f]{40}\b/, "a Pulumi access token"],
        [/\bAKIA[0-9A-Z]{16}\b/, "an AWS access key"],
        [/\bgh[pousr]_[A-Za-z0-9]{36}\b/, "a GitHub token"],
        [/\bglpat-[A-Za-z0-9_-]{20}/, "a GitLab token"],
    ];
    for (const [re, what] of patterns) {
        assert.ok(!re.test(text), `${file} contains ${what}`);
    }
}

/** Every env/with value under a sensitive key is a `${{ secrets.X }}` reference. */
function assertGithubSecretRefs(node: unknown, where: string) {
    if (Array.isArray(node)) {
        node.forEach((v, i) => assertGithubSecretRefs(v, `${where}[${i}]`));
        return;
    }
    if (!isObj(node)) return;
    for (const [key, value] of Object.entries(node)) {
        const here = `${where}.${key}`;
        if ((key === "env" || key === "with") && isObj(value)) {
            for (const [name, v] of Object.entries(value)) {
                // Booleans are switches (persist-credentials: false), not values.
                if (SENSITIVE_KEY.test(name) && typeof v !== "boolean") {
                    assert.match(String(v), /^\$\{\{\s*secrets(\.[A-Za-z_][A-Za-z0-9_]*|\[[^\]]+\])\s*\}\}$/, `${here}.${name} must be a secrets reference`);
                }
            }
        }
        assertGithubSecretRefs(value, here);
    }
}

/** GitLab variables under sensitive keys only reference CI/CD settings ($NAME), or name one (*_VARIABLE). */
function assertGitlabVariableRefs(variables: Obj, where: string) {
    for (const [name, raw] of Object.entries(variables)) {
        if (!SENSITIVE_KEY.test(name)) continue;
        const value = isObj(raw) ? raw.value : raw;
        const ok = /^\$\{?[A-Za-z_][A-Za-z0-9_]*\}?$/.test(String(value)) || (/_VARIABLE$/.test(name) && /^[A-Z][A-Z0-9_]*$/.test(String(value)));
        assert.ok(ok, `${where}.${name} has a literal value; set it in the CI/CD settings instead`);
    }
}

// ---------------------------------------------------------------- GitHub Actions

interface GithubJob extends Obj {
    if?: string;
    needs?: string | string[];
    environment?: string | Obj;
    steps?: Obj[];
    strategy?: Obj;
    concurrency?: string | Obj;
    permissions?: string | Obj;
}

const githubJobs = (wf: Obj) => obj(wf.jobs) as Record<string, GithubJob>;

/** Whether a job's own `if` lets it run for this event (on main for pushes). */
type GithubEvent = "pull_request" | "push" | "schedule";

function githubJobRunsOn(job: GithubJob, event: GithubEvent): boolean {
    const cond = job.if ?? "";
    const named = (op: string) => [...cond.matchAll(new RegExp(`github\\.event_name\\s*${op}\\s*'([a-z_]+)'`, "g"))].map((m) => m[1]);
    if (named("!=").includes(event)) return false;
    const only = named("==");
    if (only.length > 0) return only.includes(event);
    if (/github\.ref\s*==\s*'refs\/heads\/main'/.test(cond)) return event === "push";
    return true;
}

/** Jobs that run for the event: their own condition and every job they need. */
function githubJobsFor(wf: Obj, event: GithubEvent): Set<string> {
    const jobs = githubJobs(wf);
    const runs = (name: string, seen: Set<string> = new Set()): boolean => {
        if (seen.has(name)) return false;
        seen.add(name);
        const job = jobs[name];
        assert.ok(job, `needs names a job "${name}" that does not exist`);
        return githubJobRunsOn(job, event) && strings(job.needs).every((n) => runs(n, seen));
    };
    return new Set(Object.keys(jobs).filter((name) => runs(name)));
}

function githubAncestors(wf: Obj, name: string): Set<string> {
    const jobs = githubJobs(wf);
    const out = new Set<string>();
    const walk = (n: string) => {
        for (const dep of strings(jobs[n]?.needs)) {
            if (!out.has(dep)) {
                out.add(dep);
                walk(dep);
            }
        }
    };
    walk(name);
    return out;
}

/** The matrix rows a `${{ matrix.x }}` value runs with (one empty row for a plain value). */
function matrixRows(value: string, job: GithubJob): { key?: string; rows: Obj[] } {
    const m = /^\$\{\{\s*matrix\.([\w-]+)\s*\}\}$/.exec(value.trim());
    if (!m) return { rows: [{}] };
    const matrix = obj(job.strategy?.matrix);
    const rows = [...strings(matrix[m[1]]).map((v) => ({ [m[1]]: v })), ...arr(matrix.include).map(obj).filter((row) => m[1] in row)];
    assert.ok(rows.length > 0, `matrix.${m[1]} has no values`);
    return { key: m[1], rows };
}

/** `${{ matrix.x }}` and `secrets[matrix.x]` with this row's values. */
const withRow = (value: string, row: Obj) =>
    value
        .replace(/secrets\[\s*matrix\.([\w-]+)\s*\]/g, (_m, k: string) => `secrets.${String(row[k])}`)
        .replace(/\$\{\{\s*matrix\.([\w-]+)\s*\}\}/g, (_m, k: string) => String(row[k]));

interface PulumiRun {
    job: string;
    command: string;
    stack: string;
}

interface GithubPulumiRun extends PulumiRun {
    row: Obj;
}

function githubPulumiRuns(wf: Obj): GithubPulumiRun[] {
    const runs: GithubPulumiRun[] = [];
    for (const [name, job] of Object.entries(githubJobs(wf))) {
        for (const step of arr(job.steps).map(obj)) {
            if (!str(step.uses)?.startsWith("pulumi/actions@")) continue;
            const w = obj(step.with);
            const command = str(w.command);
            const stack = str(w["stack-name"]);
            assert.ok(command && stack, `${name}: pulumi/actions step needs command and stack-name`);
            const env = obj(step.env);
            assert.ok("PULUMI_CONFIG_PASSPHRASE" in env, `${name}: pulumi step without PULUMI_CONFIG_PASSPHRASE`);
            assert.ok("PULUMI_BACKEND_URL" in env, `${name}: pulumi step without PULUMI_BACKEND_URL (Pulumi.yaml's backend is a local file)`);
            for (const row of matrixRows(stack, job).rows) runs.push({ job: name, command, stack: withRow(stack, row), row });
        }
    }
    return runs;
}

const environmentName = (env: unknown) => str(env) ?? str(obj(env).name);

describe("GitHub Actions deploy workflow", () => {
    const wf = readYaml(GITHUB_WORKFLOW);
    const jobs = githubJobs(wf);
    const runs = githubPulumiRuns(wf);
    const onPr = githubJobsFor(wf, "pull_request");
    const onMain = githubJobsFor(wf, "push");

    it("runs on pull requests and on pushes to main", () => {
        const on = obj(wf.on);
        assert.ok("pull_request" in on, "no pull_request trigger");
        assert.ok(strings(obj(on.push).branches).includes("main"), "no push trigger for main");
    });

    it("runs only npm scripts that package.json defines, including test and check", () => {
        const commands = Object.values(jobs).flatMap((job) => arr(job.steps).map((s) => str(obj(s).run) ?? ""));
        assertScriptsExist(commands, GITHUB_WORKFLOW);
    });

    it("sets up Node from .nvmrc with the npm cache", () => {
        const setups = Object.values(jobs).flatMap((job) => arr(job.steps).map(obj).filter((s) => str(s.uses)?.startsWith("actions/setup-node@")));
        assert.ok(setups.length > 0, "no actions/setup-node step");
        for (const s of setups) {
            assert.equal(obj(s.with)["node-version-file"], ".nvmrc");
            assert.equal(obj(s.with).cache, "npm");
        }
    });

    it("previews every stack on pull requests and changes nothing there", () => {
        const previews = runs.filter((r) => r.command === "preview" && onPr.has(r.job));
        assert.deepEqual([...new Set(previews.map((r) => stackBaseName(r.stack)))].sort(), [...STACKS.keys()].sort());
        for (const r of previews) {
            const step = arr(jobs[r.job].steps).map(obj).find((s) => str(s.uses)?.startsWith("pulumi/actions@"));
            assert.equal(String(obj(step?.with)["comment-on-pr"]), "true", `${r.job}: preview not posted on the PR`);
        }
        const changes = runs.filter((r) => r.command !== "preview" && onPr.has(r.job));
        assert.deepEqual(changes, [], "a pull request would change a stack");
    });

    it("checks every stack for drift on a schedule, with a refreshed preview that fails on any change, and changes nothing", () => {
        const crons = arr(obj(wf.on).schedule).map((x) => str(obj(x).cron));
        assert.ok(crons.length > 0 && crons.every(Boolean), "no schedule trigger with a cron");
        const scheduled = githubJobsFor(wf, "schedule");
        const drift = runs.filter((r) => scheduled.has(r.job));
        assert.deepEqual([...new Set(drift.map((r) => stackBaseName(r.stack)))].sort(), [...STACKS.keys()].sort());
        for (const r of drift) {
            assert.equal(r.command, "preview", `${r.job} would change ${r.stack} on a schedule`);
            const step = arr(jobs[r.job].steps).map(obj).find((s) => str(s.uses)?.startsWith("pulumi/actions@"));
            assert.equal(String(obj(step?.with).refresh), "true", `${r.job}: the drift preview does not refresh`);
            assert.equal(String(obj(step?.with)["expect-no-changes"]), "true", `${r.job}: the drift preview passes with changes`);
        }
        assert.ok(!scheduled.has("test"), "the scheduled run repeats the tests");
        assert.ok(![...scheduled].some((j) => onPr.has(j) || onMain.has(j)), "a drift job also runs on pull requests or main");
    });

    it("runs the doctor on every stack on a schedule only", () => {
        assert.ok(githubJobsFor(wf, "schedule").has("doctor") && !onPr.has("doctor") && !onMain.has("doctor"), "the doctor job is not scheduled only");
        const job = jobs.doctor;
        const step = arr(job.steps).map(obj).find((s) => /npm run doctor -- --stack "\$STACK"/.test(str(s.run) ?? ""));
        assert.ok(step, "no npm run doctor step");
        assert.equal(str(obj(step.env).STACK), "${{ matrix.stack }}");
        const stacks = matrixRows("${{ matrix.stack }}", job).rows.map((r) => String(r.stack));
        assert.deepEqual(stacks.map(stackBaseName).sort(), [...STACKS.keys()].sort());
    });

    it("runs up on main for dev, then staging, then prod", () => {
        const ups = runs.filter((r) => (r.command === "up" || r.command === "update") && onMain.has(r.job));
        for (const r of ups) assertStackExists(r.stack, `${GITHUB_WORKFLOW} job ${r.job}`);
        const jobOf = (stack: string) => {
            const found = ups.filter((r) => stackBaseName(r.stack) === stack);
            assert.equal(found.length, 1, `expected one up job for ${stack} on main, got ${found.length}`);
            return found[0].job;
        };
        const [dev, staging, prod] = ORDER.map(jobOf);
        assert.ok(githubAncestors(wf, staging).has(dev), `${staging} does not wait for ${dev}`);
        assert.ok(githubAncestors(wf, prod).has(staging), `${prod} does not wait for ${staging}`);
        assert.ok(!githubAncestors(wf, dev).has(prod) && !githubAncestors(wf, dev).has(staging), `${dev} waits for a later stage`);
    });

    it("gates prod behind the production environment, and only prod", () => {
        for (const r of runs.filter((x) => x.command === "up")) {
            const env = environmentName(jobs[r.job].environment);
            if (stackBaseName(r.stack) === "prod") assert.equal(env, "production", `${r.job} is not in the production environment`);
            else assert.notEqual(env, "production", `${r.job} (${r.stack}) would wait for prod approval`);
        }
    });

    it("never runs two ups of one stack at once", () => {
        const groups = new Map<string, string>();
        for (const r of runs.filter((x) => x.command === "up")) {
            const c = jobs[r.job].concurrency;
            const group = str(c) ?? str(obj(c).group);
            assert.ok(group, `${r.job} has no concurrency group`);
            assert.notEqual(obj(c)["cancel-in-progress"], true, `${r.job} may be cancelled mid-update`);
            const other = groups.get(group);
            assert.ok(other === undefined || other === r.stack, `${r.job} shares concurrency group ${group} with ${other}`);
            groups.set(group, r.stack);
        }
    });

    it("asks for least privilege", () => {
        const top = wf.permissions;
        assert.ok(isObj(top), "workflow permissions must be listed (the default token may write)");
        for (const [scope, level] of Object.entries(top)) assert.ok(level === "read" || level === "none", `workflow grants ${scope}: ${String(level)}`);
        for (const [name, job] of Object.entries(jobs)) {
            assert.ok(job.permissions === undefined || isObj(job.permissions), `${name}: permissions must be a map`);
            for (const [scope, level] of Object.entries(obj(job.permissions))) {
                if (level === "write") assert.ok(["pull-requests", "id-token"].includes(scope), `${name} grants ${scope}: write`);
            }
        }
    });

    it("pins every action to a major version (or a commit)", () => {
        for (const [name, job] of Object.entries(jobs)) {
            for (const uses of arr(job.steps).map((s) => str(obj(s).uses)).filter((u): u is string => u !== undefined)) {
                assert.match(uses, /^[\w.-]+\/[\w./-]+@(v\d+|[0-9a-f]{40})$/, `${name}: ${uses}`);
            }
        }
    });

    it("writes each job's kubeconfig to a private file, one secret per stack", () => {
        const secretsByStack = new Map<string, Set<string>>();
        for (const r of runs) {
            const steps = arr(jobs[r.job].steps).map(obj);
            const writer = steps.find((s) => /KUBECONFIG=/.test(str(s.run) ?? ""));
            assert.ok(writer, `${r.job}: no step sets KUBECONFIG`);
            assert.match(str(writer.run) ?? "", /umask 0?077|chmod (0?600|go-rwx)/, `${r.job}: kubeconfig written without restricting permissions`);
            const refs = Object.values(obj(writer.env))
                .map((v) => /secrets\.(KUBECONFIG_[A-Z0-9_]+)/.exec(withRow(String(v), r.row))?.[1])
                .filter((v): v is string => v !== undefined);
            const set = secretsByStack.get(r.stack) ?? new Set<string>();
            refs.forEach((x) => set.add(x));
            secretsByStack.set(r.stack, set);
        }
        const owners = new Map<string, string>();
        for (const [stack, names] of secretsByStack) {
            assert.ok(names.size > 0, `no KUBECONFIG_* secret for ${stack}`);
            for (const n of names) {
                assert.ok(!owners.has(n) || owners.get(n) === stack, `${n} is used for both ${owners.get(n)} and ${stack}`);
                owners.set(n, stack);
            }
        }
    });

    it("takes every credential from secrets", () => {
        assertGithubSecretRefs(wf, "workflow");
        assertNoSecretMaterial(readText(GITHUB_WORKFLOW), GITHUB_WORKFLOW);
    });
});

// ---------------------------------------------------------------- GitLab CI

const GITLAB_RESERVED = new Set(["stages", "variables", "default", "workflow", "include", "image", "services", "cache", "before_script", "after_script"]);

/** Hash-merge as GitLab's `extends` does: mappings merge, everything else is replaced. */
function deepMerge(base: Obj, over: Obj): Obj {
    const out: Obj = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : v;
    return out;
}

function gitlabResolve(ci: Obj, name: string, depth = 0): Obj {
    assert.ok(depth < 10, `extends of ${name} nests too deep`);
    const job = obj(ci[name]);
    assert.ok(isObj(ci[name]), `extends names "${name}", which does not exist`);
    let merged: Obj = {};
    for (const parent of strings(job.extends)) merged = deepMerge(merged, gitlabResolve(ci, parent, depth + 1));
    const own = { ...job };
    delete own.extends;
    return deepMerge(merged, own);
}

interface GitlabInstance {
    job: string;
    resolved: Obj;
    variables: Obj;
    commands: string[];
}

/** Every job, its `parallel: matrix` expanded, with variables and the commands it runs. */
function gitlabInstances(ci: Obj): GitlabInstance[] {
    const globals = obj(ci.variables);
    const def = obj(ci.default);
    const out: GitlabInstance[] = [];
    for (const name of Object.keys(ci).filter((k) => !GITLAB_RESERVED.has(k) && !k.startsWith("."))) {
        const resolved = gitlabResolve(ci, name);
        const before = "before_script" in resolved ? resolved.before_script : def.before_script;
        const commands = [...strings(before), ...strings(resolved.script), ...strings(resolved.after_script)];
        const combos: Obj[] = [];
        for (const entry of arr(obj(resolved.parallel).matrix).map(obj)) {
            let partial: Obj[] = [{}];
            for (const [k, v] of Object.entries(entry)) partial = partial.flatMap((p) => strings(v).map((x) => ({ ...p, [k]: x })));
            combos.push(...partial);
        }
        for (const combo of combos.length > 0 ? combos : [{}]) {
            out.push({ job: name, resolved, variables: { ...globals, ...obj(resolved.variables), ...combo }, commands });
        }
    }
    return out;
}

const substitute = (s: string, vars: Obj) => s.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (m, v: string) => (typeof vars[v] === "string" ? (vars[v] as string) : m));

interface GitlabPulumiRun extends PulumiRun {
    instance: GitlabInstance;
}

function gitlabPulumiRuns(ci: Obj): GitlabPulumiRun[] {
    const out: GitlabPulumiRun[] = [];
    for (const inst of gitlabInstances(ci)) {
        for (const command of inst.commands) {
            const m = /\bpulumi\s+(preview|up|update|destroy|refresh)\b/.exec(command);
            if (!m) continue;
            const s = /(?:--stack|-s)[\s=]+"?([^\s"]+)"?/.exec(command);
            assert.ok(s, `${inst.job}: pulumi ${m[1]} without --stack`);
            const stack = substitute(s[1], inst.variables);
            assert.ok(!stack.includes("$"), `${inst.job}: cannot resolve stack ${s[1]}`);
            out.push({ job: inst.job, command: m[1], stack, instance: inst });
        }
    }
    return out;
}

/** Whether the job's rules let it run in this pipeline (workflow rules allow all three). */
function gitlabRuleFor(job: Obj, pipeline: "mr" | "main" | "schedule"): Obj | undefined {
    const rules = arr(job.rules).map(obj);
    if (rules.length === 0) return {};
    const source = { mr: "merge_request_event", main: "push", schedule: "schedule" }[pipeline];
    return rules.find((r) => {
        const cond = str(r.if) ?? "";
        if (r.when === "never") return false;
        const unequal = /\$CI_PIPELINE_SOURCE\s*!=\s*"([a-z_]+)"/.exec(cond);
        if (unequal) return unequal[1] !== source;
        if (pipeline === "schedule") return /\$CI_PIPELINE_SOURCE\s*==\s*"schedule"/.test(cond);
        return pipeline === "mr" ? /merge_request_event/.test(cond) : /CI_COMMIT_BRANCH\s*==\s*("main"|\$CI_DEFAULT_BRANCH)/.test(cond);
    });
}

describe("GitLab CI pipeline", () => {
    const ci = readYaml(GITLAB_CI);
    const runs = gitlabPulumiRuns(ci);
    const runsIn = (pipeline: "mr" | "main" | "schedule") => runs.filter((r) => gitlabRuleFor(r.instance.resolved, pipeline) !== undefined);

    it("has the stages test, preview, deploy in that order", () => {
        const stages = strings(ci.stages);
        const at = ["test", "preview", "deploy"].map((s) => stages.indexOf(s));
        assert.ok(at.every((i) => i >= 0), `stages are ${stages.join(", ")}`);
        assert.deepEqual(at, [...at].sort((a, b) => a - b));
    });

    it("runs only npm scripts that package.json defines, including test and check", () => {
        const ciCommands = [...strings(obj(ci.default).before_script), ...gitlabInstances(ci).flatMap((i) => i.commands)];
        assertScriptsExist(ciCommands, GITLAB_CI);
    });

    it("uses an official Pulumi image with Node 22 or newer", () => {
        for (const r of runs) {
            const image = str(r.instance.resolved.image) ?? str(obj(r.instance.resolved.image).name) ?? str(obj(ci.default).image) ?? str(ci.image);
            assert.ok(image, `${r.job}: no image`);
            const m = /^(?:docker\.io\/)?pulumi\/pulumi(?:-nodejs(?:-(\d+))?)?(?::|$)/.exec(image);
            assert.ok(m, `${r.job}: ${image} is not pulumi/pulumi or pulumi/pulumi-nodejs`);
            if (m[1]) assert.ok(Number(m[1]) >= 22, `${image}: @pulumi/pulumi needs Node 22+`);
        }
    });

    it("previews every stack in merge requests and changes nothing there", () => {
        const mr = runsIn("mr");
        const previews = mr.filter((r) => r.command === "preview");
        assert.deepEqual([...new Set(previews.map((r) => stackBaseName(r.stack)))].sort(), [...STACKS.keys()].sort());
        for (const r of previews) assert.equal(r.instance.resolved.stage, "preview", `${r.job} is not in the preview stage`);
        assert.deepEqual(mr.filter((r) => r.command !== "preview").map((r) => `${r.job}: ${r.command}`), []);
    });

    it("checks every stack for drift in scheduled pipelines, with a refreshed preview that fails on any change", () => {
        const workflowRules = arr(obj(ci.workflow).rules).map((r) => str(obj(r).if) ?? "");
        assert.ok(workflowRules.some((c) => /\$CI_PIPELINE_SOURCE\s*==\s*"schedule"/.test(c)), "workflow rules drop scheduled pipelines");
        const scheduled = runsIn("schedule");
        assert.deepEqual([...new Set(scheduled.map((r) => stackBaseName(r.stack)))].sort(), [...STACKS.keys()].sort());
        for (const r of scheduled) {
            assert.equal(r.command, "preview", `${r.job} would change ${r.stack} in a scheduled pipeline`);
            const line = r.instance.commands.find((c) => /\bpulumi\s+preview\b/.test(c)) ?? "";
            assert.match(line, /--refresh\b/, `${r.job}: the drift preview does not refresh`);
            assert.match(line, /--expect-no-changes\b/, `${r.job}: the drift preview passes with changes`);
            assert.equal(gitlabRuleFor(r.instance.resolved, "mr"), undefined, `${r.job} also runs in merge requests`);
            assert.equal(gitlabRuleFor(r.instance.resolved, "main"), undefined, `${r.job} also runs on main`);
        }
        assert.equal(gitlabRuleFor(gitlabResolve(ci, "test"), "schedule"), undefined, "the scheduled pipeline repeats the tests");
    });

    it("runs the doctor on every stack in scheduled pipelines only", () => {
        const doctors = gitlabInstances(ci).filter((i) => i.job === "doctor");
        const stacks = doctors.map((i) => {
            assert.ok(gitlabRuleFor(i.resolved, "schedule") && !gitlabRuleFor(i.resolved, "mr") && !gitlabRuleFor(i.resolved, "main"), "the doctor job is not scheduled only");
            const line = i.commands.find((c) => /\bnpm run doctor -- --stack\b/.test(c));
            assert.ok(line, "no npm run doctor line");
            return substitute(/--stack\s+"?([^\s"]+)"?/.exec(line)![1], i.variables);
        });
        assert.deepEqual(stacks.map(stackBaseName).sort(), [...STACKS.keys()].sort());
    });

    it("runs up on main for dev, then staging, then prod", () => {
        const ups = runsIn("main").filter((r) => r.command === "up" || r.command === "update");
        for (const r of ups) {
            assertStackExists(r.stack, `${GITLAB_CI} job ${r.job}`);
            assert.equal(r.instance.resolved.stage, "deploy", `${r.job} is not in the deploy stage`);
        }
        const jobOf = (stack: string) => {
            const found = ups.filter((r) => stackBaseName(r.stack) === stack);
            assert.equal(found.length, 1, `expected one up job for ${stack} on main, got ${found.length}`);
            return found[0];
        };
        const [dev, staging, prod] = ORDER.map(jobOf);
        const needs = (r: GitlabPulumiRun) => arr(r.instance.resolved.needs).map((n) => str(n) ?? str(obj(n).job));
        assert.ok(needs(staging).includes(dev.job), `${staging.job} does not need ${dev.job}`);
        assert.ok(needs(prod).includes(staging.job), `${prod.job} does not need ${staging.job}`);
    });

    it("makes prod manual, in the production environment, and nothing else", () => {
        for (const r of runsIn("main").filter((x) => x.command === "up")) {
            const rule = gitlabRuleFor(r.instance.resolved, "main") ?? {};
            const manual = (rule.when ?? r.instance.resolved.when) === "manual";
            const env = environmentName(r.instance.resolved.environment);
            if (stackBaseName(r.stack) === "prod") {
                assert.ok(manual, `${r.job} is not when: manual`);
                assert.equal(env, "production");
                assert.notEqual(r.instance.resolved.allow_failure, true, `${r.job}: an optional manual job does not block the pipeline`);
            } else {
                assert.ok(!manual, `${r.job} (${r.stack}) is manual`);
                assert.notEqual(env, "production");
            }
        }
    });

    it("gives each stack's up its own resource_group", () => {
        const groups = new Map<string, string>();
        for (const r of runs.filter((x) => x.command === "up")) {
            const group = str(r.instance.resolved.resource_group);
            assert.ok(group, `${r.job} has no resource_group`);
            assert.ok(!groups.has(group) || groups.get(group) === r.stack, `${r.job} shares resource_group ${group}`);
            groups.set(group, r.stack);
        }
    });

    it("reads a separate File variable kubeconfig for each stack", () => {
        const owners = new Map<string, string>();
        for (const r of runs) {
            const text = [...Object.values(r.instance.variables).map(String), ...r.instance.commands].join("\n");
            assert.match(r.instance.commands.join("\n"), /export KUBECONFIG\b/, `${r.job}: KUBECONFIG is not exported`);
            const names = new Set([...text.matchAll(/\bKUBECONFIG_(?!VARIABLE\b)[A-Z0-9_]+/g)].map((m) => m[0]));
            assert.equal(names.size, 1, `${r.job} (${r.stack}): expected one KUBECONFIG_<ENV> variable, got ${[...names].join(", ")}`);
            const [name] = names;
            assert.ok(!owners.has(name) || owners.get(name) === r.stack, `${name} is used for both ${owners.get(name)} and ${r.stack}`);
            owners.set(name, r.stack);
        }
    });

    it("defines no credential in the file", () => {
        assertGitlabVariableRefs(obj(ci.variables), "variables");
        for (const inst of gitlabInstances(ci)) {
            assertGitlabVariableRefs(obj(inst.resolved.variables), `${inst.job}.variables`);
            for (const entry of arr(obj(inst.resolved.parallel).matrix).map(obj)) assertGitlabVariableRefs(entry, `${inst.job}.parallel.matrix`);
        }
        assertNoSecretMaterial(readText(GITLAB_CI), GITLAB_CI);
    });
});

// ---------------------------------------------------------------- operator

/** The pulumi.com/v1 Stack spec fields of the Pulumi Kubernetes Operator v2 CRD. */
const STACK_SPEC_FIELDS = new Set([
    "accessTokenSecret", "backend", "branch", "commit", "config", "configRef", "continueResyncOnCommitMatch",
    "destroyOnFinalize", "envRefs", "envSecrets", "environment", "envs", "expectNoRefreshChanges", "fluxSource",
    "gitAuth", "gitAuthSecret", "prerequisites", "preview", "programRef", "projectRepo", "refresh", "repoDir",
    "resyncFrequencySeconds", "retryMaxBackoffDurationSeconds", "retryOnUpdateConflict", "runProgram", "secrets",
    "secretsProvider", "secretsRef", "serviceAccountName", "shallow", "stack", "targetDependents", "targets",
    "updateTemplate", "useLocalStackOnly", "workspaceReclaimPolicy", "workspaceTemplate",
]);

interface K8sObject extends Obj {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace?: string };
    file: string;
}

function operatorObjects(): K8sObject[] {
    const dir = path.join(ROOT, OPERATOR_DIR);
    const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f));
    assert.ok(files.length > 0, `no YAML in ${OPERATOR_DIR}`);
    const out: K8sObject[] = [];
    for (const f of files) {
        const rel = path.join(OPERATOR_DIR, f);
        for (const doc of parseAllDocuments(readText(rel))) {
            assert.deepEqual(doc.errors.map(String), [], `${rel}: YAML errors`);
            const value: unknown = doc.toJS();
            if (value === null || value === undefined) continue;
            assert.ok(isObj(value) && str(value.kind) && str(value.apiVersion) && str(obj(value.metadata).name), `${rel}: not a Kubernetes object`);
            out.push({ ...(value as K8sObject), file: rel });
        }
    }
    return out;
}

interface Tenant {
    namespace: string;
    createNamespace: boolean;
    serviceAccounts: string[];
}

/** The namespaces a stack manages, read from its committed config by the program's own rules. */
function stackTenants(stack: string): Tenant[] {
    const file = STACKS.get(stack);
    assert.ok(file, `no stack file for ${stack}`);
    return stackConfigOf(readText(file)).tenants.map(({ namespace, createNamespace, serviceAccounts }) => ({ namespace, createNamespace, serviceAccounts }));
}

interface Rule {
    apiGroups: string[];
    resources: string[];
    verbs: string[];
    resourceNames: string[];
}

const rulesOf = (role: Obj): Rule[] =>
    arr(role.rules).map(obj).map((r) => ({ apiGroups: strings(r.apiGroups), resources: strings(r.resources), verbs: strings(r.verbs), resourceNames: strings(r.resourceNames) }));

function allows(rules: Rule[], resource: string, verb: string, name?: string): boolean {
    return rules.some(
        (r) =>
            r.apiGroups.includes("") &&
            r.resources.includes(resource) &&
            r.verbs.includes(verb) &&
            (r.resourceNames.length === 0 || (name !== undefined && r.resourceNames.includes(name))),
    );
}

describe("Pulumi Kubernetes Operator example", () => {
    const objects = operatorObjects();
    const stacks = objects.filter((o) => o.kind === "Stack");
    const find = (kind: string, name: string, namespace?: string) =>
        objects.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));

    it("has one pulumi.com/v1 Stack per environment, each naming a stack file", () => {
        for (const s of stacks) {
            assert.equal(s.apiVersion, "pulumi.com/v1", `${s.file}: ${s.metadata.name}`);
            assertStackExists(String(obj(s.spec).stack), `${s.file} Stack ${s.metadata.name}`);
        }
        const names = stacks.map((s) => stackBaseName(String(obj(s.spec).stack)));
        assert.deepEqual([...names].sort(), [...new Set(names)].sort(), "two Stacks deploy the same stack");
        for (const env of ORDER) assert.ok(names.includes(env), `no Stack for ${env}`);
    });

    it("uses only fields of the operator's Stack CRD, as intended", () => {
        for (const s of stacks) {
            const spec = obj(s.spec);
            const unknown = Object.keys(spec).filter((k) => !STACK_SPEC_FIELDS.has(k));
            assert.deepEqual(unknown, [], `${s.file}: ${s.metadata.name} has fields the CRD does not define`);
            assert.ok(str(spec.projectRepo), `${s.metadata.name}: no projectRepo`);
            assert.ok(Boolean(str(spec.branch)) !== Boolean(str(spec.commit)), `${s.metadata.name}: set exactly one of branch and commit`);
            assert.equal(spec.destroyOnFinalize, false, `${s.metadata.name}: deleting the Stack would destroy the namespace`);
            assert.equal(spec.refresh, true, `${s.metadata.name}: no refresh`);
            const passphrase = obj(obj(spec.envRefs).PULUMI_CONFIG_PASSPHRASE);
            assert.equal(passphrase.type, "Secret", `${s.metadata.name}: PULUMI_CONFIG_PASSPHRASE must come from a Secret`);
            assert.ok(str(obj(passphrase.secret).name) && str(obj(passphrase.secret).key), `${s.metadata.name}: secret name and key`);
            assert.ok(str(spec.backend) ?? obj(spec.envRefs).PULUMI_BACKEND_URL, `${s.metadata.name}: no backend (Pulumi.yaml's is a local file)`);
        }
    });

    it("inlines no secret values", () => {
        for (const o of objects) {
            if (o.kind === "Secret") assert.ok(!("data" in o) && !("stringData" in o), `${o.file}: Secret ${o.metadata.name} carries data`);
            if (o.kind !== "Stack") continue;
            for (const [name, ref] of Object.entries(obj(obj(o.spec).envRefs))) {
                if (SENSITIVE_KEY.test(name) && name !== "PULUMI_BACKEND_URL") assert.notEqual(obj(ref).type, "Literal", `${o.metadata.name}: ${name} is a literal`);
            }
            assert.deepEqual(Object.keys(obj(obj(o.spec).secrets)), [], `${o.metadata.name}: inline spec.secrets`);
        }
        for (const f of new Set(objects.map((o) => o.file))) assertNoSecretMaterial(readText(f), f);
    });

    it("defines shared objects identically in every file", () => {
        const seen = new Map<string, K8sObject>();
        for (const o of objects) {
            const id = `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
            const prev = seen.get(id);
            if (prev) {
                const withoutFile = (k: K8sObject): Obj => Object.fromEntries(Object.entries(k).filter(([key]) => key !== "file"));
                assert.deepEqual(withoutFile(o), withoutFile(prev), `${id} differs between ${prev.file} and ${o.file}`);
            }
            seen.set(id, o);
        }
    });

    it("lets each Stack's identity manage exactly its namespaces' pull secrets", () => {
        const bindings = objects.filter((o) => o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding");
        for (const s of stacks) {
            const spec = obj(s.spec);
            const saName = str(spec.serviceAccountName);
            const saNamespace = s.metadata.namespace;
            assert.ok(saName, `${s.metadata.name}: no serviceAccountName (the workspace would run as default)`);
            assert.ok(find("ServiceAccount", saName, saNamespace), `${s.file}: no ServiceAccount ${saNamespace}/${saName}`);
            const isSubject = (b: Obj) =>
                arr(b.subjects).map(obj).some((x) => x.kind === "ServiceAccount" && x.name === saName && x.namespace === saNamespace);
            const mine = bindings.filter(isSubject);
            const roleOf = (b: K8sObject) => {
                const ref = obj(b.roleRef);
                if (ref.name === "system:auth-delegator") return { rules: [] as Rule[], name: "system:auth-delegator" };
                const role = find(String(ref.kind), String(ref.name), ref.kind === "Role" ? b.metadata.namespace : undefined);
                assert.ok(role, `${b.file}: ${b.kind} ${b.metadata.name} refers to ${String(ref.kind)} ${String(ref.name)}, not defined here`);
                return { rules: rulesOf(role), name: role.metadata.name };
            };

            assert.ok(
                mine.some((b) => b.kind === "ClusterRoleBinding" && obj(b.roleRef).name === "system:auth-delegator"),
                `${saName}: the operator needs system:auth-delegator for workspace identities`,
            );
            const tenants = stackTenants(stackBaseName(String(spec.stack)));
            for (const t of tenants) {
                const local = mine.filter((b) => b.kind === "RoleBinding" && b.metadata.namespace === t.namespace).flatMap((b) => roleOf(b).rules);
                for (const verb of ["get", "create", "patch", "delete"]) {
                    assert.ok(allows(local, "secrets", verb), `${saName} cannot ${verb} secrets in ${t.namespace}`);
                }
                for (const sa of t.serviceAccounts) assert.ok(allows(local, "serviceaccounts", "patch", sa), `${saName} cannot patch serviceaccount ${t.namespace}/${sa}`);
                const cluster = mine.filter((b) => b.kind === "ClusterRoleBinding").flatMap((b) => roleOf(b).rules);
                if (t.createNamespace) {
                    assert.ok(allows(cluster, "namespaces", "patch", t.namespace), `${saName} cannot manage namespace ${t.namespace}`);
                }
            }

            const owned = new Set(tenants.filter((t) => t.createNamespace).map((t) => t.namespace));
            for (const b of mine) {
                const { rules, name } = roleOf(b);
                for (const r of rules) {
                    const where = `${b.kind} ${b.metadata.name} → ${name}`;
                    assert.ok(![...r.apiGroups, ...r.resources, ...r.verbs].includes("*"), `${where}: wildcard`);
                    assert.ok(!r.verbs.some((v) => ["escalate", "bind", "impersonate"].includes(v)), `${where}: ${r.verbs.join(",")}`);
                    assert.ok(!r.apiGroups.includes("rbac.authorization.k8s.io"), `${where}: may change RBAC`);
                    if (b.kind === "ClusterRoleBinding") {
                        assert.ok(!r.resources.includes("secrets"), `${where}: secrets in every namespace`);
                        if (r.resources.includes("namespaces") && r.verbs.some((v) => ["create", "update", "patch", "delete"].includes(v))) {
                            assert.ok(r.resourceNames.length > 0 && r.resourceNames.every((n) => owned.has(n)), `${where}: may change namespaces it does not own`);
                        }
                    }
                }
            }
        }
    });
});
