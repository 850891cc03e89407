/**
 * Every object name the stack declares in a namespace, whatever made it (a default, the config, a
 * generated password, the Container Service), is valid and unique before anything is declared;
 * and values that end up as lines of a file (usernames in htpasswd) hold no control characters.
 */
import * as assert from "node:assert/strict";
import { validateStackConfig } from "../components/config";
import { tokenSecretName } from "../components/names";
import { problemsFinder } from "./support/problems";
import { runProgram } from "./support/runProgram";
import { unwrapSecrets } from "./support/secrets";

const PASSWORD = "Names-Pa55word-9";
const { problems, problemAt } = problemsFinder(PASSWORD);
const reg = (over: Record<string, unknown> = {}) => ({ server: "registry.example.org", username: "puller", password: PASSWORD, ...over });

describe("object names and control characters", function () {
    this.timeout(60000);

    for (const [what, username] of [
        ["a newline", "team-a\nteam-b:$2y$05$forgedhashforgedhashforgedhashforgedhashforgedhash"],
        ["a carriage return", "team-a\r"],
        ["a tab", "team\ta"],
        ["a NUL", "team\u0000a"],
        ["DEL", "team\u007fa"],
    ]) {
        it(`a username with ${what} is refused, naming the key`, () => {
            const at = problems({ namespace: "x", registries: [reg({ username })] }).filter((p) => p.path === "registries[0].username");
            assert.ok(at.some((p) => p.message === "must not contain control characters (a newline, a tab, ...)"), JSON.stringify(at));
            assert.ok(at.every((p) => !p.message.includes("team-b")));
        });
    }

    it("a generated credential's username with a newline cannot add a line to another tenant's htpasswd", () => {
        const all = problems({
            sharedRegistries: [{ server: "registry.example.org", generatePassword: true }],
            tenants: [{ namespace: "a" }, { namespace: "b", registries: [{ server: "other.example.org", username: "b\nadmin", generatePassword: true }] }],
        });
        assert.deepEqual(all.map((p) => [p.path, p.message]), [["tenants[1].registries[0].username", "must not contain control characters (a newline, a tab, ...)"]]);
    });

    it("an email with a control character is refused; spaces and unicode letters in a username are not", () => {
        assert.match(problemAt({ namespace: "x", registries: [reg({ email: "a@example.org\n" })] }, "registries[0].email").message, /control characters/);
        assert.doesNotThrow(() => validateStackConfig({ namespace: "x", registries: [reg({ username: "Jürgen Müller" })] }));
    });

    it("a server whose default Secret name is not a valid name is refused, with secretName as the fix", () => {
        const p = problemAt({ namespace: "x", registries: [reg({ server: "[::]" })] }, "registries[0].server");
        assert.equal(p.message, "gives the default Secret name 'regcred-', which Kubernetes refuses");
        assert.equal(p.fix, "set a secretName for this registry");
        assert.doesNotThrow(() => validateStackConfig({ namespace: "x", registries: [reg({ server: "[::]", secretName: "regcred-ipv6-any" })] }));
        assert.doesNotThrow(() => validateStackConfig({ namespace: "x", registries: [reg({ server: "[::1]:5000" })] }));
    });

    it("combinedPullSecret: two generated passwords whose default names collide are refused; a secretName tells them apart", () => {
        const stack = (second: Record<string, unknown>) => ({
            namespace: "x",
            combinedPullSecret: "regcred",
            registries: [
                { server: "harbor.example.org/team_a", generatePassword: true },
                { server: "harbor.example.org/team-a", generatePassword: true, ...second },
            ],
        });
        const p = problemAt(stack({}), "registries[1].server");
        assert.equal(p.message, "'regcred-harbor-example-org-team-a' is already the name of registries[0]'s generated password");
        assert.match(p.fix, /secretName/);
        const config = validateStackConfig(stack({ secretName: "harbor-team-dash" }));
        assert.deepEqual(config.tenants[0].registries.map((r) => r.secretName), ["regcred-harbor-example-org-team-a", "harbor-team-dash"]);
        // A configured password's secretName still names nothing there.
        assert.match(problemAt({ ...stack({}), registries: [reg({ secretName: "mine" })] }, "registries[0].secretName").message, /names no Secret/);
    });

    it("combinedPullSecret: both generated credentials reach generatedCredentials and htpasswd", async () => {
        const run = await runProgram({
            namespace: "x",
            combinedPullSecret: "regcred",
            registries: [
                { server: "harbor.example.org/team_a", generatePassword: true },
                { server: "harbor.example.org/team-a", generatePassword: true, secretName: "harbor-team-dash" },
            ],
        });
        assert.equal(run.error, undefined, run.error?.message);
        const htpasswd = unwrapSecrets(run.outputs.htpasswd) as Record<string, string>;
        assert.deepEqual(Object.keys(htpasswd).sort(), ["harbor.example.org/team-a", "harbor.example.org/team_a"]);
        assert.equal(new Set(run.resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword").map((r) => r.name)).size, 2);
    });

    for (const [where, extra] of [
        ["a registry's secretName", { registries: [reg({ secretName: "xnat-container-service-token" })] }],
        ["combinedPullSecret", { registries: [reg()], combinedPullSecret: "xnat-container-service-token" }],
    ] as const) {
        it(`${where} may not take the Container Service's token Secret's name`, () => {
            const path = where === "combinedPullSecret" ? "combinedPullSecret" : "registries[0].secretName";
            const p = problemAt({ namespace: "x", containerService: { apiServer: "https://10.0.0.1:6443" }, ...extra }, path);
            assert.equal(p.message, "'xnat-container-service-token' is the Container Service's token Secret in this namespace");
        });
    }

    it("a rotated token's Secret name is checked too, and a pull Secret of another name passes", () => {
        const rotated = tokenSecretName("xnat", "2026-12");
        const p = problemAt({ namespace: "x", containerService: { apiServer: "https://10.0.0.1:6443", serviceAccount: "xnat", tokenRotation: "2026-12" }, registries: [reg({ secretName: rotated })] }, "registries[0].secretName");
        assert.match(p.message, /token Secret/);
        assert.doesNotThrow(() => validateStackConfig({ namespace: "x", containerService: { apiServer: "https://10.0.0.1:6443" }, registries: [reg({ secretName: "regcred" })] }));
    });

    it("a registry host named constructor gets its own htpasswd file, not Object's", async () => {
        const run = await runProgram({
            sharedRegistries: [{ server: "constructor", generatePassword: true }],
            tenants: [{ namespace: "team-a" }, { namespace: "team-b" }],
        });
        assert.equal(run.error, undefined, run.error?.message);
        const files = Object.entries(unwrapSecrets(run.outputs.htpasswd) as Record<string, string>);
        assert.deepEqual(files.map(([registry]) => registry), ["constructor"]);
        const [[, file]] = files;
        assert.deepEqual(file.trimEnd().split("\n").map((l) => l.split(":")[0]), ["team-a", "team-b"]);
        assert.ok(!file.includes("native code"));
    });

    it("problems of every kind are reported at once", () => {
        const all = problems({ namespace: "x", containerService: { apiServer: "https://10.0.0.1:6443" }, registries: [reg({ server: "[::]", username: "a\nb" }), reg({ server: "b.example.org", secretName: "xnat-container-service-token" })] });
        assert.deepEqual(all.map((p) => p.path).sort(), ["registries[0].server", "registries[0].username", "registries[1].secretName"]);
    });
});

describe("what a review with typed inputs found", function () {
    this.timeout(60000);

    it("a stray key in a registry entry (a comma in an unquoted password) is not named in any message", () => {
        const all = problems({ namespace: "x", registries: [{ server: "registry.example.org", username: "robot", password: "Tr0ub4", dorSecret99: null }] });
        assert.deepEqual(all.map((p) => [p.path, p.message]), [["registries[0]", "has a key that is not a known one (not shown: it may be part of a password)"]]);
        assert.ok(!JSON.stringify(all).includes("dorSecre"));
        // A near miss is still named, with its did-you-mean.
        assert.equal(problemAt({ namespace: "x", registries: [reg({ usrname: "u" })] }, "registries[0].usrname").fix, "did you mean 'username'?");
    });

    it("a value quoted in a message has its control characters escaped: no forged line", () => {
        const all = problems({ tenants: [{ namespace: "a\nFAKE", registries: [reg()] }, { namespace: "a\nFAKE", registries: [reg()] }] });
        assert.ok(all.every((p) => !p.message.includes("\n")), JSON.stringify(all));
    });

    it("a Container Service account written as a number is the same account as the patched one", () => {
        const p = problemAt({ namespace: "x", registries: [reg()], serviceAccounts: ["default", 123], containerService: { apiServer: "https://10.0.0.1:6443", serviceAccount: 123 } }, "containerService.serviceAccount");
        assert.match(p.message, /a ServiceAccount this stack patches/);
    });

    it("a tokenRotation written as a number names the token Secret as the schema reads it", () => {
        const token = tokenSecretName("xnat-container-service", "1.5");
        assert.match(problemAt({ namespace: "x", containerService: { apiServer: "https://10.0.0.1:6443", tokenRotation: 1.5 }, registries: [reg({ secretName: token })] }, "registries[0].secretName").message, /token Secret/);
    });

    it("a password that is not a string gets a fix the CLI takes (--secret stores a string; it refuses --type with it)", () => {
        assert.equal(problemAt({ namespace: "x", registries: [reg({ password: 1.5 })] }, "registries[0].password").fix, "pulumi config set --secret --path 'registries[0].password' <password>");
    });

    it("an apiServer with a tab, a newline or outer spaces is refused (the URL parser drops them; XNAT's does not)", () => {
        for (const apiServer of ["https://api.exa\tmple.org", "https://api.example.org\n", " https://api.example.org"]) {
            assert.match(problemAt({ namespace: "x", registries: [reg()], containerService: { apiServer } }, "containerService.apiServer").message, /not an https:\/\/ URL/, JSON.stringify(apiServer));
        }
    });

    it("a username with a line separator or a direction override is refused", () => {
        for (const username of ["team\u2028a", "team\u202ea", "\ufeffteam"]) {
            assert.ok(problems({ namespace: "x", registries: [reg({ username })] }).some((p) => p.path === "registries[0].username" && /control characters/.test(p.message)), JSON.stringify(username));
        }
    });

    it("a shared registry's problem is said once, however many tenants; a default name's clash is reported at the server", () => {
        const shared = problems({ sharedRegistries: [reg({ server: "[::]" })], tenants: [{ namespace: "a" }, { namespace: "b" }, { namespace: "c" }] });
        assert.deepEqual(shared.map((p) => p.path), ["sharedRegistries[0].server"]);
        const clash = problems({ namespace: "x", registries: [reg({ server: "a.example.org", secretName: "regcred-b-example-org" }), reg({ server: "b.example.org" })] });
        assert.deepEqual(clash.map((p) => p.path), ["registries[1].server"]);
    });
});
