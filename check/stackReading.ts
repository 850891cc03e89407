/**
 * A stack file read as Pulumi reads it, so that the offline check judges what the program will be
 * handed: YAML aliases and `<<` merge keys resolved, and each `registry-access:` key a string (a
 * scalar as text, a map or list as JSON); test/cluster/stackReading.test.ts compares this reading
 * with the CLI's own. A `secure:` leaf stands in as ENCRYPTED_PLACEHOLDER, its content being
 * unknown without the passphrase. Every value keeps its YAML node, for a line and column.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type YAMLError, type YAMLMap } from "yaml";
import { ENCRYPTED_PLACEHOLDER, parseConfigValue, parseKeyPath, PROJECT, SCALAR_KEYS } from "../components/config";

/** A value in the file and where it is. */
export interface Located {
    /** Key path under `registry-access:`. */
    path: string;
    node: Node;
}

/** Where a file cannot be read, and why: the YAML parser's error code, or one of READ_ERRORS. */
export interface ReadError {
    pos: [number, number];
    code: YAMLError["code"] | keyof typeof READ_ERRORS;
}

/** What Pulumi's YAML reader (Go's yaml.v3, then JSON) refuses in a file the parser accepts. */
export const READ_ERRORS = {
    ALIAS_CYCLE: "an alias refers to a node that contains it",
    ALIAS_EXPANSION: "aliases expand to too large a document",
    BAD_MERGE: "a merge key (<<) takes a map or a list of maps",
    NOT_FINITE: "a number is infinite or not a number (.inf, .nan), which Pulumi cannot hand to the program (quote it)",
};

// Pulumi (yaml.v3) stops expanding aliases far sooner than this; a file past it is a bomb.
const MAX_NODES = 100_000;

export interface StackReading {
    doc: Document;
    lineCounter: LineCounter;
    /** YAML errors, and what Pulumi refuses to read: the file is not read further. */
    errors: ReadError[];
    /** The `config:` map, when the file has one. */
    config?: YAMLMap;
    /** `registry-access:<key>` to the string the program gets, as `pulumi.runtime.allConfig()` has it. */
    runtime: Record<string, string>;
    /** Every `secure:` leaf, nested or a whole key, with its ciphertext. */
    secure: (Located & { ciphertext: string })[];
    /** Lists and maps encrypted as a whole (`pulumi config set --secret registries '[...]'`). */
    wholeSecure: Located[];
    /** Plaintext `password` leaves. */
    plaintextPasswords: Located[];
}

/** A map's entries with merge keys resolved: its own keys first, then merged ones not overridden. */
export function entriesOf(map: YAMLMap, doc: Document): { key: string; keyNode: Node; value: Node | null }[] {
    const own: { key: string; keyNode: Node; value: Node | null }[] = [];
    const merged: YAMLMap[] = [];
    for (const pair of map.items) {
        const keyNode = pair.key as Node;
        const key = isScalar(keyNode) ? keyNode.value : keyNode;
        if (typeof key === "symbol") {
            // `<<: *base` or `<<: [*a, *b]`: the first source to have a key wins.
            const source = resolve(pair.value as Node, doc);
            merged.push(...(isSeq(source) ? source.items.map((n) => resolve(n as Node, doc)) : [source]).filter((n): n is YAMLMap => isMap(n)));
            continue;
        }
        own.push({ key: String(key), keyNode, value: pair.value as Node | null });
    }
    const seen = new Set(own.map((e) => e.key));
    for (const source of merged) {
        for (const entry of entriesOf(source, doc)) {
            if (!seen.has(entry.key)) {
                seen.add(entry.key);
                own.push(entry);
            }
        }
    }
    return own;
}

/** An alias's target (`*regs`), or the node itself. */
export function resolve(node: Node | null | undefined, doc: Document): Node | null | undefined {
    return isAlias(node) ? (node.resolve(doc) as Node | undefined) : node;
}

/** The ciphertext of a `{secure: ...}` node, or undefined. */
export function secureValue(node: Node | null | undefined): string | undefined {
    if (isMap(node) && node.items.length === 1) {
        const [pair] = node.items;
        // Pulumi takes `secure:` with a string only; anything else is a plain map to it.
        if (isScalar(pair.key) && pair.key.value === "secure" && isScalar(pair.value) && typeof pair.value.value === "string") {
            return pair.value.value;
        }
    }
    return undefined;
}

/** This project's keys in a stack file's config, by their name within the project. */
export function projectKeys(config: YAMLMap, doc: Document): { key: string; keyNode: Node; value: Node | null }[] {
    return entriesOf(config, doc).flatMap((entry) => {
        // Keys without a namespace belong to the project, as Pulumi reads them; kubernetes:,
        // pulumi: and other namespaces are not ours to judge.
        const key = entry.key.startsWith(`${PROJECT}:`) ? entry.key.slice(PROJECT.length + 1) : entry.key.includes(":") ? undefined : entry.key;
        return key === undefined ? [] : [{ ...entry, key }];
    });
}

/**
 * A top-level scalar as Pulumi hands it over: what YAML parsed, as text (`123` is "123", `true`
 * "true", `0x10` "16", `1.10` "1.1"), a string as it is, nothing for null.
 */
function scalarText(node: Node | null | undefined): string {
    return isScalar(node) && node.value !== null ? String(goValue(node.value)) : "";
}

/** A date as Go's time.Time prints it, which is what Pulumi hands over for one (`2024-06-01 00:00:00 +0000 UTC`). */
function goValue(value: unknown): unknown {
    if (!(value instanceof Date)) {
        return value;
    }
    const [date, time] = value.toISOString().replace(/\.000Z$|Z$/, "").split("T");
    return `${date} ${time.replace(/(\.\d*?)0+$/, "$1")} +0000 UTC`;
}

/**
 * What Pulumi refuses to read in the config (yaml.v3 and its JSON of each key): an alias inside
 * the node it names, an expansion past MAX_NODES, a merge of anything but maps, `.inf` and `.nan`.
 * Checked before anything else walks the aliases, so that no walk loops or explodes.
 */
function unreadableAt(config: YAMLMap, doc: Document): ReadError | undefined {
    let visited = 0;
    const at = (node: Node | null | undefined, code: ReadError["code"]): ReadError => ({ pos: [node?.range?.[0] ?? 0, node?.range?.[1] ?? 0], code });
    const visit = (node: Node | null | undefined, inside: Set<Node>): ReadError | undefined => {
        const n = resolve(node, doc);
        if (!n) {
            return undefined;
        }
        if (inside.has(n)) {
            return at(node, "ALIAS_CYCLE");
        }
        if (++visited > MAX_NODES) {
            return at(node, "ALIAS_EXPANSION");
        }
        if (isScalar(n)) {
            return typeof n.value === "number" && !Number.isFinite(n.value) ? at(n, "NOT_FINITE") : undefined;
        }
        const children: (Node | null | undefined)[] = [];
        if (isMap(n)) {
            for (const pair of n.items) {
                if (isScalar(pair.key) && typeof pair.key.value === "symbol") {
                    const source = resolve(pair.value as Node, doc);
                    const maps = isSeq(source) ? source.items.map((i) => resolve(i as Node, doc)) : [source];
                    if (!maps.every((m) => isMap(m))) {
                        return at(pair.value as Node, "BAD_MERGE");
                    }
                }
                children.push(pair.value as Node);
            }
        } else if (isSeq(n)) {
            children.push(...(n.items as Node[]));
        }
        const within = new Set(inside).add(n);
        for (const child of children) {
            const found = visit(child, within);
            if (found) {
                return found;
            }
        }
        return undefined;
    };
    return visit(config, new Set());
}

export function readStackFile(text: string): StackReading {
    const lineCounter = new LineCounter();
    // Unquoted dates are timestamps to yaml.v3, as to this parser with the tag.
    const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true, customTags: ["timestamp"] });
    const reading: StackReading = { doc, lineCounter, errors: [...doc.errors], runtime: {}, secure: [], wholeSecure: [], plaintextPasswords: [] };
    const config = isMap(doc.contents) ? resolve(doc.contents.get("config", true) as Node | undefined, doc) : undefined;
    if (doc.errors.length > 0 || !isMap(config)) {
        return reading;
    }
    const unreadable = unreadableAt(config, doc);
    if (unreadable) {
        reading.errors.push(unreadable);
        return reading;
    }
    reading.config = config;

    // The plain value of a nested node, as Pulumi's JSON of it parses back.
    const plain = (node: Node | null | undefined, path: string, key: string): unknown => {
        const n = resolve(node, doc);
        const ciphertext = secureValue(n);
        if (ciphertext !== undefined) {
            reading.secure.push({ path, node: n!, ciphertext });
            return ENCRYPTED_PLACEHOLDER;
        }
        if (isMap(n)) {
            return Object.fromEntries(entriesOf(n, doc).map((e) => [e.key, plain(e.value, `${path}.${e.key}`, e.key)]));
        }
        if (isSeq(n)) {
            return n.items.map((item, i) => plain(item as Node, `${path}[${i}]`, key));
        }
        if (key === "password" && isScalar(n) && n.value !== null && n.value !== "") {
            reading.plaintextPasswords.push({ path, node: n });
        }
        return isScalar(n) ? goValue(n.value) : null;
    };

    for (const { key, value } of projectKeys(config, doc)) {
        const node = resolve(value, doc);
        const whole = secureValue(node);
        if (whole !== undefined) {
            reading.secure.push({ path: key, node: node!, ciphertext: whole });
            // One value encrypted (a namespace, a CA bundle) is still one value; a list or a map
            // encrypted whole hides every name in it from the check.
            if (!SCALAR_KEYS.has(key)) {
                reading.wholeSecure.push({ path: key, node: node! });
            }
            reading.runtime[`${PROJECT}:${key}`] = ENCRYPTED_PLACEHOLDER;
        } else if (isMap(node) || isSeq(node)) {
            reading.runtime[`${PROJECT}:${key}`] = JSON.stringify(plain(node, key, key));
        } else {
            const text = scalarText(node);
            reading.runtime[`${PROJECT}:${key}`] = text;
            // A whole key set as a JSON string is read as the program reads it, passwords included.
            reading.plaintextPasswords.push(...passwordsIn(parseConfigValue(key, text), key).map((path) => ({ path, node: node! })));
        }
    }
    return reading;
}

/** The deepest node that exists along a key path (`tenants[1].registries[0].username`). */
export function nodeAt(reading: StackReading, path: string): Node {
    const { config, doc } = reading;
    const segments = parseKeyPath(path);
    const top = config ? projectKeys(config, doc).find((e) => e.key === segments[0]) : undefined;
    if (!top) {
        return (config ?? doc.contents) as Node;
    }
    let node: Node = top.keyNode;
    let value = resolve(top.value, doc);
    for (const seg of segments.slice(1)) {
        if (typeof seg === "number" && isSeq(value) && value.items[seg] !== undefined) {
            node = value.items[seg] as Node;
            value = resolve(node, doc);
        } else if (isMap(value)) {
            const entry = entriesOf(value, doc).find((e) => e.key === String(seg));
            if (!entry) {
                break;
            }
            node = entry.keyNode;
            value = resolve(entry.value, doc);
        } else {
            break;
        }
    }
    return node;
}

/** The key paths of the non-empty `password` strings in a plain value. */
function passwordsIn(value: unknown, path: string): string[] {
    if (Array.isArray(value)) {
        return value.flatMap((v, i) => passwordsIn(v, `${path}[${i}]`));
    }
    if (typeof value === "object" && value !== null) {
        return Object.entries(value).flatMap(([k, v]) =>
            // A number is a password too: the program reads it back as the digits.
            k === "password" && ((typeof v === "string" && v !== "") || typeof v === "number") ? [`${path}.${k}`] : passwordsIn(v, `${path}.${k}`),
        );
    }
    return [];
}
