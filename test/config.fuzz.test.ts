/**
 * Property-based tests of the validator over generated configs: valid ones, arbitrary values, and
 * valid ones with realistic mistakes injected.
 */
import * as fc from "fast-check";
import * as assert from "node:assert/strict";
import { stringify } from "yaml";
import { checkStackFile } from "../check/stackFile";
import { ConfigError, parseKeyPath, type Problem, validateStackConfig } from "../components/config";
import { findEcho } from "./support/echo";

const label = fc.stringMatching(/^[a-z]([a-z0-9-]{0,20}[a-z0-9])?$/);
const host = fc.tuple(label, fc.constantFrom("example.org", "example.com", "internal")).map(([a, b]) => `${a}.${b}`);
const server = fc.oneof(
    host,
    fc.tuple(host, fc.integer({ min: 1, max: 65535 })).map(([h, p]) => `${h}:${p}`),
    fc.tuple(fc.constantFrom("https://", "http://"), host, fc.constantFrom("", "/", "/v2/", "/team/images", "/Team/Images")).map(([s, h, p]) => `${s}${h}${p}`),
);
// Passwords that cannot occur in a message by accident: long, mixed, with characters messages lack.
const password = fc.stringMatching(/^[A-Za-z0-9!#%&*<>:@^~]{14,40}$/).filter((p) => /[!#%&*<>:@^~]/.test(p) && /\d/.test(p));
const username = fc.stringMatching(/^[A-Za-z0-9._@-]{1,30}$/);

const configured = fc.record(
    {
        server,
        username,
        password,
        email: fc.constantFrom("ops@example.org", ""),
        secretName: label,
        generatePassword: fc.constant(false),
    },
    { requiredKeys: ["username", "password"] },
);
// A generated credential's username defaults to the tenant's namespace, unique in the stack.
const generatedEntry = fc.record(
    { server, generatePassword: fc.oneof(fc.constant(true), fc.constant("true"), fc.record({ length: fc.integer({ min: 16, max: 72 }) })) },
    { requiredKeys: ["server", "generatePassword"] },
);
const registry = fc.oneof({ arbitrary: configured, weight: 3 }, { arbitrary: generatedEntry, weight: 1 });
// Shared registries live on their own domain, so they never repeat a tenant's own server.
const sharedRegistry = fc.record({ server: label.map((l) => `${l}.shared.net`), username, password }, { requiredKeys: ["server", "username", "password"] });

/** Valid configs: one namespace or tenants, unique servers and secret names per tenant. */
const uniqueRegistries = fc.uniqueArray(registry, {
    minLength: 1,
    maxLength: 4,
    selector: (r) => (r.server ?? "index.docker.io/v1").replace(/^https?:\/\//, "").replace(/\/$/, "").toLowerCase(),
}).filter((rs) => {
    const names = rs.map((r) => ("secretName" in r ? r.secretName : undefined) ?? r.server);
    return new Set(names).size === rs.length && names.every((n) => n === undefined || !n.startsWith("regcred-"));
});

const validConfig = fc.oneof(
    fc.record({ namespace: label, createNamespace: fc.boolean(), registries: uniqueRegistries }, { requiredKeys: ["namespace", "registries"] }),
    fc.record(
        {
            sharedRegistries: fc.uniqueArray(sharedRegistry, { minLength: 1, maxLength: 2, selector: (r) => r.server }),
            tenants: fc.uniqueArray(
                fc.record(
                    {
                        namespace: label,
                        registries: uniqueRegistries,
                        labels: fc.dictionary(fc.constantFrom("team", "example.org/tier"), label),
                        // A '.' never occurs in the generated Secret names, so these are never the stack's own.
                        keepPullSecrets: fc.constant(["kept.vendor-pull"]),
                        credentialRotation: fc.oneof(fc.constant("2026-11"), fc.integer({ min: 1, max: 9 })),
                    },
                    { requiredKeys: ["namespace", "registries"] },
                ),
                { minLength: 1, maxLength: 4, selector: (t) => t.namespace },
            ),
            patchForce: fc.oneof(fc.boolean(), fc.constantFrom("true", "false")),
            onPatchDelete: fc.constantFrom("relinquish", "retain"),
            protectNamespaces: fc.boolean(),
        },
        { requiredKeys: ["tenants"] },
    ),
);

type Json = Record<string, unknown> | unknown[];

/** Realistic mistakes, applied at a random place in a valid config. */
const mistake = fc.constantFrom(
    () => undefined, // delete the value
    () => "a string",
    () => 42,
    () => null,
    () => [],
    () => ({}),
    () => "Not_A:Valid name",
    () => "",
    (v: unknown) => (Array.isArray(v) ? [...v, ...v] : v), // duplicate entries
    (v: unknown) => (typeof v === "object" && v !== null && !Array.isArray(v) ? { ...v, pasword: "x", unknownKey: 1 } : v),
);

function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
    if (typeof value !== "object" || value === null) {
        return [prefix];
    }
    const children = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
    return [prefix, ...children.flatMap(([k, v]) => paths(v, [...prefix, k]))];
}

function mutate(config: Json, at: (string | number)[], change: (v: unknown) => unknown): unknown {
    const copy = structuredClone(config) as Json;
    if (at.length === 0) {
        return change(copy);
    }
    const parent = at.slice(0, -1).reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], copy) as Record<string | number, unknown>;
    const key = at[at.length - 1];
    const next = change(parent[key]);
    if (next === undefined && !Array.isArray(parent)) {
        delete parent[key];
    } else {
        parent[key] = next;
    }
    return copy;
}

/** The problems for a config, asserting that only ConfigError is ever thrown. */
function problemsOf(raw: unknown): Problem[] {
    try {
        validateStackConfig(raw);
        return [];
    } catch (err) {
        if (!(err instanceof ConfigError)) {
            throw new Error(`validator threw ${String(err)}`);
        }
        return err.problems;
    }
}

/** A problem's path exists in the input, or (for a missing key) its parent does. */
function pathExists(raw: unknown, path: string): boolean {
    if (path === "") {
        return true;
    }
    const segments = parseKeyPath(path);
    let v: unknown = raw;
    for (const [i, seg] of segments.entries()) {
        if (typeof v !== "object" || v === null || !(seg in (v as object))) {
            return i === segments.length - 1;
        }
        v = (v as Record<string | number, unknown>)[seg];
    }
    return true;
}

function collectPasswords(value: unknown): string[] {
    if (Array.isArray(value)) {
        return value.flatMap(collectPasswords);
    }
    if (typeof value === "object" && value !== null) {
        return Object.entries(value).flatMap(([k, v]) => (k === "password" && typeof v === "string" ? [v] : collectPasswords(v)));
    }
    return [];
}

// Cloud registries (names.ts), where rules read the username and the password itself.
const cloudHost = fc.constantFrom(
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    "210987654321.dkr.ecr-fips.cn-north-1.amazonaws.com.cn",
    "gcr.io",
    "eu.gcr.io",
    "europe-west1-docker.pkg.dev",
    "examplereg.azurecr.io",
);
const cloudServer = fc.tuple(fc.constantFrom("", "https://"), cloudHost, fc.constantFrom("", "/", "/team/app")).map(([s, h, p]) => `${s}${h}${p}`);
const cloudUsername = fc.constantFrom("AWS", "_json_key", "_json_key_base64", "oauth2accesstoken", "examplereg", "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f", "ci-bot");
// The secret part of a hostile password: random, so that its runs never occur in a message by chance.
const secretPart = fc.stringMatching(/^[A-Za-z0-9]{12,30}$/);
/** Passwords that are never a service account key: almost JSON, quotes, backslashes, newlines. */
const hostilePassword = fc.oneof(
    // A key file cut short, with a key misspelt, single-quoted, or of another type (the skeletons'
    // runs of 8 occur in no message, so that only a real echo fails).
    fc.tuple(secretPart, fc.constantFrom(
        (k: string) => `{"type":"service_account","private_key":"${k}`,
        (k: string) => `{"type":"service_account","private_kee":"${k}"}`,
        (k: string) => `{'private_key':'${k}'}`,
        (k: string) => `{"type":"user","private_key":"${k}"}`,
        (k: string) => `{"type":"service_account","private_key":${k.length}${k}}`,
        (k: string) => `${k}{"type":"service_account"}`,
        (k: string) => `[${JSON.stringify(k)}]`,
        (k: string) => `"${k}"`,
    )).map(([k, shape]) => shape(k)),
    // The secret with quotes, backslashes, newlines and other escapes mixed in.
    fc.tuple(secretPart, fc.array(fc.constantFrom('"', "'", "\\", "\n", "\r\n", "\t", "\u2028", "é", "<&>", ": ", " #", "{", "}", "[", "]", ","), { minLength: 1, maxLength: 6 }))
        .map(([k, extra]) => extra.reduce((pw, c, i) => { const at = Math.floor(((i + 1) * pw.length) / (extra.length + 1)); return pw.slice(0, at) + c + pw.slice(at); }, k)),
    secretPart,
);
/** A well-formed service account key, which the _json_key rule accepts. */
const serviceAccountKey = secretPart.map((k) => JSON.stringify({ type: "service_account", project_id: "p", private_key: `-----BEGIN PRIVATE KEY-----\n${k}\n-----END PRIVATE KEY-----\n` }));
const cloudEntry = fc.record({ server: cloudServer, username: cloudUsername, password: fc.oneof(hostilePassword, serviceAccountKey) });

const isGoogle = (server: string) => /gcr\.io|docker\.pkg\.dev/.test(server);

/**
 * The runs' seed: FUZZ_SEED when given, a fixed one in CI (so a run there can be repeated), a new
 * one on each local run, printed so that a failure can be replayed with FUZZ_SEED=<seed> npm test.
 */
const FIXED_CI_SEED = 20261125;
function fuzzSeed(): number {
    if (process.env.FUZZ_SEED) {
        return Number(process.env.FUZZ_SEED);
    }
    return process.env.CI ? FIXED_CI_SEED : Math.floor(Math.random() * 2 ** 31);
}

describe("validator properties (fast-check)", function () {
    const seed = fuzzSeed();
    before(() => {
        fc.configureGlobal({ seed });
        process.stdout.write(`      fuzz seed ${seed} (replay: FUZZ_SEED=${seed} npm test)\n`);
    });
    after(() => {
        fc.resetConfigureGlobal();
    });

    this.timeout(120000);

    it("accepts every valid config and keeps its passwords exactly", () => {
        fc.assert(
            fc.property(validConfig, (config) => {
                const result = validateStackConfig(config);
                // Shared registries repeat in every tenant: compare the sets.
                const given = [...new Set(collectPasswords(config))].sort();
                const kept = [...new Set(result.tenants.flatMap((t) => t.registries.flatMap((r) => ("password" in r ? [r.password] : []))))].sort();
                assert.deepEqual(kept, given);
            }),
            { numRuns: 1500 },
        );
    });

    it("never throws anything but ConfigError, whatever the input", () => {
        fc.assert(
            fc.property(fc.oneof(fc.anything(), fc.jsonValue(), fc.dictionary(fc.constantFrom("namespace", "registries", "tenants", "sharedRegistries", "labels"), fc.anything())), (raw) => {
                problemsOf(raw);
            }),
            { numRuns: 1500 },
        );
    });

    it("on a mistake, reports problems at paths of the input and never a password", () => {
        const mistaken = validConfig.chain((config) =>
            fc.tuple(fc.constant(config), fc.constantFrom(...paths(config)), mistake),
        );
        let runs = 0;
        let rejected = 0;
        fc.assert(
            fc.property(mistaken, ([config, at, change]) => {
                const raw = mutate(config as Json, at, change);
                const problems = problemsOf(raw);
                runs += 1;
                rejected += problems.length > 0 ? 1 : 0;
                const secrets = collectPasswords(config);
                for (const p of problems) {
                    assert.ok(pathExists(raw, p.path), `problem at ${p.path}, not in the input`);
                    assert.ok(p.message.length > 0 && p.fix.length > 0);
                    const echo = findEcho(`${p.path}\n${p.message}\n${p.fix}`, secrets);
                    assert.equal(echo, undefined, `password fragment ${JSON.stringify(echo)} echoed at ${p.path}`);
                }
            }),
            { numRuns: 3000 },
        );
        // Most mistakes must be caught, or the property above says little.
        assert.ok(rejected / runs > 0.6, `only ${rejected} of ${runs} mistaken configs were rejected`);
    });

    it("reaches the cloud-registry rules with hostile passwords and never echoes any part of them", () => {
        fc.assert(
            fc.property(cloudEntry, (entry) => {
                const problems = problemsOf({ namespace: "team", registries: [entry] });
                for (const p of problems) {
                    const echo = findEcho(`${p.path}\n${p.message}\n${p.fix}`, [entry.password]);
                    assert.equal(echo, undefined, `password fragment ${JSON.stringify(echo)} echoed at ${p.path}: ${p.message}`);
                }
                // The password rule fires exactly for _json_key on Google's registries with a password that is no key.
                const keyProblem = problems.some((p) => p.path === "registries[0].password");
                const isKey = entry.password.startsWith('{"type":"service_account","project_id"');
                assert.equal(keyProblem, isGoogle(entry.server) && entry.username === "_json_key" && !isKey, JSON.stringify(problems));
            }),
            { numRuns: 600 },
        );
    });

    it("never echoes a hostile password from a stack file, however it breaks the YAML", () => {
        const yamlCase = fc.tuple(cloudEntry, fc.boolean());
        fc.assert(
            fc.property(yamlCase, ([entry, raw]) => {
                // Written by a YAML writer (quoted as needed), or pasted in as it is.
                const registries = raw
                    ? `\n    - server: ${entry.server}\n      username: ${entry.username}\n      password: ${entry.password}\n`
                    : `\n${stringify([entry]).replace(/^/gm, "    ")}`;
                const text = `config:\n  registry-access:namespace: team\n  registry-access:registries:${registries}`;
                const findings = checkStackFile("Pulumi.fuzz.yaml", text, "fuzz");
                assert.ok(findings.length > 0, "a plaintext password is always a finding");
                const echo = findEcho(JSON.stringify(findings), [entry.password]) ?? findEcho(findings.map((f) => `${f.path} ${f.message} ${f.fix}`).join("\n"), [entry.password]);
                assert.equal(echo, undefined, `password fragment ${JSON.stringify(echo)} in ${JSON.stringify(findings)}`);
            }),
            { numRuns: 400 },
        );
    });
});
