/**
 * What users type, on a real API server, through the pulumi CLI and its Node.js language host:
 * the README's "First deploy on your own cluster" section command by command, the pipelines' own `pulumi` lines,
 * `pulumi import` of a kubectl-made Secret under the component, and programs that fail.
 */
import * as assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse } from "yaml";
import { projectCopy, ROOT } from "../../deploy/engine";
import { leakForms } from "../support/secrets";
import { getObject, kubectl, pullSecretNames, serviceAccount } from "./support/cluster";
import { ENV, PASSPHRASE, TestStack } from "./support/engine";
import { suiteNamespaces } from "./support/names";
import { loadRegistryEnv } from "./support/registryEnv";

const registry = (server: string, password: string) => ({ server, username: "puller", password });

/** A shell command line in DIR with the test backend and passphrase, as a user's terminal runs it. */
function sh(line: string, dir: string, env: Record<string, string> = {}): Promise<{ code: number; output: string }> {
    return new Promise((resolve) => {
        execFile("bash", ["-c", line], { cwd: dir, env: { ...process.env, ...ENV, ...env }, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
        );
    });
}

/** The lines of the first ```sh block after HEADING in the README, comments and blanks dropped. */
function readmeCommands(heading: string): string[] {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf(`\n${heading}\n`));
    const block = /```sh\n([\s\S]*?)```/.exec(section);
    assert.ok(block, `README.md: no sh block after ${heading}`);
    return block[1]
        .split("\n")
        .map((l) => l.replace(/\s+#.*$/, "").trim())
        .filter(Boolean);
}

/** The script lines of a .gitlab-ci.yml job (after `extends`), those that run pulumi. */
function gitlabPulumiLines(job: string): string[] {
    const ci = parse(readFileSync(path.join(ROOT, ".gitlab-ci.yml"), "utf8")) as Record<string, { script?: string[]; extends?: string }>;
    let j = ci[job];
    while (j && !j.script && j.extends) {
        j = ci[j.extends];
    }
    const lines = (j?.script ?? []).filter((l) => /^pulumi\s/.test(l));
    assert.ok(lines.length > 0, `.gitlab-ci.yml: job ${job} runs no pulumi line`);
    return lines;
}

describe("what users type, through the pulumi CLI", function () {
    this.timeout(600000);
    const namespace = suiteNamespaces();

    it("1. the README's deploy section, command by command, on a copy of the dev stack pointed at this cluster", async () => {
        const env = await loadRegistryEnv();
        const ns = namespace("readme");
        const dir = projectCopy(mkdtempSync(path.join(tmpdir(), "registry-access-readme-")));
        // As the README says before a first deploy: the stack file without its salt and secure values.
        const devFile = readFileSync(path.join(ROOT, "stacks", "Pulumi.dev.yaml"), "utf8");
        const own = devFile.replace(/^encryptionsalt:.*\n/m, "").replace(/^(\s*)password:\n\s*secure: .*\n/gm, "");
        assert.notEqual(own, devFile);
        writeFileSync(path.join(dir, "stacks", "Pulumi.dev.yaml"), own);

        const terminal: Record<string, string> = { KUBECONFIG: process.env.KUBECONFIG ?? "", PASSWORD: env.REGISTRY_PASSWORD };
        const outputs: string[] = [];
        const run = async (line: string) => {
            const r = await sh(line, dir, terminal);
            outputs.push(r.output);
            assert.equal(r.code, 0, `${line}\n${r.output}`);
            return r.output;
        };
        const deploy = readmeCommands("## First deploy on your own cluster");
        let initialised = false;
        for (const readmeLine of deploy) {
            // The README's placeholders replaced by this cluster's namespace and this registry's values.
            const line = / namespace \S+$/.test(readmeLine)
                ? readmeLine.replace(/ \S+$/, ` ${ns}`)
                : readmeLine.includes("].server'")
                  ? readmeLine.replace(/ \S+$/, ` ${env.REGISTRY_BASIC_HOST}`)
                  : readmeLine.includes("].username'")
                    ? readmeLine.replace(/ \S+$/, ` ${env.REGISTRY_USER}`)
                    : readmeLine;
            const exported = /^export (\w+)=/.exec(line);
            if (exported) {
                // Values for this cluster and this suite's backend, not the README's placeholders.
                assert.ok(["KUBECONFIG", "PULUMI_CONFIG_PASSPHRASE"].includes(exported[1]), line);
                terminal[exported[1]] = exported[1] === "KUBECONFIG" ? terminal.KUBECONFIG : PASSPHRASE;
            } else if (line.startsWith("npm run check")) {
                // What `npm run check -- dev` runs after building the checkout, in the copy's folder.
                await run(`node ${path.join(ROOT, "build", "check", "cli.js")} ${line.split(" -- ")[1]}`);
            } else if (/^pulumi up\b/.test(line)) {
                // No terminal to answer the confirmation here.
                await run(`${line} --yes`);
            } else {
                await run(line);
            }
            if (line === "pulumi stack init dev") {
                initialised = true;
                // This suite's registry is behind a throwaway CA.
                await run(`pulumi config set --stack dev caBundle -- "$(cat ${env.REGISTRY_CA})"`);
            }
        }
        assert.ok(initialised, "the README's deploy section never runs pulumi stack init dev");
        const stackOutput = outputs[outputs.length - 1];
        assert.match(stackOutput, new RegExp(`namespace\\s+${ns}`));
        const secretName = `regcred-${env.REGISTRY_BASIC_HOST.replace(/[^a-z0-9]+/g, "-")}`;
        assert.ok(await getObject("secret", ns, secretName), `no Secret ${secretName} in ${ns}`);
        assert.ok(pullSecretNames(await serviceAccount(ns)).includes(secretName));
        assert.ok(await getObject("serviceaccount", ns, "xnat-container-service"), "the dev stack's containerService account is missing");
        const leaks = leakForms({ server: env.REGISTRY_BASIC_HOST, username: env.REGISTRY_USER, password: env.REGISTRY_PASSWORD });
        for (const out of outputs) {
            assert.ok(!leaks.some((l) => out.includes(l)), "a command printed the password");
        }
        await run("pulumi destroy --yes --stack dev");
    });

    it("2. the pipelines' own pulumi lines: the preview changes nothing in the cluster or the state, the up converges", async () => {
        const ns = namespace("pipeline");
        const stack = await TestStack.create(ns, { namespace: ns, registries: [registry("registry.example.org", "pw-pipeline")] });
        const state = await stack.exportText();
        const [preview] = gitlabPulumiLines("preview");
        const [up] = gitlabPulumiLines("up:dev");
        const shOf = (line: string) => sh(line, stack.workDir, { STACK: ns });

        const previewed = await shOf(preview);
        assert.equal(previewed.code, 0, previewed.output);
        assert.match(previewed.output, /\+ 5 to create/);
        assert.equal(await getObject("namespace", undefined, ns), undefined, "the preview created the namespace");
        assert.equal(await stack.exportText(), state, "the preview changed the state");
        // The GitHub workflow's pulumi/actions@v7 step (command: preview, diff: true) drives the
        // CLI through the Automation API on the project folder, as TestStack does.
        assert.equal((await stack.preview({ diff: true })).changeSummary.create, 5);

        const applied = await shOf(up);
        assert.equal(applied.code, 0, applied.output);
        assert.match(applied.output, /\+ 5 created/);
        assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-registry-example-org"]);
        const again = await shOf(`${preview} --expect-no-changes`);
        assert.equal(again.code, 0, again.output);
    });

    it("3. pulumi import adopts a kubectl-made Secret under the component; the stack then has no diff", async () => {
        const ns = namespace("import");
        const stack = await TestStack.create(ns, { namespace: ns, registries: [registry("registry.example.org", "pw-one")] });
        await stack.up();
        // The second registry's Secret, as the seed's recipe makes it.
        await kubectl(["create", "secret", "docker-registry", "regcred-ghcr-io", "-n", ns, "--docker-server=ghcr.io", "--docker-username=puller", "--docker-password=pw-two"]);
        const before = (await getObject("secret", ns, "regcred-ghcr-io"))!.metadata.uid;
        await stack.setConfig({ namespace: ns, registries: [registry("registry.example.org", "pw-one"), registry("ghcr.io", "pw-two")] });

        const state = JSON.parse(await stack.exportText()) as { deployment: { resources: { urn: string; type: string }[] } };
        const component = state.deployment.resources.find((r) => r.type === "registry-access:index:RegistryAccess")!.urn;
        const imported = await stack.cli(["import", "kubernetes:core/v1:Secret", `${ns}/regcred-ghcr-io`, `${ns}/regcred-ghcr-io`, "--parent", `parent=${component}`, "--yes", "--generate-code=false"]);
        assert.equal(imported.code, 0, imported.output);

        // The Secret is now the stack's, unchanged; only the ServiceAccount list gains it.
        const preview = await stack.preview({ diff: true });
        assert.deepEqual(preview.changeSummary, { same: 5, update: 1 }, preview.stdout);
        assert.match(preview.stdout, /~ kubernetes:core\/v1:ServiceAccountPatch/);
        await stack.up();
        await stack.preview({ expectNoChanges: true });
        assert.equal((await getObject("secret", ns, "regcred-ghcr-io"))!.metadata.uid, before, "the imported Secret was replaced");
        assert.deepEqual(pullSecretNames(await serviceAccount(ns)), ["regcred-registry-example-org", "regcred-ghcr-io"]);
    });

    describe("4. a program that fails: pulumi preview exits non-zero with one clear message and creates nothing", function () {
        const broken = async (label: string, index: string, env: Record<string, string> = {}) => {
            const ns = namespace(label);
            const dir = projectCopy(mkdtempSync(path.join(tmpdir(), `registry-access-${label}-`)), { index });
            const stack = await TestStack.create(ns, { namespace: ns, registries: [registry("registry.example.org", "pw")] }, { workDir: dir });
            const r = await sh(`pulumi preview --stack ${ns} --non-interactive`, dir, env);
            const state = JSON.parse(await stack.exportText()) as { deployment: { resources?: unknown[] } };
            assert.deepEqual(state.deployment.resources ?? [], [], "the failed preview wrote resources");
            return { ns, index: path.join(dir, "index.ts"), ...r };
        };

        it("a program that throws: its message and the project's own frame, no SDK or Node frames", async () => {
            // An entry point like index.ts's (components/programErrors.ts) around code that throws.
            const index = 'import { reported } from "./components/programErrors";\nexport = reported(async () => {\n    throw new Error("the registry list could not be read");\n});\n';
            const r = await broken("throws", index);
            assert.notEqual(r.code, 0, r.output);
            const diagnostics = r.output.slice(r.output.indexOf("Diagnostics:"));
            assert.equal(diagnostics.match(/the registry list could not be read/g)?.length, 1, r.output);
            assert.match(diagnostics, /at .*\/index\.ts:3:11/);
            assert.doesNotMatch(r.output, /node_modules|node:internal/, "an SDK or Node stack trace");
            assert.equal(await getObject("namespace", undefined, r.ns), undefined);
        });

        it("a program with a type error: npm test's type-check names it; pulumi preview type-checked (PULUMI_NODEJS_TRANSPILE_ONLY=false) stops on it", async () => {
            const index = 'const replicas: number = "three";\nexport = { replicas };\n';
            const r = await broken("type-error", index, { PULUMI_NODEJS_TRANSPILE_ONLY: "false" });
            assert.notEqual(r.code, 0, r.output);
            assert.equal(r.output.match(/index\.ts\(1,7\): error TS2322: Type 'string' is not assignable to type 'number'/g)?.length, 1, r.output);
            assert.doesNotMatch(r.output, /node_modules|node:internal/, "an SDK or Node stack trace");
            // The type-check npm test runs (tsc -p tsconfig.json) on the same file.
            const dir = path.dirname(r.index);
            const tsc = await sh(`${path.join(ROOT, "node_modules", ".bin", "tsc")} --noEmit --strict index.ts`, dir);
            assert.notEqual(tsc.code, 0);
            assert.match(tsc.output, /index\.ts\(1,7\): error TS2322/);
        });
    });
});
