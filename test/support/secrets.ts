import { basicAuth, DOCKER_HUB_SERVER, dockerConfigJson } from "../../components/dockerConfig";

/** Pulumi's wire marker for a secret value (@pulumi/pulumi runtime/rpc: specialSigKey, specialSecretSig). */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export function isSecretWrapper(v: unknown): v is { value: unknown } {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The value with every secret wrapper replaced by what it holds. */
export function unwrapSecrets(v: unknown): unknown {
    if (isSecretWrapper(v)) {
        return unwrapSecrets(v.value);
    }
    if (Array.isArray(v)) {
        return v.map(unwrapSecrets);
    }
    if (typeof v === "object" && v !== null) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
    }
    return v;
}

/** Every string in the value that is NOT inside a secret wrapper, with its path. */
export function plaintextStrings(v: unknown, path = "$"): { path: string; value: string }[] {
    if (isSecretWrapper(v)) {
        return [];
    }
    if (typeof v === "string") {
        return [{ path, value: v }];
    }
    if (Array.isArray(v)) {
        return v.flatMap((x, i) => plaintextStrings(x, `${path}[${i}]`));
    }
    if (typeof v === "object" && v !== null) {
        return Object.entries(v).flatMap(([k, x]) => plaintextStrings(x, `${path}.${k}`));
    }
    return [];
}

/** Every plaintext form a password could leak in: raw, JSON-escaped, in auth, in the docker config, base64'd. */
export function leakForms(r: { server?: string; username: string; password: string; email?: string }): string[] {
    const json = dockerConfigJson({ ...r, server: r.server ?? DOCKER_HUB_SERVER });
    return [r.password, JSON.stringify(r.password).slice(1, -1), basicAuth(r.username, r.password), json, Buffer.from(json).toString("base64")];
}
