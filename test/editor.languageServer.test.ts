/**
 * The stack file's JSON Schema in the real YAML language server (npm yaml-language-server), as an
 * editor runs it: one process over stdio for every file. Each problem `npm run check` finds at a
 * key (the corpus's .expected lines) is flagged by the server at the same line, but the cross-key
 * rules JSON Schema cannot carry (listed below); no flag where the check finds nothing; no flag on
 * a valid stack. stacks/ get the schema from their modeline, the corpus through yaml.schemas.
 */
import * as assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { isMap, isPair, isSeq, LineCounter, type Node, parseDocument, visit } from "yaml";
import { checkStackFile } from "../check/stackFile";
import { type Diagnostic, YamlLanguageServer } from "./support/yamlLanguageServer";

const ROOT = path.resolve(__dirname, "../..");
const SCHEMA = path.join(ROOT, "schema/stack.schema.json");
const CORPUS = path.join(ROOT, "test/check-corpus");
const VALID = path.join(ROOT, "test/schema-corpus");

// YAML syntax is the parser's to report, not the schema's.
const YAML_SYNTAX = new Set(["16-invalid-yaml.yaml", "17-duplicate-yaml-keys.yaml"]);

/** Findings (file:line) the schema cannot carry, and why: the test fails if the server starts flagging one. */
const NOT_CARRIED: Record<string, string> = {
    "05-duplicate-servers.yaml:9": "duplicate servers: the same registry in two spellings (a server's identity is computed)",
    "06-duplicate-secret-names.yaml:12": "duplicate Secret names across entries",
    "20-ecr-username.yaml:6": "cloud registries' username conventions depend on the server",
    "21-artifact-registry-username.yaml:6": "cloud registries' username conventions depend on the server",
    "22-acr-username.yaml:6": "cloud registries' username conventions depend on the server",
    "26-tenants-same-namespace.yaml:10": "duplicate namespaces across tenants",
    "30-keep-own-pull-secret.yaml:5": "keepPullSecrets against the Secret names the stack derives from its servers",
    "40-registries-as-json-string.yaml:4": "the content of a key written as JSON text",
    "42-container-service-bad-settings.yaml:12": "the Container Service's serviceAccount against the tenant's serviceAccounts list",
    "49-secure-value-shapes.yaml:7": "a secure value with an extra key: the server flags that key (line 9), the check the password",
    "49-secure-value-shapes.yaml:12": "secure: with a list, a plain map to Pulumi: the server flags the list (line 14), the check the password",
    "50-json-strings-inside.yaml:10": "the content of a key written as JSON text",
};

/** The server's flags at lines the check does not name, each the same problem as a finding. */
const FLAGGED_ELSEWHERE: Record<string, string> = {
    "49-secure-value-shapes.yaml:9": "the extra key in the secure value the check finds at line 7",
    "49-secure-value-shapes.yaml:14": "the list under secure: that the check finds at line 12",
};

interface Expected {
    line: number;
    path: string;
}

/** The check's findings as its .expected file has them: `file:line:column path: ...`. */
function expectedFindings(file: string): Expected[] {
    return readFileSync(file.replace(/\.yaml$/, ".expected"), "utf8")
        .trim()
        .split("\n")
        .map((l) => /^[^:]+:(\d+):\d+ (\S+):/.exec(l)!)
        .map(([, line, keyPath]) => ({ line: Number(line), path: keyPath }));
}

/**
 * Lines that name the same place: a key and the first line of its block value. The check points
 * at a key, the server at a wrong value, or at the key of a map missing a required key.
 */
function sameLines(text: string): Map<number, Set<number>> {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter });
    const lines = new Map<number, Set<number>>();
    const link = (a: number, b: number) => {
        for (const [x, y] of [[a, b], [b, a]]) {
            lines.set(x, (lines.get(x) ?? new Set([x])).add(y));
        }
    };
    visit(doc, {
        Pair(_, pair) {
            const key = pair.key as Node | null;
            const value = pair.value as Node | null;
            if (isPair(pair) && key?.range && value?.range && (isMap(value) || isSeq(value))) {
                link(lineCounter.linePos(key.range[0]).line, lineCounter.linePos(value.range[0]).line);
            }
        },
    });
    return lines;
}

const startLine = (d: Diagnostic) => d.range.start.line + 1;

describe("the stack file's JSON Schema in the YAML language server", function () {
    this.timeout(90000);
    const server = new YamlLanguageServer(ROOT);
    const corpus = readdirSync(CORPUS)
        .filter((f) => f.endsWith(".yaml") && !YAML_SYNTAX.has(f))
        .sort();
    const stacks = readdirSync(path.join(ROOT, "stacks"))
        .filter((f) => f.endsWith(".yaml"))
        .map((f) => path.join(ROOT, "stacks", f));
    const valid = [...stacks, ...readdirSync(VALID).map((f) => path.join(VALID, f))];
    // Never written: opened in the server only, in stacks/ for the modeline's relative path.
    const probe = (name: string) => path.join(ROOT, `stacks/Pulumi.${name}-probe.yaml`);
    const diagnostics = new Map<string, Diagnostic[]>();

    before(async () => {
        // The corpus has no modeline (the check's expected lines would shift): yaml.schemas maps it.
        // Rooted at the checkout: `**` would not cross a dot folder (a CI runner's `.gitlab-ci-local/builds`).
        await server.start(ROOT, { [SCHEMA]: [path.join(CORPUS, "*.yaml"), path.join(VALID, "*.yaml")] });
        const files = [...corpus.map((f) => path.join(CORPUS, f)), ...valid];
        for (const file of files) {
            server.open(YamlLanguageServer.uri(file), readFileSync(file, "utf8"));
        }
        await server.settled(files.map((f) => YamlLanguageServer.uri(f)), 700, 60000);
        for (const file of files) {
            diagnostics.set(file, server.diagnostics.get(YamlLanguageServer.uri(file))!);
        }
    });

    after(() => server.stop());

    it("flags every per-key finding of the check at its line, but the rules it cannot carry", () => {
        let matched = 0;
        const missed: string[] = [];
        for (const name of corpus) {
            const file = path.join(CORPUS, name);
            const same = sameLines(readFileSync(file, "utf8"));
            const flagged = new Set(diagnostics.get(file)!.flatMap((d) => [...(same.get(startLine(d)) ?? [startLine(d)])]));
            // `(file)` findings (no secure settings, not a map) name no key.
            for (const finding of expectedFindings(file).filter((f) => f.path !== "(file)")) {
                const id = `${name}:${finding.line}`;
                if (flagged.has(finding.line) === (id in NOT_CARRIED)) {
                    missed.push(`${id} ${finding.path}: ${id in NOT_CARRIED ? "flagged, though listed as not carried" : "not flagged"}`);
                } else if (!(id in NOT_CARRIED)) {
                    matched++;
                }
            }
        }
        assert.deepEqual(missed, []);
        // Every per-key finding of the corpus but those not carried; fewer means files went missing.
        assert.equal(matched, 57);
    });

    it("flags nothing where the check finds nothing", () => {
        const extra: string[] = [];
        for (const name of corpus) {
            const file = path.join(CORPUS, name);
            const same = sameLines(readFileSync(file, "utf8"));
            const lines = new Set(expectedFindings(file).flatMap((f) => [...(same.get(f.line) ?? [f.line])]));
            for (const d of diagnostics.get(file)!.filter((d) => !lines.has(startLine(d)) && !(`${name}:${startLine(d)}` in FLAGGED_ELSEWHERE))) {
                extra.push(`${name}:${startLine(d)}: ${d.message}`);
            }
        }
        assert.deepEqual(extra, []);
    });

    it("flags nothing in a valid stack (stacks/ by their modeline, and test/schema-corpus/)", () => {
        assert.ok(valid.length >= 7);
        for (const file of valid) {
            const text = readFileSync(file, "utf8");
            assert.deepEqual(checkStackFile(file, text, "valid"), [], `${file} is valid for npm run check`);
            assert.deepEqual(diagnostics.get(file), [], file);
        }
    });

    it("applies the schema through the modeline: a stack file in stacks/ with a bad key is flagged", async () => {
        const uri = YamlLanguageServer.uri(probe("modeline"));
        const text = readFileSync(stacks[0], "utf8").replace("config:\n", "config:\n  registry-access:namespce: typo\n");
        server.open(uri, text);
        await server.settled([uri], 300, 20000);
        assert.match(server.diagnostics.get(uri)!.map((d) => d.message).join("\n"), /namespce is not allowed/);
    });

    it("completes the registry-access: keys, with their descriptions, and shows a key's default on hover", async () => {
        const uri = YamlLanguageServer.uri(probe("completion"));
        server.open(uri, "# yaml-language-server: $schema=../schema/stack.schema.json\nconfig:\n  registry-access:\n");
        await server.settled([uri], 300, 20000);
        const items = await server.completion(uri, 2, 2);
        const labels = items.map((i) => i.label);
        for (const key of ["namespace", "registries", "tenants", "sharedRegistries", "createNamespace", "containerService", "imageIsolation", "combinedPullSecret"]) {
            assert.ok(labels.includes(`registry-access:${key}`), `registry-access:${key} offered: ${labels.join(" ")}`);
        }
        assert.match(String(items.find((i) => i.label === "registry-access:createNamespace")?.documentation), /adopts an existing one/);
        const hovered = YamlLanguageServer.uri(probe("hover"));
        server.open(hovered, "# yaml-language-server: $schema=../schema/stack.schema.json\nconfig:\n  registry-access:onPatchDelete: retain\n");
        await server.settled([hovered], 300, 20000);
        assert.match(await server.hover(hovered, 2, 20), /or leave them as they are \(retain\)\. Default: \\"relinquish\\"\./);
    });
});
