import * as assert from "node:assert/strict";
import { basicAuth, DOCKER_HUB_SERVER, dockerConfigData, dockerConfigJson, type DockerCredential } from "../components/dockerConfig";
import { kubectlDockerConfig } from "./support/kubectl";

// Inputs chosen for where JSON encoders differ: Go's HTML escaping (< > &), U+2028/U+2029,
// non-ASCII, astral characters, quotes, backslashes and control characters.
const CASES: { title: string; cred: DockerCredential }[] = [
    { title: "plain ASCII", cred: { server: "registry.example.org", username: "puller", password: "p4ss" } },
    { title: "with email", cred: { server: "registry.example.org:5000", username: "puller", password: "p4ss", email: "ops@example.org" } },
    { title: "Docker Hub default server", cred: { server: DOCKER_HUB_SERVER, username: "lab", password: "tok" } },
    { title: "HTML characters", cred: { server: "https://reg.example.org/v2/", username: "a<b>&c", password: "<script>&amp;</script>", email: "x&y@<z>" } },
    { title: "line and paragraph separators", cred: { server: "reg.example.org", username: "u", password: "a\u2028b\u2029c" } },
    { title: "non-ASCII", cred: { server: "reg.example.org", username: "jürgen", password: "pässwörd-密码-пароль", email: "jürgen@exämple.org" } },
    { title: "astral characters", cred: { server: "reg.example.org", username: "u", password: "🔑🐳𝄞" } },
    { title: "quotes and backslashes", cred: { server: "reg.example.org", username: "u\"q", password: "\\\"'`$" } },
    { title: "control characters", cred: { server: "reg.example.org", username: "u", password: "a\tb\nc\rd\be\ff\u0001g\u001fh\u007f" } },
    { title: "colon and slash in password", cred: { server: "reg.example.org", username: "u", password: "a:b/c:" } },
    { title: "long token", cred: { server: "123456789012.dkr.ecr.eu-west-1.amazonaws.com", username: "AWS", password: "x".repeat(2000) } },
];

describe("dockerConfigJson", () => {
    for (const { title, cred } of CASES) {
        it(`is byte-identical to kubectl: ${title}`, async () => {
            const expected = await kubectlDockerConfig(cred);
            const actual = Buffer.from(dockerConfigJson(cred), "utf8");
            assert.equal(actual.toString("hex"), expected.toString("hex"), `${actual} != ${expected}`);
            assert.equal(dockerConfigData(cred), expected.toString("base64"));
        });
    }

    it("puts several registries under one auths, each entry exactly as kubectl writes its one, in Go's map order", async () => {
        // Config order is not byte order: "/" (0x2f) sorts before ":" (0x3a), "h" before "r".
        const creds: DockerCredential[] = [
            { server: "reg.example.org:5000", username: "a<b", password: "p\u2028:1" },
            { server: "reg.example.org/team", username: "jürgen", password: "🔑", email: "j@example.org" },
            { server: DOCKER_HUB_SERVER, username: "lab", password: "tok" },
            { server: "reg.example.org", username: "u", password: "x" },
        ];
        const entries = new Map<string, string>();
        for (const cred of creds) {
            const one = (await kubectlDockerConfig(cred)).toString("utf8");
            assert.ok(one.startsWith('{"auths":{') && one.endsWith("}}"), one);
            entries.set(cred.server, one.slice('{"auths":{'.length, -"}}".length));
        }
        const order = [DOCKER_HUB_SERVER, "reg.example.org", "reg.example.org/team", "reg.example.org:5000"];
        const expected = `{"auths":{${order.map((s) => entries.get(s)).join(",")}}}`;
        assert.equal(dockerConfigJson(...creds), expected);
        assert.equal(dockerConfigData(...creds), Buffer.from(expected, "utf8").toString("base64"));
        // One registry is the single-entry document kubectl writes, whichever way it is called.
        assert.equal(dockerConfigJson(creds[0]), `{"auths":{${entries.get(creds[0].server)}}}`);
    });

    it("refuses two entries for one server (auths is a map)", () => {
        const cred = { server: "r", username: "u", password: "p" };
        assert.throws(() => dockerConfigJson(cred, { ...cred, username: "v" }), /one entry per server/);
    });

    it("escapes the characters Go escapes and JSON.stringify does not", () => {
        const json = dockerConfigJson({ server: "r", username: "u", password: "<>&\u2028\u2029" });
        assert.ok(json.includes(String.raw`"password":"\u003c\u003e\u0026\u2028\u2029"`), json);
    });

    it("orders fields username, password, email, auth and omits an empty email", () => {
        const withEmail = JSON.parse(dockerConfigJson({ server: "r", username: "u", password: "p", email: "e" }));
        assert.deepEqual(Object.keys(withEmail.auths.r), ["username", "password", "email", "auth"]);
        const noEmail = JSON.parse(dockerConfigJson({ server: "r", username: "u", password: "p", email: "" }));
        assert.deepEqual(Object.keys(noEmail.auths.r), ["username", "password", "auth"]);
        const noPassword = JSON.parse(dockerConfigJson({ server: "r", username: "u", password: "" }));
        assert.deepEqual(Object.keys(noPassword.auths.r), ["username", "auth"]);
    });

    it("encodes auth as base64 of the UTF-8 username:password", () => {
        assert.equal(basicAuth("jürgen", "a:b"), Buffer.from("jürgen:a:b", "utf8").toString("base64"));
        assert.equal(Buffer.from(basicAuth("u", "p"), "base64").toString(), "u:p");
    });
});
