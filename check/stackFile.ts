/**
 * Checks one stack file offline: no Pulumi CLI, no cluster, no passphrase. The file is read with a
 * real YAML parser that keeps positions, its `registry-access:` keys go through the program's own
 * validation, and every problem is located at a line and column.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument, type Pair, type YAMLMap } from "yaml";
import { ConfigError, ENCRYPTED_PLACEHOLDER, parseKeyPath, parseConfigValue, PROJECT, type Problem, setOwn, type StackConfig, validateStackConfig } from "../components/config";

export interface Finding extends Problem {
    file: string;
    line: number;
    column: number;
}

// Passphrase ciphertexts are v1:<nonce>:<ciphertext>; cloud KMS providers write base64.
const SECURE_VALUE = /^(v1:[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9+/]{16,}={0,2})$/;
const ENCRYPTION_KEYS = ["encryptionsalt", "secretsprovider", "encryptedkey"];

/** Every problem in one stack file's text. `stack` names the stack for the fixes' commands. */
export function checkStackFile(file: string, text: string, stack: string): Finding[] {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
    const at = (node: Node | null | undefined) => {
        const { line, col } = lineCounter.linePos(node?.range?.[0] ?? 0);
        return { file, line, column: col };
    };
    const found = (node: Node | null | undefined, problem: Problem): Finding => ({ ...at(node), ...problem });

    if (doc.errors.length > 0) {
        return doc.errors.map((e) => {
            const { line, col } = lineCounter.linePos(e.pos[0]);
            return { file, line, column: col, path: "", message: `is not valid YAML: ${yamlMessage(e.message)}`, fix: "fix the YAML syntax" };
        });
    }
    const root = doc.contents;
    if (!isMap(root)) {
        return [found(root, { path: "", message: "is not a map of stack settings", fix: "start the file with `config:`" })];
    }
    const config = root.get("config", true);
    if (config === undefined) {
        return [found(root, { path: "config", message: "is missing", fix: `pulumi config set --stack ${stack} namespace <name>` })];
    }
    if (!isMap(config)) {
        return [found(config as Node, { path: "config", message: "must be a map of keys", fix: "see the config reference in README.md" })];
    }

    const findings: Finding[] = [];
    const raw: Record<string, unknown> = {};
    const keyNodes = new Map<string | number, Pair>();
    const unreadable = new Set<string | number>();
    let hasSecure = false;
    for (const { key, pair } of projectKeys(config)) {
        keyNodes.set(key, pair);
        const value = pair.value as Node | null;
        const whole = secureValue(value);
        if (whole !== undefined) {
            hasSecure = true;
            unreadable.add(key);
            findings.push(
                found(pair.key as Node, {
                    path: key,
                    message: "is encrypted as a whole, so it cannot be checked",
                    fix: `set it in plaintext and only its passwords as secrets: pulumi config set --stack ${stack} --secret --path '${key}[0].password' <password>`,
                }),
            );
            continue;
        }
        const { value: js, secure, plaintextPasswords } = toConfigValue(value, key);
        hasSecure ||= secure.length > 0;
        for (const bad of secure.filter((s) => !SECURE_VALUE.test(s.ciphertext))) {
            findings.push(found(bad.node, { path: bad.path, message: "is not a well-formed secure value", fix: `set it again: pulumi config set --stack ${stack} --secret --path '${bad.path}' <value>` }));
        }
        for (const p of plaintextPasswords) {
            findings.push(
                found(p.node, {
                    path: p.path,
                    message: "is a password in plaintext",
                    fix: `pulumi config set --stack ${stack} --secret --path '${p.path}' <password>`,
                }),
            );
        }
        setOwn(raw, key, js);
    }
    if (hasSecure && !ENCRYPTION_KEYS.some((k) => root.has(k))) {
        findings.push(found(root, { path: "", message: "has secure values but no encryptionsalt, secretsprovider or encryptedkey", fix: "restore the stack's encryption settings from version control" }));
    }

    try {
        validateStackConfig(raw);
    } catch (err) {
        if (!(err instanceof ConfigError)) {
            throw err;
        }
        for (const problem of err.problems) {
            if (!unreadable.has(parseKeyPath(problem.path)[0])) {
                // The program's fixes name no stack; here the stack is known.
                const fix = problem.fix.replaceAll("pulumi config set ", `pulumi config set --stack ${stack} `);
                findings.push(found(nodeAt(config, keyNodes, problem.path), { ...problem, fix }));
            }
        }
    }
    return findings.sort((a, b) => a.line - b.line || a.column - b.column || a.path.localeCompare(b.path));
}

/**
 * A YAML parser message without the source it quotes: its first line up to the first ": ", after
 * which the parser quotes the source, in quotes or not ("Unexpected scalar token in YAML stream:
 * "<token>"", "Block scalar header includes extra characters: <text>"). That source can be part
 * of a password pasted in unquoted.
 */
export function yamlMessage(message: string): string {
    return message.split("\n")[0].split(": ")[0];
}

/**
 * The validated config of a stack file, its secure values standing in as placeholders (see
 * ENCRYPTED_PLACEHOLDER). Throws ConfigError when the file is invalid.
 */
export function stackConfigOf(text: string): StackConfig {
    const config = parseDocument(text).get("config");
    const raw = isMap(config)
        ? Object.fromEntries(projectKeys(config).map(({ key, pair }) => [key, toConfigValue(pair.value as Node, key).value]))
        : {};
    return validateStackConfig(raw);
}

/** This project's keys in a stack file's config, by their name within the project. */
function projectKeys(config: YAMLMap): { key: string; pair: Pair }[] {
    return config.items.flatMap((pair) => {
        const fullKey = String(isScalar(pair.key) ? pair.key.value : pair.key);
        // Keys without a namespace belong to the project, as Pulumi reads them; kubernetes:,
        // pulumi: and other namespaces are not ours to judge.
        const key = fullKey.startsWith(`${PROJECT}:`) ? fullKey.slice(PROJECT.length + 1) : fullKey.includes(":") ? undefined : fullKey;
        return key === undefined ? [] : [{ key, pair: pair as Pair }];
    });
}

/** The ciphertext of a `{secure: ...}` node, or undefined. */
function secureValue(node: Node | null | undefined): string | undefined {
    if (isMap(node) && node.items.length === 1) {
        const [pair] = node.items;
        if (isScalar(pair.key) && pair.key.value === "secure") {
            return String(pair.value);
        }
    }
    return undefined;
}

interface Located {
    path: string;
    node: Node;
}

/**
 * The plain value of a config node, with `secure:` leaves replaced by a placeholder (their content
 * is unknown offline) and plaintext `password` leaves collected.
 */
function toConfigValue(node: Node | null | undefined, path: string) {
    const secure: (Located & { ciphertext: string })[] = [];
    const plaintextPasswords: Located[] = [];
    const walk = (n: Node | null | undefined, p: string, key: string): unknown => {
        const ciphertext = secureValue(n);
        if (ciphertext !== undefined) {
            secure.push({ path: p, node: n!, ciphertext });
            return ENCRYPTED_PLACEHOLDER;
        }
        if (isMap(n)) {
            return Object.fromEntries(
                n.items.map((pair) => {
                    const k = String(isScalar(pair.key) ? pair.key.value : pair.key);
                    return [k, walk(pair.value as Node, `${p}.${k}`, k)];
                }),
            );
        }
        if (isSeq(n)) {
            return n.items.map((item, i) => walk(item as Node, `${p}[${i}]`, key));
        }
        if (key === "password" && isScalar(n) && n.value !== null && n.value !== "") {
            plaintextPasswords.push({ path: p, node: n });
        }
        // A whole key set as a JSON string is read as the program reads it, passwords included.
        if (p === path && isScalar(n) && typeof n.value === "string") {
            const parsed = parseConfigValue(path, n.value);
            plaintextPasswords.push(...passwordsIn(parsed, p).map((at) => ({ path: at, node: n })));
            return parsed;
        }
        return isScalar(n) ? n.value : n?.toJSON();
    };
    return { value: walk(node, path, path), secure, plaintextPasswords };
}

/** The key paths of the non-empty `password` strings in a plain value. */
function passwordsIn(value: unknown, path: string): string[] {
    if (Array.isArray(value)) {
        return value.flatMap((v, i) => passwordsIn(v, `${path}[${i}]`));
    }
    if (typeof value === "object" && value !== null) {
        return Object.entries(value).flatMap(([k, v]) =>
            k === "password" && typeof v === "string" && v !== "" ? [`${path}.${k}`] : passwordsIn(v, `${path}.${k}`),
        );
    }
    return [];
}

/** The deepest node that exists along a key path (`tenants[1].registries[0].username`). */
function nodeAt(config: YAMLMap, keyNodes: Map<string | number, Pair>, path: string): Node {
    const segments = parseKeyPath(path);
    const top = keyNodes.get(segments[0]);
    if (!top) {
        return config as unknown as Node;
    }
    let node: Node = top.key as Node;
    let value: unknown = top.value;
    for (const seg of segments.slice(1)) {
        if (typeof seg === "number" && isSeq(value) && value.items[seg] !== undefined) {
            value = value.items[seg];
            node = value as Node;
        } else if (isMap(value)) {
            const pair = value.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
            if (!pair) {
                break;
            }
            node = pair.key as Node;
            value = pair.value;
        } else {
            break;
        }
    }
    return node;
}
