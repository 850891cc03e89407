/**
 * `npm run check [-- [--json] [stack|file ...]]`: checks stack files offline, for people editing
 * them and for deploy pipelines. Prints `file:line:column key-path: problem (fix: ...)` per problem
 * (or JSON with --json) and exits 1 when there is any, 2 when it cannot run.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse, type YAMLError } from "yaml";
import { PROJECT } from "../components/config";
import { projectDir, stacksDirOf } from "./project";
import { checkStackFile, type Finding, yamlMessage } from "./stackFile";

interface Args {
    json: boolean;
    targets: string[];
}

// A stack's name may hold dots (`pulumi stack init prod.eu`): Pulumi.prod.eu.yaml.
const STACK_FILE = /^Pulumi\.(.+)\.yaml$/;

const USAGE = "usage: npm run check -- [--json] [stack|file.yaml ...]";

function parseArgs(argv: string[]): Args {
    const unknown = argv.filter((a) => a.startsWith("-") && a !== "--json");
    if (unknown.length > 0) {
        throw new UsageError(`unknown option ${unknown.join(" ")}`);
    }
    return { json: argv.includes("--json"), targets: argv.filter((a) => !a.startsWith("-")) };
}

class UsageError extends Error {}

/** The folder holding Pulumi.yaml: the working directory or one above it. */
function projectHere(): string {
    const dir = projectDir(process.cwd());
    if (dir === undefined) {
        throw new UsageError("no Pulumi.yaml here or above: run it in the project");
    }
    return dir;
}

/** Checks Pulumi.yaml itself and returns where the stack files live. */
function readProject(dir: string, findings: Finding[]): string {
    const file = path.relative(process.cwd(), path.join(dir, "Pulumi.yaml"));
    let project: { name?: unknown; stackConfigDir?: unknown } = {};
    try {
        project = (parse(readFileSync(path.join(dir, "Pulumi.yaml"), "utf8")) ?? {}) as typeof project;
    } catch (err) {
        // Where the parser says, and nothing about its name: the file was not read.
        const [at] = (err as YAMLError).linePos ?? [{ line: 1, col: 1 }];
        findings.push({ file, line: at.line, column: at.col, path: "", message: `is not valid YAML: ${yamlMessage(err as YAMLError)}`, fix: "fix the YAML syntax" });
        return dir;
    }
    if (project.name !== PROJECT) {
        findings.push({ file, line: 1, column: 1, path: "name", message: `must be ${PROJECT}: it is the namespace of every config key`, fix: `set name: ${PROJECT}` });
    }
    return stacksDirOf(dir, project);
}

function stackFiles(stacksDir: string, targets: string[]): string[] {
    if (targets.length === 0) {
        return readdirSync(stacksDir)
            .filter((f) => STACK_FILE.test(f))
            .sort()
            .map((f) => path.join(stacksDir, f));
    }
    return targets.map((t) => (t.endsWith(".yaml") || t.includes("/") ? path.resolve(t) : path.join(stacksDir, `Pulumi.${t}.yaml`)));
}

function main(argv: string[]): number {
    if (argv.includes("--help")) {
        process.stdout.write(`${USAGE}\n`);
        return 0;
    }
    const args = parseArgs(argv);
    const findings: Finding[] = [];
    const stacksDir = readProject(projectHere(), findings);
    const files = stackFiles(stacksDir, args.targets);
    if (files.length === 0) {
        throw new UsageError(`no stack files (Pulumi.<stack>.yaml) in ${stacksDir}`);
    }
    for (const file of files) {
        const shown = path.relative(process.cwd(), file);
        if (!existsSync(file)) {
            findings.push({ file: shown, line: 1, column: 1, path: "", message: "does not exist", fix: "create it with pulumi stack init, or check the name" });
            continue;
        }
        const stack = STACK_FILE.exec(path.basename(file))?.[1] ?? path.basename(file, ".yaml");
        findings.push(...checkStackFile(shown, readFileSync(file, "utf8"), stack));
    }

    if (args.json) {
        process.stdout.write(`${JSON.stringify({ files: files.map((f) => path.relative(process.cwd(), f)), problems: findings }, null, 2)}\n`);
    } else {
        for (const f of findings) {
            process.stdout.write(`${f.file}:${f.line}:${f.column} ${f.path || "(file)"}: ${f.message} (fix: ${f.fix})\n`);
        }
        const summary = findings.length === 0 ? `ok: ${files.length} stack file(s) valid` : `${findings.length} problem(s) in ${new Set(findings.map((f) => f.file)).size} file(s)`;
        process.stderr.write(`${summary}\n`);
    }
    return findings.length === 0 ? 0 : 1;
}

try {
    process.exitCode = main(process.argv.slice(2));
} catch (err) {
    if (!(err instanceof UsageError)) {
        throw err;
    }
    process.stderr.write(`check: ${err.message}\n${USAGE}\n`);
    process.exitCode = 2;
}
