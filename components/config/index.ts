/**
 * The stack config: its types, its validation and its messages, for the program (index.ts) and
 * the offline stack check (check/). Validation collects every problem before anything is
 * declared; each names the key path and the fix.
 *
 * schema.ts: each key's type and own rules; rules.ts: the rules across keys; messages.ts: what
 * a problem says; types.ts: the validated config.
 */
import { DOCKER_HUB_SERVER } from "../dockerConfig";
import { defaultSecretName } from "../names";
import { ConfigError, tenantPrefix, toProblems } from "./messages";
import { crossProblems } from "./rules";
import { type RawRegistry, type RawStack, type RawTenant, stackSchema } from "./schema";
import { DEFAULT_CONTAINER_SERVICE_ACCOUNT, type RegistryConfig, type StackConfig } from "./types";

export { defaultSecretName, isDns1123Label, isDns1123Subdomain, serverKey } from "../names";
export { ConfigError, formatProblems, keyPath, parseKeyPath, quote, UNKNOWN_KEY } from "./messages";
export { CONTAINER_SERVICE_KEYS, fromPulumiConfig, parseConfigValue, REGISTRY_KEYS, SCALAR_KEYS, setOwn, STACK_KEYS, TENANT_KEYS } from "./schema";
export * from "./types";

/** Validates raw config (typed, see {@link fromPulumiConfig}); throws ConfigError listing every problem. */
export function validateStackConfig(raw: unknown): StackConfig {
    const parsed = stackSchema.safeParse(raw);
    const problems = parsed.success ? [] : parsed.error.issues.flatMap((issue) => toProblems(raw, issue));
    problems.push(...crossProblems(raw));
    if (!parsed.success || problems.length > 0) {
        // A shared registry's problem is found once per tenant: said once.
        const said = new Set<string>();
        throw new ConfigError(problems.filter((p) => !said.has(`${p.path}\n${p.message}`) && said.add(`${p.path}\n${p.message}`)));
    }
    return toStackConfig(parsed.data);
}

function toStackConfig(data: RawStack): StackConfig {
    const shared = data.sharedRegistries ?? [];
    const entries: { path: string; tenant: RawTenant }[] = [
        ...(data.namespace !== undefined || data.namespaceSelector !== undefined ? [{ path: "", tenant: data }] : []),
        ...(data.tenants ?? []).map((tenant, i) => ({ path: `tenants[${i}]`, tenant })),
    ];
    // What a tenant gets wherever its namespaces are: its registries and ServiceAccounts.
    const access = (path: string, tenant: RawTenant, namespace: string) => {
        const every = tenant.serviceAccounts === "*" ? { except: tenant.excludeServiceAccounts ?? [] } : undefined;
        return {
            path,
            registries: [
                ...shared.map((r, i) => toRegistry(r, `sharedRegistries[${i}]`, namespace)),
                ...(tenant.registries ?? []).map((r, i) => toRegistry(r, `${tenantPrefix(path)}registries[${i}]`, namespace)),
            ],
            serviceAccounts: every ? ["default"].filter((a) => !every.except.includes(a)) : (tenant.serviceAccounts as string[] | undefined) ?? ["default"],
            ...(every ? { allServiceAccounts: every } : {}),
            keepPullSecrets: tenant.keepPullSecrets ?? [],
        };
    };
    return {
        tenants: entries.flatMap(({ path, tenant }) =>
            tenant.namespace === undefined
                ? []
                : [
                      {
                          ...access(path, tenant, tenant.namespace),
                          namespace: tenant.namespace,
                          createNamespace: tenant.createNamespace ?? true,
                          labels: tenant.labels ?? {},
                          annotations: tenant.annotations ?? {},
                          ...(tenant.credentialRotation !== undefined ? { credentialRotation: tenant.credentialRotation } : {}),
                          ...(tenant.containerService
                              ? {
                                    containerService: {
                                        serviceAccount: tenant.containerService.serviceAccount ?? DEFAULT_CONTAINER_SERVICE_ACCOUNT,
                                        apiServer: tenant.containerService.apiServer,
                                        ...(tenant.containerService.tokenRotation !== undefined ? { tokenRotation: tenant.containerService.tokenRotation } : {}),
                                    },
                                }
                              : {}),
                      },
                  ],
        ),
        selected: entries.flatMap(({ path, tenant }) =>
            tenant.namespaceSelector === undefined
                ? []
                : [{ ...access(path, tenant, ""), namespaceSelector: tenant.namespaceSelector, excludeNamespaces: tenant.excludeNamespaces ?? [] }],
        ),
        patchForce: data.patchForce ?? false,
        onPatchDelete: data.onPatchDelete ?? "relinquish",
        protectNamespaces: data.protectNamespaces ?? false,
        verifyCredentials: data.verifyCredentials ?? false,
        restartStuckPods: data.restartStuckPods ?? false,
        imageIsolation: data.imageIsolation ?? "warn",
        ...(data.caBundle !== undefined ? { caBundle: data.caBundle } : {}),
        ...(data.combinedPullSecret !== undefined ? { combinedPullSecret: data.combinedPullSecret } : {}),
    };
}

function toRegistry(r: RawRegistry, path: string, namespace: string): RegistryConfig {
    const server = r.server ?? DOCKER_HUB_SERVER;
    const base = {
        path,
        server,
        // A generated credential is per tenant, so its default username is the tenant's namespace.
        username: r.username ?? namespace,
        ...(r.email ? { email: r.email } : {}),
        secretName: r.secretName ?? defaultSecretName(server),
    };
    return r.generatePassword ? { ...base, generatePassword: r.generatePassword } : { ...base, password: r.password! };
}
