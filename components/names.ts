/** Kubernetes names, registry server identities, and the naming conventions of cloud registries. */
import { createHash } from "node:crypto";

// Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation).
export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const isDns1123Label = (s: string): boolean => s.length <= 63 && DNS1123_LABEL.test(s);
export const isDns1123Subdomain = (s: string): boolean => s.length <= 253 && DNS1123_SUBDOMAIN.test(s);

// host[:port][/path] with an optional http(s):// scheme; host is a DNS name, IPv4 or [IPv6].
export const SERVER =
    /^(?:(https?):\/\/)?((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?((?:\/[A-Za-z0-9._-]+)*)\/?$/;

/**
 * The identity of a registry server, for finding duplicates and naming Secrets: lower-case
 * host[:port][/path] without scheme or trailing slash (registry hosts are case-insensitive and
 * repository paths lower-case). Undefined when the server is malformed.
 */
export function serverKey(server: string): string | undefined {
    const m = SERVER.exec(server);
    if (!m) {
        return undefined;
    }
    const [, , host, port, path] = m;
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
        return undefined;
    }
    return `${host}${port ? `:${port}` : ""}${path}`.toLowerCase();
}

/**
 * The Secret name used when `secretName` is not given: `regcred-` and the server's host, port and
 * path with every other character turned into `-`; names over 63 characters are cut and end in a
 * hash of the full name, so they stay unique and fit a label value.
 * Docker Hub's `https://index.docker.io/v1/` gives `regcred-index-docker-io-v1`.
 */
export function defaultSecretName(server: string): string {
    const key = serverKey(server) ?? server.toLowerCase();
    const name = `regcred-${key.replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")}`; // runs are one dash already
    if (name.length <= 63) {
        return name;
    }
    const hash = createHash("sha256").update(name).digest("hex").slice(0, 8);
    return `${name.slice(0, 54).replace(/-$/, "")}-${hash}`;
}

/** The Container Service's token Secret: `<account>-token`, with a hash of the keeper when one is set. */
export function tokenSecretName(serviceAccount: string, rotation?: string): string {
    if (rotation === undefined) {
        return `${serviceAccount}-token`;
    }
    const hash = createHash("sha256").update(rotation).digest("hex").slice(0, 8);
    return `${serviceAccount}-token-${hash}`;
}

/** A problem with a credential's key, found from its registry's conventions. */
export interface CloudProblem {
    key: "username" | "password" | "generatePassword";
    message: string;
    fix: string;
}

const ECR = /^\d{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;
const GOOGLE = /^([a-z0-9-]+\.)?gcr\.io$|^[a-z0-9-]+-docker\.pkg\.dev$/;
const ACR = /^([a-z0-9]+)\.azurecr\.(io|cn|us)$/;
const ACR_USERNAME = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const GOOGLE_USERNAMES = ["_json_key", "_json_key_base64", "oauth2accesstoken"];

/**
 * Cloud registries issue their own credentials under fixed usernames (docs/registries.md, "Cloud registries"):
 * ECR `AWS` with a 12-hour token; Artifact Registry and GCR `_json_key` with a service-account key
 * (or `oauth2accesstoken`); ACR a service principal's client id, a token name, or the admin user.
 * Messages never include the password.
 */
export function cloudUsernameProblem(
    server: string,
    username: string | undefined,
    password: string | undefined,
    generated: boolean,
): CloudProblem | undefined {
    const host = (serverKey(server) ?? "").split("/")[0].split(":")[0];
    const cloud = ECR.test(host) ? "ECR" : GOOGLE.test(host) ? "Google" : ACR.test(host) ? "ACR" : undefined;
    if (cloud === undefined) {
        return undefined;
    }
    if (generated) {
        return { key: "generatePassword", message: `cannot be used with ${cloud}: the cloud issues the credential`, fix: "set the username and password the cloud issued (docs/registries.md, Cloud registries)" };
    }
    if (username === undefined) {
        return undefined;
    }
    if (cloud === "ECR" && username !== "AWS") {
        return { key: "username", message: "must be AWS for Amazon ECR", fix: "set username AWS and the password from `aws ecr get-login-password` (it expires after 12 hours)" };
    }
    if (cloud === "Google") {
        if (!GOOGLE_USERNAMES.includes(username)) {
            return { key: "username", message: `must be one of ${GOOGLE_USERNAMES.join(", ")} for Artifact Registry / GCR`, fix: "set username _json_key and the service account's JSON key file as the password" };
        }
        if (username === "_json_key" && password !== undefined && !isServiceAccountKey(password)) {
            return { key: "password", message: "is not a service account JSON key (username _json_key expects the whole key file)", fix: 'pulumi config set --secret --path "<entry>.password" -- "$(cat key.json)"' };
        }
    }
    if (cloud === "ACR") {
        const registryName = ACR.exec(host)![1];
        // A client id (GUID), the admin user (the registry's name) and a repository-scoped token's
        // name are all letters, digits and '-': an email or a user principal name never logs in.
        if (!ACR_USERNAME.test(username)) {
            return {
                key: "username",
                message: `must be a service principal's client id (a GUID), a token's name or the admin user '${registryName}' for Azure Container Registry`,
                fix: "set the service principal's appId, the token's name or the admin user as username, and its secret as password",
            };
        }
    }
    return undefined;
}

function isServiceAccountKey(password: string): boolean {
    try {
        const key = JSON.parse(password) as { type?: unknown; private_key?: unknown };
        return key.type === "service_account" && typeof key.private_key === "string";
    } catch {
        return false;
    }
}
