/**
 * registry-access: authenticated access to private container registries for one or more
 * namespaces, declared from this stack's config (see README.md for the keys).
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, formatProblems, fromPulumiConfig, serverKey, type StackConfig, type TenantConfig, validateStackConfig } from "./components/config";
import { type GeneratedCredential, RegistryAccess } from "./components/registryAccess";
import { askingOnce, clusterKubectl, type Kubectl, kubectlFailure } from "./components/cluster";
import { imageIsolation, isolationMessage } from "./components/imageIsolation";
import { namespaceOwnership } from "./components/namespaceOwnership";
import { listedNamespaces, listedServiceAccounts, type RecordedTenant, selectNamespaces } from "./components/namespaceSelection";
import { reported } from "./components/programErrors";
import { describeStuckPod, type StuckPod, stuckPods } from "./components/stuckPods";
import { type RegistryProbe, verifyCredentials } from "./components/verifyCredentials";

/** The validated config, or a RunError listing every problem (Pulumi prints it without a stack trace). */
function loadStackConfig(): StackConfig {
    try {
        return validateStackConfig(fromPulumiConfig(pulumi.runtime.allConfig()));
    } catch (err) {
        throw err instanceof ConfigError ? new pulumi.RunError(err.message) : err;
    }
}

/**
 * With `verifyCredentials`, every configured credential is checked against its registry before
 * anything is declared, so a wrong password fails `pulumi preview` instead of pods pulling.
 * Generated credentials are skipped: the registry learns them from this stack's outputs.
 */
async function verifyConfiguredCredentials(config: StackConfig): Promise<void> {
    const probes = new Map<string, RegistryProbe>();
    for (const r of config.tenants.flatMap((t) => t.registries)) {
        if ("password" in r) {
            // A shared registry is the same entry in every tenant: probe it once.
            probes.set(r.path, { path: r.path, server: r.server, username: r.username, password: r.password });
        }
    }
    const problems = await verifyCredentials([...probes.values()], { caBundle: config.caBundle });
    if (problems.length > 0) {
        throw new pulumi.RunError(formatProblems(problems, "registry credentials failed verification"));
    }
}

/**
 * kubectl against the cluster the Kubernetes provider deploys to, with its settings
 * (components/cluster.ts), each question asked once per run.
 */
const providerKubectl: () => Kubectl = (() => {
    let kubectl: Kubectl | undefined;
    return () => {
        const k8s = new pulumi.Config("kubernetes");
        kubectl ??= askingOnce(clusterKubectl({ kubeconfig: k8s.get("kubeconfig"), context: k8s.get("context"), cluster: k8s.get("cluster") }));
        return kubectl;
    };
})();

/**
 * The namespaces the selectors match and the ServiceAccounts `"*"` reaches, asked of the cluster
 * (one list per kind, read-only) before anything is declared; a lookup that fails stops the run,
 * since the stack would otherwise let go of every namespace it reached last time.
 */
async function selectTenants(config: StackConfig): Promise<StackConfig> {
    const every = [...config.tenants, ...config.selected].some((t) => t.allServiceAccounts !== undefined);
    if (config.selected.length === 0 && !every) {
        return config;
    }
    const kubectl = providerKubectl();
    const list = async <T>(args: string[], read: (stdout: string) => T | undefined, what: string): Promise<T> => {
        const r = await kubectl(args);
        const answer = r.code === 0 ? read(r.stdout) : undefined;
        if (answer === undefined) {
            const why = r.code === 0 ? "kubectl's answer was not a list" : kubectlFailure(r);
            throw new pulumi.RunError(`cannot list the cluster's ${what} (${why}): the namespaceSelector and serviceAccounts "*" need them (fix: let kubectl list ${what} with the provider's settings: kubernetes:kubeconfig, kubernetes:context, kubernetes:cluster or KUBECONFIG; docs/permissions.md)`);
        }
        return answer;
    };
    const recorded = recordedTenants();
    const namespaces = config.selected.length > 0 ? await list(["get", "namespaces", "-o", "json"], listedNamespaces, "namespaces") : [];
    const serviceAccounts = every ? await list(["get", "serviceaccounts", "--all-namespaces", "-o", "json"], listedServiceAccounts, "ServiceAccounts") : new Map<string, string[]>();
    const selection = selectNamespaces(config, namespaces, serviceAccounts, pulumi.getStack(), recorded);
    if (selection.problems.length > 0) {
        throw new pulumi.RunError(formatProblems(selection.problems, "namespaces the selectors reach"));
    }
    for (const warning of selection.warnings) {
        await pulumi.log.warn(warning);
    }
    for (const line of selection.report) {
        await pulumi.log.info(line);
    }
    return { ...config, tenants: selection.tenants };
}

/**
 * Whether the cluster keeps each tenant's pulled private images from the other tenants' pods
 * (components/imageIsolation.ts): a multi-tenant stack warns by default, `require` stops before
 * anything is declared, `off` does not ask.
 */
async function checkImageIsolation(config: StackConfig): Promise<void> {
    // A selector's namespaces share its credentials: one of them speaks for all.
    const tenants = config.tenants.filter((t, i) => config.tenants.findIndex((u) => u.path === t.path) === i);
    if (config.imageIsolation === "off" || (config.imageIsolation === "warn" && tenants.length < 2)) {
        return;
    }
    const probes = tenants.map((t) => ({ namespace: t.namespace, server: t.registries[0]?.server ?? "" }));
    const answers = await imageIsolation(probes, providerKubectl());
    const message = isolationMessage(answers);
    if (message === undefined) {
        return;
    }
    if (config.imageIsolation === "require") {
        throw new pulumi.RunError(message);
    }
    await pulumi.log.warn(message);
}

/**
 * Provider 4.25 creates by server-side apply, so a namespace to create that exists already would
 * be taken over and deleted by destroy: stop unless each is absent or carries this stack's mark
 * (components/namespaceOwnership.ts), before anything is declared.
 */
async function checkNamespaceOwnership(config: StackConfig): Promise<void> {
    const targets = config.tenants.filter((t) => t.createNamespace).map((t) => ({ path: t.path, namespace: t.namespace }));
    const answer = await namespaceOwnership(targets, pulumi.getStack(), providerKubectl());
    if (answer.stop !== undefined) {
        throw new pulumi.RunError(answer.stop);
    }
    if (answer.warn !== undefined) {
        await pulumi.log.warn(answer.warn);
    }
}

/**
 * The drift job's view: REGISTRY_ACCESS_RECORDED_TENANTS holds the last run's `tenants` output
 * (`pulumi stack output tenants --json`), and the selectors then reach what they reached then, so
 * a namespace labelled since is the reconcile's work, not drift (docs/deploy.md, "Drift").
 */
function recordedTenants(): RecordedTenant[] | undefined {
    const text = process.env.REGISTRY_ACCESS_RECORDED_TENANTS;
    if (text === undefined || text.trim() === "") {
        return undefined;
    }
    try {
        const parsed = JSON.parse(text) as unknown;
        if (Array.isArray(parsed) && parsed.every((t: RecordedTenant) => typeof t?.namespace === "string" && Array.isArray(t.serviceAccounts))) {
            return parsed as RecordedTenant[];
        }
    } catch {
        // Reported below.
    }
    throw new pulumi.RunError("REGISTRY_ACCESS_RECORDED_TENANTS is not the tenants output of a run (fix: set it to $(pulumi stack output tenants --json), or unset it)");
}

/**
 * Pods of the reached namespaces that wait on a failed pull because they were created before
 * their ServiceAccount was patched: one list of the cluster's pending pods, for a stack that
 * follows the cluster (selectors or "*") or asks for restarts. Reported; with restartStuckPods,
 * those a controller will make again are deleted once the patches are applied (at up only).
 */
async function reportStuckPods(config: StackConfig, tenants: RegistryAccess[]): Promise<pulumi.Output<StuckPod[]> | undefined> {
    const follows = config.selected.length > 0 || config.tenants.some((t) => t.allServiceAccounts !== undefined);
    if (!follows && !config.restartStuckPods) {
        return undefined;
    }
    const kubectl = providerKubectl();
    const r = await kubectl(["get", "pods", "--all-namespaces", "--field-selector=status.phase=Pending", "-o", "json"]);
    const names = (t: TenantConfig) => (config.combinedPullSecret !== undefined ? [config.combinedPullSecret] : t.registries.map((reg) => reg.secretName));
    const stuck = r.code === 0 ? stuckPods(r.stdout, config.tenants, names) : undefined;
    if (stuck === undefined) {
        await pulumi.log.warn(`cannot tell whether pods wait on a pull they started before this stack reached them (${r.code === 0 ? "kubectl's answer was not a pod list" : kubectlFailure(r)})`);
        return undefined;
    }
    if (stuck.length === 0) {
        return undefined;
    }
    const restart = config.restartStuckPods ? stuck.filter((p) => p.owner !== "none") : [];
    await pulumi.log.warn(
        `${stuck.length} pod(s) wait on a failed pull, created before their ServiceAccount listed this stack's pull Secrets: ${stuck.map(describeStuckPod).join(", ")} ` +
            (config.restartStuckPods ? `(deleted once the patches are applied: ${restart.length}; their controllers make them again)` : "(fix: delete them once this up has run, or set restartStuckPods: true)"),
    );
    // The deletions are part of the output, so the run waits for them.
    const deletions: pulumi.Output<void>[] = [];
    if (restart.length > 0 && !pulumi.runtime.isDryRun()) {
        config.tenants.forEach((t, i) => {
            const pods = restart.filter((p) => p.namespace === t.namespace).map((p) => p.pod);
            if (pods.length > 0) {
                deletions.push(tenants[i].patched.apply(async () => {
                    const deleted = await kubectl(["delete", "pod", "--namespace", t.namespace, "--ignore-not-found", "--wait=false", ...pods]);
                    if (deleted.code !== 0) {
                        await pulumi.log.warn(`could not delete the stuck pods of ${t.namespace} (${kubectlFailure(deleted)})`);
                    }
                }));
            }
        });
    }
    return pulumi.all(deletions).apply(() => stuck);
}

export = reported(async () => {
    const config = await selectTenants(loadStackConfig());
    if (config.verifyCredentials) {
        await verifyConfiguredCredentials(config);
    }
    await checkImageIsolation(config);
    await checkNamespaceOwnership(config);

    const tenants = config.tenants.map(
        (tenant) =>
            new RegistryAccess(tenant.namespace, {
                namespace: tenant.namespace,
                createNamespace: tenant.createNamespace,
                labels: tenant.labels,
                annotations: tenant.annotations,
                owner: pulumi.getStack(),
                protectNamespace: config.protectNamespaces,
                // The component makes each password secret as it takes it.
                registries: tenant.registries,
                serviceAccounts: tenant.serviceAccounts,
                keepPullSecrets: tenant.keepPullSecrets,
                combinedPullSecret: config.combinedPullSecret,
                credentialRotation: tenant.credentialRotation,
                // Per stack, so two stacks patching one ServiceAccount conflict visibly instead
                // of silently overwriting each other's list.
                fieldManager: `registry-access-${pulumi.getStack()}`,
                forceConflicts: config.patchForce,
                retainPatchOnDelete: config.onPatchDelete === "retain",
                containerService: tenant.containerService,
            }),
    );

    // Known from the config, so exported as plain values rather than Outputs (docs/benchmarks.md).
    const summaries = config.tenants.map((t) => ({
        namespace: t.namespace,
        pullSecretNames: config.combinedPullSecret !== undefined ? [config.combinedPullSecret] : t.registries.map((r) => r.secretName),
        serviceAccounts: t.serviceAccounts,
        ...(t.selectedBy !== undefined ? { selectedBy: t.selectedBy } : {}),
        ...(t.containerService ? { containerServiceAccount: t.containerService.serviceAccount } : {}),
    }));
    const outputs: Record<string, unknown> = { tenants: summaries };
    const stuck = await reportStuckPods(config, tenants);
    if (stuck !== undefined) {
        outputs.stuckPods = stuck;
    }
    if (summaries.length === 1) {
        // The one-namespace stack's outputs, unchanged since before tenants existed.
        Object.assign(outputs, summaries[0]);
    }
    const generated = Object.fromEntries(
        config.tenants.flatMap((t, i) =>
            t.registries.some((r) => "generatePassword" in r) ? [[t.namespace, tenants[i].generatedCredentials]] : [],
        ),
    );
    if (Object.keys(generated).length > 0) {
        const byTenant = pulumi.all(generated);
        outputs.generatedCredentials = pulumi.secret(byTenant);
        outputs.htpasswd = pulumi.secret(byTenant.apply(htpasswdFiles));
    }
    // Secret as a whole: each holds a token. One stack output per namespace, and the lone one
    // again under a fixed name for `pulumi stack output containerServiceKubeconfig --show-secrets`.
    const kubeconfigs = Object.fromEntries(
        tenants.flatMap((t, i) => (t.containerServiceKubeconfig ? [[config.tenants[i].namespace, t.containerServiceKubeconfig]] : [])),
    );
    const kubeconfigList = Object.values(kubeconfigs);
    if (kubeconfigList.length > 0) {
        outputs.containerServiceKubeconfigs = pulumi.secret(pulumi.all(kubeconfigs));
    }
    if (kubeconfigList.length === 1) {
        outputs.containerServiceKubeconfig = pulumi.secret(kubeconfigList[0]);
    }
    return outputs;
});

/**
 * One htpasswd file per registry (keyed by host[:port][/path], however the server was written),
 * a line per generated credential, for the registry's operator.
 */
function htpasswdFiles(byTenant: Record<string, Record<string, GeneratedCredential>>): Record<string, string> {
    // A Map: a registry host may be any name, `constructor` and `__proto__` included.
    const files = new Map<string, string>();
    for (const credentials of Object.values(byTenant)) {
        for (const c of Object.values(credentials)) {
            const registry = serverKey(c.server) ?? c.server;
            files.set(registry, `${files.get(registry) ?? ""}${c.htpasswd}\n`);
        }
    }
    return Object.fromEntries(files);
}
