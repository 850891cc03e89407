/**
 * The deploy pipelines (.github/workflows/deploy.yml, .gitlab-ci.yml) and the operator example
 * (deploy/operator/) against the repository they deploy: npm scripts that exist, stacks that
 * exist, previews on pull requests, dev → staging → prod on main with prod gated, the scheduled
 * drift check and reconcile (prod's only adding, never beside an up), no secret values in the
 * files, and operator RBAC that matches each stack's namespaces.
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
        // `npm run --silent build` names build: flags before the script name are skipped.
        for (const m of command.matchAll(/(?:^|[\s;&|(])npm\s+([^\s;&|)]+)(?:(?:\s+--?[\w-]+)*\s+([^\s;&|)]+))?/g)) {
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

/** What a run starts on: a pull request (from this repository), a push to main, or one cron line of the schedule. */
type GithubEvent = "pull_request" | "push" | { schedule: string };

/**
 * Whether a job's own `if` lets it run for this event: `&&` of comparisons of the github context
 * with a quoted string or another context value, the only form this workflow uses (anything else
 * fails the test rather than being guessed at).
 */
function githubJobRunsOn(job: GithubJob, event: GithubEvent): boolean {
    const cond = (job.if ?? "").trim();
    if (cond === "") return true;
    const name = typeof event === "string" ? event : "schedule";
    const context: Record<string, string | undefined> = {
        "github.event_name": name,
        "github.ref": name === "pull_request" ? "refs/pull/1/merge" : "refs/heads/main",
        "github.event.schedule": typeof event === "string" ? undefined : event.schedule,
        "github.repository": "owner/registry-access",
        "github.event.pull_request.head.repo.full_name": name === "pull_request" ? "owner/registry-access" : undefined,
    };
    const value = (ref: string) => {
        assert.ok(ref in context, `cannot read ${ref} in the condition "${cond}"`);
        return context[ref];
    };
    return cond.split("&&").every((term) => {
        const m = /^\s*([\w.]+)\s*(==|!=)\s*(?:'([^']*)'|([\w.]+))\s*$/.exec(term);
        assert.ok(m, `cannot read the condition "${cond}"`);
        const equal = value(m[1]) === (m[3] ?? value(m[4]));
        return m[2] === "==" ? equal : !equal;
    });
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
    /** The step, its index in the job. */
    at: number;
    /** A reconcile with --only-add (deploy/reconcile.ts): it may only add. */
    onlyAdd: boolean;
}

/** The reconcile script's command line in a `run:` (deploy/reconcile.ts, compiled by npm run build). */
const RECONCILE = /\bnode\s+build\/deploy\/reconcile\.js\b/;

/**
 * Every stack operation of the workflow, per matrix row: the pulumi/actions steps with a command
 * (one without only installs the CLI) and the reconcile script's `run:` steps, whose stack is the
 * step's env value that `--stack "$X"` names.
 */
function githubPulumiRuns(wf: Obj): GithubPulumiRun[] {
    const runs: GithubPulumiRun[] = [];
    for (const [name, job] of Object.entries(githubJobs(wf))) {
        arr(job.steps).map(obj).forEach((step, at) => {
            const env = obj(step.env);
            const w = obj(step.with);
            const script = str(step.run) ?? "";
            let command: string | undefined;
            let stack: string | undefined;
            if (str(step.uses)?.startsWith("pulumi/actions@")) {
                command = str(w.command);
                stack = str(w["stack-name"]);
                if (command === undefined) {
                    assert.equal(stack, undefined, `${name}: a pulumi/actions step with a stack-name but no command`);
                    return;
                }
                assert.ok(stack, `${name}: pulumi/actions step needs command and stack-name`);
            } else if (RECONCILE.test(script)) {
                command = "reconcile";
                const ref = /--stack\s+"?\$\{?(\w+)\}?"?/.exec(script);
                assert.ok(ref, `${name}: the reconcile without --stack "$VAR"`);
                stack = str(env[ref[1]]);
                assert.ok(stack, `${name}: the reconcile's --stack names $${ref[1]}, which the step's env does not set`);
            } else {
                return;
            }
            assert.ok("PULUMI_CONFIG_PASSPHRASE" in env, `${name}: pulumi step without PULUMI_CONFIG_PASSPHRASE`);
            assert.ok("PULUMI_BACKEND_URL" in env, `${name}: pulumi step without PULUMI_BACKEND_URL (Pulumi.yaml's backend is a local file)`);
            // --only-add, given outright or when a `"$X" = true` test of the step's env holds.
            const guard = /"\$(\w+)"\s*=\s*true\b/.exec(script);
            for (const row of matrixRows(stack, job).rows) {
                const onlyAdd = /--only-add\b/.test(script) && (!guard || withRow(String(env[guard[1]]), row) === "true");
                runs.push({ job: name, command, stack: withRow(stack, row), row, at, onlyAdd });
            }
        });
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

    const crons = arr(obj(wf.on).schedule).map((x) => str(obj(x).cron) ?? "");
    /** The cron line whose jobs run COMMAND, and those jobs' runs; one line for each. */
    const scheduleOf = (command: string) => {
        const found = crons.filter((cron) => runs.some((r) => r.command === command && githubJobsFor(wf, { schedule: cron }).has(r.job)));
        assert.equal(found.length, 1, `expected one schedule line running ${command}, got ${found.length}`);
        const jobs = githubJobsFor(wf, { schedule: found[0] });
        return { cron: found[0], jobs, runs: runs.filter((r) => jobs.has(r.job)) };
    };

    it("runs scheduled jobs only on their schedule, never on pull requests or main, and not the tests", () => {
        assert.ok(crons.length > 0 && crons.every(Boolean), "no schedule trigger with a cron");
        assert.equal(new Set(crons).size, crons.length, "a cron line is listed twice: the jobs could not tell the schedules apart");
        for (const cron of crons) {
            const scheduled = githubJobsFor(wf, { schedule: cron });
            assert.ok(!scheduled.has("test"), `the schedule "${cron}" repeats the tests`);
            assert.ok(![...scheduled].some((j) => onPr.has(j) || onMain.has(j)), `a job of the schedule "${cron}" also runs on pull requests or main`);
        }
    });

    it("checks every stack for drift on a schedule, with a refreshed preview of the recorded selections that fails on any change, and changes nothing", () => {
        const drift = scheduleOf("preview").runs;
        assert.deepEqual([...new Set(drift.map((r) => stackBaseName(r.stack)))].sort(), [...STACKS.keys()].sort());
        for (const r of drift) {
            assert.equal(r.command, "preview", `${r.job} would change ${r.stack} on the drift schedule`);
            const steps = arr(jobs[r.job].steps).map(obj);
            const w = obj(steps[r.at].with);
            assert.equal(String(w.refresh), "true", `${r.job}: the drift preview does not refresh`);
            assert.equal(String(w["expect-no-changes"]), "true", `${r.job}: the drift preview passes with changes`);
            // The last run's selections, so that a namespace labelled since is not drift.
            const records = steps.findIndex((st) => /pulumi stack output tenants --json/.test(str(st.run) ?? "") && /REGISTRY_ACCESS_RECORDED_TENANTS/.test(str(st.run) ?? ""));
            assert.ok(records >= 0 && records < r.at, `${r.job}: no step sets REGISTRY_ACCESS_RECORDED_TENANTS from pulumi stack output tenants before the preview`);
            assert.ok(steps.slice(0, records).some((st) => str(st.uses)?.startsWith("pulumi/actions@")), `${r.job}: pulumi stack output runs before the CLI is installed`);
        }
    });

    it("reconciles every stack on a schedule of its own, every few minutes, each job done within the period", () => {
        const { cron, jobs: scheduled, runs: reconciles } = scheduleOf("reconcile");
        const period = /^\*\/(\d+) \* \* \* \*$/.exec(cron);
        assert.ok(period, `the reconcile's schedule "${cron}" is not every N minutes`);
        assert.deepEqual(reconciles.map((r) => r.command), reconciles.map(() => "reconcile"), "the reconcile's schedule runs something else too");
        assert.deepEqual(reconciles.map((r) => stackBaseName(r.stack)).sort(), [...STACKS.keys()].sort(), "not one reconcile per stack");
        for (const name of scheduled) {
            const timeout = Number(obj(jobs[name])["timeout-minutes"]);
            assert.ok(timeout > 0 && timeout < Number(period[1]), `${name}: timeout-minutes ${timeout} is not below the ${period[1]}-minute period`);
        }
    });

    it("never runs a reconcile beside an up of its stack: the same concurrency group, neither cancelled; schedules queue apart from main", () => {
        const groupOf = (r: GithubPulumiRun) => {
            const c = jobs[r.job].concurrency;
            return withRow(str(c) ?? str(obj(c).group) ?? "", r.row);
        };
        for (const r of runs.filter((x) => x.command === "reconcile")) {
            const up = runs.find((x) => x.command === "up" && onMain.has(x.job) && stackBaseName(x.stack) === stackBaseName(r.stack));
            assert.ok(up, `no up of ${r.stack}`);
            assert.equal(groupOf(r), groupOf(up), `${r.job} (${r.stack}) is not in ${up.job}'s concurrency group`);
            assert.notEqual(obj(jobs[r.job].concurrency)["cancel-in-progress"], true, `${r.job} may be cancelled mid-update`);
        }
        // A group keeps one pending run: a scheduled run waiting in main's would cancel a push's.
        assert.match(String(obj(wf.concurrency).group), /github\.event\.schedule/, "scheduled runs share main's workflow concurrency group");
    });

    it("lets prod's reconcile only add, outside the production environment's reviewers; every reconcile has the history to compare commits", () => {
        for (const r of runs.filter((x) => x.command === "reconcile")) {
            const env = withRow(environmentName(jobs[r.job].environment) ?? "", r.row);
            const checkout = arr(jobs[r.job].steps).map(obj).find((st) => str(st.uses)?.startsWith("actions/checkout@"));
            assert.equal(String(obj(checkout?.with)["fetch-depth"]), "0", `${r.job}: the reconcile compares commits, and needs the whole history`);
            if (stackBaseName(r.stack) === "prod") {
                assert.ok(r.onlyAdd, `${r.job}: prod's reconcile without --only-add`);
                assert.ok(env !== "" && env !== "production", `${r.job}: prod's reconcile in environment "${env}": production's reviewers would hold every run`);
            } else {
                assert.ok(!r.onlyAdd, `${r.job}: ${r.stack}'s reconcile is limited to adding`);
            }
        }
    });

    it("runs the doctor on every stack on the drift job's schedule only", () => {
        const onDrift = githubJobsFor(wf, { schedule: scheduleOf("preview").cron });
        const onReconcile = githubJobsFor(wf, { schedule: scheduleOf("reconcile").cron });
        assert.ok(onDrift.has("doctor") && !onReconcile.has("doctor") && !onPr.has("doctor") && !onMain.has("doctor"), "the doctor job is not on the drift job's schedule only");
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

/** Every stack operation: pulumi's, and the reconcile script's (deploy/reconcile.ts), as "reconcile". */
function gitlabPulumiRuns(ci: Obj): GitlabPulumiRun[] {
    const out: GitlabPulumiRun[] = [];
    for (const inst of gitlabInstances(ci)) {
        for (const command of inst.commands) {
            const m = /\bpulumi\s+(preview|up|update|destroy|refresh)\b/.exec(command) ?? (RECONCILE.test(command) ? [command, "reconcile"] : null);
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

/**
 * The pipelines a GitLab project runs here, by their predefined variables: a merge request's, a
 * push to main's, and the two schedules of main, the reconcile's (REGISTRY_ACCESS_SCHEDULE=reconcile,
 * set on the schedule) and the drift job's (the variable unset).
 */
const GITLAB_PIPELINES = {
    mr: { CI_PIPELINE_SOURCE: "merge_request_event" },
    main: { CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main" },
    drift: { CI_PIPELINE_SOURCE: "schedule", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main" },
    reconcile: { CI_PIPELINE_SOURCE: "schedule", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main", REGISTRY_ACCESS_SCHEDULE: "reconcile" },
} as const;
type GitlabPipeline = keyof typeof GITLAB_PIPELINES;

/**
 * A rule's `if` in this pipeline: `&&` of `$VAR == "value"` and `$VAR != "value"` (an unset variable
 * equals nothing), the only form the file uses; anything else fails the test rather than being guessed at.
 */
function gitlabCondition(cond: string, pipeline: GitlabPipeline): boolean {
    const vars: Record<string, string> = GITLAB_PIPELINES[pipeline];
    return cond.split("&&").every((term) => {
        const m = /^\s*\$(\w+)\s*(==|!=)\s*(?:"([^"]*)"|\$(\w+))\s*$/.exec(term);
        assert.ok(m, `cannot read the rule "${cond}"`);
        const equal = vars[m[1]] !== undefined && vars[m[1]] === (m[3] ?? vars[m[4]]);
        return m[2] === "==" ? equal : !equal;
    });
}

/** The rule that lets the job run in this pipeline (GitLab's first matching rule), or undefined. */
function gitlabRuleFor(job: Obj, pipeline: GitlabPipeline): Obj | undefined {
    const rules = arr(job.rules).map(obj);
    if (rules.length === 0) return {};
    const rule = rules.find((r) => r.if === undefined || gitlabCondition(String(r.if), pipeline));
    return rule === undefined || rule.when === "never" ? undefined : rule;
}

describe("GitLab CI pipeline", () => {
    const ci = readYaml(GITLAB_CI);
    const runs = gitlabPulumiRuns(ci);
    const runsIn = (pipeline: GitlabPipeline) => runs.filter((r) => gitlabRuleFor(r.instance.resolved, pipeline) !== undefined);

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

    it("runs every kind of pipeline it has jobs for, and the tests in neither schedule", () => {
        const workflowRules = arr(obj(ci.workflow).rules).map(obj);
        for (const pipeline of Object.keys(GITLAB_PIPELINES) as GitlabPipeline[]) {
            assert.ok(gitlabRuleFor({ rules: workflowRules }, pipeline), `the workflow rules drop the ${pipeline} pipeline`);
        }
        for (const pipeline of ["drift", "reconcile"] as const) {
            assert.equal(gitlabRuleFor(gitlabResolve(ci, "test"), pipeline), undefined, `the ${pipeline} schedule repeats the tests`);
        }
    });

    it("checks every stack for drift in the drift schedule, with a refreshed preview of the recorded selections that fails on any change", () => {
        const scheduled = runsIn("drift");
        assert.deepEqual([...new Set(scheduled.map((r) => stackBaseName(r.stack)))].sort(), [...STACKS.keys()].sort());
        for (const r of scheduled) {
            assert.equal(r.command, "preview", `${r.job} would change ${r.stack} in the drift schedule`);
            const at = r.instance.commands.findIndex((c) => /\bpulumi\s+preview\b/.test(c));
            const line = r.instance.commands[at];
            assert.match(line, /--refresh\b/, `${r.job}: the drift preview does not refresh`);
            assert.match(line, /--expect-no-changes\b/, `${r.job}: the drift preview passes with changes`);
            // The last run's selections, so that a namespace labelled since is not drift.
            const records = r.instance.commands.findIndex((c) => /pulumi stack output tenants --json/.test(c) && /export REGISTRY_ACCESS_RECORDED_TENANTS=/.test(c));
            assert.ok(records >= 0 && records < at, `${r.job}: no export of REGISTRY_ACCESS_RECORDED_TENANTS from pulumi stack output tenants before the preview`);
            for (const other of ["mr", "main", "reconcile"] as const) {
                assert.equal(gitlabRuleFor(r.instance.resolved, other), undefined, `${r.job} also runs in the ${other} pipeline`);
            }
        }
    });

    it("reconciles every stack in the reconcile schedule, and nowhere else", () => {
        const scheduled = runsIn("reconcile");
        assert.deepEqual(scheduled.map((r) => r.command), scheduled.map(() => "reconcile"), "the reconcile schedule runs something else too");
        assert.deepEqual(scheduled.map((r) => stackBaseName(r.stack)).sort(), [...STACKS.keys()].sort(), "not one reconcile per stack");
        for (const r of runs.filter((x) => x.command === "reconcile")) {
            for (const other of ["mr", "main", "drift"] as const) {
                assert.equal(gitlabRuleFor(r.instance.resolved, other), undefined, `${r.job} also runs in the ${other} pipeline`);
            }
            const build = r.instance.commands.findIndex((c) => /\bnpm run (--silent )?build\b/.test(c));
            const at = r.instance.commands.findIndex((c) => RECONCILE.test(c));
            assert.ok(build >= 0 && build < at, `${r.job}: build/deploy/reconcile.js is run before npm run build made it`);
        }
    });

    it("runs each reconcile in its stack's up's resource group and environment, as access (no deployment, no approval)", () => {
        const ups = runsIn("main").filter((r) => r.command === "up");
        for (const r of runs.filter((x) => x.command === "reconcile")) {
            const up = ups.find((u) => stackBaseName(u.stack) === stackBaseName(r.stack));
            assert.ok(up, `no up of ${r.stack}`);
            assert.equal(r.instance.resolved.resource_group, up.instance.resolved.resource_group, `${r.job} would run beside ${up.job}`);
            // The up's environment: the same protected, environment-scoped kubeconfig.
            assert.equal(environmentName(r.instance.resolved.environment), environmentName(up.instance.resolved.environment), `${r.job} reads another environment's variables than ${up.job}`);
            assert.equal(obj(r.instance.resolved.environment).action, "access", `${r.job}: a deployment, which approval rules would hold and "outdated" checks would count`);
            assert.notEqual((gitlabRuleFor(r.instance.resolved, "reconcile") ?? {}).when, "manual", `${r.job} waits for a person`);
        }
    });

    it("lets prod's reconcile only add; every reconcile has the whole history to compare commits", () => {
        for (const r of runs.filter((x) => x.command === "reconcile")) {
            const line = r.instance.commands.find((c) => RECONCILE.test(c)) ?? "";
            assert.equal(String(r.instance.variables.GIT_DEPTH), "0", `${r.job}: the reconcile compares commits, and needs the whole history (GIT_DEPTH 0)`);
            if (stackBaseName(r.stack) === "prod") {
                assert.match(line, /--only-add\b/, `${r.job}: prod's reconcile without --only-add`);
            } else {
                assert.doesNotMatch(line, /--only-add\b/, `${r.job}: ${r.stack}'s reconcile is limited to adding`);
            }
        }
    });

    it("runs the doctor on every stack in the drift schedule only", () => {
        const doctors = gitlabInstances(ci).filter((i) => i.job === "doctor");
        const stacks = doctors.map((i) => {
            const only = gitlabRuleFor(i.resolved, "drift") && !gitlabRuleFor(i.resolved, "reconcile") && !gitlabRuleFor(i.resolved, "mr") && !gitlabRuleFor(i.resolved, "main");
            assert.ok(only, "the doctor job is not in the drift schedule only");
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
