/**
 * The `.dockerconfigjson` bytes that `kubectl create secret docker-registry` writes.
 *
 * kubectl builds `{"auths":{SERVER:{username,password,email,auth}}}` with Go's encoding/json
 * (kubernetes/kubernetes staging/src/k8s.io/kubectl/pkg/cmd/create/create_secret_docker.go).
 * Matching it byte for byte lets a kubectl-made Secret be imported without a diff.
 */

/** Docker Hub, the server kubectl uses when `--docker-server` is not given. */
export const DOCKER_HUB_SERVER = "https://index.docker.io/v1/";

export interface DockerCredential {
    server: string;
    username: string;
    password: string;
    email?: string;
}

// Go's encoder escapes these for HTML safety; JSON.stringify does not.
const GO_EXTRA_ESCAPES: Record<string, string> = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
};

/** JSON-encodes a string exactly as Go's encoding/json (Go >= 1.22) does. */
export function goJsonString(value: string): string {
    // Go replaces invalid UTF-8 (here: lone surrogates) with U+FFFD; toWellFormed does the same.
    return JSON.stringify(value.toWellFormed()).replace(/[<>&\u2028\u2029]/g, (c) => GO_EXTRA_ESCAPES[c]);
}

/** base64 of `username:password`, the `auth` field the kubelet prefers over username/password. */
export function basicAuth(username: string, password: string): string {
    return Buffer.from(`${username}:${password}`.toWellFormed(), "utf8").toString("base64");
}

/** One entry under `auths`, `"SERVER":{...}`, as kubectl writes it: every field is `omitempty`. */
function authsEntry(cred: DockerCredential): string {
    const entry: [string, string | undefined][] = [
        ["username", cred.username],
        ["password", cred.password],
        ["email", cred.email],
        ["auth", basicAuth(cred.username, cred.password)],
    ];
    const fields = entry.filter(([, value]) => value).map(([key, value]) => `"${key}":${goJsonString(value!)}`);
    return `${goJsonString(cred.server)}:{${fields.join(",")}}`;
}

/**
 * The `.dockerconfigjson` document: for one registry exactly what kubectl writes; for several,
 * each entry as kubectl writes its one, in the order Go's encoder writes a map's keys (sorted
 * by their bytes), which is what kubectl would write for the same `auths` map.
 */
export function dockerConfigJson(...creds: DockerCredential[]): string {
    const servers = new Set(creds.map((c) => c.server));
    if (servers.size !== creds.length) {
        throw new Error("a docker config holds one entry per server");
    }
    const sorted = [...creds].sort((a, b) => Buffer.compare(Buffer.from(a.server), Buffer.from(b.server)));
    return `{"auths":{${sorted.map(authsEntry).join(",")}}}`;
}

/** The Secret's `data` value: base64 of the document's UTF-8 bytes. */
export function dockerConfigData(...creds: DockerCredential[]): string {
    return Buffer.from(dockerConfigJson(...creds), "utf8").toString("base64");
}
