/**
 * Checks one stack file offline: no Pulumi CLI, no cluster, no passphrase. The file is read as
 * Pulumi reads it (stackReading.ts), its `registry-access:` keys go through the program's own
 * reading and validation, and every problem is located at a line and column.
 */
import { isMap, type Node, type YAMLError } from "yaml";
import { ConfigError, fromPulumiConfig, type Problem, SECURE_VALUE, type StackConfig, UNKNOWN_KEY, validateStackConfig } from "../components/config";
import { nodeAt, READ_ERRORS, type ReadError, readStackFile } from "./stackReading";

export interface Finding extends Problem {
    file: string;
    line: number;
    column: number;
}

const ENCRYPTION_KEYS = ["encryptionsalt", "secretsprovider", "encryptedkey"];

/** Every problem in one stack file's text. `stack` names the stack for the fixes' commands. */
export function checkStackFile(file: string, text: string, stack: string): Finding[] {
    const reading = readStackFile(text);
    const { doc, lineCounter } = reading;
    const at = (node: Node | null | undefined) => {
        const { line, col } = lineCounter.linePos(node?.range?.[0] ?? 0);
        return { file, line, column: col };
    };
    const found = (node: Node | null | undefined, problem: Problem): Finding => ({ ...at(node), ...problem });

    if (reading.errors.length > 0) {
        return reading.errors.map((e) => {
            const { line, col } = lineCounter.linePos(e.pos[0]);
            return { file, line, column: col, path: "", message: `is not valid YAML: ${yamlMessage(e)}`, fix: "fix the YAML syntax" };
        });
    }
    const root = doc.contents;
    if (!isMap(root)) {
        return [found(root, { path: "", message: "is not a map of stack settings", fix: "start the file with `config:`" })];
    }
    if (!reading.config) {
        const config = root.get("config", true) as Node | undefined;
        return config === undefined
            ? [found(root, { path: "config", message: "is missing", fix: `pulumi config set --stack ${stack} namespace <name>` })]
            : [found(config, { path: "config", message: "must be a map of keys", fix: "see the config reference in README.md" })];
    }

    const findings: Finding[] = [];
    for (const whole of reading.wholeSecure) {
        findings.push(
            found(nodeAt(reading, whole.path), {
                path: whole.path,
                message: "is encrypted as a whole, so it cannot be checked",
                fix: wholeFix(whole.path, stack),
            }),
        );
    }
    for (const bad of reading.secure.filter((s) => !SECURE_VALUE.test(s.ciphertext))) {
        findings.push(found(bad.node, { path: bad.path, message: "is not a well-formed secure value", fix: `set it again: pulumi config set --stack ${stack} --secret --path '${bad.path}' <value>` }));
    }
    for (const p of reading.plaintextPasswords) {
        findings.push(found(p.node, { path: p.path, message: "is a password in plaintext", fix: `pulumi config set --stack ${stack} --secret --path '${p.path}' <password>` }));
    }
    const raw = fromPulumiConfig(reading.runtime);
    const hasSecure = reading.secure.length > 0;
    if (hasSecure && !ENCRYPTION_KEYS.some((k) => root.has(k))) {
        findings.push(found(root, { path: "", message: "has secure values but no encryptionsalt, secretsprovider or encryptedkey", fix: "restore the stack's encryption settings from version control" }));
    }

    // Offline, a secure value's content is unknown: what its content decides, the program judges.
    const unknown = (p: Problem) => p.message !== UNKNOWN_KEY && reading.secure.some((s) => p.path === s.path || p.path.startsWith(`${s.path}.`) || p.path.startsWith(`${s.path}[`));
    try {
        validateStackConfig(raw);
    } catch (err) {
        if (!(err instanceof ConfigError)) {
            throw err;
        }
        for (const problem of err.problems.filter((p) => !unknown(p))) {
            // The program's fixes name no stack; here the stack is known.
            const fix = problem.fix.replaceAll("pulumi config set ", `pulumi config set --stack ${stack} `);
            findings.push(found(nodeAt(reading, problem.path), { ...problem, fix }));
        }
    }
    return findings.sort((a, b) => a.line - b.line || a.column - b.column || a.path.localeCompare(b.path));
}

// The YAML parser's messages quote the source ("The !Tr0ub4dor&3! tag has no suffix"), which can
// be a password pasted in: a problem is said in these words instead, by the parser's error code.
const YAML_MESSAGES: Partial<Record<YAMLError["code"], string>> = {
    ALIAS_PROPS: "an alias cannot have an anchor or a tag",
    BAD_ALIAS: "an alias names no anchor defined before it",
    BAD_DIRECTIVE: "a directive is malformed",
    BAD_DQ_ESCAPE: "a double-quoted string has an invalid escape (write \\\\ for a backslash, or single-quote the value)",
    BAD_INDENT: "the indentation is inconsistent",
    BAD_PROP_ORDER: "an anchor or tag is out of place",
    BAD_SCALAR_START: "a plain value starts with a character YAML reserves (quote the value)",
    BLOCK_AS_IMPLICIT_KEY: "a block is used as a key",
    BLOCK_IN_FLOW: "a block is inside a flow collection ([...] or {...})",
    DUPLICATE_KEY: "a key is defined twice in one map",
    KEY_OVER_1024_CHARS: "a key is longer than 1024 characters",
    MISSING_CHAR: "a character YAML expects is missing (a '-', a ':', a closing quote or bracket)",
    MULTILINE_IMPLICIT_KEY: "a key spans several lines",
    MULTIPLE_ANCHORS: "a node has more than one anchor",
    MULTIPLE_DOCS: "the file holds more than one document",
    MULTIPLE_TAGS: "a node has more than one tag",
    NON_STRING_KEY: "a key is not a string",
    TAB_AS_INDENT: "a tab is used for indentation",
    TAG_RESOLVE_FAILED: "a value starts with '!', which YAML reads as a tag (quote the value)",
    UNEXPECTED_TOKEN: "there is an unexpected character or token",
    BAD_COLLECTION_TYPE: "a collection has the wrong type for its tag",
    RESOURCE_EXHAUSTION: "aliases expand to too large a document",
};

/** A YAML error in words of our own: never the source text the parser's message quotes. */
export function yamlMessage(error: { code?: ReadError["code"] }): string {
    if (error.code !== undefined && Object.hasOwn(READ_ERRORS, error.code)) {
        return READ_ERRORS[error.code as keyof typeof READ_ERRORS];
    }
    return (error.code !== undefined ? YAML_MESSAGES[error.code as YAMLError["code"]] : undefined) ?? "the parser could not read it";
}

/**
 * The validated config of a stack file, its secure values standing in as placeholders (see
 * ENCRYPTED_PLACEHOLDER). Throws ConfigError when the file is invalid.
 */
export function stackConfigOf(text: string): StackConfig {
    return validateStackConfig(fromPulumiConfig(readStackFile(text).runtime));
}

/** How to set a list or map encrypted whole so that it can be checked: only its passwords secret. */
function wholeFix(key: string, stack: string): string {
    const password = key === "tenants" ? "tenants[0].registries[0].password" : ["registries", "sharedRegistries"].includes(key) ? `${key}[0].password` : undefined;
    return password !== undefined
        ? `set it in plaintext and only its passwords as secrets: pulumi config set --stack ${stack} --secret --path '${password}' <password>`
        : "set it in plaintext: it holds no password";
}
