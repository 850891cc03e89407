/**
 * The offline check reads a stack file as Pulumi hands it to the program: YAML aliases and merge
 * keys resolved, top-level scalars as written, numbers set with `pulumi config set --path` read
 * back as typed, and a `secure:` value's content left to the program. And a YAML error is said
 * in the check's own words, never quoting the source a password may be in.
 */
import * as assert from "node:assert/strict";
import { checkStackFile, stackConfigOf } from "../check/stackFile";
import { readStackFile } from "../check/stackReading";
import { ConfigError, fromPulumiConfig, validateStackConfig } from "../components/config";
import { findEcho } from "./support/echo";

const SALT = "encryptionsalt: v1:GrAXUjStMH8=:v1:BRfBcU8L4IcCps+u:lJLWe5CmkjQN5C8q+9EGgw8PBnZ8bA==\n";
const SECURE = "{secure: v1:a3btFvSmd5BmFid6:XjSAkIrnqlUflgayj/M1/vrooYgNy31zrt3/kYJq+jpLhRBQdsoxWA==}";
const check = (text: string) => checkStackFile("Pulumi.t.yaml", text, "t");

describe("the check reads a stack file as Pulumi does", () => {
    it("a password YAML reads as a tag is reported by line and column, in the check's words, without the password", () => {
        const password = "!Tr0ub4dor&3!";
        const text = `config:\n  registry-access:namespace: team\n  registry-access:registries:\n    - server: registry.example.org\n      username: robot\n      password: ${password}\n`;
        const findings = check(text);
        assert.ok(findings.length > 0);
        assert.ok(findings.every((f) => f.line === 6 && f.message.startsWith("is not valid YAML: ")), JSON.stringify(findings));
        assert.ok(findings.some((f) => f.message === "is not valid YAML: a value starts with '!', which YAML reads as a tag (quote the value)"));
        assert.equal(findEcho(JSON.stringify(findings), [password]), undefined);
        assert.ok(!JSON.stringify(findings).includes("Tr0ub4dor"));
    });

    it("an invalid escape in a double-quoted password does not quote it", () => {
        const password = "Zq\\kSecretTail99";
        const text = `config:\n  registry-access:namespace: team\n  registry-access:registries:\n    - server: registry.example.org\n      username: robot\n      password: "${password}"\n`;
        const findings = check(text);
        assert.deepEqual(
            findings.map((f) => [f.line, f.message]),
            [[6, "is not valid YAML: a double-quoted string has an invalid escape (write \\\\ for a backslash, or single-quote the value)"]],
        );
        assert.ok(!JSON.stringify(findings).includes("Zq"), JSON.stringify(findings));
    });

    it("resolves aliases and merge keys, as Pulumi does, and the program gets the same tenants", () => {
        const text = `${SALT}config:
  registry-access:tenants:
    - namespace: team-a
      registries: &regs
        - &harbor
          server: registry.example.org
          username: puller
          password: ${SECURE}
    - namespace: team-b
      registries: *regs
    - namespace: team-c
      registries:
        - <<: *harbor
          server: other.example.org
`;
        assert.deepEqual(check(text), []);
        const tenants = stackConfigOf(text).tenants.map((t) => [t.namespace, t.registries.map((r) => [r.server, r.username])]);
        assert.deepEqual(tenants, [
            ["team-a", [["registry.example.org", "puller"]]],
            ["team-b", [["registry.example.org", "puller"]]],
            ["team-c", [["other.example.org", "puller"]]],
        ]);
    });

    it("a merge key's own keys win over the merged ones, and a typo inside a merged map is still found at its line", () => {
        const text = `${SALT}config:
  registry-access:namespace: team
  registry-access:registries:
    - &base
      server: registry.example.org
      usernme: puller
      password: ${SECURE}
    - <<: *base
      server: other.example.org
`;
        const findings = check(text).map((f) => `${f.line} ${f.path}: ${f.message}`);
        assert.deepEqual(findings, [
            "6 registries[0].username: is required",
            "7 registries[0].usernme: is not a known key",
            "7 registries[1].usernme: is not a known key",
            "9 registries[1].username: is required",
        ]);
        assert.deepEqual(JSON.parse(readStackFile(text).runtime["registry-access:registries"])[1].server, "other.example.org");
    });

    it("a top-level scalar is text, as Pulumi hands it over: namespace 123 and true are names, 0x10 is 16", () => {
        for (const [written, name] of [["123", "123"], ["true", "true"], ["'0x10'", "0x10"], ["0x10", "16"]]) {
            const text = `config:\n  registry-access:namespace: ${written}\n  registry-access:registries:\n    - server: registry.example.org\n      username: puller\n      generatePassword: true\n`;
            assert.deepEqual(check(text), [], written);
            assert.equal(readStackFile(text).runtime["registry-access:namespace"], name);
            assert.equal(stackConfigOf(text).tenants[0].namespace, name);
        }
    });

    // Pulumi refuses these files (yaml.v3: "anchor contains itself", "excessive aliasing", "map
    // merge requires map or sequence of maps"; JSON: "unsupported value: +Inf"); the check says so
    // by line and column, and never loops or exhausts the stack on them.
    const head = "config:\n  registry-access:namespace: team\n";
    for (const [what, text, line, message] of [
        ["an alias inside the node it names", `${head}  registry-access:registries: &r [{server: a.example.org, username: u, password: x, more: *r}]\n`, 3, "an alias refers to a node that contains it"],
        ["the config merged into itself", "config: &c\n  registry-access:x: {<<: *c}\n", 2, "an alias refers to a node that contains it"],
        [
            "an alias bomb",
            `${head}${["a", "b", "c", "d", "e", "f"].map((k, i) => `  ${k}:x: &${k} [${i === 0 ? "1,1,1,1,1,1,1,1,1" : Array(9).fill(`*${"abcdef"[i - 1]}`).join(",")}]\n`).join("")}  registry-access:registries: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n`,
            3,
            "aliases expand to too large a document",
        ],
        ["a merge of a scalar", `x: &ns team\n${head}  registry-access:registries:\n    - <<: *ns\n      server: a.example.org\n`, 5, "a merge key (<<) takes a map or a list of maps"],
        ["an infinite number", `${head}  registry-access:credentialRotation: .inf\n`, 3, "a number is infinite or not a number (.inf, .nan), which Pulumi cannot hand to the program (quote it)"],
    ] as const) {
        it(`refuses what Pulumi cannot read: ${what}`, () => {
            const findings = check(text);
            assert.deepEqual(findings.map((f) => [f.line, f.path, f.message]), [[line, "", `is not valid YAML: ${message}`]]);
        });
    }

    it("an unquoted date is what Pulumi hands over for it: Go's time, not a label value", () => {
        const text = `${head}  registry-access:labels: {created: 2024-06-01}\n  registry-access:credentialRotation: 2024-06-01T10:00:00.5Z\n  registry-access:registries: [{server: a.example.org, generatePassword: true}]\n`;
        assert.deepEqual(check(text).map((f) => [f.path, f.message]), [["labels.created", "is not a valid label value"]]);
        assert.equal(readStackFile(text).runtime["registry-access:credentialRotation"], "2024-06-01 10:00:00.5 +0000 UTC");
    });

    it("a username pulumi config set --path stored as a number is the number as typed, in the check and the program", () => {
        const text = `${SALT}config:\n  registry-access:namespace: team\n  registry-access:registries:\n    - server: registry.example.org\n      username: 100012345678\n      password: ${SECURE}\n`;
        assert.deepEqual(check(text), []);
        assert.equal(stackConfigOf(text).tenants[0].registries[0].username, "100012345678");
        const program = validateStackConfig(
            fromPulumiConfig({ "registry-access:namespace": "team", "registry-access:registries": '[{"server":"registry.example.org","username":100012345678,"password":"p"}]' }),
        );
        assert.equal(program.tenants[0].registries[0].username, "100012345678");
    });

    it("a number that does not read back as typed is refused with a fix that works: --type string", () => {
        try {
            validateStackConfig(fromPulumiConfig({ "registry-access:namespace": "team", "registry-access:registries": '[{"server":"registry.example.org","username":1.1,"password":"p"}]' }));
            assert.fail("accepted");
        } catch (err) {
            assert.ok(err instanceof ConfigError);
            assert.deepEqual(err.problems, [
                {
                    path: "registries[0].username",
                    message: "must be a string, not a number",
                    fix: "quote it in the stack file, or: pulumi config set --type string --path 'registries[0].username' <value>",
                },
            ]);
        }
    });

    for (const [cloud, server] of [
        ["ECR", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"],
        ["ACR", "myregistry.azurecr.io"],
    ]) {
        it(`a ${cloud} username set with --secret is left to the program, which reads it decrypted`, () => {
            const text = `${SALT}config:\n  registry-access:namespace: team\n  registry-access:registries:\n    - server: ${server}\n      username: ${SECURE}\n      password: ${SECURE}\n`;
            assert.deepEqual(check(text), []);
        });
    }

    it("one value encrypted whole (a namespace, a CA bundle) is left to the program; a list encrypted whole cannot be checked", () => {
        const scalar = `${SALT}config:\n  registry-access:namespace: ${SECURE}\n  registry-access:caBundle: ${SECURE}\n  registry-access:registries:\n    - server: registry.example.org\n      username: puller\n      password: ${SECURE}\n`;
        assert.deepEqual(check(scalar), []);
        const list = `${SALT}config:\n  registry-access:namespace: team\n  registry-access:labels: ${SECURE}\n  registry-access:registries: ${SECURE}\n`;
        assert.deepEqual(
            check(list).map((f) => [f.path, f.message, f.fix]),
            [
                ["labels", "is encrypted as a whole, so it cannot be checked", "set it in plaintext: it holds no password"],
                ["registries", "is encrypted as a whole, so it cannot be checked", "set it in plaintext and only its passwords as secrets: pulumi config set --stack t --secret --path 'registries[0].password' <password>"],
            ],
        );
    });

    it("a secure value is still located when its key is unknown", () => {
        const text = `${SALT}config:\n  registry-access:namespace: team\n  registry-access:registries:\n    - server: registry.example.org\n      username: puller\n      pasword: ${SECURE}\n`;
        assert.deepEqual(
            check(text).map((f) => [f.line, f.path, f.message]),
            [
                [5, "registries[0].password", "is required (or set generatePassword: true)"],
                [7, "registries[0].pasword", "is not a known key"],
            ],
        );
    });
});
