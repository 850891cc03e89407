/**
 * The kubelet's choice of pull-Secret credentials (doctor/credentialMatch.ts). Cases named
 * "TestX" are the Go tests of k8s.io/kubernetes pkg/credentialprovider (keyring_test.go,
 * config_test.go, secrets/secrets_test.go) written again here; the others pin a rule of the
 * Go source the Go tests leave out.
 */
import * as assert from "node:assert/strict";
import {
    credentialsFor,
    decodeAuth,
    globMatch,
    isDefaultRegistryMatch,
    keyringKey,
    lookupCredentials,
    parseImage,
    PullSecretError,
    readDockerConfigJson,
    urlsMatchStr,
    type Credential,
} from "../doctor/credentialMatch";

const SHA = "a".repeat(64);

interface Entry {
    username?: string;
    password?: string;
    email?: string;
    auth?: string;
}

/** A `.dockerconfigjson` document with these `auths`. */
function config(auths: Record<string, Entry | null>): string {
    return JSON.stringify({ auths });
}

function b64(text: string): string {
    return Buffer.from(text, "utf8").toString("base64");
}

/** A config with one credential per key, named after the key, so results read as key lists. */
function named(...keys: string[]): string {
    return config(Object.fromEntries(keys.map((key) => [key, { username: key, password: "p" }])));
}

function users(creds: Credential[]): string[] {
    return creds.map((c) => c.username);
}

describe("doctor credentialMatch: image names (parsers.ParseImageName over ParseNormalizedNamed)", () => {
    it("puts a bare or one-component Docker Hub name under docker.io/library, defaulting the tag", () => {
        const nginx = { name: "docker.io/library/nginx", registry: "docker.io", repository: "library/nginx", tag: "latest", digest: "" };
        assert.deepEqual(parseImage("nginx"), nginx);
        assert.deepEqual(parseImage("docker.io/nginx"), nginx);
        assert.deepEqual(parseImage("index.docker.io/nginx"), nginx);
        assert.deepEqual(parseImage("docker.io/library/nginx"), nginx);
        assert.equal(parseImage("team/app").name, "docker.io/team/app");
        assert.equal(parseImage("index.docker.io/team/app").name, "docker.io/team/app");
    });

    it("takes the first component for a domain when it is localhost or has '.', ':' or an upper-case letter", () => {
        assert.equal(parseImage("localhost/app").registry, "localhost");
        assert.equal(parseImage("localhost:5000/app").registry, "localhost:5000");
        assert.equal(parseImage("registry.example.org/team/app").registry, "registry.example.org");
        assert.equal(parseImage("MyHost/app").registry, "MyHost");
        assert.equal(parseImage("[::1]:5000/app").registry, "[::1]:5000");
    });

    it("splits tag and digest off the name the kubelet looks up", () => {
        assert.deepEqual(parseImage(`registry.example.org:5000/team/app:1.2@sha256:${SHA}`), {
            name: "registry.example.org:5000/team/app",
            registry: "registry.example.org:5000",
            repository: "team/app",
            tag: "1.2",
            digest: `sha256:${SHA}`,
        });
        assert.deepEqual(parseImage(`nginx@sha256:${SHA}`), { name: "docker.io/library/nginx", registry: "docker.io", repository: "library/nginx", tag: "", digest: `sha256:${SHA}` });
        assert.equal(parseImage("myhost:5000").tag, "5000"); // no slash: Docker Hub "library/myhost", tag 5000
    });

    it("leaves a name with no domain when its first component is a path component but not a domain", () => {
        // "my_reg.example" cannot be a domain (underscore) but is a valid path component.
        assert.deepEqual(parseImage("my_reg.example/app"), { name: "my_reg.example/app", registry: "", repository: "my_reg.example/app", tag: "latest", digest: "" });
    });

    it("refuses what the kubelet reports as InvalidImageName", () => {
        for (const bad of [
            "",
            "Nginx",
            "registry.example.org/App",
            SHA,
            "a//b",
            "registry.example.org/app:",
            `nginx@sha256:${"a".repeat(32)}`,
            `nginx@md5:${"a".repeat(32)}`,
            `nginx@sha256:${"A".repeat(64)}`,
            `registry.example.org/${"a".repeat(256)}`,
        ]) {
            assert.throws(() => parseImage(bad), Error, bad);
        }
        // The 255-character limit is on the repository path; the domain does not count.
        assert.equal(parseImage(`registry.example.org/${"a".repeat(255)}`).repository.length, 255);
    });
});

describe("doctor credentialMatch: URLsMatch", () => {
    // TestURLsMatch, every case.
    const cases: [glob: string, target: string, match: boolean][] = [
        ["*.kubernetes.io", "prefix.kubernetes.io", true],
        ["prefix.*.io", "prefix.kubernetes.io", true],
        ["prefix.kubernetes.*", "prefix.kubernetes.io", true],
        ["*-good.kubernetes.io", "prefix-good.kubernetes.io", true],
        ["*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true],
        ["prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true],
        ["*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1111/blah", true],
        ["prefix.*.io:1111/foo", "prefix.kubernetes.io:1111/foo/bar", true],
        ["*.kubernetes.io", "kubernetes.io", false],
        ["*.*.kubernetes.io", "prefix.kubernetes.io", false],
        ["*.*.kubernetes.io", "kubernetes.io", false],
        ["*kubernetes.io", "a.kubernetes.io", false],
        ["*kubernetes.io", "kubernetes.io", true],
        ["*.*.*.kubernetes.io", "a.b.c.kubernetes.io", true],
        ["kubernetes.io", "kubernetes.com", false],
        ["k*.io", "quay.io", false],
        ["*.kubernetes.io:1234/blah", "prefix.kubernetes.io:1111/blah", false],
        ["prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar", false],
    ];
    for (const [glob, target, match] of cases) {
        it(`TestURLsMatch: ${glob} ${match ? "matches" : "does not match"} ${target}`, () => {
            assert.equal(urlsMatchStr(glob, target), match);
        });
    }

    it("compares ports as strings: no port is not :443, and the reverse", () => {
        assert.equal(urlsMatchStr("registry.example.org", "registry.example.org:5000/app"), false);
        assert.equal(urlsMatchStr("registry.example.org:5000", "registry.example.org/app"), false);
        assert.equal(urlsMatchStr("registry.example.org:443", "registry.example.org/app"), false);
        assert.equal(urlsMatchStr("[::1]:5000", "[::1]:5000/app"), true);
    });

    it("compares paths as plain string prefixes, not path segments", () => {
        assert.equal(urlsMatchStr("registry.example.org/team", "registry.example.org/team/app"), true);
        assert.equal(urlsMatchStr("registry.example.org/team", "registry.example.org/teamx/app"), true);
        assert.equal(urlsMatchStr("registry.example.org/team/", "registry.example.org/teamx/app"), false);
        assert.equal(urlsMatchStr("registry.example.org/team/app", "registry.example.org/team"), false);
    });

    it("globs each host label as filepath.Match does, and never matches a malformed glob", () => {
        assert.equal(globMatch("*", "anything-at-all"), true);
        assert.equal(globMatch("reg?", "reg1"), true);
        assert.equal(globMatch("reg?", "reg12"), false);
        assert.equal(globMatch("[a-c]x", "bx"), true);
        assert.equal(globMatch("[^a-c]x", "bx"), false);
        assert.equal(globMatch("[^a-c]x", "dx"), true);
        assert.equal(globMatch("[z-a]", "m"), false); // an empty range is not an error in Go
        assert.equal(globMatch("\\*", "*"), true);
        assert.equal(globMatch("\\*", "a"), false);
        assert.equal(globMatch("a*b*c", "aXbYbZc"), true);
        for (const bad of ["[", "[]", "[^]", "[a-]", "[-a]", "a\\", "[a"]) {
            assert.equal(globMatch(bad, bad), false, bad);
            assert.equal(globMatch(bad, "a"), false, bad);
        }
    });

    it("can use no '[' class or '?' in a key's host: url.Parse refuses the first, the second starts a query", () => {
        // Go 1.24.8+: '[' past the start of a host is an error; at the start, an IPv6 literal.
        assert.equal(urlsMatchStr("reg[ab].example.org", "rega.example.org/app"), false);
        assert.equal(urlsMatchStr("[ab].example.org", "a.example.org/app"), false);
        assert.equal(keyringKey("reg[ab].example.org"), null);
        assert.equal(keyringKey("reg?.example.org"), "reg");
        assert.equal(keyringKey("https://[::1]:5000/v2/"), "[::1]:5000");
        assert.equal(keyringKey("https://[1.2.3.4]:5000"), null);
    });
});

describe("doctor credentialMatch: keys (BasicDockerKeyring.Add)", () => {
    it("drops the scheme, http:// or https://, and only those, case-sensitively", () => {
        assert.equal(keyringKey("registry.example.org"), "registry.example.org");
        assert.equal(keyringKey("https://registry.example.org"), "registry.example.org");
        assert.equal(keyringKey("http://registry.example.org"), "registry.example.org");
        assert.equal(keyringKey("https://user:pw@registry.example.org:5000/team"), "registry.example.org:5000/team");
        // "HTTPS://" is not a scheme to Add: "https://" is put before it and the host becomes "HTTPS:".
        assert.equal(keyringKey("HTTPS://registry.example.org"), "HTTPS://registry.example.org");
    });

    it("treats a path starting /v1/ or /v2/ as that much shorter, and a path of / as none", () => {
        assert.equal(keyringKey("https://index.docker.io/v1/"), "index.docker.io");
        assert.equal(keyringKey("https://registry.example.org/v2/"), "registry.example.org");
        assert.equal(keyringKey("registry.example.org/"), "registry.example.org");
        assert.equal(keyringKey("registry.example.org/v1/team"), "registry.example.org/team");
        assert.equal(keyringKey("https://index.docker.io/v1"), "index.docker.io/v1"); // no trailing slash: kept
        assert.equal(keyringKey("registry.example.org/team/"), "registry.example.org/team/");
    });

    it("returns null (the kubelet logs and skips the entry) where url.Parse fails", () => {
        for (const bad of ["registry.example.org:http", "reg istry.example.org", "registry.example.org/%zz", "[::1", "a\\b.example.org", "registry.example.org#%", "a%41.example.org"]) {
            assert.equal(keyringKey(bad), null, bad);
        }
    });
});

describe("doctor credentialMatch: Lookup", () => {
    const fooBar = (key: string) => config({ [key]: { email: "foo@bar.baz", auth: b64("foo:bar") } });

    // TestDockerKeyringForGlob: each key is found for target + "/foo/bar".
    const globHits: [string, string][] = [
        ["https://hello.kubernetes.io", "hello.kubernetes.io"],
        ["https://*.docker.io", "prefix.docker.io"],
        ["https://prefix.*.io", "prefix.docker.io"],
        ["https://prefix.docker.*", "prefix.docker.io"],
        ["https://*.docker.io/path", "prefix.docker.io/path"],
        ["https://prefix.*.io/path", "prefix.docker.io/path/subpath"],
        ["https://prefix.docker.*/path", "prefix.docker.io/path"],
        ["https://*.docker.io:8888", "prefix.docker.io:8888"],
        ["https://prefix.*.io:8888", "prefix.docker.io:8888"],
        ["https://prefix.docker.*:8888", "prefix.docker.io:8888"],
        ["https://*.docker.io/path:1111", "prefix.docker.io/path:1111"],
        ["https://*.docker.io/v1/", "prefix.docker.io/path:1111"],
        ["https://*.docker.io/v2/", "prefix.docker.io/path:1111"],
        ["https://prefix.docker.*/path:1111", "prefix.docker.io/path:1111"],
        ["prefix.docker.io:1111", "prefix.docker.io:1111/path"],
        ["*.docker.io:1111", "prefix.docker.io:1111/path"],
    ];
    for (const [key, target] of globHits) {
        it(`TestDockerKeyringForGlob: ${key} is found for ${target}/foo/bar`, () => {
            const creds = lookupCredentials(`${target}/foo/bar`, [fooBar(key)]);
            assert.deepEqual(
                creds.map(({ username, password }) => ({ username, password })),
                [{ username: "foo", password: "bar" }],
            );
        });
    }

    // TestKeyringMiss: nothing is found for lookup + "/foo/bar".
    const misses: [string, string][] = [
        ["https://hello.kubernetes.io", "world.mesos.org/foo/bar"],
        ["https://*.docker.com", "prefix.docker.io"],
        ["https://suffix.*.io", "prefix.docker.io"],
        ["https://prefix.docker.c*", "prefix.docker.io"],
        ["https://prefix.*.io/path:1111", "prefix.docker.io/path/subpath:1111"],
        ["suffix.*.io", "prefix.docker.io"],
    ];
    for (const [key, lookup] of misses) {
        it(`TestKeyringMiss: ${key} is not found for ${lookup}/foo/bar`, () => {
            assert.deepEqual(lookupCredentials(`${lookup}/foo/bar`, [fooBar(key)]), []);
        });
    }

    it("TestKeyringMissWithDockerHubCredentials / TestKeyringHit*DockerHub: Docker Hub's key serves only Docker Hub names", () => {
        const hub = [fooBar("https://index.docker.io/v1/")];
        assert.deepEqual(lookupCredentials("world.mesos.org/foo/bar", hub), []);
        assert.deepEqual(users(lookupCredentials("google/docker-registry", hub)), ["foo"]);
        assert.deepEqual(users(lookupCredentials("jenkins", hub)), ["foo"]);
        assert.deepEqual(users(lookupCredentials("index.docker.io/v1//google/docker-registry", hub)), ["foo"]);
    });

    it("TestIsDefaultRegistryMatch", () => {
        const samples: [string, boolean][] = [
            ["foo/bar", true],
            ["docker.io/foo/bar", true],
            ["index.docker.io/foo/bar", true],
            ["foo", true],
            ["", false],
            ["registry.tld/foo/bar", false],
            ["registry:5000/foo/bar", false],
            ["myhostdocker.io/foo/bar", false],
        ];
        for (const [image, expected] of samples) {
            assert.equal(isDefaultRegistryMatch(image), expected, image);
        }
    });

    it("TestDockerKeyringLookup: every matching key's credentials, the deeper path first", () => {
        const dk = [
            config({
                "bar.example.com/pong": { username: "grace", password: "squash" },
                "bar.example.com": { username: "ada", password: "smash" },
            }),
        ];
        const cases: [string, string[]][] = [
            ["bar.example.com", ["ada"]],
            ["bar.example.com/pong", ["grace", "ada"]],
            ["bar.example.com/ping", ["ada"]],
            ["bar.example.com/pongz", ["grace", "ada"]], // "match first part of path token"
            ["bar.example.com/pong/pang", ["grace", "ada"]],
            ["example.com", []],
            ["foo.example.com", []],
        ];
        for (const [image, expected] of cases) {
            assert.deepEqual(users(lookupCredentials(image, dk)), expected, image);
        }
    });

    it("TestIssue3797: a key with scheme and /v1/ path matches by host", () => {
        const dk = [config({ "https://quay.io/v1/": { username: "rex", password: "tiny arms" } })];
        for (const image of ["quay.io", "quay.io/foo", "quay.io/foo/bar"]) {
            assert.deepEqual(users(lookupCredentials(image, dk)), ["rex"], image);
        }
    });
});

describe("doctor credentialMatch: credentialsFor", () => {
    it("ignores the scheme of a key", () => {
        for (const key of ["http://registry.example.org", "https://registry.example.org", "registry.example.org"]) {
            assert.deepEqual(users(credentialsFor("registry.example.org/app:1", [named(key)])), [key]);
        }
    });

    it("ignores a /v1/ or /v2/ after the host, but not /v1 without its slash", () => {
        assert.deepEqual(users(credentialsFor("registry.example.org/app", [named("https://registry.example.org/v2/")])), ["https://registry.example.org/v2/"]);
        assert.deepEqual(users(credentialsFor("registry.example.org/app", [named("https://registry.example.org/v1/")])), ["https://registry.example.org/v1/"]);
        assert.deepEqual(credentialsFor("registry.example.org/app", [named("https://registry.example.org/v1")]), []);
    });

    it("globs one host label per '*'", () => {
        const globbed = [named("*.example.org")];
        assert.deepEqual(users(credentialsFor("eu.example.org/app", globbed)), ["*.example.org"]);
        assert.deepEqual(credentialsFor("example.org/app", globbed), []);
        assert.deepEqual(credentialsFor("a.eu.example.org/app", globbed), []);
    });

    it("needs the same port on key and image", () => {
        assert.deepEqual(credentialsFor("registry.example.org:5000/app", [named("registry.example.org")]), []);
        assert.deepEqual(credentialsFor("registry.example.org/app", [named("registry.example.org:5000")]), []);
        assert.deepEqual(users(credentialsFor("registry.example.org:5000/app", [named("registry.example.org:5000")])), ["registry.example.org:5000"]);
    });

    it("matches a key's path as a string prefix of the repository: registry/team also serves registry/teamx", () => {
        const team = [named("registry.example.org/team")];
        assert.deepEqual(users(credentialsFor("registry.example.org/team/app", team)), ["registry.example.org/team"]);
        assert.deepEqual(users(credentialsFor("registry.example.org/teamx/app", team)), ["registry.example.org/team"]);
        assert.deepEqual(credentialsFor("registry.example.org/other/app", team), []);
        assert.deepEqual(credentialsFor("registry.example.org/teamx/app", [named("registry.example.org/team/")]), []);
    });

    it("returns every matching credential, keys in reverse byte order (not most specific first)", () => {
        const keys = named("*.example.org", "r.example.org", "r.example.org/team", "r.example.org/team/app", "*.example.org/team");
        assert.deepEqual(users(credentialsFor("r.example.org/team/app:1", [keys])), [
            "r.example.org/team/app",
            "r.example.org/team",
            "r.example.org", // before "*.example.org/team", more specific: 'r' sorts after '*'
            "*.example.org/team",
            "*.example.org",
        ]);
    });

    it("serves nginx with keys docker.io, index.docker.io and https://index.docker.io/v1/ (and /v2/)", () => {
        for (const key of ["docker.io", "https://docker.io", "index.docker.io", "https://index.docker.io/v1/", "https://index.docker.io/v2/", "docker.io/library"]) {
            assert.deepEqual(users(credentialsFor("nginx", [named(key)])), [key], key);
            assert.deepEqual(users(credentialsFor("docker.io/library/nginx:1.27", [named(key)])), [key], key);
        }
        for (const key of ["https://index.docker.io/v1", "registry-1.docker.io", "*.docker.io", "docker.io/nginx", "index.docker.io/library"]) {
            assert.deepEqual(credentialsFor("nginx", [named(key)]), [], key);
        }
        assert.deepEqual(users(credentialsFor("myorg/app", [named("docker.io/myorg")])), ["docker.io/myorg"]);
    });

    it("offers index.docker.io's credentials only when no other key matched", () => {
        const both = [named("https://index.docker.io/v1/"), named("docker.io")];
        assert.deepEqual(users(credentialsFor("nginx", both)), ["docker.io"]);
        assert.deepEqual(users(credentialsFor("nginx", [named("https://index.docker.io/v1/", "index.docker.io")])), ["https://index.docker.io/v1/", "index.docker.io"]);
    });

    it("offers Docker Hub's credentials to localhost/… too (no '.' or ':' before the first slash)", () => {
        const hub = [named("https://index.docker.io/v1/")];
        assert.deepEqual(users(credentialsFor("localhost/app", hub)), ["https://index.docker.io/v1/"]);
        assert.deepEqual(credentialsFor("localhost:5000/app", hub), []);
        assert.deepEqual(credentialsFor("registry.example.org/app", hub), []);
    });

    it("matches on the repository alone: tag and digest change nothing, a key with a tag matches nothing", () => {
        const keys = [named("registry.example.org/app")];
        for (const image of ["registry.example.org/app", "registry.example.org/app:1.0", `registry.example.org/app@sha256:${SHA}`, `registry.example.org/app:1.0@sha256:${SHA}`]) {
            assert.deepEqual(users(credentialsFor(image, keys)), ["registry.example.org/app"], image);
        }
        assert.deepEqual(credentialsFor("registry.example.org/app:1.0", [named("registry.example.org/app:1.0")]), []);
    });

    it("sorts the keys of all Secrets together: Secret order only breaks ties within one key", () => {
        const first = config({ "registry.example.org": { username: "s0", password: "p" } });
        const second = config({ "registry.example.org": { username: "s1", password: "p" }, "registry.example.org/team": { username: "s1-team", password: "p" } });
        const creds = credentialsFor("registry.example.org/team/app", [first, second]);
        assert.deepEqual(
            creds.map((c) => [c.username, c.secretIndex, c.indexKey]),
            [
                ["s1-team", 1, "registry.example.org/team"],
                ["s0", 0, "registry.example.org"],
                ["s1", 1, "registry.example.org"],
            ],
        );
        // Same key written differently in two Secrets: one index entry, both credentials.
        const creds2 = credentialsFor("registry.example.org/app", [named("https://registry.example.org/v2/"), named("registry.example.org")]);
        assert.deepEqual(
            creds2.map((c) => [c.key, c.indexKey, c.secretIndex]),
            [
                ["https://registry.example.org/v2/", "registry.example.org", 0],
                ["registry.example.org", "registry.example.org", 1],
            ],
        );
    });

    it("skips an empty Secret but keeps the others' positions", () => {
        assert.deepEqual(
            credentialsFor("registry.example.org/app", ["", named("registry.example.org")]).map((c) => c.secretIndex),
            [1],
        );
    });

    it("Test_MakeDockerKeyring: auth field, username/password fields, not matching", () => {
        const image = "test.registry.io";
        const withAuth = config({ "test.registry.io": { auth: "dXNlcjpwYXNzd29yZA==" } });
        const withFields = config({ "test.registry.io": { username: "user", password: "password" } });
        for (const secret of [withAuth, withFields]) {
            const [cred, ...rest] = lookupCredentials(image, [secret]);
            assert.deepEqual([cred.username, cred.password, rest.length], ["user", "password", 0]);
        }
        assert.deepEqual(lookupCredentials(image, [config({ "foobar.io": { auth: "dXNlcjpwYXNzd29yZA==" } })]), []);
    });

    it("TestDockerConfigEntryJSONDecode: auth replaces username and password even when both are given", () => {
        const [[, entry]] = readDockerConfigJson(config({ "r.example.org": { username: "foo", password: "bar", auth: "cGluZzpwb25n", email: "foo@example.com" } }));
        assert.deepEqual(entry, { username: "ping", password: "pong" });
        const [[, fields]] = readDockerConfigJson(config({ "r.example.org": { username: "foo", password: "bar", email: "foo@example.com" } }));
        assert.deepEqual(fields, { username: "foo", password: "bar" });
        const [[, empty]] = readDockerConfigJson(config({ "r.example.org": { username: "foo", password: "bar", auth: "" } }));
        assert.deepEqual(empty, { username: "foo", password: "bar" }); // an empty auth is no auth
    });

    it("TestDecodeDockerConfigFieldAuth: padded, unpadded, newlines; split at the first colon", () => {
        const good: [string, string, string][] = [
            ["Zm9vOmJhcg==", "foo", "bar"],
            ["Zm9vOmJhcg", "foo", "bar"],
            ["Zm9vOm\nJhcg==\n", "foo", "bar"],
            [b64("foo:bar:baz"), "foo", "bar:baz"],
            [b64(":"), "", ""],
        ];
        for (const [input, username, password] of good) {
            assert.deepEqual(decodeAuth(input), { username, password }, JSON.stringify(input));
        }
        for (const bad of ["cGFudHM=", "pants", "Zm9vOmJhcg== ", "Zm9vOmJhcg=", "Zm9v OmJhcg==", "Zm9vOmJhcg==Zm9v", "Z"]) {
            assert.throws(() => decodeAuth(bad), Error, JSON.stringify(bad));
        }
    });

    it("fails every pull of the pod when any Secret is unreadable, even one for another registry", () => {
        const good = named("registry.example.org");
        const unreadable = [
            config({ "other.example.org": { auth: "pants" } }), // TestDockerConfigEntryJSONDecode "poorly-formatted auth"
            config({ "other.example.org": { auth: "cGFudHM=" } }), // no colon
            JSON.stringify({ auths: { "other.example.org": { email: false } } }), // "invalid JSON causes failure"
            JSON.stringify({ auths: { "other.example.org": "user:pass" } }),
            JSON.stringify({ auths: "registry.example.org" }),
            JSON.stringify({ auths: {}, HttpHeaders: { "X-Meta": 1 } }),
            "[]",
            "{not json",
        ];
        for (const bad of unreadable) {
            assert.throws(
                () => credentialsFor("registry.example.org/app", [good, bad]),
                (err: unknown) => err instanceof PullSecretError && err.secretIndex === 1,
                bad,
            );
        }
    });

    it("reads the document as Go's encoding/json does: field names in any case, null as nothing", () => {
        const shouting = '{"AUTHS":{"registry.example.org":{"USERNAME":"u","Password":"p"}}}';
        assert.deepEqual(
            credentialsFor("registry.example.org/app", [shouting]).map((c) => [c.username, c.password]),
            [["u", "p"]],
        );
        assert.deepEqual(credentialsFor("registry.example.org/app", ["null"]), []);
        assert.deepEqual(credentialsFor("registry.example.org/app", ['{"auths":null}']), []);
        assert.deepEqual(credentialsFor("registry.example.org/app", ['{"other":1}']), []);
        // An entry of null is a credential with empty user name and password, still tried.
        assert.deepEqual(
            credentialsFor("registry.example.org/app", [config({ "registry.example.org": null })]).map((c) => [c.username, c.password]),
            [["", ""]],
        );
        // A later "Auths": null drops what an earlier "auths" held.
        assert.deepEqual(credentialsFor("registry.example.org/app", ['{"auths":{"registry.example.org":{"username":"u"}},"Auths":null}']), []);
    });

    it("applies repeated members one after the other, as Go's decoder does (JSON.parse keeps the last)", () => {
        const twoAuths = '{"auths":{"registry.example.org":{"username":"a"}},"auths":{"registry.example.org/team":{"username":"b"}}}';
        assert.deepEqual(users(credentialsFor("registry.example.org/team/app", [twoAuths])), ["b", "a"]);
        const laterNull = '{"auths":{"registry.example.org":{"username":"u1","username":null,"Password":"p"}}}';
        assert.deepEqual(credentialsFor("registry.example.org/app", [laterNull]).map((c) => [c.username, c.password]), [["u1", "p"]]);
        // A repeated entry replaces the earlier one whole.
        const repeated = '{"auths":{"registry.example.org":{"username":"u1","password":"p1"},"registry.example.org":{"username":"u2"}}}';
        assert.deepEqual(credentialsFor("registry.example.org/app", [repeated]).map((c) => [c.username, c.password]), [["u2", ""]]);
        assert.throws(() => readDockerConfigJson('{"auths":{"registry.example.org":{"username":1,"username":"u"}}}'), /username must be a string/);
    });

    it("skips a key url.Parse refuses or whose glob is malformed, keeping the Secret's other keys", () => {
        const secret = named("registry.example.org:http", "[.example.org", "registry.example.org");
        assert.deepEqual(users(credentialsFor("registry.example.org/app", [secret])), ["registry.example.org"]);
    });

    it("never matches a key written with an upper-case scheme", () => {
        assert.deepEqual(credentialsFor("registry.example.org/app", [named("HTTPS://registry.example.org")]), []);
    });

    it("reports an invalid image rather than guessing", () => {
        assert.throws(() => credentialsFor("Registry.example.org/App", [named("registry.example.org")]), /lowercase/);
    });
});
