/**
 * Stacks of this program on the real engine for the cluster tests, deployed as a user deploys it:
 * the Pulumi CLI runs `pulumi up` in a copy of the project folder (Pulumi.yaml as it is, the
 * program, its own empty stacks/), the Node.js language host starts index.ts from Pulumi.yaml's
 * `main`, and the real Kubernetes provider applies it. The Automation API only drives the CLI
 * (a workspace on that folder, no inline program). State is a file backend with the passphrase
 * secrets provider in a temp folder, so tests never touch stacks/ or the user's state. Every line
 * the engine prints is kept, for the leak checks.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { configLeaves, OFFLINE_ENV, projectCopy } from "../../../deploy/engine";

export const PASSPHRASE = "registry-access-cluster-tests";
/** All stacks of this test process share one file backend, removed when the process ends. */
const STATE = mkdtempSync(path.join(tmpdir(), "registry-access-engine-"));
const BACKEND = path.join(STATE, "backend");
mkdirSync(BACKEND);
process.on("exit", () => rmSync(STATE, { recursive: true, force: true }));

export const ENV = { ...OFFLINE_ENV, PULUMI_CONFIG_PASSPHRASE: PASSPHRASE, PULUMI_BACKEND_URL: `file://${BACKEND}` };

/** The project copy every TestStack of this process lives in, one stack file each. */
const PROJECT_DIR = projectCopy(path.join(STATE, "project"));

export interface CliResult {
    code: number;
    output: string;
}

export class TestStack {
    /** Everything the engine printed for this stack, in order. */
    readonly log: string[] = [];

    private constructor(
        readonly stack: Stack,
        readonly workDir: string,
        readonly env: Record<string, string>,
    ) {}

    /**
     * A new stack NAME of this project with CONFIG (keys without the project prefix); BACKEND,
     * given, is the PULUMI_BACKEND_URL and its credentials instead of this process's file backend;
     * ENV, more variables for every CLI run of the stack.
     */
    static async create(
        name: string,
        config: Record<string, unknown>,
        { workDir = PROJECT_DIR, backend = {}, env: extra = {} }: { workDir?: string; backend?: Record<string, string>; env?: Record<string, string> } = {},
    ): Promise<TestStack> {
        const env = { ...ENV, ...backend, ...extra };
        const stack = await LocalWorkspace.createStack({ stackName: name, workDir }, { secretsProvider: "passphrase", envVars: env });
        const s = new TestStack(stack, workDir, env);
        await s.setConfig(config, { fresh: true });
        return s;
    }

    get name(): string {
        return this.stack.name;
    }

    /** Replaces the stack's config, leaf by leaf as `pulumi config set --path` writes it. */
    async setConfig(config: Record<string, unknown>, { fresh = false } = {}): Promise<void> {
        // A new stack has no config to remove (and reading it decrypts nothing but costs a CLI run).
        const old = fresh ? [] : Object.keys(await this.stack.getAllConfig());
        if (old.length > 0) {
            await this.stack.removeAllConfig(old);
        }
        const leaves = Object.entries(configLeaves(config));
        await this.stack.setAllConfig(Object.fromEntries(leaves.filter(([, v]) => !v.secret)), true);
        // Secrets go through stdin, as an operator's `pulumi config set --secret` reads them:
        // on the command line they would show in any process listing.
        for (const [key, { value }] of leaves.filter(([, v]) => v.secret)) {
            const set = await this.cli(["config", "set", "--secret", "--path", key], { record: false, input: value });
            if (set.code !== 0) {
                throw new Error(`pulumi config set --secret ${key} failed: ${set.output}`);
            }
        }
    }

    private record = (out: string) => {
        this.log.push(out);
    };

    up(opts: { refresh?: boolean } = {}) {
        return this.stack.up({ onOutput: this.record, color: "never", ...opts });
    }

    preview(opts: { expectNoChanges?: boolean; diff?: boolean } = {}) {
        return this.stack.preview({ onOutput: this.record, color: "never", ...opts });
    }

    refresh(opts: { expectNoChanges?: boolean } = {}) {
        return this.stack.refresh({ onOutput: this.record, color: "never", ...opts });
    }

    destroy() {
        return this.stack.destroy({ onOutput: this.record, color: "never" });
    }

    /**
     * `pulumi stack export` of this stack, as text: secrets encrypted, as the state holds them
     * (the Automation API's exportStack() passes --show-secrets).
     */
    async exportText(): Promise<string> {
        const result = await this.cli(["stack", "export"], { record: false });
        if (result.code !== 0) {
            throw new Error(`pulumi stack export failed: ${result.output}`);
        }
        return result.output;
    }

    /**
     * The pulumi CLI itself, in this stack's project, its output kept in the log unless told not
     * to; `--stack` names this stack unless told not to (`pulumi state move` takes --source and --dest);
     * ENV, more variables for this run only.
     */
    cli(
        args: string[],
        { record = true, input, stack = true, env = {} }: { record?: boolean; input?: string; stack?: boolean; env?: Record<string, string> } = {},
    ): Promise<CliResult> {
        return new Promise((resolve) => {
            const child = execFile(
                "pulumi",
                [...args, ...(stack ? ["--stack", this.name] : []), "--non-interactive", "--color", "never"],
                { cwd: this.workDir, env: { ...process.env, ...this.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
                (err, stdout, stderr) => {
                    const output = `${stdout}${stderr}`;
                    if (record) {
                        this.log.push(output);
                    }
                    resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output });
                },
            );
            child.stdin?.end(input ?? "");
        });
    }
}

/** The text of every file the file backend holds (state, history, backups). */
export function backendFiles(): { file: string; text: string }[] {
    const files: { file: string; text: string }[] = [];
    const walk = (dir: string) => {
        for (const entry of readdirSync(dir)) {
            const p = path.join(dir, entry);
            if (statSync(p).isDirectory()) {
                walk(p);
            } else {
                files.push({ file: path.relative(BACKEND, p), text: readFileSync(p, "latin1") });
            }
        }
    };
    walk(BACKEND);
    return files;
}
