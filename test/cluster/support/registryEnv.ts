/** The private registries scripts/local-registry.sh started, as its env file describes them. */
import { readFile, rename, writeFile } from "node:fs/promises";
import { parseEnv } from "node:util";
import { startTokenIssuer, type TokenIssuer, type TokenIssuerOptions } from "../../support/tokenIssuer";

const REQUIRED_KEYS = [
    "REGISTRY_BASIC_HOST",
    "REGISTRY_TOKEN_HOST",
    "REGISTRY_CA",
    "REGISTRY_CERT_DIR",
    "REGISTRY_TLS_CERT",
    "REGISTRY_TLS_KEY",
    "REGISTRY_HTPASSWD",
    "REGISTRY_USER",
    "REGISTRY_PASSWORD",
    "REGISTRY_IMAGE",
    "REGISTRY_BASIC_LOG",
    "TOKEN_ISSUER_PORT",
    "TOKEN_ISSUER_KEY",
    "TOKEN_ISSUER_CERT",
    "TOKEN_SERVICE",
    "TOKEN_ISSUER_NAME",
] as const;
export type RegistryEnv = Record<(typeof REQUIRED_KEYS)[number], string>;

/** Reads LOCAL_REGISTRY_ENV; fails (never skips) when the registries are not running. */
export async function loadRegistryEnv(): Promise<RegistryEnv> {
    const file = process.env.LOCAL_REGISTRY_ENV;
    if (!file) {
        throw new Error("LOCAL_REGISTRY_ENV is not set; start the registries first: export LOCAL_REGISTRY_ENV=$(scripts/local-registry.sh up | tail -1)");
    }
    const parsed = parseEnv(await readFile(file, "utf8"));
    const missing = REQUIRED_KEYS.filter((key) => !parsed[key]);
    if (missing.length > 0) {
        throw new Error(`${file} lacks ${missing.join(", ")}; recreate it with scripts/local-registry.sh down && up`);
    }
    return parsed as RegistryEnv;
}

/**
 * Replaces the basic registry's htpasswd file. Distribution 2.8 re-reads it when its mtime
 * changes; it is written whole, then renamed, so the registry never reads half a file.
 */
export async function replaceHtpasswd(env: RegistryEnv, content: string): Promise<void> {
    await writeFile(`${env.REGISTRY_HTPASSWD}.tmp`, content);
    await rename(`${env.REGISTRY_HTPASSWD}.tmp`, env.REGISTRY_HTPASSWD);
}

/**
 * The test token issuer as the token registry trusts it: the signing key and certificate, the TLS
 * pair, the issuer and the service the env file names, on the realm's port unless OPTS gives one.
 */
export async function startRegistryTokenIssuer(
    env: RegistryEnv,
    opts: Pick<TokenIssuerOptions, "users"> & Partial<Pick<TokenIssuerOptions, "port" | "keyHeader" | "access" | "anonymous">>,
): Promise<TokenIssuer> {
    const [keyPem, certPem, tlsKey, tlsCert] = await Promise.all([env.TOKEN_ISSUER_KEY, env.TOKEN_ISSUER_CERT, env.REGISTRY_TLS_KEY, env.REGISTRY_TLS_CERT].map((f) => readFile(f, "utf8")));
    return startTokenIssuer({ port: Number(env.TOKEN_ISSUER_PORT), keyPem, certPem, tlsKey, tlsCert, issuer: env.TOKEN_ISSUER_NAME, service: env.TOKEN_SERVICE, ...opts });
}
