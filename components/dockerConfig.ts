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

/**
 * The `.dockerconfigjson` document for one registry, as kubectl writes it: every entry field is
 * `omitempty`, so an empty one is left out.
 */
export function dockerConfigJson(cred: DockerCredential): string {
    const entry: [string, string | undefined][] = [
        ["username", cred.username],
        ["password", cred.password],
        ["email", cred.email],
        ["auth", basicAuth(cred.username, cred.password)],
    ];
    const fields = entry.filter(([, value]) => value).map(([key, value]) => `"${key}":${goJsonString(value!)}`);
    return `{"auths":{${goJsonString(cred.server)}:{${fields.join(",")}}}}`;
}

/** The Secret's `data` value: base64 of the document's UTF-8 bytes. */
export function dockerConfigData(cred: DockerCredential): string {
    return Buffer.from(dockerConfigJson(cred), "utf8").toString("base64");
}
