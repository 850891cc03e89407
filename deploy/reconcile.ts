/**
 * The scheduled reconcile (docs/deploy.md, "Drift"): one stack's `pulumi up`, so that what the
 * cluster gained since the last run (a namespace labelled into a selector's project, a
 * ServiceAccount under `serviceAccounts: "*"`) gets its pull Secrets within one period:
 *
 *   node build/deploy/reconcile.js --stack S [--only-add]
 *
 * 1. `pulumi preview --json`: what an `up` would do now. Nothing: done, without an `up`.
 * 2. What that `up` would delete and the cluster has lost already (its namespace deleted, or a
 *    ServiceAccountPatch's account) is dropped from the state by a `pulumi refresh --target` of
 *    just those objects: provider 4.25 gives a ServiceAccount list up with an apply, which fails in
 *    a deleted namespace (`namespaces "x" not found`) and would make a deleted account again.
 * 3. A plain `pulumi up`, never `--refresh`: a hand edit stays for the drift job to report.
 *
 * First of all, whatever the stack, the reconcile deploys only the commit of the stack's last
 * pipeline `up` (the newest successful `up` in `pulumi stack history` not made by the reconcile:
 * its `git.head`), or a later one that changes none of what a deploy reads; otherwise it waits
 * (exit 0) for that `up`, so a merge that failed its tests, or awaits prod's approval, never
 * reaches a cluster through the reconcile.
 *
 * --only-add, for a stack behind an approval gate (prod): it then proceeds only when every step of
 * the preview (after the refresh) is `same`, `create` or `read`, or the `delete` of a component (a
 * state-only record, whose objects are gone), and its `up` targets exactly those creates and
 * deletes, so a change in the cluster between preview and `up` cannot widen it. Any update,
 * replacement or delete of an object stops the job (exit 1), naming each, for the approved `up`.
 *
 * Never prints a secret: the CLI's JSON is parsed, and only the steps' types and names and the
 * program's diagnostics are printed (it carries no secret value with no --show-secrets); a
 * `kubernetes:kubeconfig` set as a secret is read into memory and handed to kubectl as an unnamed
 * file (components/cluster.ts).
 */
import { spawn, spawnSync } from "node:child_process";
import { clusterKubectl, type Kubectl, kubectlFailure } from "../components/cluster";
import { listedNamespaces } from "../components/namespaceSelection";

/** The `--message` of the reconcile's own updates, by which the pipeline's are told apart. */
export const RECONCILE_MESSAGE = "registry-access reconcile";
const RECONCILE_MESSAGES = new Set([RECONCILE_MESSAGE, `${RECONCILE_MESSAGE} (only adding)`]);

/** What --only-add lets through without the approval gate (besides the delete of a component). */
const ADDING = new Set(["same", "create", "read"]);

/**
 * Paths that no deploy reads: a commit changing only these deploys what its parent did. Anything
 * else (the program, its packages, Pulumi.yaml, the stack's own file, a folder added later) counts.
 */
const NOT_DEPLOYED = [
    /\.md$/,
    /^(docs|test|bench|scripts|toolchain|check|doctor|schema|reports|deploy|\.ci|\.github)\//,
    /^(\.gitlab-ci\.yml|\.gitignore|\.markdownlint-cli2\.jsonc|\.remarkrc\.yml|\.mocharc\.json|eslint\.config\.mjs|stryker\.config\.json)$/,
];

class Stop extends Error {}

interface Step {
    op: string;
    urn: string;
    type: string;
    /** As the CLI wrote it: a step without the field is not taken for a component. */
    custom?: boolean;
    namespace?: string;
    name?: string;
}

function say(stack: string, message: string): void {
    process.stdout.write(`reconcile: ${stack}: ${message}\n`);
}

/** Every CLI run's environment: never the drift job's frozen selections, which would add nothing. */
function cliEnv(): NodeJS.ProcessEnv {
    const env = { ...process.env };
    delete env.REGISTRY_ACCESS_RECORDED_TENANTS;
    return env;
}

/** pulumi ARGS, --non-interactive; stdout captured (to parse, never printed) or passed through. */
function pulumi(args: string[], capture: boolean): Promise<{ code: number; stdout: string }> {
    return new Promise((resolve) => {
        const child = spawn("pulumi", [...args, "--non-interactive"], { env: cliEnv(), stdio: ["ignore", capture ? "pipe" : "inherit", "inherit"] });
        let stdout = "";
        child.stdout?.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
        child.on("error", () => resolve({ code: 127, stdout: "" }));
        child.on("close", (code) => resolve({ code: code ?? 1, stdout }));
    });
}

function json(text: string): unknown {
    try {
        return JSON.parse(text) as unknown;
    } catch {
        return undefined;
    }
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** `kubernetes:core/v1:Secret xnat-jobs/regcred` from a URN: its type (not its parents') and its name. */
export function shortUrn(urn: string): string {
    const parts = urn.split("::");
    const type = (parts[parts.length - 2] ?? "").split("$").pop() ?? "";
    return `${type} ${parts[parts.length - 1] ?? urn}`;
}

/** The Pulumi console's markup and ANSI colours, out of a diagnostic's text. */
const plain = (s: string) => s.replace(/<\{%[^%]*%\}>/g, "").replace(/\x1b\[[0-9;]*m/g, "");

/** The steps of `pulumi preview --json`, its diagnostics printed (the program's reports and errors). */
export function readPreview(stdout: string, stack: string): Step[] | undefined {
    const preview = json(stdout);
    if (preview === undefined) {
        return undefined;
    }
    for (const d of Array.isArray(obj(preview).diagnostics) ? (obj(preview).diagnostics as unknown[]) : []) {
        const message = plain(str(obj(d).message) ?? "").trim();
        if (message) {
            // The CLI's own text may carry its severity already ("warning: ...").
            const severity = str(obj(d).severity) ?? "info";
            say(stack, severity === "info" || message.startsWith(`${severity}:`) ? message : `${severity}: ${message}`);
        }
    }
    const steps = obj(preview).steps;
    if (!Array.isArray(steps)) {
        return undefined;
    }
    return steps.map((raw) => {
        const s = obj(raw);
        const urn = str(s.urn) ?? "";
        const state = obj(s.newState ?? s.oldState);
        const old = obj(s.oldState);
        // What a delete removes: its namespace and name, from its outputs (or, failing them, inputs).
        const metadata = obj(obj(old.outputs).metadata ?? obj(old.inputs).metadata);
        return {
            op: str(s.op) ?? "",
            urn,
            type: str(state.type) ?? str(old.type) ?? shortUrn(urn).split(" ")[0],
            custom: typeof (state.custom ?? old.custom) === "boolean" ? ((state.custom ?? old.custom) as boolean) : undefined,
            namespace: str(metadata.namespace),
            name: str(metadata.name),
        };
    });
}

async function preview(stack: string): Promise<Step[]> {
    const r = await pulumi(["preview", "--json", "--stack", stack], true);
    const steps = readPreview(r.stdout, stack);
    if (r.code !== 0 || steps === undefined) {
        throw new Stop(`pulumi preview failed (exit ${r.code})${steps === undefined ? ", with no JSON answer" : ""}; nothing was changed`);
    }
    return steps;
}

/** kubectl with the stack's provider settings (kubernetes:kubeconfig, :context, :cluster), else KUBECONFIG. */
async function stackKubectl(stack: string): Promise<Kubectl> {
    const r = await pulumi(["config", "--json", "--stack", stack], true);
    const config = json(r.stdout);
    if (r.code !== 0 || config === undefined) {
        throw new Stop(`cannot read the stack's config (pulumi config exited ${r.code})`);
    }
    const setting = async (key: string): Promise<string | undefined> => {
        const entry = obj(obj(config)[`kubernetes:${key}`]);
        if (Object.keys(entry).length === 0) {
            return undefined;
        }
        if (typeof entry.value === "string") {
            return entry.value;
        }
        // A secret setting: into memory only.
        const value = await pulumi(["config", "get", `kubernetes:${key}`, "--stack", stack], true);
        if (value.code !== 0) {
            throw new Stop(`cannot read kubernetes:${key} (pulumi config get exited ${value.code})`);
        }
        return value.stdout.replace(/\n$/, "");
    };
    return clusterKubectl({ kubeconfig: await setting("kubeconfig"), context: await setting("context"), cluster: await setting("cluster") });
}

/**
 * Of the objects the `up` would delete, those already gone from the cluster, each with why: its
 * namespace deleted, or (a ServiceAccountPatch) its account deleted. A question kubectl cannot
 * answer stops the run: a wrong "gone" would drop an object the cluster still has from the state.
 */
async function goneFromCluster(steps: Step[], kubectlOf: () => Promise<Kubectl>): Promise<{ step: Step; why: string }[]> {
    const candidates = steps.filter((s) => s.op === "delete" && s.custom === true && s.type.startsWith("kubernetes:") && s.namespace);
    if (candidates.length === 0) {
        return [];
    }
    const kubectl = await kubectlOf();
    const listed = await kubectl(["get", "namespaces", "-o", "json"]);
    if (listed.code !== 0) {
        throw new Stop(`cannot list the cluster's namespaces (${kubectlFailure(listed)})`);
    }
    const items = listedNamespaces(listed.stdout);
    if (items === undefined) {
        throw new Stop("kubectl's answer to the namespace list is no list; refusing to guess which namespaces are gone");
    }
    const namespaces = new Set(items.map((n) => n.name));
    if (namespaces.size === 0) {
        throw new Stop("kubectl listed no namespace at all; refusing to take that for every namespace gone");
    }
    const gone: { step: Step; why: string }[] = [];
    for (const step of candidates) {
        const ns = step.namespace as string;
        if (!namespaces.has(ns)) {
            gone.push({ step, why: `namespace ${ns} no longer exists` });
        } else if (step.type === "kubernetes:core/v1:ServiceAccountPatch" && step.name) {
            const account = await kubectl(["get", "serviceaccount", step.name, "-n", ns, "-o", "name"]);
            if (account.code === 0) {
                continue;
            }
            if (!/\(NotFound\)/.test(account.stderr)) {
                throw new Stop(`cannot tell whether ServiceAccount ${ns}/${step.name} exists (${kubectlFailure(account)})`);
            }
            gone.push({ step, why: `ServiceAccount ${ns}/${step.name} no longer exists` });
        }
    }
    return gone;
}

/** The commit checked out: Git's HEAD, else the CI system's. */
function headCommit(): string | undefined {
    const git = spawnSync("git", ["rev-parse", "HEAD"], { encoding: "utf8" });
    return git.status === 0 ? git.stdout.trim() : (process.env.CI_COMMIT_SHA ?? process.env.GITHUB_SHA);
}

/**
 * The commit of the stack's last pipeline `up`: the newest successful update in its history that
 * the reconcile did not make. null when there is none; "" when it recorded no commit.
 */
async function lastPipelineUp(stack: string): Promise<{ commit: string; version: number } | null> {
    const r = await pulumi(["stack", "history", "--output", "json", "--page-size", "200", "--stack", stack], true);
    const history = json(r.stdout);
    if (r.code !== 0 || !Array.isArray(history)) {
        throw new Stop(`cannot read the stack's history (pulumi stack history exited ${r.code})`);
    }
    for (const raw of history) {
        const u = obj(raw);
        if (u.kind === "update" && u.result === "succeeded" && !RECONCILE_MESSAGES.has(str(u.message) ?? "")) {
            return { commit: str(obj(u.environment)["git.head"]) ?? "", version: typeof u.version === "number" ? u.version : 0 };
        }
    }
    return null;
}

/** Whether a changed file can change what the stack's `up` deploys. */
export function deployReads(file: string, stack: string): boolean {
    const stackFile = /^stacks\/Pulumi\.(.+)\.ya?ml$/.exec(file);
    if (stackFile) {
        // org/project/prod or org/prod: the file is named after the last part.
        return stackFile[1] === stack.split("/").pop();
    }
    return !NOT_DEPLOYED.some((re) => re.test(file));
}

/**
 * The first rule: the checkout deploys what the stack's last pipeline `up` deployed. A reason to
 * wait instead, or undefined to go on.
 */
async function undeployedChanges(stack: string): Promise<string | undefined> {
    const last = await lastPipelineUp(stack);
    if (last === null) {
        return "no up on record but the reconcile's (pulumi stack history): nothing to reconcile before the pipeline's first";
    }
    if (last.commit === "") {
        throw new Stop(`its last up (update ${last.version}) recorded no commit (git.head), being run outside a Git checkout; run the up from the pipeline once`);
    }
    const head = headCommit();
    if (head === undefined) {
        throw new Stop("cannot tell which commit this is (no Git checkout, no CI_COMMIT_SHA or GITHUB_SHA)");
    }
    if (head === last.commit) {
        return undefined;
    }
    // No renames: a deployed file moved to docs/ is a deployed file deleted.
    const diff = spawnSync("git", ["diff", "--no-renames", "--name-only", last.commit, head], { encoding: "utf8" });
    if (diff.error) {
        throw new Stop(`cannot run git to compare ${head.slice(0, 12)} with the commit of the stack's last up (${diff.error.message}); the job needs git`);
    }
    if (diff.status !== 0) {
        throw new Stop(`cannot compare ${head.slice(0, 12)} with ${last.commit.slice(0, 12)}, the commit of the stack's last up (git diff: ${diff.stderr.trim().split("\n")[0] || `exit ${diff.status}`}); the job needs the whole history (GIT_DEPTH 0, fetch-depth: 0)`);
    }
    const changed = diff.stdout.split("\n").filter((f) => f && deployReads(f, stack));
    if (changed.length === 0) {
        return undefined;
    }
    const shown = changed.length > 8 ? [...changed.slice(0, 8), `and ${changed.length - 8} more`] : changed;
    return `${head.slice(0, 12)} changes what the stack deploys since ${last.commit.slice(0, 12)}, the commit of its last up (${shown.join(", ")}): nothing is reconciled until the pipeline's up deploys it`;
}

const SIGN: Record<string, string> = { create: "+", delete: "-", update: "~", replace: "+-", same: " " };
const listed = (steps: Step[]) => steps.map((s) => `    ${SIGN[s.op] ?? "?"} ${s.op} ${shortUrn(s.urn)}`).join("\n");

async function reconcile(stack: string, onlyAdd: boolean): Promise<void> {
    const wait = await undeployedChanges(stack);
    if (wait !== undefined) {
        say(stack, `waiting: ${wait}`);
        return;
    }
    let steps = await preview(stack);
    const gone = await goneFromCluster(steps, () => stackKubectl(stack));
    if (gone.length > 0) {
        say(stack, `dropping from the state what the cluster has lost already:\n${gone.map((g) => `    ${shortUrn(g.step.urn)}: ${g.why}`).join("\n")}`);
        const refresh = await pulumi(["refresh", "--yes", "--stack", stack, ...gone.flatMap((g) => ["--target", g.step.urn])], false);
        if (refresh.code !== 0) {
            throw new Stop(`the targeted refresh failed (exit ${refresh.code})`);
        }
        steps = await preview(stack);
    }
    const changes = steps.filter((s) => s.op !== "same");
    if (changes.length === 0) {
        say(stack, "nothing to do: the cluster and the stack agree");
        return;
    }
    say(stack, `to do:\n${listed(changes)}`);
    if (!onlyAdd) {
        const up = await pulumi(["up", "--yes", "--stack", stack, "--message", RECONCILE_MESSAGE], false);
        if (up.code !== 0) {
            throw new Stop(`pulumi up failed (exit ${up.code})`);
        }
        return;
    }
    const component = (s: Step) => s.custom === false && !s.type.startsWith("kubernetes:") && !s.type.startsWith("pulumi:providers:");
    const needsApproval = changes.filter((s) => !ADDING.has(s.op) && !(s.op === "delete" && component(s)));
    if (needsApproval.length > 0) {
        throw new Stop(
            `the reconcile may only add to this stack, and these changes need its approved up:\n${listed(needsApproval)}\n` +
                "Make them through the approval gate: the pipeline's manual up:prod (GitLab) or the deploy workflow's up-prod approved in the production environment (GitHub). " +
                (gone.length > 0 ? "Nothing was changed but the state's record of the objects already gone." : "Nothing was changed."),
        );
    }
    const targets = changes.filter((s) => s.op === "create" || s.op === "delete");
    if (targets.length === 0) {
        say(stack, "nothing to add");
        return;
    }
    // Exactly the previewed creates (and component records to drop): whatever changed in the
    // cluster since, this up can do nothing else; a target no longer declared fails it instead.
    const up = await pulumi(["up", "--yes", "--stack", stack, "--message", `${RECONCILE_MESSAGE} (only adding)`, ...targets.flatMap((s) => ["--target", s.urn])], false);
    if (up.code !== 0) {
        throw new Stop(`pulumi up failed (exit ${up.code})`);
    }
}

function parseArgs(argv: string[]): { stack: string; onlyAdd: boolean } {
    let stack: string | undefined;
    let onlyAdd = false;
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === "--stack" && argv[i + 1]) {
            stack = argv[++i];
        } else if (argv[i] === "--only-add") {
            onlyAdd = true;
        } else {
            throw new Error(`usage: node build/deploy/reconcile.js --stack STACK [--only-add] (not ${argv[i]})`);
        }
    }
    if (!stack) {
        throw new Error("usage: node build/deploy/reconcile.js --stack STACK [--only-add]");
    }
    return { stack, onlyAdd };
}

if (require.main === module) {
    let stack = "?";
    (async () => {
        const args = parseArgs(process.argv.slice(2));
        stack = args.stack;
        await reconcile(args.stack, args.onlyAdd);
    })().catch((err: unknown) => {
        process.stdout.write(`reconcile: ${stack}: stopped: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
    });
}
