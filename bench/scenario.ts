/**
 * The stack config every benchmark process declares from: N tenants, each with M registries of
 * its own and a distinct password per registry, as `pulumi config set --secret --path` writes it.
 */

export const PROJECT = "registry-access";
export const STACK = "bench";
const TENANTS_KEY = `${PROJECT}:tenants`;

export interface BenchRegistry {
    server: string;
    username: string;
    password: string;
}

export interface BenchTenant {
    namespace: string;
    registries: BenchRegistry[];
}

/** PREFIX names the namespaces (`team-0`, ...): the real-engine benchmark gives each run its own. */
export function benchTenants(namespaces: number, registries: number, prefix = "team"): BenchTenant[] {
    return Array.from({ length: namespaces }, (_, i) => ({
        namespace: `${prefix}-${i}`,
        registries: Array.from({ length: registries }, (_, j) => ({
            server: `registry-${j}.example.org`,
            username: `${prefix}-${i}`,
            // Distinct per registry, so no two Secrets carry the same bytes.
            password: `pw-${i}-${j}-${((i + 1) * 7919 + j * 104729).toString(36)}`,
        })),
    }));
}

/** Config as the Pulumi engine hands it to the program: JSON values, the password key marked secret. */
export function benchConfig(namespaces: number, registries: number): { config: Record<string, string>; secretKeys: string[] } {
    return {
        config: { [TENANTS_KEY]: JSON.stringify(benchTenants(namespaces, registries)) },
        secretKeys: [TENANTS_KEY],
    };
}

/** The Kubernetes resources either program declares: a Namespace, M Secrets and a patch per tenant. */
export const declaredPerTenant = (registries: number): number => 2 + registries;
